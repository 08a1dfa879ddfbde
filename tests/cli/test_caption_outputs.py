"""`vidcap caption VIDEO... --output-dir DIR --output-format ...` on the real clips with the tests' tiny model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vidcap.cli import main
from vidcap.outputs.subtitles import Segment, format_srt


@pytest.fixture(scope="module")
def model(tiny_model) -> Path:
    return tiny_model.ckpt


@pytest.mark.slow
def test_many_videos_every_format(model: Path, real_videos: list[Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    videos = real_videos[:3]
    code = main(["caption", *map(str, videos), "--model", str(model), "--output-dir", str(tmp_path / "out"),
                 "--output-format", "all", "--segment", "4"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""  # not a terminal: no bar, nothing but the captions
    lines = [line.split("\t") for line in out.splitlines()]
    assert [Path(p) for p, _ in lines] == videos
    expected = sorted(f"{v.stem}.{fmt}" for v in videos for fmt in ("srt", "vtt", "json", "png"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == expected
    for (path, caption), video in zip(lines, videos):
        doc = json.loads((tmp_path / "out" / f"{video.stem}.json").read_text())
        assert doc["caption"] == caption and doc["video_id"] == video.stem
        assert doc["segments"][0]["start"] == 0.0 and doc["segments"][-1]["end"] == pytest.approx(doc["duration"])
        assert all(s["end"] - s["start"] <= 4.0 + 1e-9 for s in doc["segments"])
        # the subtitles hold the same segments as the JSON
        srt = format_srt([Segment(s["start"], s["end"], s["caption"]) for s in doc["segments"]])
        assert (tmp_path / "out" / f"{video.stem}.srt").read_text() == srt


def test_a_failed_video_is_summarised_once(model: Path, real_videos: list[Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    broken = [tmp_path / f"broken{i}.mp4" for i in range(7)]
    for path in broken:
        path.write_bytes(b"not a video")
    code = main(["caption", str(real_videos[0]), *map(str, broken), "--model", str(model),
                 "--output-dir", str(tmp_path / "out"), "--output-format", "json"])
    out, err = capsys.readouterr()
    assert code == 1 and len(out.splitlines()) == 1
    assert err.splitlines()[0] == "7 of 8 videos could not be captioned:"
    assert err.count("broken") == 5 and "... and 2 more (--verbose lists all)" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{real_videos[0].stem}.json"]
    main(["caption", *map(str, broken), "--model", str(model), "--verbose"])
    assert capsys.readouterr().err.count("broken") == 7


def test_same_stems_are_refused_before_captioning(model: Path, real_videos: list[Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b").mkdir()
    twin = shutil.copy(real_videos[0], tmp_path / "b" / real_videos[0].name)
    code = main(["caption", str(real_videos[0]), str(twin), "--model", str(model), "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "--output-dir:" in err and f"video id {real_videos[0].stem!r}" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags, message", [
    (["--srt", "x.srt"], "take exactly one VIDEO; for several, use --output-dir DIR"),
    (["--output-format", "srt"], "--output-format goes with --output-dir"),
    (["--output-dir", "o", "--output-format", "Json"], "Did you mean 'json'"),
    (["--output-dir", "o", "--output-format", "srt", "--attention"], "--attention draws on the preview sheet"),
])
def test_output_flag_mistakes_are_usage_errors(model: Path, real_videos: list[Path], flags: list[str], message: str,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["caption", *map(str, real_videos[:2]), "--model", str(model), *flags]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
