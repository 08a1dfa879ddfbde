"""Output files: COCO results JSON, SubRip/WebVTT subtitles, PNG contact-sheet previews, and one file per
video and format for ``vidcap caption --output-dir`` (:mod:`vidcap.outputs.formats`); all written
atomically (``vidcap.files.write_atomic``), so a crash never leaves a half-written file.

Example:
    >>> from vidcap.outputs import Segment, write_srt
    >>> write_srt("clip.srt", [Segment(0.0, 5.0, "a man is cooking")])   # doctest: +SKIP
"""
from __future__ import annotations

from vidcap.outputs.formats import OUTPUT_FORMATS, VideoCaptions, output_formats, write_outputs
from vidcap.outputs.preview import save_preview
from vidcap.outputs.results import write_results
from vidcap.outputs.subtitles import Segment, format_srt, format_vtt, write_srt, write_vtt

__all__ = ["OUTPUT_FORMATS", "Segment", "VideoCaptions", "format_srt", "format_vtt", "output_formats", "save_preview",
           "write_outputs", "write_results", "write_srt", "write_vtt"]
