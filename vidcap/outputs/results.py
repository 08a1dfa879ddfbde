"""COCO results files: ``[{"video_id": "...", "caption": "..."}]``, one entry per line.

Parsing results files (with their rules for synonyms, duplicates and missing videos) belongs to
``vidcap.metrics``; this module only writes them.

Example:
    >>> write_results("res.json", [{"video_id": "video7010", "caption": "a man cooks"}])  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from vidcap.files import write_atomic

__all__ = ["write_results"]


def _entry(i: int, item: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(item, Mapping) or "video_id" not in item or "caption" not in item:
        raise ValueError(f"results entry {i} must be a mapping with 'video_id' and 'caption', got {item!r}")
    video_id, caption = item["video_id"], item["caption"]
    if isinstance(video_id, bool) or not isinstance(video_id, (str, int)):
        raise ValueError(f"results entry {i}: video_id must be a string, got {video_id!r}")
    if not isinstance(caption, str):
        raise ValueError(f"results entry {i}: caption must be a string, got {caption!r}")
    # Ids are compared as strings everywhere (DESIGN.md); extra keys (e.g. scores) are kept.
    return {**item, "video_id": str(video_id), "caption": caption}


def write_results(path: str | os.PathLike[str], items: Iterable[Mapping[str, Any]]) -> Path:
    """Write COCO results JSON atomically; ``items`` are mappings with ``video_id`` and ``caption``.

    Example:
        >>> p = write_results(tmp / "r.json", [{"video_id": "v1", "caption": "a dog runs"}])  # doctest: +SKIP
        >>> p.read_text()                                                                  # doctest: +SKIP
        '[\\n{"video_id": "v1", "caption": "a dog runs"}\\n]\\n'
    """
    lines = [json.dumps(_entry(i, item), ensure_ascii=False) for i, item in enumerate(items)]
    text = "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
    return write_atomic(path, text)
