"""MSVD and VATEX end to end on generated clips named as the datasets' clips: convert → extract (one test
clip gone, as on YouTube) → train (the dataset's config, made tiny) → eval and score, which say how many of
the test split were scored."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vidcap.cli import main
from vidcap.data.annotations import Annotations
from vidcap.demo.synthetic import generate

ROOT = Path(__file__).resolve().parents[3]
# The dataset configs, made tiny (same spirit as tests/tinytask.TINY).
TINY = ["model.hidden_size=32", "model.embed_size=16", "model.attention_size=16", "model.dropout=0.0",
        "model.layers=1", "train.epochs=2", "train.batch_size=8", "train.lr=0.01", "train.workers=0",
        "train.early_stop=0", "train.log_every=1000", "eval.beam_size=2", "eval.max_len=8", "data.min_count=1",
        "data.max_len=8", "data.allow_missing=true", "data.cache_mb=0", "device=cpu"]
EXTRACT = ["--backbone", "resnet18", "--weights", "none", "--frames", "4", "--option", "input_size=64",
           "--workers", "0", "--no-progress"]


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def synthetic_clips(root: Path, n: int, seed: int) -> tuple[list[tuple[Path, str, list[str]]], dict[str, int]]:
    """(clip file, split, captions) of ``n`` generated clips, and the clips per split."""
    ds = generate(root / "synth", n_videos=n, seed=seed, captions_per_video=3, duration=(0.8, 1.2))
    ann = Annotations.load(ds.annotations)
    clips = [(ds.video_dir / ds.attributes[v]["file"], ann.videos[v].split, ann.references([v])[v])
             for v in ann.ids()]
    return clips, {s: len(ann.ids(s)) for s in ("train", "validate", "test")}


def check_run(capsys, tmp_path: Path, ann: Path, videos: Path, gone: str, config: str, counts: dict[str, int]):
    """extract → train → eval → score, with the clip ``gone`` missing from ``videos``."""
    feats, run_dir = tmp_path / "feats", tmp_path / "run"
    code, out, err = run(capsys, "extract", "--video-dir", videos, "--annotations", ann, *EXTRACT, "--out", feats)
    assert code == 1, err  # the missing clip is a per-video failure
    missing = {s: (0, n) for s, n in counts.items()}
    missing["test"] = (1, counts["test"])
    parts = ", ".join(f"{s} {m} of {n}" for s, (m, n) in missing.items())
    assert f"videos without a file: {parts} (listed in failures.json)" in out
    assert [f["video_id"] for f in json.loads((feats / "failures.json").read_text())] == [gone]

    code, out, err = run(capsys, "train", ROOT / "configs" / config, f"data.annotations=[{ann}]",
                         f"data.features={feats}", f"out={run_dir}", *TINY)
    assert code == 0, err
    assert (run_dir / "best.pt").is_file()

    n_test = counts["test"]
    code, out, err = run(capsys, "eval", "--model", run_dir / "best.pt", "--features", feats, "--annotations", ann,
                         "--no-java", "--beam-size", "2", "--results", tmp_path / "results.json",
                         "--json", tmp_path / "scores.json")
    assert code == 1 and f"no features for {gone}" in err  # the whole test split is asked for by default
    code, out, err = run(capsys, "eval", "--model", run_dir / "best.pt", "--features", feats, "--annotations", ann,
                         "--no-java", "--beam-size", "2", "--allow-missing", "--results", tmp_path / "results.json",
                         "--json", tmp_path / "scores.json")
    assert code == 0, err
    assert f"on test: {n_test - 1} of {n_test} videos" in out
    assert f"only {n_test - 1} of the {n_test} test videos were scored" in out and "NOT comparable" in out
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert (scores["videos_scored"], scores["videos_in_split"], scores["complete_split"]) == (n_test - 1, n_test, False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == n_test - 1 and gone not in {r["video_id"] for r in results}
    code, out, err = run(capsys, "eval", "--model", run_dir / "best.pt", "--video-dir", videos, "--annotations", ann,
                         "--no-java", "--beam-size", "2", "--allow-missing")
    assert code == 0 and f"on test: {n_test - 1} of {n_test} videos" in out, err

    code, out, err = run(capsys, "score", "--results", tmp_path / "results.json", "--annotations", ann, "--no-java")
    assert code == 1 and f"1 of the {n_test} videos of the split have no caption" in err
    code, out, err = run(capsys, "score", "--results", tmp_path / "results.json", "--annotations", ann, "--no-java",
                         "--allow-missing")
    assert code == 0 and f"on test: {n_test - 1} of {n_test} videos" in out


@pytest.mark.slow
def test_msvd_end_to_end(tmp_path, capsys):
    clips, counts = synthetic_clips(tmp_path, n=15, seed=3)
    first = {"train": 1, "validate": 1201, "test": 1301}
    videos, rows, mapping = tmp_path / "YouTubeClips", [], []
    videos.mkdir()
    for i, (path, split, captions) in enumerate(clips):
        youtube_id = f"x_{i:02d}-Yt0Abc"  # 11 characters, with the '_' and '-' real ids have
        start, end = 3 * i, 3 * i + 7
        stem = f"{youtube_id}_{start}_{end}"
        path.rename(videos / f"{stem}{path.suffix}")  # the clip as distributed: <VideoID>_<Start>_<End>.<ext>
        mapping.append(f"{stem} vid{first[split]}")
        first[split] += 1
        rows += [[youtube_id, start, end, 1000 + i, "clean", 12, "English", c] for c in captions]
        rows += [[youtube_id, start, end, 2000 + i, "clean", 9, "French", "une forme bouge"],
                 [youtube_id, start, end, 3000 + i, "unverified", 4, "English", ""]]
    rows.append(["notInMapping", 1, 5, 9999, "clean", 3, "English", "a clip nobody mapped"])
    corpus = tmp_path / "MSR Video Description Corpus.csv"
    with open(corpus, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"])
        writer.writerows(rows)
    (tmp_path / "youtube_mapping.txt").write_text("\n".join(mapping) + "\n")

    ann = tmp_path / "msvd.json"
    code, out, err = run(capsys, "convert", "msvd", "--csv", corpus, "--mapping", tmp_path / "youtube_mapping.txt",
                         "--out", ann)
    assert code == 0, err
    assert f"MSVD: {len(clips)} videos, {3 * len(clips)} captions" in out
    for split, n in counts.items():
        assert f"{split:<10} {n:>6} {3 * n:>9}" in out
    assert f"left out: {len(clips)} empty English descriptions" in out
    assert "left out: 1 CSV rows whose clip youtube_mapping.txt does not list" in out

    gone = Annotations.load(ann).ids("test")[-1]
    next(videos.glob(f"{gone}.*")).unlink()  # gone from YouTube
    check_run(capsys, tmp_path, ann, videos, gone, "sa_lstm_msvd.yaml", counts)


@pytest.mark.slow
def test_vatex_end_to_end(tmp_path, capsys):
    clips, counts = synthetic_clips(tmp_path, n=15, seed=4)
    videos = tmp_path / "videos"
    videos.mkdir()
    files: dict[str, list[dict]] = {"train": [], "validate": [], "test": []}
    for i, (path, split, captions) in enumerate(clips):
        video_id = f"Ab-{i:02d}_cdEfg_{10 * i:06d}_{10 * i + 10:06d}"  # <YouTubeID>_<start:06d>_<end:06d>
        path.rename(videos / f"{video_id}{path.suffix}")
        entry = {"videoID": video_id, "enCap": captions}
        if split != "test":  # the public test file has English captions only
            entry["chCap"] = ["一个形状在移动"] * len(captions)
        files[split].append(entry)
    names = {"train": "vatex_training_v1.0.json", "validate": "vatex_validation_v1.0.json",
             "test": "vatex_public_test_english_v1.1.json"}
    for split, entries in files.items():
        (tmp_path / names[split]).write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")

    ann = tmp_path / "vatex.json"
    code, out, err = run(capsys, "convert", "vatex", "--train", tmp_path / names["train"],
                         "--validate", tmp_path / names["validate"], "--test", tmp_path / names["test"], "--out", ann)
    assert code == 0, err
    assert f"VATEX: {len(clips)} videos, {3 * len(clips)} captions" in out
    for split, n in counts.items():
        assert f"{split:<10} {n:>6} {3 * n:>9}" in out
    assert "clips with other than 10 English captions: 15 with 3" in out

    gone = Annotations.load(ann).ids("test")[0]
    next(videos.glob(f"{gone}.*")).unlink()
    check_run(capsys, tmp_path, ann, videos, gone, "sa_lstm_vatex.yaml", counts)
