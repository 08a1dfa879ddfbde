"""Opening video files with OpenCV's FFmpeg backend, and the error every video problem becomes.

:class:`Capture` wraps ``cv2.VideoCapture`` and keeps count of which frame the next ``grab()``
returns, so the sampler can skip frames with ``grab()`` (demux + decode, no colour conversion or
copy), ``retrieve()`` only the frames it keeps, and seek only when it can check where it landed.

Example:
    >>> with Capture("clip.mp4") as cap:                 # doctest: +SKIP
    ...     cap.grab(), cap.next_index, cap.retrieve().shape
    (True, 1, (240, 320, 3))
"""
from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from vidcap.errors import InputError

__all__ = ["Capture", "VideoError", "check_file"]


class VideoError(InputError):
    """A video file that cannot be used; ``str(err) == f"{path}: {reason}"``.

    Example:
        >>> err = VideoError("a.mp4", "empty file (0 bytes)")
        >>> str(err), err.reason
        ('a.mp4: empty file (0 bytes)', 'empty file (0 bytes)')
    """

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Exceptions pickle their args (the message) by default; DataLoader workers need both fields.
        return (type(self), (self.path, self.reason))


def check_file(path: Path) -> None:
    """Raise VideoError for a missing path, a directory or an empty file (before OpenCV sees it)."""
    if not path.exists():
        raise VideoError(path, "no such file")
    if not path.is_file():
        raise VideoError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\0" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # a multi-byte character cut at the end of the sample is fine
            return False
        text = head[:err.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def _unreadable_reason(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    if _looks_like_text(head):
        return "not a video: the file holds plain text"
    return ("OpenCV/FFmpeg cannot open it: not a video, an unsupported format, or a truncated/corrupt "
            "container (e.g. an MP4 cut before its index)")


class Capture:
    """An open video (OpenCV's FFmpeg backend) that tracks the index of the next frame.

    FFmpeg decoding threads follow ``cv2.getNumThreads()``, so a caller that runs one decoder per
    worker process sets ``cv2.setNumThreads(1)`` there and gets single-threaded decoding.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        check_file(self.path)
        self._cap = self._open()
        self.next_index = 0  # index of the frame the next successful grab() returns

    def _open(self) -> cv2.VideoCapture:
        threads = max(1, cv2.getNumThreads())
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads])
        if not cap.isOpened():
            raise VideoError(self.path, _unreadable_reason(self.path))
        return cap

    def prop(self, prop_id: int) -> float:
        """A ``cv2.CAP_PROP_*`` value as OpenCV reports it (container metadata, maybe wrong)."""
        return float(self._cap.get(prop_id))

    def grab(self) -> bool:
        """Advance one frame without converting it; False at the end of the stream."""
        ok = bool(self._cap.grab())
        if ok:
            self.next_index += 1
        return ok

    def retrieve(self) -> np.ndarray:
        """The last grabbed frame as BGR uint8 (H, W, 3)."""
        ok, frame = self._cap.retrieve()
        if not ok or frame is None:
            raise VideoError(self.path, f"frame {self.next_index - 1} could not be decoded")
        return frame

    def msec(self) -> float:
        """Presentation time (ms, from the stream start) of the last grabbed frame."""
        return float(self._cap.get(cv2.CAP_PROP_POS_MSEC))

    def seek(self, index: int) -> bool:
        """Position so that the next grab returns frame ``index``; False (and rewound) if not exact.

        OpenCV computes the target time from the container's fps and then decodes forward from the
        keyframe before it, judging where it is by presentation timestamps. Where those disagree with
        the real frame order the position it reports differs from ``index``: then we rewind, and the
        caller falls back to grabbing from the start, which is always exact.
        """
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        if int(round(self.prop(cv2.CAP_PROP_POS_FRAMES))) == index:
            self.next_index = index
            return True
        self.rewind()
        return False

    def rewind(self) -> None:
        """Reopen the file at frame 0 (FFmpeg's backward seeks are not guaranteed exact)."""
        self._cap.release()
        self._cap = self._open()
        self.next_index = 0

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
