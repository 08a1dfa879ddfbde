"""Frame features: backbone registry (ResNet, YOLO, timm), batched extraction, the on-disk FeatureStore.

Example:
    >>> from vidcap.features import FeatureStore, get_backbone, list_backbones
    >>> list_backbones()[:2]
    ['clip-vit-b16', 'clip-vit-b32']
    >>> store = FeatureStore("feats/")                        # doctest: +SKIP
    >>> store["video7010"]["frame"].shape                     # doctest: +SKIP
    (28, 512)
"""
from __future__ import annotations

from vidcap.features import motion, resnet, timm_backbone, yolo  # noqa: F401  (importing registers the backbone families)
from vidcap.features.backbone import Backbone, describe_options, get_backbone, list_backbones
# Binds the name ``extract`` to the function (the submodule of the same name stays importable).
from vidcap.features.extract import ExtractReport, extract
from vidcap.features.store import FeatureStore

__all__ = ["Backbone", "ExtractReport", "FeatureStore", "describe_options", "extract", "get_backbone",
           "list_backbones"]
