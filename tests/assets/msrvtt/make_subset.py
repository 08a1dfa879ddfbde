"""Rebuild this folder's MSR-VTT subset from the full annotations (a folder holding the official MSR-VTT 1.0
train_val_videodatainfo.json, test_videodatainfo.json and category.txt).

The subset keeps whole videos (entry and all 20 sentences, the original fields, file order and split
files) for:
  * train: video0, video1, video2 and every 100th training video (video0, video100, ...);
  * validate: every 5th validation video (video6513, video6518, ...);
  * test: video7010, video7011, video7012 and every 20th test video (video7010, video7030, ...);
  * the video of every 30th caption (in file order, both files) holding a character other than a
    lowercase letter or a space, so the tokenizer tests see real punctuation, digits and clitics.

Usage: python tests/assets/msrvtt/make_subset.py FULL_DIR   (writes next to this script)
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("train_val_videodatainfo.json", "test_videodatainfo.json")
_HARD = re.compile(r"[^a-z ]")


def _number(video_id: str) -> int:
    return int(video_id.removeprefix("video"))


def chosen_ids(documents: list[dict]) -> set[str]:
    """The video ids of the subset (see the module docstring)."""
    ids = {"video0", "video1", "video2", "video7010", "video7011", "video7012"}
    for doc in documents:
        for video in doc["videos"]:
            n, split = _number(video["video_id"]), video["split"]
            if (split == "train" and n % 100 == 0) or (split == "validate" and (n - 6513) % 5 == 0) \
                    or (split == "test" and (n - 7010) % 20 == 0):
                ids.add(video["video_id"])
    hard = [s for doc in documents for s in doc["sentences"] if _HARD.search(s["caption"].strip().lower())]
    return ids | {s["video_id"] for s in hard[::30]}


def main(full: Path) -> None:
    documents = [json.loads((full / name).read_text(encoding="utf-8")) for name in FILES]
    ids = chosen_ids(documents)
    for name, doc in zip(FILES, documents):
        subset = {"info": doc["info"], "videos": [v for v in doc["videos"] if v["video_id"] in ids],
                  "sentences": [s for s in doc["sentences"] if s["video_id"] in ids]}
        (HERE / name).write_text(json.dumps(subset, ensure_ascii=False, separators=(",", ":")) + "\n",
                                 encoding="utf-8")
    shutil.copyfile(full / "category.txt", HERE / "category.txt")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/assets/msrvtt/make_subset.py FULL_DIR  (the full MSR-VTT 1.0 annotations)")
    main(Path(sys.argv[1]))
