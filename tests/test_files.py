"""Atomic writes and JSON files (vidcap/files.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from vidcap.errors import InputError
from vidcap.files import read_json, temp_owner, write_atomic, write_json


def test_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "a.txt"
    write_atomic(target, "x" * 10_000)
    write_atomic(target, b"short")
    assert target.read_bytes() == b"short" and os.listdir(tmp_path) == ["a.txt"]
    write_atomic(target, lambda f: f.write(b"from a writer"))
    assert target.read_bytes() == b"from a writer" and os.listdir(tmp_path) == ["a.txt"]


def test_missing_parent_folders_are_created(tmp_path):
    assert write_atomic(tmp_path / "a" / "b" / "c.txt", "x").read_text() == "x"


def test_failed_replace_keeps_nothing_half_written(tmp_path):
    (tmp_path / "dir.json").mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        write_atomic(tmp_path / "dir.json", "[]")
    assert os.listdir(tmp_path) == ["dir.json"] and not os.listdir(tmp_path / "dir.json")


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_atomic(tmp_path / "keep.bin", b"old")

    def half(f):
        f.write(b"ne")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, half)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["keep.bin"]


def test_a_killed_writer_leaves_only_a_temporary_that_names_its_target(tmp_path):
    # A real process killed while its writer is mid-file: the target keeps its old bytes, and the
    # leftover maps back to it (what the feature store's clean-up relies on).
    target = write_atomic(tmp_path / "entry.npz", b"old")
    code = ("import sys, time\nfrom vidcap.files import write_atomic\n"
            "def slow(f):\n    f.write(b'new'); f.flush(); print('writing', flush=True); time.sleep(60)\n"
            f"write_atomic({str(target)!r}, slow)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = [n for n in os.listdir(tmp_path) if n != "entry.npz"]
    assert target.read_bytes() == b"old" and len(leftovers) == 1
    assert temp_owner(leftovers[0]) == "entry.npz" and leftovers[0].startswith(f"entry.npz.{proc.pid}-")


def test_temp_owner_only_claims_temporary_names():
    assert temp_owner("failures.json.12-00ff00ff.tmp") == "failures.json"
    assert temp_owner("failures.json") is None and temp_owner(".tmp") is None and temp_owner("x.tmp") is None


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "p.txt", "x")
        report = write_json(tmp_path / "r.json", {})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640 and report.stat().st_mode & 0o777 == 0o640


def test_write_json_is_deterministic_and_read_json_round_trips(tmp_path):
    a = write_json(tmp_path / "a.json", {"b": [1, {"y": 2, "x": "é"}], "a": None})
    b = write_json(tmp_path / "b.json", {"a": None, "b": [1, {"x": "é", "y": 2}]})
    assert a.read_bytes() == b.read_bytes() and a.read_text().endswith("}\n")
    assert read_json(a, "test file") == json.loads(a.read_text()) == {"a": None, "b": [1, {"x": "é", "y": 2}]}


@pytest.mark.parametrize("content, message", [
    (None, "scores file not found"),
    (b"{not json", "invalid JSON"),
    (b"\xff\xfe", "line 1: invalid JSON in scores file"),     # a UTF-16 byte order mark, then nothing
    (b'[\n"a",\n"\xff"]', "line 3: scores file is not UTF-8 text"),
    (b"[NaN]", "holds NaN, which is not JSON"),
    (b"[" * 65 + b"]" * 65, "nests deeper than 64 levels"),
    (b"[" * 100000, "nests deeper than 64 levels"),
])
def test_read_json_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_json(path, "scores file")
    assert str(err.value).startswith(f"{path}: ")
