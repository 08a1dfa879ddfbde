"""vidcap.metrics.scoring and `vidcap score`: the results-file rules, the report, and exit codes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from vidcap.cli import main
from vidcap.data.annotations import Annotations
from vidcap.errors import InputError, UsageError
from vidcap.metrics import java
from vidcap.metrics.scoring import check_results, load_results, score_results, score_results_file

REFS = {
    "video1": (0, "test", ["A man is playing a guitar.", "a man plays guitar", "someone strums a guitar"]),
    "video2": (0, "test", ["A woman sings a song", "a singer performs on stage", "a woman is singing"]),
    "video3": (3, "test", ["a player kicks a ball", "soccer players run", "a football match"]),
    "video4": (3, "test", ["people run a race", "runners on a track", "a man is running fast"]),
    "video5": (1, "train", ["a man talks", "a person speaks", "a man is talking"]),
    "video6": (1, "validate", ["a kid laughs", "a child is laughing", "a baby giggles"]),
}
GOOD = {"video1": "a man is playing the guitar", "video2": "a woman is singing on stage",
        "video3": "players kick a ball", "video4": "a man is running"}


@pytest.fixture(scope="module")
def ann_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ann") / "videodatainfo.json"
    data = {"videos": [{"video_id": v, "split": s, "category": c} for v, (c, s, _) in REFS.items()],
            "sentences": [{"video_id": v, "caption": cap, "sen_id": 10 * i + j}
                          for i, (v, (_, _, caps)) in enumerate(REFS.items()) for j, cap in enumerate(caps)]}
    path.write_text(json.dumps(data))
    return path


def write(tmp_path: Path, items, name="results.json") -> Path:
    path = tmp_path / name
    path.write_text(items if isinstance(items, str) else json.dumps(items))
    return path


def entries(captions: dict[str, str], key="video_id"):
    return [{key: vid, "caption": cap} for vid, cap in captions.items()]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["score", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
@pytest.mark.skipif(java.java_version() is None, reason="needs java")
def test_cli_scores_table_and_json_equal_pycocoevalcap(tmp_path, ann_path, capsys):
    captions = {**GOOD, "video2": "  "}  # one blank caption
    items = entries(captions)
    items[0] = {"image_id": "video1", "caption": GOOD["video1"], "score": 0.9}  # synonym + ignored key
    results = write(tmp_path, items)
    code, out, err = run_cli(capsys, "--results", results, "--annotations", ann_path, "--json", tmp_path / "s.json")
    assert code == 0, err
    assert "Bleu_4" in out and "METEOR" in out and "sports/actions" in out and "music" in out
    assert "1 blank caption" in out and "SPICE" in out

    report = json.loads((tmp_path / "s.json").read_text())
    tok = PTBTokenizer()
    gts = tok.tokenize({v: [{"caption": c} for c in REFS[v][2]] for v in GOOD})
    res = tok.tokenize({v: [{"caption": c}] for v, c in captions.items()})
    want = {"Bleu_4": Bleu(4).compute_score(gts, res, verbose=0)[0][3],
            "ROUGE_L": Rouge().compute_score(gts, res)[0], "CIDEr": Cider().compute_score(gts, res)[0]}
    for metric, value in want.items():
        assert report["overall"][metric] == pytest.approx(value, abs=1e-9)
    assert 0 < report["overall"]["METEOR"] < 1 and report["comparable_to_published"] is True
    assert all(report["per_video"]["video2"][m] == pytest.approx(0, abs=1e-6) for m in report["overall"])
    assert report["blank_captions"] == ["video2"] and report["videos_scored"] == 4
    assert set(report["per_category"]) == {"music", "sports/actions"}
    sports = report["per_category"]["sports/actions"]
    assert sports["videos"] == 2
    assert sports["CIDEr"] == pytest.approx(np.mean([report["per_video"][v]["CIDEr"] for v in ("video3", "video4")]))


def test_no_java_is_marked_not_comparable_and_skips_meteor(tmp_path, ann_path, capsys):
    results = write(tmp_path, entries(GOOD))
    code, out, _ = run_cli(capsys, "--results", results, "--annotations", ann_path, "--no-java",
                           "--json", tmp_path / "s.json")
    assert code == 0 and "NOT comparable" in out
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["comparable_to_published"] is False and "METEOR" not in report["overall"]
    assert report["tokenizer"] == "python" and set(report["skipped"]) == {"METEOR", "SPICE"}


def no_java_scores(items, ann_path, **kwargs):
    return score_results(items, ann_path, split="test", java=False, **kwargs)


def test_image_id_is_a_synonym_and_int_ids_are_read_as_strings(tmp_path, ann_path):
    by_video = no_java_scores(entries(GOOD), ann_path).overall
    assert no_java_scores(entries(GOOD, key="image_id"), ann_path).overall == by_video
    numeric = tmp_path / "ann.json"
    numeric.write_text(json.dumps({"videos": [{"video_id": "7", "split": "test"}],
                                   "sentences": [{"video_id": "7", "caption": "a cat", "sen_id": 0}]}))
    report = no_java_scores([{"image_id": 7, "caption": "a cat"}], numeric)
    assert report.scored == 1 and report.overall["ROUGE_L"] == 1.0


def test_missing_videos_are_an_error_unless_allowed(tmp_path, ann_path, capsys):
    partial = {k: v for k, v in GOOD.items() if k != "video3"}
    results = write(tmp_path, entries(partial))
    code, _, err = run_cli(capsys, "--results", results, "--annotations", ann_path, "--no-java")
    assert code == 1 and "video3" in err and "1 of the 4" in err and "--allow-missing" in err
    report = score_results_file(results, [ann_path], java=False, allow_missing=True)
    assert report.scored == 3 and report.split_size == 4 and set(report.evaluation.per_id) == set(partial)
    assert any("only 3 of the 4" in note for note in report.notes())


def test_ids_not_in_the_split_are_listed_with_their_split(tmp_path, ann_path, capsys):
    results = write(tmp_path, entries({**GOOD, "video5": "a man", "video99": "x"}))
    code, _, err = run_cli(capsys, "--results", results, "--annotations", ann_path, "--no-java")
    assert code == 1 and "video5" in err and "video99" in err and "train split" in err


def test_duplicate_ids_are_listed(tmp_path, ann_path, capsys):
    items = entries(GOOD) + [{"video_id": "video2", "caption": "again"}, {"image_id": "video4", "caption": "x"}]
    code, _, err = run_cli(capsys, "--results", write(tmp_path, items), "--annotations", ann_path, "--no-java")
    assert code == 1 and "more than one caption" in err and "video2" in err and "video4" in err


@pytest.mark.parametrize("content, message", [
    ('[{"video_id": "video1", "caption": "a man"', "invalid JSON"),
    ('{"video1": "a man"}', "JSON list"),
    ('["video1 a man"]', "[0] is a str, not an object"),
    ('[{"video_id": "video1", "caption": 3}]', "caption=3 (int, expected a string)"),
    ('[{"video_id": ["video1"], "caption": "a"}]', "video_id=['video1'] (list"),
    ('[{"video_id": true, "caption": "a"}]', "(bool, expected a string)"),
    ('[{"video_id": "video1"}]', "(video1) lacks caption"),
    ('[{"caption": "a man"}]', "lacks video_id (or image_id)"),
    ('[{"video_id": "video1", "image_id": "video1", "caption": "a"}]', "both video_id and image_id"),
    ('[]', "no captions to score"),
])
def test_malformed_results_name_the_file_and_entry(tmp_path, ann_path, capsys, content, message):
    results = write(tmp_path, content)
    code, _, err = run_cli(capsys, "--results", results, "--annotations", ann_path, "--no-java",
                           "--allow-missing")
    assert code == 1 and str(results) in err and message in err, err


def test_many_bad_entries_are_counted(tmp_path, ann_path):
    with pytest.raises(InputError, match=r"\(7 in all\)"):
        check_results([{"video_id": f"v{i}", "caption": None} for i in range(7)], split_ids=["v1"])


def test_unreadable_inputs(tmp_path, ann_path, capsys):
    code, _, err = run_cli(capsys, "--results", tmp_path / "nope.json", "--annotations", ann_path)
    assert code == 1 and "results file not found" in err
    with pytest.raises(InputError, match="not found"):
        load_results(tmp_path / "nope.json")
    results = write(tmp_path, entries(GOOD))
    code, _, err = run_cli(capsys, "--results", results, "--annotations", tmp_path / "none.json")
    assert code == 1 and "annotation file not found" in err


def test_usage_errors_exit_2(tmp_path, ann_path, capsys):
    results = write(tmp_path, entries(GOOD))
    code, _, err = run_cli(capsys, "--results", results, "--annotations", ann_path, "--split", "dev")
    assert code == 2 and "unknown split 'dev'" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--results", str(results), "--annotations", str(ann_path), "--spice", "maybe"])
    assert exit_info.value.code == 2
    with pytest.raises(UsageError, match="no 'validate' videos"):
        score_results([], Annotations({}, {}), split="validate", java=False)


def test_help_states_the_rules(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = capsys.readouterr().out
    for rule in ("image_id", "--allow-missing", "not in the split", "two or more entries",
                 "blank caption", "Invalid JSON", "NOT comparable"):
        assert rule in text


def test_other_splits_can_be_scored(tmp_path, ann_path):
    report = score_results([{"video_id": "video6", "caption": "a child is laughing"}], ann_path,
                           split="validate", java=False)
    assert report.scored == 1 and report.overall["ROUGE_L"] == 1.0
    assert "people" in report.table() and "music" not in report.table()


def test_impossible_options_fail_before_any_file_is_read(tmp_path):
    # The annotation file does not exist: a UsageError (not "file not found") shows the options were
    # checked first, so a bad command line fails at once instead of after loading MSR-VTT.
    with pytest.raises(UsageError, match="runs in Java"):
        score_results([], tmp_path / "missing.json", java=False, spice="on")
    with pytest.raises(UsageError, match="spice must be one of"):
        score_results([], tmp_path / "missing.json", spice="sometimes")
