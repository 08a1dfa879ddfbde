"""Java for pycocoevalcap: detected up front, and the PTB tokenizer run in one checked process.

pycocoevalcap needs ``java`` for its PTB tokenizer, METEOR and SPICE and fails late and obscurely without
it; :func:`require_java` fails early with an install hint. :func:`ptb_tokenize` runs the same Stanford
PTBTokenizer jar and flags as ``pycocoevalcap.tokenizer.ptbtokenizer.PTBTokenizer`` (and removes the same
punctuation tokens), but checks the exit status and the line count instead of silently mis-aligning.

Example:
    >>> ptb_tokenize(["A man's singing.", "Dogs (two) run!"])   # doctest: +SKIP
    ["a man 's singing", 'dogs -lrb- two -rrb- run']
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from vidcap.errors import UsageError, VidcapError

INSTALL_HINT = ("install a Java runtime (8 or newer), e.g. `apt-get install default-jre-headless`, "
                "`conda install -c conda-forge openjdk` or `brew install openjdk`")
# pycocoevalcap's PUNCTUATIONS, removed after tokenising (its upper-case -LRB- etc. never match the
# lower-cased output, so brackets stay as -lrb-/-rrb-; kept identical on purpose).
PTB_PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                              ".", "?", "!", ",", ":", "-", "--", "...", ";"])
# Characters Java's line reader treats as line ends; inside a caption they would split it in two.
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class JavaError(VidcapError):
    """A Java-based scorer failed (crashed, was killed, or produced malformed output)."""


@functools.lru_cache(maxsize=1)
def java_version() -> str | None:
    """The first line of ``java -version``, or ``None`` when no working ``java`` is on PATH."""
    path = shutil.which("java")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else "java"


def require_java() -> str:
    """Return the Java version line, or raise :class:`UsageError` with the install hint.

    Example:
        >>> require_java()   # doctest: +SKIP
        'openjdk version "17.0.12" 2024-07-16'
    """
    version = java_version()
    if version is None:
        where = shutil.which("java")
        problem = "`java` is not on PATH" if where is None else f"`{where} -version` failed"
        raise UsageError(f"{problem}: the PTB tokenizer, METEOR and SPICE of pycocoevalcap need Java; "
                         f"{INSTALL_HINT}; or skip them with --no-java (java=False), whose scores are "
                         f"NOT comparable to published numbers")
    return version


def pycocoevalcap_dir() -> Path:
    """The installed pycocoevalcap package folder (holds the jars).

    pycocoevalcap 1.2 is a namespace package (no ``__init__.py``, ``__file__`` is ``None``), so the folder
    comes from the import system's search locations.
    """
    import pycocoevalcap

    return Path(next(iter(pycocoevalcap.__path__))).resolve()


def ptb_tokenize(captions: Sequence[str]) -> list[str]:
    """Tokenise captions with pycocoevalcap's Stanford PTBTokenizer in ONE Java process.

    Same jar, flags (``-preserveLines -lowerCase``) and punctuation removal as pycocoevalcap; line breaks
    inside a caption become spaces (pycocoevalcap replaces only ``\\n``; Java also splits lines at ``\\r``
    and U+2028, which would shift every later caption).

    Example:
        >>> ptb_tokenize(["It's a (big) dog."])   # doctest: +SKIP
        ["it 's a -lrb- big -rrb- dog"]
    """
    require_java()
    if not captions:
        return []
    jar = pycocoevalcap_dir() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    if not jar.is_file():
        raise JavaError(f"{jar}: pycocoevalcap's PTB tokenizer jar is missing (reinstall pycocoevalcap)")
    text = "".join(_LINE_BREAKS.sub(" ", c) + "\n" for c in captions)
    with tempfile.TemporaryDirectory(prefix="vidcap-ptb-") as tmp:
        src = Path(tmp) / "captions.txt"
        src.write_text(text, encoding="utf-8")
        cmd = ["java", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer",
               "-preserveLines", "-lowerCase", str(src)]
        try:
            done = subprocess.run(cmd, capture_output=True)
        except OSError as err:
            raise JavaError(f"cannot start the PTB tokenizer ({' '.join(cmd[:2])}): {err}") from None
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise JavaError(f"the PTB tokenizer exited with status {done.returncode}: {tail}")
    lines = done.stdout.decode("utf-8").split("\n")
    if len(lines) != len(captions) + 1 or lines[-1] != "":
        raise JavaError(f"the PTB tokenizer returned {len(lines) - 1} lines for {len(captions)} captions")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PTB_PUNCTUATIONS) for line in lines[:-1]]
