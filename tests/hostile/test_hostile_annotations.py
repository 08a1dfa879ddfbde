"""Hostile annotation files and converter inputs (vidcap/data/annotations.py, vidcap/data/convert/*).

Annotation files are read by `vidcap score --no-java` (the cheapest command that loads them; the results
file given is a valid one), converter inputs by `vidcap convert msvd|vatex`, each as a user runs it.
Every case ends with exit 1, a message naming the file (and the line, the entry or the id), no traceback,
and nothing written: a refused conversion leaves no --out file.
"""
from __future__ import annotations

import json
import pathlib

import pytest
from hostilekit import Case, refused, snapshot, unchanged, vidcap

VIDEOS = [{"video_id": "v1", "split": "test"}, {"video_id": "v2", "split": "test"}]
SENTENCES = [{"video_id": "v1", "caption": "a cat sleeps", "sen_id": 0},
             {"video_id": "v2", "caption": "a dog runs", "sen_id": 1}]
RESULTS = [{"video_id": "v1", "caption": "a cat sleeps"}, {"video_id": "v2", "caption": "a dog runs"}]


def _score(content, *, name: str = "ann.json"):
    """A case's make: annotations ``content`` (bytes, text, or a function of the good document), then
    `vidcap score` with a valid results file."""
    def make(tmp: pathlib.Path) -> list[str]:
        doc = {"videos": [dict(v) for v in VIDEOS], "sentences": [dict(s) for s in SENTENCES]}
        data = content(doc) if callable(content) else content
        data = json.dumps(data) if isinstance(data, (dict, list)) else data
        (tmp / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        (tmp / "res.json").write_text(json.dumps(RESULTS))
        return ["score", "--no-java", "--results", tmp / "res.json", "--annotations", tmp / name, "--split", "test"]
    return make


def _video_id(vid: str):
    def edit(doc):
        doc["videos"][1]["video_id"] = doc["sentences"][1]["video_id"] = vid
        return doc
    return edit


def _caption(text: str):
    def edit(doc):
        doc["sentences"][1]["caption"] = text
        return doc
    return edit


def _sparse(tmp_name: str = "ann.json"):
    def make(tmp: pathlib.Path) -> list[str]:
        args = _score(b"{}")(tmp)
        with open(tmp / tmp_name, "r+b") as fh:
            fh.truncate(300 << 20)
        return args
    return make


ANNOTATIONS = [
    Case("deep-nesting", _score(b'{"videos": ' + b"[" * 100000), ("ann.json", "nests deeper")),
    Case("invalid-json-line", _score(b'{\n"videos": [],\n"sentences": [,]\n}'), ("ann.json", "line 3")),
    Case("invalid-utf8", _score('{"videos": [],\n"sentences": []}'.replace("[]}", '["\udcff"]}')
                                .encode("utf-8", "surrogateescape")), ("ann.json", "line 2", "not UTF-8")),
    Case("nan-literal", _score(b'{"videos": [], "sentences": [], "x": NaN}'), ("ann.json", "NaN")),
    Case("300MB", _sparse(), ("ann.json", "bytes, more than")),
    Case("top-level-list", _score([]), ("ann.json", "top level must be an object")),
    Case("caption-escape-sequence", _score(_caption("a dog\u001b[2J runs")), ("ann.json", "sen_id 1", "U+001B")),
    Case("caption-newline", _score(_caption("a dog\nruns")), ("ann.json", "sen_id 1", "U+000A")),
    Case("caption-bidi-override", _score(_caption("a dog \u202eruns")), ("ann.json", "U+202E")),
    Case("caption-lone-surrogate", _score(b'{"videos": [{"video_id": "v1", "split": "test"}], "sentences": '
                                          b'[{"video_id": "v1", "caption": "a \\ud800 cat", "sen_id": 0}]}'),
         ("ann.json", "U+D800")),
    Case("caption-not-a-string", _score(_caption(["a", "dog"])), ("ann.json", "sentences[1]", "caption")),
    Case("duplicate-video-ids", _score(lambda d: {**d, "videos": d["videos"] + [d["videos"][0]]}),
         ("ann.json", "duplicate video ids", "v1")),
    Case("duplicate-sen-ids", _score(lambda d: {**d, "sentences": d["sentences"] + [d["sentences"][0]]}),
         ("ann.json", "sen_id 0")),
    Case("id-parent-path", _score(_video_id("../../etc/passwd")), ("ann.json", "videos[1]", "'../../etc/passwd'")),
    Case("id-subfolder", _score(_video_id("a/b")), ("ann.json", "'a/b'", "contains '/'")),
    Case("id-absolute", _score(_video_id("/etc/passwd")), ("ann.json", "'/etc/passwd'")),
    Case("id-dotdot", _score(_video_id("..")), ("ann.json", "is '..'")),
    Case("id-backslash", _score(_video_id("..\\..\\x")), ("ann.json", "contains '\\\\'")),
    Case("id-nul", _score(_video_id("v\u0000")), ("ann.json", "U+0000")),
    Case("id-blank", _score(_video_id("   ")), ("ann.json", "is blank")),
    Case("id-300-chars", _score(_video_id("v" * 300)), ("ann.json", "300 characters")),
    Case("id-not-a-string", _score(_video_id(7)), ("ann.json", "videos[1]", "expected str")),
    Case("sentence-for-unknown-video", _score(lambda d: {**d, "sentences": d["sentences"] + [
        {"video_id": "v9", "caption": "x", "sen_id": 5}]}), ("ann.json", "v9")),
]


# ------------------------------------------------------------------------------------------ converters
HEADER = "VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description"
ROWS = ["abcdefghijk,5,15,1,clean,18,English,a man plays a guitar",
        "bcdefghijkl,1,4,2,clean,12,English,a cat jumps"]
MAPPING = "abcdefghijk_5_15 vid1\nbcdefghijkl_1_4 vid1301\n"


def _msvd(rows=ROWS, mapping: str = MAPPING, *, encoding: str = "utf-8", split: str | bytes | None = None):
    def make(tmp: pathlib.Path) -> list[str]:
        (tmp / "corpus.csv").write_bytes("\r\n".join([HEADER, *rows]).encode(encoding, "surrogateescape") + b"\r\n")
        (tmp / "youtube_mapping.txt").write_text(mapping)
        args = ["convert", "msvd", "--csv", tmp / "corpus.csv", "--mapping", tmp / "youtube_mapping.txt",
                "--out", tmp / "out" / "msvd.json"]
        if split is not None:
            (tmp / "split.json").write_bytes(split if isinstance(split, bytes) else split.encode())
            args += ["--split-file", tmp / "split.json"]
        return args
    return make


def _clip(vid: str, *captions: str) -> dict:
    return {"videoID": vid, "enCap": list(captions or ["a person walks"]), "chCap": ["一个人"]}


TRAIN = [_clip("Ptf_2VRj-V0_000122_000132")]
VALIDATE = [_clip("G9zN5TTuGO4_000179_000189")]


def _vatex(train=TRAIN, validate=VALIDATE):
    def make(tmp: pathlib.Path) -> list[str]:
        for name, data in (("train.json", train), ("validate.json", validate)):
            (tmp / name).write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
        return ["convert", "vatex", "--train", tmp / "train.json", "--validate", tmp / "validate.json",
                "--out", tmp / "out" / "vatex.json"]
    return make


CONVERTERS = [
    Case("msvd-unclosed-quote-swallows-rows", _msvd([ROWS[0][:-20] + '"a man plays', "x,1,2,3,clean,1,English,y",
                                                     ROWS[1] + '"']), ("corpus.csv", "lines 2-4 are one record")),
    Case("msvd-text-after-closing-quote", _msvd([ROWS[0][:-20] + '"a man" plays', ROWS[1]]),
         ("corpus.csv", "line 2", "malformed CSV")),
    Case("msvd-unclosed-quote-at-end", _msvd([ROWS[0], ROWS[1][:-11] + '"a cat']),
         ("corpus.csv", "line 3", "malformed CSV")),
    Case("msvd-latin-1", _msvd([ROWS[0], ROWS[1] + " caf\xe9"], encoding="latin-1"),
         ("corpus.csv", "line 3", "not UTF-8")),
    Case("msvd-utf-16", _msvd(encoding="utf-16"), ("corpus.csv", "line 1", "not UTF-8")),
    Case("msvd-video-id-is-a-path", _msvd([ROWS[0], "../../etc/passwd,1,4,2,clean,12,English,a cat jumps"]),
         ("corpus.csv", "line 3", "contains '/'")),
    Case("msvd-mapping-clip-is-a-path", _msvd(mapping=MAPPING + "../x_1_2 vid2\n"),
         ("youtube_mapping.txt", "line 3")),
    Case("msvd-split-file-deep", _msvd(split=b"[" * 100000), ("split.json", "nests deeper")),
    Case("msvd-split-file-utf16-with-a-number-id", _msvd(split="{\"train\": [1]}".encode("utf-16")),
         ("split.json", "ids that the mapping file does not list")),
    Case("vatex-deep-nesting", _vatex(train=b"[" * 100000), ("train.json", "nests deeper")),
    Case("vatex-invalid-json-line", _vatex(validate=b'[\n{"videoID": "x",\n "enCap": [,]}]'),
         ("validate.json", "line 3")),
    Case("vatex-video-id-is-a-path", _vatex(train=[_clip("../../../etc/passwd")]),
         ("train.json", "[0] videoID '../../../etc/passwd'")),
    Case("vatex-same-clip-in-two-files", _vatex(validate=TRAIN), ("listed twice", "Ptf_2VRj-V0_000122_000132")),
    Case("vatex-captions-not-strings", _vatex(train=[{"videoID": TRAIN[0]["videoID"], "enCap": [1, 2]}]),
         ("train.json", "enCap is not a list of strings")),
]


@pytest.mark.parametrize("case", ANNOTATIONS + CONVERTERS, ids=lambda c: c.name)
def test_a_hostile_annotation_or_converter_input_is_refused(tmp_path, case):
    args = case.make(tmp_path)
    before = snapshot(tmp_path)
    refused(vidcap(*args, timeout=120), status=case.status, names=case.names)
    unchanged(before, tmp_path)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks_and_utf16_annotations_read_as_utf8_does(tmp_path, encoding):
    """RFC 8259's encodings are read, not refused: the same scores as the UTF-8 file."""
    runs = []
    for enc in ("utf-8", encoding):
        folder = tmp_path / enc
        folder.mkdir()
        args = _score(json.dumps({"videos": VIDEOS, "sentences": SENTENCES}).encode(enc))(folder)
        run = vidcap(*args, "--json", folder / "scores.json", timeout=120)
        assert run.returncode == 0, run.stderr
        runs.append(json.loads((folder / "scores.json").read_text())["overall"])
    assert runs[0] == runs[1] and runs[0]["CIDEr"] > 0


def test_converters_leave_out_captions_with_control_characters_counted_and_listed(tmp_path):
    """Never dropped silently: the summary counts them, --verbose lists each (file line or clip)."""
    (tmp_path / "m").mkdir()
    args = _msvd([ROWS[0], ROWS[0][:-20] + "a man\x1b[2J plays", ROWS[1]])(tmp_path / "m")
    run = vidcap(*args, "--verbose", timeout=120)
    assert run.returncode == 0, run.stderr
    assert "left out: 1 English descriptions with control characters" in run.stdout
    assert "line 3 (abcdefghijk_5_15: U+001B)" in run.stdout
    written = json.loads((tmp_path / "m" / "out" / "msvd.json").read_text())
    assert [s["caption"] for s in written["sentences"]] == ["a man plays a guitar", "a cat jumps"]

    (tmp_path / "v").mkdir()
    args = _vatex(train=[_clip(TRAIN[0]["videoID"], "a person walks", "a person\u202e walks", "x\ny")])(tmp_path / "v")
    run = vidcap(*args, "--verbose", timeout=120)
    assert run.returncode == 0, run.stderr
    assert "left out: 2 English captions with control characters" in run.stdout
    assert f"{TRAIN[0]['videoID']} (train.json: U+202E)" in run.stdout
    written = json.loads((tmp_path / "v" / "out" / "vatex.json").read_text())
    assert [s["caption"] for s in written["sentences"]] == ["a person walks", "a person walks"]
