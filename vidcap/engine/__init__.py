"""Training and inference machinery: configuration, checkpoints, the training loop, SCST, captioning.

Only the light modules are imported here; ``vidcap.engine.train``, ``.scst``, ``.distributed`` and
``.captioner`` are imported where used (they pull in the models and metrics).

Example:
    >>> from vidcap.engine import load_config
    >>> load_config(None, ["train.epochs=2"]).train.epochs
    2
"""
from __future__ import annotations

from vidcap.engine.checkpoint import FORMAT as CHECKPOINT_FORMAT
from vidcap.engine.checkpoint import load_checkpoint, save_checkpoint
from vidcap.engine.config import load_config

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "load_config", "save_checkpoint"]
