"""`vidcap convert vatex` (vidcap/data/convert/vatex.py) on small hand-made files in the published formats."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidcap.cli import main
from vidcap.data.annotations import Annotations
from vidcap.data.convert.vatex import convert_vatex
from vidcap.errors import InputError


def clip(video_id: str, n_en: int = 10, *, chinese: bool = True, blank: int = 0) -> dict:
    entry = {"videoID": video_id,
             "enCap": [f"A person does thing {i} in {video_id}." for i in range(n_en - blank)] + ["  "] * blank}
    if chinese:  # the public test file has no chCap
        entry["chCap"] = [f"一个人在做第{i}件事。" for i in range(10)]
    return entry


TRAIN = [clip("Ptf_2VRj-V0_000122_000132"), clip("--6bJUbfpnQ_000017_000027"), clip("-_1g0EJOhFU_000000_000010")]
VALIDATE = [clip("G9zN5TTuGO4_000179_000189"), clip("zz-B_y5QxMk_000002_000012", blank=2)]
TEST = [clip("0lh_UWF9ZP4_000021_000031", chinese=False), clip("9gbUM9oHBNI_000557_000567", n_en=0, chinese=False)]


def write_files(root: Path, train=TRAIN, validate=VALIDATE, test=TEST) -> tuple[Path, Path, Path]:
    paths = (root / "vatex_training_v1.0.json", root / "vatex_validation_v1.0.json",
             root / "vatex_public_test_english_v1.1.json")
    for path, data in zip(paths, (train, validate, test)):
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return paths


def convert_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["convert", "vatex", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_english_captions_and_the_three_splits(tmp_path, capsys):
    train, validate, test = write_files(tmp_path)
    out = tmp_path / "vatex.json"
    code, stdout, err = convert_cli(capsys, "--train", train, "--validate", validate, "--test", test, "--out", out)
    assert code == 0, err
    ann = Annotations.load(out)
    assert set(ann.ids("train")) == {e["videoID"] for e in TRAIN}
    assert ann.ids("validate") == ["G9zN5TTuGO4_000179_000189", "zz-B_y5QxMk_000002_000012"]
    assert ann.ids("test") == ["0lh_UWF9ZP4_000021_000031"]
    data = json.loads(out.read_text(encoding="utf-8"))
    first = [s["caption"] for s in data["sentences"] if s["video_id"] == "Ptf_2VRj-V0_000122_000132"]
    assert first == TRAIN[0]["enCap"]  # English only, verbatim, in order
    assert not any("一" in s["caption"] for s in data["sentences"])
    counts = {s: (len(ann.ids(s)), sum(map(len, ann.references(ann.ids(s)).values())))
              for s in ("train", "validate", "test")}
    assert counts == {"train": (3, 30), "validate": (2, 18), "test": (1, 10)}
    assert "VATEX: 6 videos, 58 captions" in stdout and "validate        2        18" in stdout
    assert "left out: 1 clips without any English caption (--verbose lists them)" in stdout
    assert "left out: 2 blank English captions" in stdout
    assert "clips with other than 10 English captions: 1 with 0" in stdout
    assert "Chinese captions (chCap) are not used" in stdout

    code, stdout, _ = convert_cli(capsys, "--train", train, "--validate", validate, "--test", test,
                                  "--out", out, "--verbose")
    assert code == 0
    assert "  9gbUM9oHBNI_000557_000567 (vatex_public_test_english_v1.1.json)" in stdout
    assert stdout.count("  zz-B_y5QxMk_000002_000012 (vatex_validation_v1.0.json)") == 2


def test_without_test_file_there_is_no_test_split(tmp_path):
    train, validate, _ = write_files(tmp_path)
    conv = convert_vatex(train, validate)
    assert conv.counts() == {"train": (3, 30), "validate": (2, 18), "test": (0, 0)}
    assert any("no test split" in n for n in conv.notes)


def test_the_private_test_file_has_no_captions_and_is_refused(tmp_path, capsys):
    train, validate, _ = write_files(tmp_path)
    private = tmp_path / "vatex_private_test_without_annotations.json"
    private.write_text(json.dumps([{"videoID": "0lh_UWF9ZP4_000021_000031"}, {"videoID": "abcdefghijk_000001_000011"}]))
    out = tmp_path / "vatex.json"
    code, _, err = convert_cli(capsys, "--train", train, "--validate", validate, "--test", private, "--out", out)
    assert code == 1 and f"{private}: no entry has English captions (enCap)" in err and not out.exists()


@pytest.mark.parametrize("content, message", [
    ('{"videoID": "x"}', "a VATEX annotation file is a non-empty JSON list"),
    ("[]", "non-empty JSON list"),
    ("[1, 2", "invalid JSON"),
    (json.dumps([clip("Ptf_2VRj-V0_000122_000132"), {"enCap": ["a"]}]), "malformed entries: [1] is not an object"),
    (json.dumps([clip("Ptf_2VRj-V0_122_132")]), "videoID 'Ptf_2VRj-V0_122_132' is not <YouTubeID>_<start:06d>"),
    (json.dumps([clip("video7010")]), "is not <YouTubeID>_<start:06d>_<end:06d>"),
    (json.dumps([{"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": "a man"}]), "enCap is not a list of strings"),
    (json.dumps([clip("Ptf_2VRj-V0_000122_000132"), {"videoID": "G9zN5TTuGO4_000179_000189", "chCap": []}]),
     "[1] (G9zN5TTuGO4_000179_000189) has no enCap"),
])
def test_a_file_that_is_not_vatex_is_an_error_naming_it_and_nothing_is_written(tmp_path, capsys, content, message):
    _, validate, _ = write_files(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text(content)
    out = tmp_path / "vatex.json"
    code, stdout, err = convert_cli(capsys, "--train", broken, "--validate", validate, "--out", out)
    assert code == 1 and f"{broken}: " in err and message in err, err
    assert not out.exists() and stdout == ""


def test_a_clip_in_two_files_is_an_error(tmp_path):
    train, validate, test = write_files(tmp_path, validate=VALIDATE + [TRAIN[0]])
    with pytest.raises(InputError, match=r"videoIDs listed twice: Ptf_2VRj-V0_000122_000132 "
                                         r"\(vatex_training_v1.0.json and vatex_validation_v1.0.json\)"):
        convert_vatex(train, validate, test)


def test_missing_file(tmp_path):
    train, validate, _ = write_files(tmp_path)
    with pytest.raises(InputError, match="absent.json: VATEX annotation file not found"):
        convert_vatex(train, validate, tmp_path / "absent.json")
