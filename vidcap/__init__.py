"""vidcap: caption video files with ResNet/YOLO frame features and LSTM/GRU decoders.

Example:
    >>> from vidcap import Captioner                      # doctest: +SKIP
    >>> Captioner.from_checkpoint("best.pt").caption(["clip.mp4"])  # doctest: +SKIP
    ['a man is playing a guitar']
    >>> from vidcap import TrainedModel
    >>> TrainedModel.__module__
    'vidcap.trained.model'
"""
from __future__ import annotations

import os

from vidcap.version import __version__

# Importing ultralytics sets OMP_NUM_THREADS=1 when it is unset, which halves CPU throughput on
# a 2-core machine. Claim every core first, unless the user chose a number.
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
# ultralytics must never try to reach the network or pip-install things behind the user's back.
os.environ.setdefault("YOLO_AUTOINSTALL", "0")

__all__ = ["Captioner", "TrainedModel", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import vidcap` (and `vidcap --help`) stays fast; plain imports, so that
    # tests/test_import_cycles.py sees these edges too.
    if name == "Captioner":
        from vidcap.inference.captioner import Captioner

        return Captioner
    if name == "TrainedModel":
        from vidcap.trained.model import TrainedModel

        return TrainedModel
    raise AttributeError(f"module 'vidcap' has no attribute {name!r}")
