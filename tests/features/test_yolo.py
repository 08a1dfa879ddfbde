"""YOLO backbones (vidcap/features/yolo.py) with random weights built from the yaml configs."""
from __future__ import annotations

import numpy as np
import pytest

from vidcap.video import Sampling
from vidcap.errors import InputError, UsageError
from vidcap.features import get_backbone

FRAMES = np.random.default_rng(0).integers(0, 256, (2, 96, 160, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ["yolov8n", "yolo11n"])
def test_streams_shapes_dtypes_and_filled_detections(name):
    bb = get_backbone(name, weights="none", imgsz=128, conf=0.0, top_k=6)
    assert bb.weights == "none"
    assert bb.streams == {"frame": (448,), "objects": (6, 448), "object_boxes": (6, 4),
                          "object_classes": (6,), "object_scores": (6,)}
    out = bb.features(FRAMES)
    assert {k: v.shape for k, v in out.items()} == {k: (2, *s) for k, s in bb.streams.items()}
    assert out["object_classes"].dtype.kind == "i" and out["objects"].dtype == np.float32
    # conf=0 keeps every box that survives NMS: 6 of them exist on a 128² input (336 anchors)
    assert (out["object_classes"] >= 0).all() and (out["object_classes"] < 80).all()
    assert (out["object_scores"] > 0).all()
    assert (np.diff(out["object_scores"], axis=1) <= 0).all()  # best first
    assert (out["object_boxes"] >= 0).all() and (out["object_boxes"] <= 1).all()
    assert (out["object_boxes"][..., 2:] >= out["object_boxes"][..., :2]).all()
    assert (np.abs(out["objects"]).sum(axis=2) > 0).all()
    meta = bb.meta()
    assert meta["imgsz"] == 128 and meta["top_k"] == 6 and len(meta["class_names"]) == 80


def test_object_stream_is_padded_when_nothing_is_detected():
    bb = get_backbone("yolov8n", weights="none", imgsz=64, conf=1.0, top_k=4)
    out = bb.features(FRAMES)
    assert (out["object_classes"] == -1).all() and (out["object_scores"] == 0).all()
    assert (out["object_boxes"] == 0).all() and (out["objects"] == 0).all()
    assert (np.abs(out["frame"]).sum(axis=1) > 0).all()


def test_partial_padding_when_fewer_boxes_than_top_k():
    # a 64² input has 8² + 4² + 2² = 84 anchors, fewer than top_k=100
    bb = get_backbone("yolov8n", weights="none", imgsz=64, conf=0.0, top_k=100)
    out = bb.features(FRAMES)
    valid = out["object_classes"] >= 0
    assert valid[:, 0].all() and not valid[:, -1].all() and (valid.sum(axis=1) <= 84).all()
    # padding rows are zero, and valid rows come first
    assert (out["object_scores"][~valid] == 0).all() and (out["objects"][~valid] == 0).all()
    assert all((row == np.sort(row)[::-1]).all() for row in valid)


def test_same_input_same_features_across_builds():
    a = get_backbone("yolov8n", weights="none", imgsz=96, conf=0.0, top_k=3).features(FRAMES)
    b = get_backbone("yolov8n", weights="none", imgsz=96, conf=0.0, top_k=3).features(FRAMES)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_missing_pt_offline_is_an_input_error_saying_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        get_backbone("yolov8n", weights="yolov8n.pt", imgsz=64)
    assert "yolov8n.pt" in str(err.value) and "weights_dir" in str(err.value)
    assert "--weights none" in str(err.value)


def test_yolo_weights_are_named_for_what_they_are():
    with pytest.raises(UsageError, match="'coco'"):
        get_backbone("yolov8n", weights="imagenet")  # YOLO's released weights are COCO-trained
    bb = get_backbone("yolov8n", weights="none", imgsz=64)
    assert bb.weights_id == "none(seed=0)" and bb.spec(Sampling(frames=2)).dtypes["object_classes"] == "int16"


def test_weights_that_are_not_pt_are_a_usage_error():
    with pytest.raises(UsageError, match="yolov8n.pt"):
        get_backbone("yolov8n", weights="weights.bin")
    with pytest.raises(UsageError, match="imgsz=100"):
        get_backbone("yolov8n", weights="none", imgsz=100)
