"""tools/evaluate.py: several results files, all splits, summaries, exit codes (Python tokenizer: fast)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "evaluate.py"


@pytest.fixture(scope="module")
def evaluate_main():
    spec = importlib.util.spec_from_file_location("vidcap_tools_evaluate", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture()
def files(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({
        "videos": [{"video_id": "a", "split": "train", "category": 0}, {"video_id": "b", "split": "test", "category": 2}],
        "sentences": [{"video_id": "a", "caption": "a man sings", "sen_id": 0},
                      {"video_id": "b", "caption": "a boy plays a game", "sen_id": 1}]}))
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"video_id": "a", "caption": "a man sings"},
                                {"video_id": "b", "caption": "a boy plays a game"}]))
    return ann, good


def test_all_splits_one_line_each(evaluate_main, files, capsys, tmp_path):
    ann, good = files
    code = evaluate_main([str(good), "--annotations", str(ann), "--split", "all", "--no-java", "--summary",
                          "--json", str(tmp_path / "out.json")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and [line.split("\t")[1] for line in lines] == ["train", "test"]
    assert all("ROUGE_L=100.00" in line for line in lines)
    written = sorted(p.name for p in tmp_path.glob("out.*.json"))
    assert written == ["out.good.test.json", "out.good.train.json"]
    assert json.loads((tmp_path / "out.good.test.json").read_text())["videos_scored"] == 1


def test_bad_results_exit_1_and_test_split_needs_its_videos(evaluate_main, files, capsys, tmp_path):
    ann, good = files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"video_id": "zzz", "caption": "x"}]))
    assert evaluate_main([str(bad), "--annotations", str(ann), "--split", "all", "--no-java"]) == 1
    assert "zzz" in capsys.readouterr().err
    # Default split test: "a" is a train video, so scoring good.json on test alone is refused.
    assert evaluate_main([str(good), "--annotations", str(ann), "--no-java"]) == 1
    assert "train split" in capsys.readouterr().err
