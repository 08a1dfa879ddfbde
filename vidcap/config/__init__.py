"""Configuration: one schema for every key (:mod:`vidcap.config.schema`) and the loader that reads YAML files
with ``_base_`` inheritance and command-line overrides (:mod:`vidcap.config.loading`).

The schema describes the stages below it (models, training, inference): it reads their registries and
defaults; none of them imports it. Training takes the loaded config as plain values.

Example:
    >>> from vidcap.config import load_config
    >>> load_config(None, ["train.epochs=2"]).train.epochs
    2
"""
from __future__ import annotations

from vidcap.config.loading import load_config

__all__ = ["load_config"]
