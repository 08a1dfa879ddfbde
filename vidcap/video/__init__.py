"""Video decoding and frame sampling: metadata with fallbacks, N-uniform or fixed-fps sampling, RGB frames.

OpenCV's FFmpeg backend reads every container/codec FFmpeg does (mp4 H.264/mp4v, mkv, webm VP8/VP9,
avi MJPG/XVID …). Only the sampled frames are converted; skipped frames are grabbed or seeked over.

Example:
    >>> from vidcap.video import Sampling, probe, read_clip
    >>> info = probe("clip.mp4")                                     # doctest: +SKIP
    >>> clip = read_clip("clip.mp4", Sampling(frames=28))            # doctest: +SKIP
    >>> clip.frames.shape, clip.timestamps[0]                        # doctest: +SKIP
    ((28, 240, 320, 3), 0.2667)
"""
from __future__ import annotations

from vidcap.video.capture import VideoError
from vidcap.video.decode import Clip, read_clip
from vidcap.video.probe import VideoInfo, probe
from vidcap.video.sampling import DEFAULT_FRAMES, Sampling, sample_indices, windows

__all__ = ["DEFAULT_FRAMES", "Clip", "Sampling", "VideoError", "VideoInfo", "probe", "read_clip",
           "sample_indices", "windows"]
