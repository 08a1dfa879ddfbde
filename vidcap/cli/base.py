"""What a sub-command is: its name, help, argument builder and runner (see vidcap.cli)."""
from __future__ import annotations

import argparse
import os
from typing import Callable, NamedTuple

from vidcap.errors import InputError, UsageError

NO_MODEL = """no --model given. vidcap does not ship a pretrained MSR-VTT model yet; two ways to get one:
  vidcap demo --quick --out vidcap-demo
      a toy model trained on synthetic clips in a few minutes on a CPU: --model vidcap-demo/run/best.pt
  python tools/reproduce.py msrvtt --video-dir VIDEOS --annotations ANN.json --out repro
      the MSR-VTT reproduction of the paper configs (needs the dataset; hours on a GPU):
      --model repro/runs/<config>/seed0/best.pt
Then pass --model: a checkpoint, a model folder (`vidcap export`) or hf:org/name[@revision]."""


class Command(NamedTuple):
    """One ``vidcap`` sub-command: ``add`` declares its arguments, ``run`` calls into the package and
    returns the exit status; ``epilog`` is extra help text printed after the arguments."""

    name: str
    help: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str | None = None


# --beam-size of every command that decodes (caption, eval, serve): where its default comes from
# (the model's EvalSettings, vidcap.trained.model; Captioner.decoding applies --beam-size to them).
BEAM_SIZE_HELP = ("beam width; default: the model's eval.beam_size, the setting its validation used (its "
                  "config.yaml, or `vidcap config show` of the training config, shows it)")
class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written (examples keep their lines), with each option's default appended.

    A default is shown when it says something (not None, False or an empty list) and the help does not
    already speak of it: a help that must explain where the default comes from writes it out itself,
    e.g. ``"(default: the model's eval.beam_size)"``.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (default in (None, False, argparse.SUPPRESS) or default == [] or "default" in text.lower()
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def require_model(model: object) -> None:
    """UsageError (exit 2) explaining where a model comes from, when a command needing one got none.

    Example:
        >>> require_model(None)
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: no --model given. vidcap does not ship a pretrained MSR-VTT model yet; ...
    """
    if model is None:
        raise UsageError(NO_MODEL)


def model_source(model: object) -> str:
    """``--model`` as the loader takes it, once the command's other options are checked: on the command line
    a Hub model is written ``hf:org/name``, so anything that is neither that nor an existing path is an
    InputError here and a mistyped path never becomes a request to the Hub (the Python API's
    ``Captioner.from_pretrained("org/name")`` is where a plain id means the Hub).

    Example:
        >>> model_source("hf:org/name@v1")
        'hf:org/name@v1'
        >>> model_source("runs/best.pt")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: --model runs/best.pt: checkpoint not found, nor a model folder (a Hub model is written hf:org/name[@revision])
    """
    text = str(model)
    if not text.startswith("hf:") and not os.path.exists(text):
        raise InputError(f"--model {text}: checkpoint not found, nor a model folder (a Hub model is written "
                         "hf:org/name[@revision])")
    return text


def switches() -> argparse.ArgumentParser:
    """The switches every command takes after its name too (``vidcap caption ... -q``); their defaults
    are suppressed so that a value given before the command name is not overwritten."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="debug logging, and every failed or missing input listed (not only the first few)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    return p
