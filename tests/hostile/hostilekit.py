"""The hostile-input suite's one assertion: a refused input ends with the expected exit status, a message
that names the input, no traceback, and nothing written or changed outside the output asked for.

Each test module under tests/hostile/ covers one surface (model folders, checkpoints, stores, configs,
annotations and converters, results files, videos, the page) with a table of cases; every case goes
through `refused(...)` so the suite counts cases the same way everywhere.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One hostile input: `name` for the test id, `make(tmp) -> list[str]` writes the hostile files under tmp
    and returns the command-line arguments after `vidcap`, `names` the strings the message must contain."""
    name: str
    make: object
    names: tuple[str, ...]
    status: int = 1


def vidcap(*args: object, cwd: Path | None = None, env: dict | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m vidcap ARGS` as a user would (a fresh process)."""
    return subprocess.run([sys.executable, "-m", "vidcap", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under root with its size and SHA-256, to prove what a refused command left untouched."""
    files = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            files[str(path.relative_to(root))] = (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return files


def refused(run: subprocess.CompletedProcess, *, status: int, names: tuple[str, ...] | list[str]) -> str:
    """Assert the run was refused cleanly; return its message for further checks."""
    out = run.stdout + run.stderr
    assert run.returncode == status, f"exit {run.returncode}, expected {status}:\n{out}"
    assert "Traceback" not in out, f"a traceback reached the user:\n{out}"
    for name in names:
        assert str(name) in out, f"the message does not name {name!r}:\n{out}"
    return out


def unchanged(before: dict, root: Path, *, allowed: tuple[str, ...] = ()) -> None:
    """Assert nothing under root changed since `before = snapshot(root)`, except paths starting with an
    allowed prefix."""
    after = {k: v for k, v in snapshot(root).items() if not k.startswith(allowed)}
    before = {k: v for k, v in before.items() if not k.startswith(allowed)}
    assert after == before, f"files changed: {sorted(set(after.items()) ^ set(before.items()))}"


def raised(call, *, names: tuple[str, ...] | list[str], error: type | None = None) -> str:
    """For surfaces too slow to start a process per case (reading a store): assert ``call()`` raises
    vidcap's ``error`` (default: any VidcapError) whose message names every one of ``names`` and holds no
    traceback text; return the message."""
    from vidcap.errors import VidcapError

    error = error or VidcapError
    try:
        call()
    except error as err:
        out = str(err)
    else:
        raise AssertionError(f"{call} was not refused")
    assert "Traceback" not in out, f"a traceback reached the message:\n{out}"
    for name in names:
        assert str(name) in out, f"the message does not name {name!r}:\n{out}"
    return out
