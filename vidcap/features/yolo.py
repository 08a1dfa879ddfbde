"""YOLOv8 and YOLO11 detectors (ultralytics) as backbones with a frame stream and an object stream.

Streams (D = C3 + C4 + C5, the channel counts of the three neck outputs fed to the detection head;
448 for the ``n`` models):

- ``frame`` (D,): each of the P3/P4/P5 neck maps average-pooled globally, concatenated.
- ``objects`` (K, D): per detection, ``torchvision.ops.roi_align`` of its box on P3, P4 and P5
  (``roi_size``² bins, averaged), concatenated like ``frame`` — so region and frame features share a space.
- ``object_boxes`` (K, 4): xyxy normalised to the original frame (0..1).
- ``object_classes`` (K,): class index (−1 = padding); ``object_scores`` (K,): confidence (0 = padding).

Detections are the head's decoded boxes, thresholded at ``conf``, then class-aware NMS at ``iou``
(``torchvision.ops.batched_nms``, one label per box as ultralytics' default), best ``top_k`` kept in
descending score order. Random weights give meaningless, tiny scores: use ``conf=0`` to still get boxes.
Input: letterbox to ``imgsz``² (default 640), pixels /255. Weights: ``coco`` (the default) is
ultralytics' released COCO-trained ``<name>.pt``; also ``none`` (seeded random), a ``.pt`` name or path.
The feature spec identifies weights by the file's SHA-256.

Example:
    >>> from vidcap.features import get_backbone
    >>> bb = get_backbone("yolov8n", weights="none", imgsz=160, conf=0.0, top_k=5)
    >>> bb.streams["objects"], bb.streams["object_boxes"]
    ((5, 448), (5, 4))
"""
from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn

from vidcap.errors import InputError, UsageError
from vidcap.features.backbone import BACKBONES, DEFAULT_SEED, Backbone, file_digest, seeded
from vidcap.features.transforms import Letterbox

YOLOS = tuple(f"{family}{size}" for family in ("yolov8", "yolo11") for size in "nsmlx")
MAX_NMS = 30000  # candidate boxes per frame entering NMS, as ultralytics caps them

log = logging.getLogger(__name__)


def _load(name: str, weights: str, seed: int) -> tuple[nn.Module, str, str]:
    """Build (weights='none', from ``<name>.yaml``) or load (``coco``, a .pt name or path) the detection
    model: ``(model, weights as given for rebuilding, weights identity)``."""
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint  # heavy import, only when used

    if weights == "none":
        with seeded(seed):
            return DetectionModel(f"{name}.yaml", nc=80, verbose=False), "none", f"none(seed={seed})"
    if weights == "coco":  # ultralytics' released COCO-trained detector of this name
        weights = f"{name}.pt"
    if not weights.endswith(".pt"):
        raise UsageError(f"YOLO weights {weights!r}: give 'coco' (ultralytics' COCO-trained {name}.pt), "
                         f"'none' for random weights, a .pt name such as {name}.pt, or a .pt path")
    try:
        model, _ = load_checkpoint(weights)
    except ConnectionError as err:  # ultralytics' download failure when the file is nowhere local
        from ultralytics.utils import SETTINGS

        raise InputError(
            f"YOLO weights {weights}: not found locally and the download failed ({err}). Offline, put "
            f"{weights} in the working folder or in ultralytics' weights_dir {SETTINGS['weights_dir']}, "
            f"or pass its path, or use --weights none for random weights") from None
    except (TypeError, FileNotFoundError) as err:  # ultralytics' messages for damaged or foreign files
        raise InputError(f"YOLO weights {weights}: {err}") from None
    file = getattr(model, "pt_path", None) or weights
    return model, weights, f"sha256:{file_digest(Path(file))}"


class YoloBackbone(Backbone):
    """An ultralytics detection model; see the module docstring for the streams.

    Options:
        imgsz: side of the letterboxed square input in pixels, a multiple of 32 from 32 to 2048.
        top_k: detections kept per frame (the objects stream's length; padded when fewer).
        conf: confidence threshold of a detection, 0 to 1 (0 keeps boxes even from random weights).
        iou: IoU threshold of the class-aware non-maximum suppression, 0 to 1.
        roi_size: bins per side of each detection's RoIAlign on the neck maps.
    """

    int_streams = frozenset({"object_classes"})
    default_weights = "coco"

    @classmethod
    def weights_named(cls, name: str, identity: str) -> str | None:
        """``sha256:<hex>`` → ``<name>.pt`` in ultralytics' weights_dir (the documented cache), only when
        that file's SHA-256 is the identity: ultralytics files are pickles, so nothing else is ever loaded
        for a model, and nothing is downloaded (ultralytics would fetch a missing ``<name>.pt``)."""
        if identity.startswith("sha256:"):
            with contextlib.redirect_stdout(sys.stderr):  # its first-run banner would land among the captions
                from ultralytics.utils import SETTINGS

            cached = Path(SETTINGS["weights_dir"]) / f"{name}.pt"
            if cached.is_file() and f"sha256:{file_digest(cached)}" == identity:
                return str(cached.resolve())
            return None
        return super().weights_named(name, identity)

    def __init__(self, name: str, *, weights: str, device: torch.device, imgsz: int = 640,
                 top_k: int = 10, conf: float = 0.25, iou: float = 0.7, roi_size: int = 7,
                 dtype: str | None = None, seed: int = DEFAULT_SEED):
        super().__init__(device=device, dtype=dtype)  # mean 0, std 1: normalize() only divides by 255
        if int(imgsz) % 32 or not 32 <= int(imgsz) <= 2048:
            raise UsageError(f"imgsz={imgsz!r}: choose a multiple of 32 from 32 to 2048")
        if int(top_k) < 1:
            raise UsageError(f"top_k={top_k!r}: keep at least one detection per frame")
        if not (0.0 <= conf <= 1.0 and 0.0 <= iou <= 1.0):
            raise UsageError(f"conf={conf!r}, iou={iou!r}: both must lie in [0, 1]")
        model, self.weights, self.weights_id = _load(name, weights, seed)
        self.name = name
        self.model = model.fuse(verbose=False).eval()  # conv+bn folded: same outputs, faster
        self.top_k, self.conf, self.iou, self.roi_size = int(top_k), float(conf), float(iou), int(roi_size)
        self.class_names = dict(model.names)
        self.strides = [float(s) for s in model.stride]
        self.transform = Letterbox(imgsz=int(imgsz))
        self.preprocessing = {"colour": "RGB", "fit": "letterbox", "input_size": self.transform.imgsz,
                              "pad": self.transform.pad_value, "scale": "pixels / 255"}
        with torch.inference_mode():  # channel counts of the neck outputs, from a tiny dry run
            _, preds = self.model(torch.zeros(1, 3, 64, 64))
        dim = sum(f.shape[1] for f in self._neck(preds))
        self.streams = {"frame": (dim,), "objects": (self.top_k, dim), "object_boxes": (self.top_k, 4),
                        "object_classes": (self.top_k,), "object_scores": (self.top_k,)}
        self._place()

    @staticmethod
    def _neck(preds: dict[str, Any]) -> list[torch.Tensor]:
        # Dual-head (end-to-end) models nest their outputs; v8/11 return {"boxes", "scores", "feats"}.
        return (preds["one2many"] if "one2many" in preds else preds)["feats"]

    def forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, S, S) in 0..1 → the streams; boxes here are still in letterboxed pixels (see finalize)."""
        decoded, preds = self.model(batch)
        feats = [f.float() for f in self._neck(preds)]
        out = {"frame": torch.cat([f.mean(dim=(2, 3)) for f in feats], dim=1)}
        boxes, scores, classes, valid = self._detect(decoded.float())
        rois = [b[v] for b, v in zip(boxes, valid)]
        regions = torch.cat([torchvision.ops.roi_align(f, rois, self.roi_size, 1.0 / s, 2, True).mean(dim=(2, 3))
                             for f, s in zip(feats, self.strides)], dim=1)
        objects = feats[0].new_zeros(len(batch), self.top_k, regions.shape[1])
        objects[valid] = regions
        out.update(objects=objects, object_boxes=boxes, object_classes=classes, object_scores=scores)
        return out

    def _detect(self, decoded: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, 4 + nc, A) cx,cy,w,h + class probabilities → top-K padded boxes, scores, classes, mask."""
        b, k = decoded.shape[0], self.top_k
        boxes = decoded.new_zeros(b, k, 4)
        scores = decoded.new_zeros(b, k)
        classes = torch.full((b, k), -1, dtype=torch.long, device=decoded.device)
        for i, pred in enumerate(decoded.transpose(1, 2)):  # (A, 4 + nc)
            conf, cls = pred[:, 4:].max(dim=1)
            keep = (conf >= self.conf).nonzero().squeeze(1)
            keep = keep[conf[keep].argsort(descending=True, stable=True)[:MAX_NMS]]
            xyxy = torchvision.ops.box_convert(pred[keep, :4], "cxcywh", "xyxy")
            kept = torchvision.ops.batched_nms(xyxy, conf[keep], cls[keep], self.iou)[:k]
            n = len(kept)
            boxes[i, :n], scores[i, :n], classes[i, :n] = xyxy[kept], conf[keep][kept], cls[keep][kept]
        return boxes, scores, classes, classes >= 0

    def finalize(self, outputs: dict[str, np.ndarray], frame_size: tuple[int, int]) -> dict[str, np.ndarray]:
        """Map boxes from letterboxed pixels to xyxy normalised to the original frame; padding stays 0."""
        valid = outputs["object_classes"] >= 0
        boxes = self.transform.unletterbox(outputs["object_boxes"], *frame_size)
        return {**outputs, "object_boxes": np.where(valid[..., None], boxes, 0.0).astype(np.float32)}

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "imgsz": self.transform.imgsz,
                "letterbox_pad": self.transform.pad_value, "normalization": "pixels / 255",
                "top_k": self.top_k, "conf": self.conf, "iou": self.iou, "roi_size": self.roi_size,
                "class_names": [self.class_names[i] for i in sorted(self.class_names)]}


BACKBONES.register(*YOLOS)(YoloBackbone)
