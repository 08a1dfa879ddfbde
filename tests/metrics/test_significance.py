"""vidcap.metrics.significance and `vidcap compare` on real MSR-VTT references (tests/assets/msrvtt): the
bootstrap's corpus scores equal pycocoevalcap run on the resampled videos, identical systems are not
told apart, and human captions are told apart from a constant caption by a wide margin."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge

from vidcap.cli import main
from vidcap.metrics import java
from vidcap.metrics.cider import CiderD
from vidcap.metrics.coco import BLEU
from vidcap.metrics.meteor import MeteorPool
from vidcap.metrics.scoring import score_results
from vidcap.metrics.significance import Sufficient, compare, resample_counts

pytestmark = pytest.mark.skipif(java.java_version() is None, reason="needs java")

CONSTANT = "a man is talking"


@pytest.fixture(scope="module")
def files(msrvtt_dir, tmp_path_factory) -> dict[str, Path]:
    """The test split with one reference per video held out: annotations of the other 19, the held-out
    ones as a results file ("human"), and a constant caption for every video."""
    folder = tmp_path_factory.mktemp("significance")
    data = json.loads((msrvtt_dir / "test_videodatainfo.json").read_text())
    held: dict[str, str] = {}
    kept = []
    for s in sorted(data["sentences"], key=lambda s: s["sen_id"]):
        if s["video_id"] in held:
            kept.append(s)
        else:
            held[s["video_id"]] = s["caption"]
    out = {"annotations": folder / "ann.json", "human": folder / "human.json", "constant": folder / "constant.json"}
    out["annotations"].write_text(json.dumps({**data, "sentences": kept}))
    out["human"].write_text(json.dumps([{"video_id": v, "caption": c} for v, c in held.items()]))
    out["constant"].write_text(json.dumps([{"video_id": v, "caption": CONSTANT} for v in held]))
    return out


@pytest.fixture(scope="module")
def reports(files):
    with MeteorPool(1) as pool:
        return {name: score_results(json.loads(files[name].read_text()), files["annotations"], spice="off",
                                    source=name, meteor=pool)
                for name in ("human", "constant")}


@pytest.mark.slow
def test_full_set_statistics_give_the_scorers_numbers(reports):
    for report in reports.values():
        stats = Sufficient.from_evaluation(report.evaluation)
        assert stats.metrics == list(report.overall)
        for metric, value in stats.scores(stats.matrix.sum(0)).items():
            assert value == pytest.approx(report.overall[metric], abs=1e-12), metric


@pytest.mark.slow
def test_bootstrap_resamples_equal_pycocoevalcap_on_the_resampled_videos(reports):
    ev = reports["human"].evaluation
    ids = list(ev.per_id)
    stats = Sufficient.from_evaluation(ev)
    counts = resample_counts(np.random.default_rng(7), 3, len(ids))
    assert (counts.sum(axis=1) == len(ids)).all() and (counts == 0).any() and (counts >= 2).any()
    refs = _tokenised_references(reports["human"], ids)  # PTB-tokenised, as they were scored
    cider = CiderD(refs)  # document frequencies of the whole reference set, as scored
    meteor = Meteor()
    try:
        for row in counts:
            gts, res = {}, {}
            for i, vid in enumerate(ids):
                for k in range(int(row[i])):
                    key = f"{vid}#{k}"  # a video drawn twice is two entries
                    gts[key], res[key] = refs[vid], [ev.tokenized[vid]]
            ours = stats.scores(row @ stats.matrix)
            bleu = Bleu(4).compute_score(gts, res, verbose=0)[0]
            for k, metric in enumerate(BLEU):
                assert ours[metric] == pytest.approx(bleu[k], abs=1e-12), metric
            assert ours["METEOR"] == pytest.approx(meteor.compute_score(gts, res)[0], abs=1e-12)
            assert ours["ROUGE_L"] == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-12)
            pairs = [(key.split("#")[0], res[key][0]) for key in res]
            assert ours["CIDEr"] == pytest.approx(float(np.mean(cider.score_pairs(pairs))), abs=1e-12)
    finally:
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()


def _tokenised_references(report, ids) -> dict[str, list[str]]:
    from vidcap.data.annotations import Annotations

    refs = Annotations.load(*report.annotations).references(ids)
    flat = java.ptb_tokenize([c for vid in ids for c in refs[vid]])
    out, at = {}, 0
    for vid in ids:
        out[vid] = flat[at:at + len(refs[vid])]
        at += len(refs[vid])
    return out


@pytest.mark.slow  # reports: ~10 s module fixture
def test_identical_systems_are_not_told_apart(reports):
    ev = reports["constant"].evaluation
    result = compare(ev, ev, resamples=500, seed=3)
    assert list(result.metrics) == list(reports["constant"].overall)
    for metric, row in result.metrics.items():
        assert row["delta"] == 0 and row["ci_low"] <= 0 <= row["ci_high"], metric
        assert row["p_value"] >= 0.5, metric


@pytest.mark.slow  # reports: ~10 s module fixture
def test_human_captions_beat_a_constant_caption_by_a_wide_margin(reports):
    result = compare(reports["constant"].evaluation, reports["human"].evaluation, resamples=500, seed=0)
    for metric, row in result.metrics.items():
        assert row["a"] == reports["constant"].overall[metric] and row["b"] == reports["human"].overall[metric]
        assert row["delta"] == pytest.approx(row["b"] - row["a"])
        assert row["ci_low"] < row["delta"] < row["ci_high"], (metric, row)
    # "a man is talking" matches many MSR-VTT references word for word, so its BLEU-3/4 are close to a
    # human's; on the consensus metrics and on unigrams the whole interval is far above 0 (its lower end
    # above a third of the difference) and no shuffle comes near the observed difference.
    for metric in ("Bleu_1", "METEOR", "ROUGE_L", "CIDEr"):
        row = result.metrics[metric]
        assert row["ci_low"] > row["delta"] / 3 > 0, (metric, row)
        assert row["p_value"] < 0.01, (metric, row)
    swapped = compare(reports["human"].evaluation, reports["constant"].evaluation, resamples=500, seed=0)
    cider = swapped.metrics["CIDEr"]
    assert cider["delta"] == -result.metrics["CIDEr"]["delta"] and cider["ci_high"] < 0


@pytest.mark.slow  # reports: ~10 s module fixture
def test_same_seed_same_numbers_other_seed_other_interval(reports):
    a, b = reports["constant"].evaluation, reports["human"].evaluation
    first, again = compare(a, b, resamples=200, seed=5), compare(a, b, resamples=200, seed=5)
    other = compare(a, b, resamples=200, seed=6)
    assert first.to_dict() == again.to_dict()
    assert first.metrics["CIDEr"]["ci_low"] != other.metrics["CIDEr"]["ci_low"]


@pytest.mark.slow
def test_compare_command(files, tmp_path, capsys):
    out = tmp_path / "cmp.json"
    code = main(["compare", str(files["constant"]), str(files["human"]), "--annotations", str(files["annotations"]),
                 "--json", str(out), "--resamples", "300", "--seed", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    doc = json.loads(out.read_text())
    assert set(doc) == {"metrics", "videos", "resamples", "seed"}
    assert (doc["videos"], doc["resamples"], doc["seed"]) == (195, 300, 1)
    assert set(doc["metrics"]) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    assert all(set(row) == {"a", "b", "delta", "ci_low", "ci_high", "p_value"} for row in doc["metrics"].values())
    cider = doc["metrics"]["CIDEr"]
    line = next(line for line in printed.splitlines() if line.startswith("CIDEr"))
    assert f"{100 * cider['b']:.2f}" in line and line.endswith("*"), printed


@pytest.mark.slow
def test_compare_names_a_file_that_misses_videos(files, tmp_path, capsys):
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(json.loads(files["human"].read_text())[:-3]))
    code = main(["compare", str(files["human"]), str(partial), "--annotations", str(files["annotations"])])
    err = capsys.readouterr().err
    assert code == 1 and str(partial) in err and "3 of the 195" in err, err
