"""vidcap/inference/captioner.py and `vidcap caption` / `vidcap eval`: raw files through the checkpoint's own
backbone and sampling, the output files, and untrusted checkpoints."""
from __future__ import annotations

import importlib.util
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidcap.cli import main
from vidcap.config.loading import load_config
from vidcap.features import extract
from vidcap.features.sources import collect_sources
from vidcap.inference.captioner import Captioner
from vidcap.training.trainer import train
from vidcap.video import Sampling, probe, windows

from tinytask import TINY


@pytest.fixture(scope="module")
def trained(tiny_model) -> dict[str, Path]:
    """The session's small trained model (tests/trainkit.py): synthetic clips → ResNet-18 features (random
    weights, 64² input, 4 frames) → SA-LSTM."""
    return {"ckpt": tiny_model.ckpt, "videos": tiny_model.videos, "ann": tiny_model.annotations,
            "feats": tiny_model.features}


def _vidcap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidcap", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_raw_files_are_captioned_exactly_as_their_extracted_features(trained):
    captioner = Captioner.from_checkpoint(trained["ckpt"], device="cpu")
    from_store = captioner.caption_split([trained["ann"]], split="train", features=trained["feats"], beam_size=2)
    from_files = captioner.caption_split([trained["ann"]], split="train", video_dir=trained["videos"], beam_size=2)
    assert [r["video_id"] for r in from_store] == [r["video_id"] for r in from_files] and len(from_store) > 3
    assert from_store == from_files
    vocab = set(captioner.vocab.words)
    assert all(set(r["caption"].split()) <= vocab and r["caption"] for r in from_store)


def test_raw_file_eval_equals_store_eval_in_every_caption_and_score(trained, tmp_path, capsys):
    common = ["eval", "--model", trained["ckpt"], "--annotations", trained["ann"], "--split", "train",
              "--beam-size", "2", "--no-java"]
    outs = {}
    for name, source in (("store", ["--features", trained["feats"]]), ("files", ["--video-dir", trained["videos"]])):
        code, _, err = _in_process(capsys, *common, *source, "--results", tmp_path / f"{name}.json",
                                   "--json", tmp_path / f"{name}-scores.json")
        assert code == 0, err
        outs[name] = (json.loads((tmp_path / f"{name}.json").read_text()),
                      json.loads((tmp_path / f"{name}-scores.json").read_text()))
    assert outs["store"][0] == outs["files"][0] and len(outs["store"][0]) > 3
    assert outs["store"][1]["overall"] == outs["files"][1]["overall"]
    assert outs["store"][1]["per_video"] == outs["files"][1]["per_video"]


def _restore(trained, tmp_path, name: str, **options) -> Path:
    """A store of the same videos made with other settings than the model's."""
    kw = dict(backbone="resnet18", weights="none", sampling=Sampling(frames=4), batch_size=16, workers=0,
              progress=False, options={"input_size": 64})
    for key, value in options.items():
        if key in ("backbone", "weights", "sampling"):
            kw[key] = value
        else:
            kw["options"] = {**kw["options"], key: value}
    extract(collect_sources(video_dir=trained["videos"]), tmp_path / name, **kw)
    return tmp_path / name


@pytest.mark.parametrize("name, change, message", [
    ("frames", {"sampling": Sampling(frames=6)}, "sampling.frames: 6 vs 4"),
    ("fit", {"fit": "letterbox"}, 'options.fit: "letterbox" vs "crop"'),
    pytest.param("backbone", {"backbone": "resnet34"}, 'backbone: "resnet34" vs "resnet18"',
                 marks=pytest.mark.slow),  # extracts again with ResNet-34: ~5 s
    ("weights", {"seed": 1}, 'weights: "none(seed=1)" vs "none(seed=0)"'),
])
def test_eval_refuses_a_store_made_differently_and_writes_nothing(trained, tmp_path, capsys, name, change, message):
    store = _restore(trained, tmp_path, name, **change)
    code, out, err = _in_process(capsys, "eval", "--model", trained["ckpt"], "--annotations", trained["ann"],
                                 "--features", store, "--split", "test", "--no-java",
                                 "--results", tmp_path / "res.json", "--json", tmp_path / "scores.json")
    assert code == 1 and message in err and f"feature store {store}" in err and str(trained["ckpt"]) in err, err
    assert "CIDEr" not in out and not (tmp_path / "res.json").exists() and not (tmp_path / "scores.json").exists()


def test_a_store_in_another_stored_dtype_is_refused(trained, tmp_path):
    from vidcap.features import FeatureStore
    from vidcap.features.store import StoreWriter

    old = FeatureStore(trained["feats"])
    writer = StoreWriter(tmp_path / "f32", old.spec.replace(dtypes={"frame": "float32"}), old.meta["dims"])
    for vid in old:
        info = old.info(vid)
        writer.write(vid, old[vid], indices=info.pop("indices"), timestamps=info.pop("timestamps"), info=info)
    captioner = Captioner.from_checkpoint(trained["ckpt"], device="cpu")
    with pytest.raises(Exception, match='dtypes.frame: "float32" vs "float16"'):
        captioner.caption_split([trained["ann"]], split="test", features=tmp_path / "f32")


def test_train_init_refuses_stores_made_differently(trained, tmp_path):
    from vidcap.errors import InputError

    store = _restore(trained, tmp_path, "frames", sampling=Sampling(frames=6))
    cfg = load_config(None, [f"data.features={store}", f"data.annotations={trained['ann']}", f"out={tmp_path / 'run'}",
                             *TINY, "train.epochs=1", "data.deltas=true", f"train.init={trained['ckpt']}"])
    with pytest.raises(InputError, match=f"feature store {store}.*sampling.frames: 6 vs 4"):
        train(cfg)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_caption_weights_must_be_the_weights_the_model_was_trained_on(trained, tmp_path, capsys):
    import torch
    import torchvision

    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "other.pth")
    clip = sorted(trained["videos"].iterdir())[0]
    code, out, err = _in_process(capsys, "caption", clip, "--model", trained["ckpt"], "--weights", tmp_path / "other.pth")
    # identified from its bytes before it is loaded: another file's identity, the model's recorded one
    assert code == 1 and "other.pth is sha256:" in err and "made with none(seed=0)" in err and out == "", err
    code, _, err = _in_process(capsys, "caption", clip, "--model", trained["ckpt"], "--weights", "yolov8n=y.pt")
    assert code == 2 and "no such backbone" in err and "resnet18" in err


@pytest.mark.slow
def test_caption_command_writes_json_subtitles_and_preview(trained, real_videos, tmp_path):
    clip = next(p for p in real_videos if p.name == "intel_walk.mkv")
    run = _vidcap("caption", clip, "--model", trained["ckpt"], "--beam-size", "2", "--json", tmp_path / "r.json",
                  "--segment", "1", "--srt", tmp_path / "c.srt", "--vtt", tmp_path / "c.vtt",
                  "--preview", tmp_path / "c.png", "--device", "cpu")
    assert run.returncode == 0, run.stderr[-2000:]
    path, caption = run.stdout.strip().split("\t")
    assert path == str(clip) and caption
    assert caption == Captioner.from_checkpoint(trained["ckpt"], device="cpu").caption([clip], beam_size=2)[0]
    assert json.loads((tmp_path / "r.json").read_text()) == [{"video_id": "intel_walk", "caption": caption}]
    spans = windows(probe(clip).duration, 1.0)
    srt = (tmp_path / "c.srt").read_text()
    assert srt.count(" --> ") == len(spans) == 3 and srt.startswith("1\n00:00:00,000 --> 00:00:01,000\n")
    vtt = (tmp_path / "c.vtt").read_text()
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == len(spans)
    with Image.open(tmp_path / "c.png") as png:
        assert png.format == "PNG" and png.width > 100 and png.height > 100
        assert np.asarray(png.convert("L")).std() > 5  # frames, not a blank sheet


def _in_process(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_several_files_and_a_bad_one(trained, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    good = sorted(trained["videos"].iterdir())[:2]
    code, out, err = _in_process(capsys, "caption", *good, bad, "--model", trained["ckpt"], "--json",
                                 tmp_path / "r.json")
    assert code == 1
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(p) for p in good]
    assert f"{bad}: not a video" in err
    assert [r["video_id"] for r in json.loads((tmp_path / "r.json").read_text())] == [p.stem for p in good]


def test_results_ids_must_be_unique(tmp_path, capsys):
    # a/x.mp4 and b/x.mp4 would both be "x" in the results file: refused before any work is done (the
    # checkpoint named here does not exist and is never opened).
    first, second = tmp_path / "a" / "x.mp4", tmp_path / "b" / "x.mp4"
    args = ["caption", first, second, "--model", tmp_path / "absent.pt"]
    code, out, err = _in_process(capsys, *args, "--json", tmp_path / "r.json")
    assert code == 2 and out == "" and f"--json: {first} and {second} would both be video id 'x'" in err
    assert not (tmp_path / "r.json").exists()
    code, _, err = _in_process(capsys, *args[:2], args[1], *args[3:], "--json", tmp_path / "r.json")
    assert code == 2 and f"{first} and {first} would both" in err  # the same file twice
    code, _, err = _in_process(capsys, *args)  # without --json the ids are never written: no conflict
    assert code == 1 and "absent.pt" in err and "would both" not in err


def test_untrusted_checkpoints_are_refused_with_a_clear_error(trained, tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as zf:  # the layout torch.save uses, with a code-running pickle inside
        zf.writestr("evil/data.pkl", pickle.dumps({"model": Evil()}, protocol=2))
        zf.writestr("evil/version", "3\n")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(trained["ckpt"].read_bytes()[:5000])
    clip = sorted(trained["videos"].iterdir())[0]
    for ckpt, message in ((evil, "refused to load"), (truncated, "truncated or damaged"),
                          (tmp_path / "missing.pt", "checkpoint not found")):
        code, _, err = _in_process(capsys, "caption", clip, "--model", ckpt)
        assert code == 1 and str(ckpt) in err and message in err, err
    assert not marker.exists()


def _tool(name: str):
    path = Path(__file__).resolve().parents[2] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"tool_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_caption_video_tool_is_the_caption_command(trained, tmp_path, capsys):
    video = sorted(trained["videos"].iterdir())[0]
    missing = tmp_path / "missing.mp4"
    args = [str(video), str(missing), "--model", str(trained["ckpt"]), "--beam-size", "2", "--device", "cpu"]
    assert _tool("caption_video").main(args) == 1
    out, err = capsys.readouterr()
    assert f"{missing}: no such file" in err and out.startswith(f"{video}\t") and len(out.splitlines()) == 1
    assert main(["caption", *args]) == 1 and capsys.readouterr().out == out  # the command's, line for line
    one = [str(video), "--model", str(trained["ckpt"]), "--segment", "1", "--beam-size", "2", "--device", "cpu"]
    assert _tool("caption_video").main([*one, "--srt", str(tmp_path / "tool.srt")]) == 0
    assert main(["caption", *one, "--srt", str(tmp_path / "cli.srt")]) == 0
    srt = (tmp_path / "tool.srt").read_text()
    assert srt == (tmp_path / "cli.srt").read_text() and srt.count(" --> ") == len(windows(probe(video).duration, 1.0))


def test_eval_command_captions_a_split_and_scores_it(trained, tmp_path, capsys):
    from vidcap.metrics.scoring import score_results

    args = ["eval", "--model", trained["ckpt"], "--annotations", trained["ann"], "--features", trained["feats"],
            "--split", "test", "--beam-size", "2", "--no-java", "--results", tmp_path / "res.json", "--json", tmp_path / "scores.json"]
    code, out, _ = _in_process(capsys, *args)
    assert code == 0 and "CIDEr" in out and "NOT comparable" in out
    results = json.loads((tmp_path / "res.json").read_text())
    captioner = Captioner.from_checkpoint(trained["ckpt"], device="cpu")
    assert results == captioner.caption_split([trained["ann"]], split="test", features=trained["feats"], beam_size=2)
    scores = json.loads((tmp_path / "scores.json").read_text())
    expected = score_results(results, [trained["ann"]], split="test", java=False).overall
    assert scores["overall"] == pytest.approx(expected) and set(scores["per_video"]) == {r["video_id"] for r in results}
    with pytest.raises(SystemExit) as usage:  # argparse: one source only
        main([str(a) for a in args] + ["--video-dir", str(trained["videos"])])
    assert usage.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_decoding_defaults_to_the_checkpoints_eval_settings_everywhere(trained, tmp_path):
    """caption, eval, serve and the API decode with the model's eval.beam_size unless told otherwise (here a
    copy of the model whose eval.beam_size says 1); --help says where the default is."""
    from vidcap.trained.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(trained["ckpt"])
    assert ckpt["config"]["eval"]["beam_size"] != 1  # trained with a wider beam
    ckpt["config"]["eval"]["beam_size"] = 1
    save_checkpoint(tmp_path / "beam1.pt", ckpt)
    captioner = Captioner.from_checkpoint(tmp_path / "beam1.pt", device="cpu")
    assert captioner.decoding()["beam_size"] == 1 and captioner.decoding(3)["beam_size"] == 3
    with pytest.raises(Exception, match="beam size 0: must be a whole number >= 1"):
        captioner.decoding(0)
    greedy = captioner.caption_split([trained["ann"]], split="test", features=trained["feats"], beam_size=1)
    assert captioner.caption_split([trained["ann"]], split="test", features=trained["feats"]) == greedy
    args = ["eval", "--model", tmp_path / "beam1.pt", "--features", trained["feats"], "--annotations",
            trained["ann"], "--split", "test", "--no-java", "--results", tmp_path / "res.json"]
    assert main([str(a) for a in args]) == 0
    assert json.loads((tmp_path / "res.json").read_text()) == greedy
    for command in ("caption", "eval", "serve"):
        help_text = _vidcap(command, "--help").stdout
        assert "default: the model's eval.beam_size" in " ".join(help_text.split()), command
