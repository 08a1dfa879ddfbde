"""Inference: captions from a trained model. :mod:`~vidcap.inference.generate` decodes a dataset in batches
(used by evaluation and by training's validation), :mod:`~vidcap.inference.captioner` goes from video files
to sentences, :mod:`~vidcap.inference.attention` shows which frames each word looked at.

The modules are imported where used (they pull in the models, features and metrics); ``vidcap.Captioner``
is the short name of :class:`vidcap.inference.captioner.Captioner`.
"""
