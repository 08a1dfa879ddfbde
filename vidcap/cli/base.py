"""What a sub-command is: its name, help, argument builder and runner (see vidcap.cli)."""
from __future__ import annotations

import argparse
from typing import Callable, NamedTuple


class Command(NamedTuple):
    """One ``vidcap`` sub-command: ``add`` declares its arguments, ``run`` calls into the package and
    returns the exit status; ``epilog`` is extra help text printed after the arguments."""

    name: str
    help: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str | None = None
