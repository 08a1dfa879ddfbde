"""One scale for people: the training log prints validation metrics x100 (as `vidcap score` tables do),
while metrics.json keeps pycocoevalcap's raw values."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from tinytask import TINY
from trainkit import TinyModel

from vidcap.config.loading import load_config
from vidcap.training.trainer import train


@pytest.mark.slow
def test_training_log_prints_metrics_x100_and_the_file_keeps_raw_values(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                        tiny_model: TinyModel) -> None:
    cfg = load_config(None, [f"data.features={tiny_model.features}", f"data.annotations={tiny_model.annotations}",
                             f"out={tmp_path / 'run'}", *TINY, "train.epochs=2", "data.deltas=true",
                             # validated on its 9 training clips (the validation split is 1 clip scoring 0), so
                             # the scores are not zero and a scale shows
                             "data.val_split=train"])
    with caplog.at_level(logging.INFO, logger="vidcap"):
        train(cfg)
    records = json.loads((tmp_path / "run" / "metrics.json").read_text())
    lines = [r.getMessage() for r in caplog.records if re.match(r"epoch \d+: train loss", r.getMessage())]
    assert len(lines) == len(records) == 2
    # a scale is only seen on a non-zero score (in a full test run the 2-epoch model's CIDEr was once 0)
    assert any(r["val"]["CIDEr"] > 0.01 or r["val"]["Bleu_4"] > 0.01 for r in records)
    for line, record in zip(lines, records):
        shown = {k: float(v) for k, v in re.findall(r"(CIDEr|Bleu_4|loss) (-?[\d.]+)", line.split(";")[1])}
        assert shown["CIDEr"] == pytest.approx(100 * record["val"]["CIDEr"], abs=0.006)
        assert shown["Bleu_4"] == pytest.approx(100 * record["val"]["Bleu_4"], abs=0.006)
        assert shown["loss"] == pytest.approx(record["val"]["loss"], abs=6e-5)  # a loss is not a percentage
