"""vidcap.metrics.diversity, and the "diversity" section of `vidcap score` on real MSR-VTT annotations
(tests/assets/msrvtt: 170 training videos, 3,400 training captions)."""
from __future__ import annotations

import json

import pytest

from vidcap.cli import main
from vidcap.metrics import java
from vidcap.metrics.diversity import diversity


def test_figures_by_hand():
    got = diversity(["a dog runs", "a dog runs", "a cat sits on a mat", ""], training=["A dog runs!", "a cat"])
    # 3 + 3 + 6 + 0 words: a, dog, runs, cat, sits, on, mat distinct; 2 + 2 + 5 bigrams, 7 distinct.
    assert got == {"vocabulary": 7, "unique_captions": 3, "novel_captions": 0.5, "div1": 7 / 12, "div2": 7 / 9,
                   "mean_length": 3.0, "captions": 4}
    assert diversity(["a dog"])["novel_captions"] is None


@pytest.mark.slow
@pytest.mark.skipif(java.java_version() is None, reason="needs java")
def test_score_reports_diversity_of_the_captions_as_scored(msrvtt_dir, tmp_path, capsys):
    ann = [msrvtt_dir / "train_val_videodatainfo.json", msrvtt_dir / "test_videodatainfo.json"]
    data = json.loads(ann[1].read_text())
    test_ids = [v["video_id"] for v in data["videos"] if v["split"] == "test"]
    train = json.loads(ann[0].read_text())
    train_ids = {v["video_id"] for v in train["videos"] if v["split"] == "train"}
    seen = next(s["caption"] for s in train["sentences"] if s["video_id"] in train_ids)
    # Half the videos get a training caption written differently (case, punctuation): the PTB tokens
    # are the training caption's, so it is neither new nor distinct from its plain spelling.
    shouty = seen.upper().rstrip(".") + " !"
    captions = [seen if i % 4 == 0 else shouty if i % 4 == 1 else f"a clip number {i}" for i in range(len(test_ids))]
    results = tmp_path / "r.json"
    results.write_text(json.dumps([{"video_id": v, "caption": c} for v, c in zip(test_ids, captions)]))
    out = tmp_path / "s.json"
    code = main(["score", "--results", str(results), "--annotations", str(ann[0]), "--annotations", str(ann[1]),
                 "--json", str(out), "--spice", "off"])
    printed = capsys.readouterr().out
    assert code == 0
    got = json.loads(out.read_text())["diversity"]
    numbered = len(test_ids) // 2
    words = set(java.ptb_tokenize([seen])[0].split()) | {"a", "clip", "number"}
    assert got["unique_captions"] == numbered + 1
    assert got["novel_captions"] == pytest.approx(numbered / len(test_ids))
    assert got["vocabulary"] == len(words) + numbered  # every number is a word of its own
    assert got["captions"] == len(test_ids)
    assert f"{numbered + 1} of {len(test_ids)} captions distinct" in printed
