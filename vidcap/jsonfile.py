"""Reading JSON input files (annotations, results) with one clear error per way they can be unusable.

Example:
    >>> read_json("missing.json", "results file")
    Traceback (most recent call last):
    ...
    vidcap.errors.InputError: missing.json: results file not found
"""
from __future__ import annotations

import json
import os
from typing import Any

from vidcap.errors import InputError


def read_json(path: str | os.PathLike[str], kind: str) -> Any:
    """The parsed contents of ``path``; InputError naming the file and ``kind`` when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: {kind} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read {kind}: {err}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: invalid JSON: {err}") from None
