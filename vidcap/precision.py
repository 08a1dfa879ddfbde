"""Mixed precision in one place: the names users type, the one "auto" rule, the one autocast context.

Training (``train.amp``) and the feature backbones (the ``dtype`` option) both take a precision by
name: ``fp32`` (no autocast: exact), ``bf16`` or ``fp16`` (the forward pass under ``torch.autocast``
in that dtype) or ``auto``: bf16 on a CUDA device that supports it, fp32 everywhere else (on CPUs fp32
is both exact and usually faster). ``off`` is a synonym of ``fp32``: ``train.amp: off`` is how the
paper configs (and configs written before the two spellings were joined) say it.

Example:
    >>> cpu = torch.device("cpu")
    >>> name("auto", cpu), name("off", cpu), resolve("bf16", cpu)
    ('fp32', 'fp32', torch.bfloat16)
    >>> with autocast(cpu, resolve("bf16", cpu)):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.bfloat16
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from vidcap.errors import UsageError

__all__ = ["AUTO", "PRECISIONS", "SYNONYMS", "autocast", "choices", "name", "resolve"]

AUTO = "auto"
# Autocast dtype by name; None: autocast off.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# Other spellings of the same precisions (train.amp's older word for fp32).
SYNONYMS: dict[str, str] = {"off": "fp32"}


def choices() -> list[str]:
    """Every name a precision setting takes: ``auto``, the precisions, then their synonyms.

    Example:
        >>> choices()
        ['auto', 'fp32', 'bf16', 'fp16', 'off']
    """
    return [AUTO, *PRECISIONS, *SYNONYMS]


def name(setting: str | None, device: torch.device, *, key: str = "precision") -> str:
    """The precision ``setting`` (None means ``auto``) stands for on ``device``: ``fp32``, ``bf16`` or ``fp16``.

    ``key`` names the setting in the error for an unknown name.

    Example:
        >>> name(None, torch.device("cpu")), name("fp16", torch.device("cpu"))
        ('fp32', 'fp16')
        >>> name("fp8", torch.device("cpu"), key="dtype")
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: dtype='fp8': choose one of auto, fp32, bf16, fp16, off
    """
    if setting is None or setting == AUTO:
        # bf16 keeps fp32's range (no loss scaling) and pays off on GPUs that have it.
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return "bf16" if cuda_bf16 else "fp32"
    setting = SYNONYMS.get(setting, setting)
    if setting not in PRECISIONS:
        raise UsageError(f"{key}={setting!r}: choose one of {', '.join(choices())}")
    return setting


def resolve(setting: str | None, device: torch.device, *, key: str = "precision") -> torch.dtype | None:
    """The autocast dtype of ``setting`` on ``device`` (None: autocast off, fp32).

    Example:
        >>> resolve("auto", torch.device("cpu")), resolve("fp16", torch.device("cpu"))
        (None, torch.float16)
    """
    return PRECISIONS[name(setting, device, key=key)]


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` on ``device`` in ``dtype``; nothing at all for None (fp32).

    Example:
        >>> with autocast(torch.device("cpu"), None):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.float32
    """
    if dtype is None:
        yield
    else:
        with torch.autocast(device.type, dtype=dtype):
            yield
