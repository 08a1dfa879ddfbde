"""vidcap.metrics.java: Java detection and the PTB tokenizer against pycocoevalcap's PTBTokenizer."""
from __future__ import annotations

import pytest
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from vidcap.errors import UsageError
from vidcap.metrics import java
from vidcap.metrics.java import JavaError, ptb_tokenize, pycocoevalcap_dir, require_java

needs_java = pytest.mark.skipif(java.java_version() is None, reason="needs java")

CAPTIONS = [
    "A man's singing (loudly) on-stage.", "Don't stop!!! It's 3:30, isn't it?", "", "   ",
    "a café — crème brûlée … “quoted”", "$5 for 50% off & more", "the dog's ball; the cats' toys",
    "multiple   spaces\tand tabs", "...", "U.S. Dr. Smith vs. Mr. Jones, e.g. 1,000 people",
]


def test_pycocoevalcap_dir_holds_the_jars():
    folder = pycocoevalcap_dir()
    assert (folder / "tokenizer" / "stanford-corenlp-3.4.1.jar").is_file()
    assert (folder / "meteor" / "meteor-1.5.jar").is_file()


@needs_java
def test_ptb_tokenize_equals_pycocoevalcap_ptbtokenizer():
    want = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(CAPTIONS)})
    assert ptb_tokenize(CAPTIONS) == [want[i][0] for i in range(len(CAPTIONS))]


@needs_java
def test_line_breaks_inside_a_caption_do_not_shift_the_others():
    # Java splits lines at \r and U+2028 too; pycocoevalcap only replaces \n and would mis-align.
    got = ptb_tokenize(["a dog\r\nruns", "a cat\u2028sits", "a cow"])
    assert got == ["a dog runs", "a cat sits", "a cow"]
    assert ptb_tokenize([]) == []


@needs_java
def test_require_java_returns_the_version():
    assert "version" in require_java()


def test_no_java_on_path_gives_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    java.java_version.cache_clear()
    try:
        assert java.java_version() is None
        with pytest.raises(UsageError) as err:
            require_java()
        assert "not on PATH" in str(err.value) and "apt-get install" in str(err.value)
        assert "NOT comparable" in str(err.value)
    finally:
        java.java_version.cache_clear()


def test_a_broken_java_is_detected(monkeypatch, tmp_path):
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    java.java_version.cache_clear()
    try:
        with pytest.raises(UsageError, match="-version` failed"):
            require_java()
    finally:
        java.java_version.cache_clear()


def test_java_error_is_a_vidcap_error():
    assert JavaError("x").exit_code == 1
