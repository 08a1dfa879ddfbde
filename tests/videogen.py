"""Small real video files for tests, with the frame number readable back from the pixels.

Every frame made by :func:`counter_frame` shows its index as a 4×3 grid of dark/bright blocks
(12 bits, so up to 4,096 frames), most significant bit top-left. Blocks survive lossy codecs and
downscaling, so :func:`frame_counter` tells exactly which frame a decoder returned.

:func:`write_video` writes with OpenCV for the fourccs OpenCV encodes (``mp4v``, ``XVID``, ``MJPG``)
and with PyAV for the rest (``libx264`` H.264, ``libvpx`` VP8, ``libvpx-vp9`` VP9, ``ffv1`` …), in
whatever container the file name says (.mp4, .avi, .mkv, .webm).

Example:
    >>> path = write_video(tmp / "c.mp4", counter_frames(30), fps=10, codec="libx264")  # doctest: +SKIP
    >>> frame_counter(counter_frame(7))
    7
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

GRID_COLS, GRID_ROWS = 4, 3
MAX_COUNTER = 2 ** (GRID_COLS * GRID_ROWS) - 1
DARK, BRIGHT = 40, 215

OPENCV_FOURCCS = ("mp4v", "XVID", "MJPG")
DEFAULT_CODEC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "libx264", ".webm": "libvpx-vp9"}


def counter_frame(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """An RGB uint8 frame (height, width, 3) whose blocks spell ``index`` in binary."""
    if not 0 <= index <= MAX_COUNTER:
        raise ValueError(f"frame index {index} does not fit in {GRID_COLS * GRID_ROWS} bits")
    frame = np.full((height, width, 3), DARK, np.uint8)
    for bit in range(GRID_COLS * GRID_ROWS):
        if index >> (GRID_COLS * GRID_ROWS - 1 - bit) & 1:
            r, c = divmod(bit, GRID_COLS)
            frame[r * height // GRID_ROWS:(r + 1) * height // GRID_ROWS,
                  c * width // GRID_COLS:(c + 1) * width // GRID_COLS] = BRIGHT
    return frame


def frame_counter(frame: np.ndarray) -> int:
    """The index written by :func:`counter_frame`, read back from a decoded (possibly resized) frame."""
    height, width = frame.shape[:2]
    value = 0
    for bit in range(GRID_COLS * GRID_ROWS):
        r, c = divmod(bit, GRID_COLS)
        # The inner half of each block only: codecs smear the edges.
        h0, h1 = r * height // GRID_ROWS, (r + 1) * height // GRID_ROWS
        w0, w1 = c * width // GRID_COLS, (c + 1) * width // GRID_COLS
        dh, dw = (h1 - h0) // 4, (w1 - w0) // 4
        block = frame[h0 + dh:h1 - dh, w0 + dw:w1 - dw]
        value = value << 1 | int(block.mean() > (DARK + BRIGHT) / 2)
    return value


def counter_frames(n: int, width: int = 64, height: int = 48) -> Iterator[np.ndarray]:
    """Frames 0 … n-1 of a counter video."""
    return (counter_frame(i, width, height) for i in range(n))


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float | Fraction,
                codec: str | None = None, *, gop: int | None = None) -> Path:
    """Write RGB uint8 frames to ``path``; ``codec`` defaults by suffix (.mp4 mp4v, .avi MJPG, …).

    ``gop`` sets the keyframe interval for PyAV codecs (long GOPs make seeking matter).
    Returns the path; raises RuntimeError when the codec cannot write here.
    """
    path = Path(path)
    codec = codec or DEFAULT_CODEC[path.suffix]
    if codec in OPENCV_FOURCCS:
        _write_opencv(path, frames, float(fps), codec)
    else:
        _write_pyav(path, frames, fps, codec, gop)
    return path


def _write_opencv(path: Path, frames: Iterable[np.ndarray], fps: float, fourcc: str) -> None:
    import cv2

    writer = None
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (w, h))
                if not writer.isOpened():
                    raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # OpenCV wants BGR
    finally:
        if writer is not None:
            writer.release()


def _write_pyav(path: Path, frames: Iterable[np.ndarray], fps: float | Fraction, codec: str,
                gop: int | None) -> None:
    import av

    # PyAV wants an exact rational rate; 29.97-style floats become their nearest small fraction.
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=rate)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv444p" if codec == "ffv1" else "yuv420p"
                if gop is not None:
                    stream.codec_context.gop_size = gop
                if codec == "libx264":  # near-lossless, so the counter blocks stay crisp
                    stream.options = {"crf": "10"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)


def patch_avi_header(src: str | Path, dst: str | Path, *, frame_count: int | None = None,
                     rate: tuple[int, int] | None = None) -> Path:
    """Copy an AVI (as OpenCV writes it) to ``dst`` with a lying header.

    ``frame_count`` replaces the total frames in ``avih`` and the stream length in ``strh``;
    ``rate=(rate, scale)`` replaces the stream's frame rate ``rate / scale`` (and ``avih``'s frame time).
    """
    import struct

    data = bytearray(Path(src).read_bytes())
    avih, strh = data.find(b"avih"), data.find(b"strh")
    if avih < 0 or strh < 0:
        raise ValueError(f"{src} has no avih/strh header")
    if frame_count is not None:
        struct.pack_into("<I", data, avih + 24, frame_count)   # avih.dwTotalFrames
        struct.pack_into("<I", data, strh + 40, frame_count)   # strh.dwLength
    if rate is not None:
        num, den = rate
        struct.pack_into("<I", data, avih + 8, round(1e6 * den / num) if num else 0)  # dwMicroSecPerFrame
        struct.pack_into("<II", data, strh + 28, den, num)     # strh.dwScale, strh.dwRate
    Path(dst).write_bytes(data)
    return Path(dst)


def patch_mkv_frame_duration(src: str | Path, dst: str | Path, nanoseconds: int) -> Path:
    """Copy a Matroska file to ``dst`` with its video track's DefaultDuration (the stated frame
    rate) replaced; the frames' own timestamps stay right."""
    data = bytearray(Path(src).read_bytes())
    at = data.find(bytes.fromhex("23E383"))  # EBML id of DefaultDuration
    if at < 0 or not data[at + 3] & 0x80:
        raise ValueError(f"{src} has no one-byte-sized DefaultDuration element")
    size = data[at + 3] & 0x7F
    data[at + 4:at + 4 + size] = nanoseconds.to_bytes(size, "big")
    Path(dst).write_bytes(data)
    return Path(dst)
