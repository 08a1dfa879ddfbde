"""A trained model and the forms it is kept and shared in: the checkpoint a run writes
(:mod:`~vidcap.trained.checkpoint`), the model folder ``vidcap export`` writes with its card
(:mod:`~vidcap.trained.folder`, :mod:`~vidcap.trained.card`) and the Hugging Face Hub (:mod:`~vidcap.trained.hub`).

Everything here reads untrusted files (docs/security.md): nothing named inside them is opened or fetched.

Example:
    >>> from vidcap.trained import CHECKPOINT_FORMAT
    >>> CHECKPOINT_FORMAT
    'vidcap-checkpoint/1'
"""
from __future__ import annotations

from vidcap.trained.checkpoint import FORMAT as CHECKPOINT_FORMAT
from vidcap.trained.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint"]
