"""Which torch device a stage runs on: the one rule shared by extraction, training and captioning.

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
"""
from __future__ import annotations

import os

import torch

from vidcap.errors import UsageError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → this process's GPU (``LOCAL_RANK`` under torchrun) when CUDA is available, else CPU;
    anything else is checked: UsageError for a malformed name or a CUDA device on a machine without one.

    Example:
        >>> resolve_device("gpu0")
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: bad device 'gpu0': ...
    """
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise UsageError(f"bad device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} asked for, but CUDA is not available here; use the cpu device")
    return dev
