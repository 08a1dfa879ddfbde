"""Output files: COCO results JSON, SubRip/WebVTT subtitles, PNG contact-sheet previews; all written
atomically (``vidcap.files.write_atomic``), so a crash never leaves a half-written file.

Example:
    >>> from vidcap.outputs import Segment, write_srt
    >>> write_srt("clip.srt", [Segment(0.0, 5.0, "a man is cooking")])   # doctest: +SKIP
"""
from __future__ import annotations

from vidcap.outputs.preview import save_preview
from vidcap.outputs.results import write_results
from vidcap.outputs.subtitles import Segment, format_srt, format_vtt, write_srt, write_vtt

__all__ = ["Segment", "format_srt", "format_vtt", "save_preview", "write_results", "write_srt", "write_vtt"]
