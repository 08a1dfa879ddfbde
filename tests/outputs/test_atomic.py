"""Atomic writes (vidcap/outputs/atomic.py)."""
from __future__ import annotations

import os

import pytest

from vidcap.outputs import write_atomic


def test_replaces_whole_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "a.txt"
    write_atomic(target, "x" * 10_000)
    write_atomic(target, b"short")
    assert target.read_bytes() == b"short" and os.listdir(tmp_path) == ["a.txt"]


def test_failed_replace_keeps_nothing_half_written(tmp_path):
    (tmp_path / "dir.json").mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        write_atomic(tmp_path / "dir.json", "[]")
    assert os.listdir(tmp_path) == ["dir.json"] and not os.listdir(tmp_path / "dir.json")


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "p.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
