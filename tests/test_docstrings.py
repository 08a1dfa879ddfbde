"""The examples in vidcap's docstrings run and print what they say (examples marked +SKIP need files)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import ultralytics  # noqa: F401  (creates its settings file now, not in the middle of an example's output)

import vidcap

MODULES = sorted(m.name for m in pkgutil.walk_packages(vidcap.__path__, "vidcap."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the output)"
