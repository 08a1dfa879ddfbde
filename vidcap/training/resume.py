"""What may change when a run is resumed: how long it runs, how verbose it is, where it runs and how it feeds
itself. Everything else decides what is trained, and a resumed run that changed it would be a different
run under the old run's name.

The trainer owns this list because it is the one that can honour a change; the config schema marks these
keys ``resumable`` from it (``vidcap train --help`` shows them), so the list is written once.

Example:
    >>> "train.epochs" in RESUMABLE, "train.lr" in RESUMABLE
    (True, False)
"""
from __future__ import annotations

from typing import Any, Mapping

from vidcap.errors import UsageError

__all__ = ["RESUMABLE", "check_resume_config"]

RESUMABLE: frozenset[str] = frozenset({
    "train.epochs", "train.early_stop",       # how long
    "train.log_every",                        # how verbose
    "out", "device", "train.workers",         # where and with what
    "data.cache_mb", "eval.batch_size",       # memory, not results: caching and batched decoding
})


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}": v})
    return out


def check_resume_config(saved: Mapping[str, Any], now: Mapping[str, Any], source: object) -> None:
    """UsageError unless ``now`` differs from the ``saved`` config of a run (``source``) in :data:`RESUMABLE`
    keys only.

    Example:
        >>> saved = {"train": {"epochs": 30, "lr": 0.0002}, "out": "runs/a"}
        >>> check_resume_config(saved, {"train": {"epochs": 60, "lr": 0.0002}, "out": "runs/b"}, "last.pt")
        >>> check_resume_config(saved, {"train": {"epochs": 30, "lr": 1.0}, "out": "runs/a"}, "last.pt")
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: --resume: the config differs from the one last.pt was trained with (train.lr: 0.0002 -> 1.0). Resume with the same config, or start a new run (out=...)
    """
    a, b = _flat(saved), _flat(now)
    diff = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and k not in RESUMABLE]
    if diff:
        raise UsageError(f"--resume: the config differs from the one {source} was trained with ("
                         + "; ".join(diff) + "). Resume with the same config, or start a new run (out=...)")
