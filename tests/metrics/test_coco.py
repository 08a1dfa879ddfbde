"""vidcap.metrics.coco against pycocoevalcap's scorers called directly (PTBTokenizer, Bleu, Meteor, Rouge,
Cider) on the same inputs: every metric, overall, per id and per group. Java-based runs are shared per
module (each METEOR start costs ~10 s)."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.spice.spice import Spice
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from vidcap.errors import UsageError
from vidcap.metrics import java
from vidcap.metrics.coco import BLEU, evaluate, score, spice_unavailable

pytestmark = pytest.mark.skipif(java.java_version() is None, reason="needs java")

GTS = {
    "v1": ["A man is singing a song.", "A man sings on stage!", "Someone's singing (loudly)."],
    "v2": ["A dog runs in the park", "The dog is running, fast.", "a brown dog runs"],
    "v3": ["A woman cooks pasta in a kitchen.", "a woman is cooking", "Cooking show — pasta"],
    "v4": ["Cars drive on a road.", "traffic on the highway", "cars, cars and more cars"],
    "v5": ["a café serves crème brûlée", "people eat dessert", "a waiter brings food"],
}
RES = {"v1": ["A man is singing."], "v2": [""], "v3": ["a woman cooks pasta, in a kitchen"],
       "v4": ["traffic traffic traffic"], "v5": ["a waiter serves crème brûlée"]}
GROUPS = {"ab": ["v1", "v2"], "rest": ["v3", "v4", "v5"]}


def direct(gts, res, meteor):
    """pycocoevalcap as its own evaluation script uses it; returns overall and per-id scores."""
    tok = PTBTokenizer()
    g = tok.tokenize({k: [{"caption": c} for c in v] for k, v in gts.items()})
    r = tok.tokenize({k: [{"caption": c} for c in v] for k, v in res.items()})
    overall, per = {}, {}
    bleu, bleu_per = Bleu(4).compute_score(g, r, verbose=0)
    for k, m in enumerate(BLEU):
        overall[m], per[m] = bleu[k], bleu_per[k]
    for name, scorer in (("METEOR", meteor), ("ROUGE_L", Rouge()), ("CIDEr", Cider())):
        overall[name], per[name] = scorer.compute_score(g, r)
    return overall, {m: np.asarray(v, dtype=float) for m, v in per.items()}, g, r


def _java_children() -> list[str]:
    """Command lines of this process's child ``java`` processes (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and "java" in cmd:
            out.append(cmd)
    return out


@pytest.fixture(scope="module")
def meteor():
    scorer = Meteor()
    yield scorer
    scorer.meteor_p.kill()
    scorer.meteor_p.wait()


@pytest.fixture(scope="module")
def hand_made(meteor):
    """pycocoevalcap's result, vidcap's, the commands vidcap started, and its java children before/after."""
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(cmd, *args, **kwargs):  # records, then starts the real process
        started.append(list(cmd))
        return real_popen(cmd, *args, **kwargs)

    want = direct(GTS, RES, meteor)
    before = _java_children()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess, "Popen", recording_popen)
        ev = evaluate(GTS, RES, groups=GROUPS)
    return want, ev, started, (before, _java_children())


def assert_same(ev, want_overall, want_per, ids):
    assert list(ev.overall) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"]
    for m, value in want_overall.items():
        assert ev.overall[m] == pytest.approx(value, abs=1e-9), m
        got = np.array([ev.per_id[vid][m] for vid in ids])
        np.testing.assert_allclose(got, want_per[m], rtol=0, atol=1e-9, err_msg=m)


@pytest.mark.slow
def test_hand_made_every_metric_equals_pycocoevalcap(hand_made):
    (want, want_per, _, _), ev, _, _ = hand_made
    assert_same(ev, want, want_per, list(GTS))
    assert ev.comparable and ev.tokenizer == "ptb"
    assert ev.per_id["v2"]["CIDEr"] == 0 and ev.per_id["v2"]["ROUGE_L"] == 0  # empty caption: zero


@pytest.mark.slow  # hand_made: pycocoevalcap and METEOR on the hand-made set, ~15 s (module fixture)
def test_groups_equal_pycocoevalcap_on_the_group_alone(hand_made, meteor):
    (_, want_per, g, r), ev, _, _ = hand_made
    for name, members in GROUPS.items():
        sub_g, sub_r = {k: g[k] for k in members}, {k: r[k] for k in members}
        bleu = Bleu(4).compute_score(sub_g, sub_r, verbose=0)[0]
        for k, m in enumerate(BLEU):
            assert ev.groups[name][m] == pytest.approx(bleu[k], abs=1e-9)
        assert ev.groups[name]["METEOR"] == pytest.approx(meteor.compute_score(sub_g, sub_r)[0], abs=1e-9)
        assert ev.groups[name]["ROUGE_L"] == pytest.approx(Rouge().compute_score(sub_g, sub_r)[0], abs=1e-9)
        # CIDEr keeps the whole set's document frequencies: the mean of the ids' overall scores.
        idx = [list(GTS).index(k) for k in members]
        assert ev.groups[name]["CIDEr"] == pytest.approx(want_per["CIDEr"][idx].mean(), abs=1e-9)


@pytest.fixture(scope="module")
def msrvtt_case(msrvtt_dir, meteor):
    data = json.loads((msrvtt_dir / "test_videodatainfo.json").read_text())
    refs: dict[str, list[str]] = {}
    for s in sorted(data["sentences"], key=lambda s: s["sen_id"]):
        refs.setdefault(s["video_id"], []).append(s["caption"])
    ids = sorted(refs)  # the 195 test videos of tests/assets/msrvtt, spread over the split
    gts = {vid: refs[vid][1:] for vid in ids}
    res = {vid: refs[vid][:1] for vid in ids}
    return ids, direct(gts, res, meteor), evaluate(gts, res, meteor_processes=2)  # sharded METEOR


@pytest.mark.slow
def test_msrvtt_first_sentence_vs_other_19_equals_pycocoevalcap(msrvtt_case):
    ids, (want, want_per, _, _), ev = msrvtt_case
    assert_same(ev, want, want_per, ids)
    assert 0.1 < ev.overall["CIDEr"] < 2 and 0.1 < ev.overall["METEOR"] < 0.5


@pytest.mark.slow  # hand_made: pycocoevalcap and METEOR on the hand-made set, ~15 s (module fixture)
def test_one_meteor_process_per_evaluation_and_none_left(hand_made):
    _, ev, started, (before, after) = hand_made
    assert "METEOR" in ev.overall and set(ev.groups) == set(GROUPS)  # groups reuse the same process
    assert sum("meteor-1.5.jar" in " ".join(c) for c in started) == 1
    if Path("/proc/self/stat").exists():
        assert [c for c in after if "meteor" in c] == [c for c in before if "meteor" in c]


@pytest.mark.slow  # hand_made: pycocoevalcap and METEOR on the hand-made set, ~15 s (module fixture)
def test_no_java_skips_meteor_and_spice_and_is_marked(hand_made):
    (_, _, g, r), _, _, _ = hand_made
    ev = evaluate(g, r, java=False, tokenizer="none", groups=GROUPS)
    assert "METEOR" not in ev.overall and "SPICE" not in ev.overall
    assert set(ev.skipped) == {"METEOR", "SPICE"} and not ev.comparable
    # Pre-tokenised input: the Python metrics still equal pycocoevalcap's on the same tokens.
    assert ev.overall["CIDEr"] == pytest.approx(Cider().compute_score(g, r)[0], abs=1e-9)
    assert ev.overall["ROUGE_L"] == pytest.approx(Rouge().compute_score(g, r)[0], abs=1e-9)
    assert ev.overall["Bleu_4"] == pytest.approx(Bleu(4).compute_score(g, r, verbose=0)[0][3], abs=1e-9)
    with pytest.raises(UsageError, match="Python tokenizer"):
        evaluate(GTS, RES, java=False)


def test_missing_java_is_a_usage_error_with_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    java.java_version.cache_clear()
    try:
        clock = time.perf_counter()
        with pytest.raises(UsageError, match="install a Java runtime.*--no-java"):
            score(GTS, RES)
        assert time.perf_counter() - clock < 1
    finally:
        java.java_version.cache_clear()


@pytest.mark.skipif(spice_unavailable() is None, reason="SPICE models are installed here")
def test_spice_without_corenlp_is_skipped_fast_with_one_line(monkeypatch):
    clock = time.perf_counter()
    reason = spice_unavailable()
    assert time.perf_counter() - clock < 1
    assert "\n" not in reason and "CoreNLP" in reason
    # auto never tries pycocoevalcap's Spice (which would download ~1 GB or fail offline).
    monkeypatch.setattr(Spice, "__init__", lambda *a, **k: pytest.fail("SPICE must not run"))
    ev = evaluate(GTS, RES, java=False, tokenizer="none", spice="auto")
    assert "SPICE" not in ev.overall
    with pytest.raises(UsageError, match="SPICE requested"):
        evaluate(GTS, RES, spice="on")


@pytest.mark.parametrize("kwargs, match", [
    ({"spice": "maybe"}, "spice must be one of"),
    ({"tokenizer": "nltk", "java": False}, "unknown tokenizer"),
    ({"spice": "on", "java": False, "tokenizer": "none"}, "runs in Java"),
])
def test_bad_options_are_usage_errors(kwargs, match):
    with pytest.raises(UsageError, match=match):
        evaluate(GTS, RES, **kwargs)


@pytest.mark.parametrize("gts, res, match", [
    ({}, {}, "nothing to score"),
    ({"a": ["x"]}, {"b": ["x"]}, "same ids"),
    ({"a": ["x"]}, {"a": ["x", "y"]}, "exactly one caption"),
    ({"a": []}, {"a": ["x"]}, "non-empty list"),
])
def test_bad_inputs_are_usage_errors(gts, res, match):
    with pytest.raises(UsageError, match=match):
        evaluate(gts, res, java=False, tokenizer="none")


def test_groups_must_list_scored_ids():
    with pytest.raises(UsageError, match="group 'x'"):
        evaluate(GTS, RES, java=False, tokenizer="none", groups={"x": ["v1", "nope"]})
