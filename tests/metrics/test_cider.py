"""vidcap.metrics.cider against pycocoevalcap's Cider (CIDEr-D) called directly on the same inputs."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from pycocoevalcap.cider.cider import Cider

from vidcap.errors import UsageError
from vidcap.metrics import CiderD, cider_d


def reference(gts, res):
    score, per = Cider().compute_score(gts, res)
    return float(score), np.asarray(per, dtype=float)


def assert_equal_to_pycocoevalcap(gts, res):
    want, want_per = reference(gts, res)
    got, got_per = cider_d(gts, res)
    assert got == pytest.approx(want, abs=1e-9)
    np.testing.assert_allclose(got_per, want_per, rtol=0, atol=1e-9)
    return got_per


HAND_MADE = {
    "v1": ["a man is singing a song", "a man sings on stage", "someone is singing"],
    "v2": ["a dog runs in the park", "the dog is running", "a brown dog runs"],
    "v3": ["a woman cooks pasta in a kitchen", "a woman is cooking", "cooking show"],
    "v4": ["cars drive on a road", "traffic on the highway"],
}


@pytest.mark.parametrize("candidates", [
    {"v1": "a man is singing a song", "v2": "a dog runs", "v3": "a woman", "v4": "cars"},  # exact, short
    {"v1": "", "v2": "the the the the dog dog", "v3": "zebra xylophone", "v4": "traffic"},  # empty, repeats, unseen
    {"v1": "a dog runs in the park", "v2": "a man is singing a song", "v3": "cars drive", "v4": "a woman"},
    {"v1": "singing singing singing", "v2": "dog", "v3": "a woman is cooking pasta in a kitchen today now",
     "v4": "cars drive on a road cars drive on a road"},  # long vs short: length penalty
])
def test_hand_made_cases_equal_pycocoevalcap(candidates):
    res = {vid: [cap] for vid, cap in candidates.items()}
    assert_equal_to_pycocoevalcap(HAND_MADE, res)


def test_exact_match_scores_higher_than_a_wrong_caption():
    per = assert_equal_to_pycocoevalcap(HAND_MADE, {"v1": ["a man is singing a song"], "v2": ["zebra"],
                                                    "v3": ["zebra"], "v4": ["zebra"]})
    assert per[0] > 1.0 and per[1] == per[2] == per[3] == 0.0


def test_single_id_and_empty_reference_follow_pycocoevalcap():
    # One id: log(1) = 0, so every weight is zero and CIDEr is 0 (pycocoevalcap does the same).
    assert_equal_to_pycocoevalcap({"a": ["x y z"]}, {"a": ["x y z"]})
    assert_equal_to_pycocoevalcap({"a": ["x y", ""], "b": ["", "w"]}, {"a": [""], "b": ["w"]})


@pytest.mark.parametrize("odd", ["a  man sings", " a man sings", "a man sings ", "a\tman\nsings", "a\u00a0man sings",
                                 "a\u2003man sings"])
def test_irregular_whitespace_splits_as_pycocoevalcap_does(odd):
    # Single-spaced text takes a fast word count; anything else must still split exactly like str.split.
    gts = {"v1": [odd, "a man is singing"], "v2": ["a dog runs", "dogs  run\tfast"], "v3": ["cars drive"]}
    assert_equal_to_pycocoevalcap(gts, {"v1": [odd], "v2": ["a man sings"], "v3": ["a dog runs "]})


def test_random_small_vocabulary_cases_equal_pycocoevalcap():
    rng = random.Random(7)
    words = "a the man dog cat runs sits is on in red".split()

    def sentence(lo: int, hi: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

    for _ in range(5):
        ids = [f"video{i}" for i in range(rng.randint(2, 40))]
        gts = {vid: [sentence(0, 12) for _ in range(rng.randint(1, 6))] for vid in ids}
        res = {vid: [sentence(0, 14)] for vid in ids}
        assert_equal_to_pycocoevalcap(gts, res)


def test_msrvtt_first_sentence_against_the_other_19(msrvtt_dir):
    data = json.loads((msrvtt_dir / "test_videodatainfo.json").read_text())
    refs: dict[str, list[str]] = {}
    for s in sorted(data["sentences"], key=lambda s: s["sen_id"]):
        refs.setdefault(s["video_id"], []).append(" ".join(s["caption"].lower().split()))
    ids = sorted(refs)  # MSR-VTT scale per id (19 refs); the 195 test videos of tests/assets/msrvtt
    gts = {vid: refs[vid][1:] for vid in ids}
    res = {vid: refs[vid][:1] for vid in ids}
    per = assert_equal_to_pycocoevalcap(gts, res)
    assert per.std() > 0.1  # a real spread of scores, not a degenerate case


def test_ciderd_reused_across_calls_equals_fresh_pycocoevalcap_runs():
    scorer = CiderD(HAND_MADE)
    first = {"v1": ["a man sings"], "v2": ["a dog"], "v3": ["a woman cooks"], "v4": ["a road"]}
    second = {"v1": ["someone is singing"], "v2": ["a brown dog runs"], "v3": ["pasta"], "v4": [""]}
    for res in (first, second, first):
        got, per = scorer.score(res)
        want, want_per = reference(HAND_MADE, res)
        assert got == pytest.approx(want, abs=1e-9)
        np.testing.assert_allclose(per, want_per, atol=1e-9)


def test_score_pairs_keeps_whole_set_weights_for_subsets_and_repeats():
    res = {"v1": ["a man sings"], "v2": ["a dog"], "v3": ["a woman cooks"], "v4": ["a road"]}
    _, want_per = reference(HAND_MADE, res)
    scorer = CiderD(HAND_MADE)
    # Several samples per id (SCST) and a subset: each equals that id's score in the full evaluation.
    pairs = [("v2", "a dog"), ("v1", "a man sings"), ("v2", "a dog"), ("v4", "a road")]
    np.testing.assert_allclose(scorer.score_pairs(pairs), want_per[[1, 0, 1, 3]], atol=1e-9)


def test_ids_may_be_any_hashable_and_order_follows_gts():
    gts = {3: ["a cat"], 1: ["a dog"], (2, "x"): ["a cow"]}
    res = {1: ["a dog"], (2, "x"): ["a cow"], 3: ["a bat"]}
    score, per = cider_d(gts, res)
    want, want_per = reference(gts, {k: res[k] for k in gts})  # pycocoevalcap iterates gts order
    np.testing.assert_allclose(per, want_per, atol=1e-9)


@pytest.mark.parametrize("gts, res, match", [
    ({"a": ["x"]}, {"b": ["x"]}, "same ids"),
    ({"a": ["x"]}, {"a": ["x", "y"]}, "exactly one"),
    ({"a": ["x"]}, {"a": "x"}, "exactly one"),
    ({"a": []}, {"a": ["x"]}, "non-empty"),
    ({"a": ["x", 3]}, {"a": ["x"]}, "non-empty list of strings"),
])
def test_bad_inputs_are_usage_errors(gts, res, match):
    with pytest.raises(UsageError, match=match):
        cider_d(gts, res)


def test_score_pairs_rejects_unknown_ids_and_non_strings():
    scorer = CiderD(HAND_MADE)
    with pytest.raises(UsageError, match="without references"):
        scorer.score_pairs([("nope", "a cat")])
    with pytest.raises(UsageError, match="strings"):
        scorer.score_pairs([("v1", None)])
    assert scorer.score_pairs([]).shape == (0,)


@pytest.mark.parametrize("key_limit", [2 ** 62, 1])  # 1: every order takes the two-key sort fallback
def test_large_vocabularies_and_the_two_key_sort_equal_pycocoevalcap(monkeypatch, key_limit):
    from vidcap.metrics import cider as module

    monkeypatch.setattr(module, "_KEY_LIMIT", key_limit)
    rng = random.Random(3)
    words = [f"w{i}" for i in range(70_000)]  # more than 2**16 distinct word ids
    rng.shuffle(words)
    common = "a the man dog".split()
    chunks = iter(words)
    gts = {f"v{i}": [" ".join([next(chunks) for _ in range(850)] + rng.sample(common, 3)) for _ in range(4)]
           for i in range(20)}
    res = {vid: [" ".join(refs[0].split()[:5] + rng.sample(common, 2))] for vid, refs in gts.items()}
    assert len({w for refs in gts.values() for ref in refs for w in ref.split()}) > 2 ** 16
    assert_equal_to_pycocoevalcap(gts, res)
