"""vidcap.reproduce.significance: each config of a reproduction against the previous one, on the test
captions of every seed pooled, with real MSR-VTT references (tests/assets/msrvtt) and real scorers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vidcap.metrics import java
from vidcap.metrics.meteor import MeteorPool
from vidcap.metrics.scoring import score_results
from vidcap.reproduce.significance import compare_configs, significance_markdown

pytestmark = pytest.mark.skipif(java.java_version() is None, reason="needs java")


@pytest.mark.slow
def test_configs_compared_on_captions_pooled_over_seeds(msrvtt_dir, tmp_path):
    ann = msrvtt_dir / "test_videodatainfo.json"
    data = json.loads(ann.read_text())
    refs: dict[str, list[str]] = {}
    for s in sorted(data["sentences"], key=lambda s: s["sen_id"]):
        refs.setdefault(s["video_id"], []).append(s["caption"])
    ids = [v["video_id"] for v in data["videos"] if v["split"] == "test"]
    # Three "configs" over two seeds: a constant caption, a human one (seed k: the video's reference
    # k + 5, scored against all 20, itself included), and the same human captions again.
    captions = {"constant": [{v: "a man is talking" for v in ids}] * 2,
                "human": [{v: refs[v][k + 5] for v in ids} for k in range(2)]}
    captions["human_again"] = captions["human"]
    runs = []
    for name, seeds in captions.items():
        files = []
        for k, caps in enumerate(seeds):
            files.append(tmp_path / f"{name}-{k}.json")
            files[-1].write_text(json.dumps([{"video_id": v, "caption": c} for v, c in caps.items()]))
        runs.append((name, files))
    rows = compare_configs(runs, [ann], split="test", resamples=400, seed=0)
    assert [(r["a"], r["b"], r["seeds"], r["units"]) for r in rows] == \
        [("constant", "human", 2, 2 * len(ids)), ("human", "human_again", 2, 2 * len(ids))]
    better, same = rows[0]["metrics"], rows[1]["metrics"]
    assert better["CIDEr"]["ci_low"] > 0 and better["CIDEr"]["p_value"] < 0.01
    assert all(s["delta"] == 0 and s["ci_low"] <= 0 <= s["ci_high"] and s["p_value"] == 1.0 for s in same.values())

    # Pooled CIDEr-D is the mean of the seeds' own CIDEr-D (document frequencies unchanged by pooling);
    # pooled BLEU aggregates every seed's n-grams, so it lies between the seeds' values.
    with MeteorPool(1) as pool:
        per_seed = [score_results(json.loads(f.read_text()), [ann], spice="off", meteor=pool).overall
                    for f in runs[1][1]]
    assert better["CIDEr"]["b"] == pytest.approx(np.mean([s["CIDEr"] for s in per_seed]), abs=1e-12)
    low, high = sorted(s["Bleu_4"] for s in per_seed)
    assert low - 1e-12 <= better["Bleu_4"]["b"] <= high + 1e-12

    text = significance_markdown(rows)
    assert "| `human` vs `constant` | 2 | 390 |" in text and "| `human_again` vs `human` | 2 | 390 |" in text
    cider = better["CIDEr"]
    assert f"{100 * cider['delta']:+.2f} [{100 * cider['ci_low']:+.2f}, {100 * cider['ci_high']:+.2f}]" in text
