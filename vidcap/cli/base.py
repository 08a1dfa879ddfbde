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


# --beam-size of every command that decodes (caption, eval, serve): where its default comes from
# (vidcap.engine.captioner.Captioner.decoding resolves it).
BEAM_SIZE_HELP = ("beam width; default: the model's eval.beam_size, the setting its validation used (its "
                  "config.yaml, or `vidcap config show` of the training config, shows it)")
