"""`vidcap convert msvd` (vidcap/data/convert/msvd.py) on small hand-made files in the published formats."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidcap.cli import main
from vidcap.data.annotations import Annotations
from vidcap.data.convert.msvd import PUBLISHED_SPLIT, convert_msvd, published_split
from vidcap.errors import InputError

HEADER = "VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description"
# Rows as the corpus CSV has them: many languages, quoted descriptions with commas and quotes, empty ones.
ROWS = [
    "-4wsuPCjDBc,5,15,899569,clean,18,English,A man is playing a guitar.",
    '-4wsuPCjDBc,5,15,899570,unverified,12,English,"A man plays the guitar, loudly and ""well""."',
    "-4wsuPCjDBc,5,15,899571,clean,20,French,Un homme joue de la guitare.",
    "-4wsuPCjDBc,5,15,899572,clean,9,English,",
    "-7KMZQEsJW4,205,208,899573,clean,11,English,  a cat jumps on a bed  ",
    "-7KMZQEsJW4,205,208,899574,clean,14,Chinese,一只猫跳到床上",
    "-7KMZQEsJW4,205,208,899575,clean,14,Hindi,बिल्ली बिस्तर पर कूदती है",
    "00jrXRMlZOY,0,10,899576,clean,7,English,Someone slices an onion.",
    "4PcL6-mjRNk,11,18,899577,clean,8,German,Ein Hund rennt.",                     # mapped, no English
    "4PcL6-mjRNk,11,18,899578,clean,8,English,   ",                                  # blank English
    "zv2RIbUsnSw_x,1,4,899579,clean,5,English,a woman dances",                      # underscores in VideoID
    "t4vP-cXXWkY,14,20,899580,clean,6,English,A boy kicks a ball.",
    "zzzNotMapped,3,9,899581,clean,6,English,a clip that the mapping does not list",
    "zzzNotMapped,3,9,899582,clean,6,Spanish,un clip",
    "yd8jh9QYfEs,4,10,899583,clean,6,English,Two dogs play.",
]
MAPPING = {"-4wsuPCjDBc_5_15": 1, "-7KMZQEsJW4_205_208": 1200, "00jrXRMlZOY_0_10": 1201,
           "4PcL6-mjRNk_11_18": 1250, "zv2RIbUsnSw_x_1_4": 1300, "t4vP-cXXWkY_14_20": 1301,
           "yd8jh9QYfEs_4_10": 1970}


def write_files(root: Path, rows=ROWS, mapping=MAPPING, *, bom: bool = False) -> tuple[Path, Path]:
    csv_path = root / "MSR Video Description Corpus.csv"
    csv_path.write_text(("\ufeff" if bom else "") + "\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    mapping_path = root / "youtube_mapping.txt"
    mapping_path.write_text("".join(f"{clip} vid{n}\n" for clip, n in mapping.items()))
    return csv_path, mapping_path


def convert_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["convert", "msvd", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_published_split_boundaries():
    assert PUBLISHED_SPLIT == ((1, 1200, "train"), (1201, 1300, "validate"), (1301, 1970, "test"))
    assert [published_split(n) for n in (1, 1200, 1201, 1300, 1301, 1970)] == \
        ["train", "train", "validate", "validate", "test", "test"]
    assert published_split(0) is None and published_split(1971) is None
    # 1200 / 100 / 670 clips, the counts the published tables use
    assert [sum(published_split(n) == s for n in range(1, 1971)) for s in ("train", "validate", "test")] == \
        [1200, 100, 670]


@pytest.mark.parametrize("bom", [False, True])
def test_english_non_empty_descriptions_verbatim_with_the_published_split(tmp_path, capsys, bom):
    csv_path, mapping_path = write_files(tmp_path, bom=bom)
    out = tmp_path / "msvd.json"
    code, stdout, err = convert_cli(capsys, "--csv", csv_path, "--mapping", mapping_path, "--out", out)
    assert code == 0, err

    data = json.loads(out.read_text(encoding="utf-8"))
    splits = {v["video_id"]: v["split"] for v in data["videos"]}
    assert splits == {"-4wsuPCjDBc_5_15": "train", "-7KMZQEsJW4_205_208": "train",
                      "00jrXRMlZOY_0_10": "validate", "zv2RIbUsnSw_x_1_4": "validate",
                      "t4vP-cXXWkY_14_20": "test", "yd8jh9QYfEs_4_10": "test"}
    assert [v["video_id"] for v in data["videos"]] == sorted(splits, key=lambda c: MAPPING[c])  # vid order
    guitar = [s["caption"] for s in data["sentences"] if s["video_id"] == "-4wsuPCjDBc_5_15"]
    assert guitar == ["A man is playing a guitar.", 'A man plays the guitar, loudly and "well".']  # verbatim
    cat = [s["caption"] for s in data["sentences"] if s["video_id"] == "-7KMZQEsJW4_205_208"]
    assert cat == ["  a cat jumps on a bed  "]
    assert [s["sen_id"] for s in data["sentences"]] == list(range(7))
    first = data["videos"][0]
    assert first["vid"] == "vid1" and first["start time"] == 5 and first["end time"] == 15
    assert first["url"] == "https://www.youtube.com/watch?v=-4wsuPCjDBc"

    ann = Annotations.load(out)  # the written file is valid MSR-VTT schema
    assert ann.ids("train") == ["-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208"]
    assert ann.references(["-7KMZQEsJW4_205_208"]) == {"-7KMZQEsJW4_205_208": ["a cat jumps on a bed"]}
    # split and caption counts, printed and in the file
    assert "MSVD: 6 videos, 7 captions" in stdout
    assert "train           2         3" in stdout and "validate        2         2" in stdout
    assert "test            2         2" in stdout
    counts = {s: (len(ann.ids(s)), sum(len(c) for c in ann.references(ann.ids(s)).values()))
              for s in ("train", "validate", "test")}
    assert counts == {"train": (2, 3), "validate": (2, 2), "test": (2, 2)}


def test_left_out_clips_and_rows_are_counted_and_listed_with_verbose(tmp_path, capsys):
    csv_path, mapping_path = write_files(tmp_path)
    code, out, _ = convert_cli(capsys, "--csv", csv_path, "--mapping", mapping_path, "--out", tmp_path / "a.json")
    assert code == 0
    assert "left out: 1 clips of youtube_mapping.txt without an English description (--verbose lists them)" in out
    assert "left out: 2 CSV rows whose clip youtube_mapping.txt does not list" in out
    assert "left out: 2 empty English descriptions" in out
    assert "4 descriptions in other languages not used (Chinese 1, French 1, German 1, Hindi 1)" in out
    assert "4PcL6-mjRNk_11_18 (vid1250)" not in out  # listed only with --verbose

    code, out, _ = convert_cli(capsys, "--csv", csv_path, "--mapping", mapping_path, "--out", tmp_path / "b.json",
                               "--verbose")
    assert code == 0
    assert "  4PcL6-mjRNk_11_18 (vid1250)" in out and "  line 14 (zzzNotMapped_3_9, English)" in out and "  line 15 (zzzNotMapped_3_9, Spanish)" in out
    assert "  line 5 (-4wsuPCjDBc_5_15)" in out and "  line 11 (4PcL6-mjRNk_11_18)" in out
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


@pytest.mark.parametrize("content, message", [
    ("VideoID,Start,End,Language\nabc,1,2,English\n", "missing column(s) Description"),
    ("Start,End,Description\n1,2,x\n", "missing column(s) VideoID, Language"),
    ("", "missing column(s) VideoID, Start, End, Language, Description"),
    (HEADER + "\n", "has a header but no rows"),
    (HEADER + "\n-4wsuPCjDBc,5,15,1,clean,3,English,a man,plays,a guitar\n", "malformed rows: line 2 has 10 fields"),
    (HEADER + "\n-4wsuPCjDBc,five,15,1,clean,3,English,a man\n", "malformed rows: line 2 (VideoID='-4wsuPCjDBc'"),
    (HEADER + "\n,5,15,1,clean,3,English,a man\n", "malformed rows: line 2"),
    (b"VideoID,Start\xff\xfe,End\n", "not UTF-8 text"),
])
def test_a_file_that_is_not_the_corpus_csv_is_an_error_and_nothing_is_written(tmp_path, capsys, content, message):
    _, mapping_path = write_files(tmp_path)
    csv_path = tmp_path / "broken.csv"
    csv_path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out" / "msvd.json"
    code, stdout, err = convert_cli(capsys, "--csv", csv_path, "--mapping", mapping_path, "--out", out)
    assert code == 1 and f"{csv_path}: " in err and message in err, err
    assert not out.parent.exists() and stdout == ""


def test_missing_files_and_a_previous_output_is_kept(tmp_path, capsys):
    csv_path, mapping_path = write_files(tmp_path)
    out = tmp_path / "msvd.json"
    out.write_text("previous")
    code, _, err = convert_cli(capsys, "--csv", tmp_path / "absent.csv", "--mapping", mapping_path, "--out", out)
    assert code == 1 and "absent.csv: MSVD corpus CSV not found" in err
    code, _, err = convert_cli(capsys, "--csv", csv_path, "--mapping", tmp_path / "absent.txt", "--out", out)
    assert code == 1 and "absent.txt: MSVD mapping file not found" in err
    assert out.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["MSR Video Description Corpus.csv", "msvd.json", "youtube_mapping.txt"]  # no staging leftovers
    code, _, err = convert_cli(capsys, "--csv", csv_path, "--mapping", mapping_path, "--out", tmp_path)
    assert code == 1 and "is a folder" in err


@pytest.mark.parametrize("text, message", [
    ("-4wsuPCjDBc_5_15 vid1\nnot a mapping line\n", "lines that are not '<VideoID>_<Start>_<End> vid<N>': line 2"),
    ("-4wsuPCjDBc_5_15 video1\n", "line 1"),
    ("-4wsuPCjDBc vid1\n", "line 1"),
    ("-4wsuPCjDBc_5_15 vid1\n-4wsuPCjDBc_5_15 vid2\n", "clip or vid number given twice: line 2"),
    ("-4wsuPCjDBc_5_15 vid1\n-7KMZQEsJW4_205_208 vid1\n", "given twice: line 2"),
    ("\n\n", "the MSVD mapping file is empty"),
    ("-4wsuPCjDBc_5_15 vid1971\n", "outside the published split vid1-vid1970 (give --split-file"),
])
def test_a_broken_mapping_file_is_an_error(tmp_path, text, message):
    csv_path, mapping_path = write_files(tmp_path)
    mapping_path.write_text(text)
    with pytest.raises(InputError, match="youtube_mapping.txt: ") as err:
        convert_msvd(csv_path, mapping_path)
    assert message in str(err.value)


def test_split_file_takes_vid_ids_or_clip_names_and_reports_what_it_leaves_out(tmp_path, capsys):
    csv_path, mapping_path = write_files(tmp_path)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["vid1970", "t4vP-cXXWkY_14_20"], "test": ["vid1", "vid1250"]}))
    out = tmp_path / "msvd.json"
    code, stdout, err = convert_cli(capsys, "--csv", csv_path, "--mapping", mapping_path, "--out", out,
                                    "--split-file", split)
    assert code == 0, err
    ann = Annotations.load(out)
    assert ann.ids("train") == ["t4vP-cXXWkY_14_20", "yd8jh9QYfEs_4_10"] and ann.ids("test") == ["-4wsuPCjDBc_5_15"]
    assert ann.ids("validate") == []
    assert "left out: 3 clips that split.json leaves out" in stdout  # vid1200, vid1201, vid1300
    assert "splits: the split in split.json" in stdout

    for content, message in [({"train": ["vid5"]}, "ids that the mapping file does not list: 'vid5' (train)"),
                              ({"train": ["vid1"], "test": ["-4wsuPCjDBc_5_15"]}, "in more than one split"),
                              ({"training": ["vid1"]}, "a split file is a JSON object"),
                              (["vid1"], "a split file is a JSON object")]:
        split.write_text(json.dumps(content))
        with pytest.raises(InputError, match="split.json: ") as err:
            convert_msvd(csv_path, mapping_path, split_file=split)
        assert message in str(err.value)


def test_python_api_counts(tmp_path):
    conv = convert_msvd(*write_files(tmp_path))
    assert conv.counts() == {"train": (2, 3), "validate": (2, 2), "test": (2, 2)}
    assert {ex.what: len(ex.items) for ex in conv.excluded} == {
        "clips of youtube_mapping.txt without an English description": 1,
        "CSV rows whose clip youtube_mapping.txt does not list": 2, "empty English descriptions": 2,
        "English descriptions with control characters": 0}
