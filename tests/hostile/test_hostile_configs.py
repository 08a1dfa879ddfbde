"""Hostile training configs: YAML files and key=value overrides (vidcap/config/loading.py, schema.py).

Each case runs `vidcap config show` (or `vidcap train`) as a user would. Values are usage errors (exit 2)
that name the key, files that are not YAML are input errors (exit 1) that name the file and the line;
nothing is written (a refused `vidcap train` does not even create its out= folder).
"""
from __future__ import annotations

import pathlib

import pytest
from hostilekit import Case, raised, refused, snapshot, unchanged, vidcap


def _file(text: str | bytes, name: str = "hostile.yaml"):
    """A case's make: write the config file, run `vidcap config show` on it."""
    def make(tmp: pathlib.Path) -> list[str]:
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return ["config", "show", str(path)]
    return make


def _override(*items: str):
    return lambda tmp: ["config", "show", *items]


_LAUGHS = "".join(f"{a}: &{a} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
                  for p, a in zip(["", *"abcdefg"], "abcdefgh")) + "train: {lr: *h}\n"

CASES = [
    Case("lr-nan-in-file", _file("train:\n  lr: .nan\n"), ("train.lr=nan", "hostile.yaml", "finite"), status=2),
    Case("lr-inf-override", _override("train.lr=.inf"), ("train.lr=inf", "finite"), status=2),
    Case("lr-above-1", _override("train.lr=1e38"), ("train.lr=1e+38", "in (0, 1]"), status=2),
    Case("label-smoothing-nan", _file("train:\n  label_smoothing: .NaN\n"), ("train.label_smoothing", "finite"),
         status=2),
    Case("weight-decay-inf", _override("train.weight_decay=.inf"), ("train.weight_decay=inf", "finite"), status=2),
    Case("grad-clip-inf", _override("train.grad_clip=.inf"), ("train.grad_clip=inf", "finite"), status=2),
    Case("length-penalty-minus-inf", _override("eval.length_penalty=-.inf"), ("eval.length_penalty", "finite"),
         status=2),
    Case("scst-temperature-inf", _override("train.scst_temperature=.inf"), ("train.scst_temperature", "finite"),
         status=2),
    Case("ema-nan", _override("train.ema=.nan"), ("train.ema=nan", "finite"), status=2),
    Case("dropout-out-of-range", _file("model:\n  dropout: 1.5\n"), ("model.dropout=1.5", "hostile.yaml", "[0, 1)"),
         status=2),
    Case("epochs-negative", _override("train.epochs=-1"), ("train.epochs=-1", ">= 1"), status=2),
    Case("epochs-a-float", _override("train.epochs=1e9"), ("train.epochs", "expected an integer"), status=2),
    Case("unknown-key", _file("train:\n  lr_: 0.1\n"), ("train.lr_", "hostile.yaml", "train.lr"), status=2),
    Case("section-not-a-mapping", _file("train: [1, 2]\n"), ("train", "hostile.yaml"), status=2),
    Case("billion-laughs", _file(_LAUGHS), ("hostile.yaml", "line 1", "expansion exceeds")),
    Case("deep-nesting-flow", _file("train: " + "[" * 5000 + "]" * 5000 + "\n"), ("hostile.yaml", "line 1", "depth")),
    Case("deep-nesting-block", _file("".join(f"{'  ' * i}k{i}:\n" for i in range(3000))),
         ("hostile.yaml", "invalid YAML")),
    Case("latin-1-bytes", _file("train:\n  lr: 0.1  # r\xe9glage\n".encode("latin-1")),
         ("hostile.yaml", "line 2", "not UTF-8")),
    Case("utf-16", _file("train:\n  lr: 0.1\n".encode("utf-16")), ("hostile.yaml", "line 1", "not UTF-8")),
    Case("control-character", _file("train:\n  epochs: 3\x1b[2J\n"), ("hostile.yaml", "line 2", "U+001B")),
    Case("nul-byte", _file("train:\n  epochs: 3\n\0\n"), ("hostile.yaml", "line 3", "U+0000")),
    Case("syntax-error", _file("train:\n  lr: [0.1\n  epochs: 3\n"), ("hostile.yaml", "line 3", "invalid YAML")),
    Case("top-level-list", _file("- 1\n- 2\n"), ("hostile.yaml", "mapping of sections")),
    Case("override-deep-nesting", _override("train.lr=" + "[" * 3000), ("train.lr=", "cannot parse"), status=2),
    Case("config-is-a-folder", lambda tmp: ["config", "show", str(tmp)], ("is a folder, not a config file",)),
]


# Through the command line as a user runs it (a process each costs seconds on a loaded machine); every
# case also runs in-process below, through the same load_config the command calls.
CLI = ("lr-nan-in-file", "billion-laughs", "latin-1-bytes", "control-character", "epochs-negative")


def _load(args: list[str]) -> None:
    """What `vidcap config show ARGS` does before printing: load and check the config."""
    from vidcap.config.loading import load_config

    rest = args[2:]
    path = rest[0] if rest and "=" not in rest[0] else None
    load_config(path, rest[1:] if path else rest)


@pytest.mark.parametrize("case", [c for c in CASES if c.name in CLI], ids=lambda c: c.name)
def test_cli_refuses_a_hostile_config_naming_the_key_or_file(tmp_path, case):
    args = case.make(tmp_path)
    before = snapshot(tmp_path)
    refused(vidcap(*args, timeout=120), status=case.status, names=case.names)
    unchanged(before, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_hostile_config_is_refused_naming_the_key_or_file(tmp_path, case):
    from vidcap.errors import InputError, UsageError

    args = case.make(tmp_path)
    before = snapshot(tmp_path)
    raised(lambda: _load(args), names=case.names, error={1: InputError, 2: UsageError}[case.status])
    unchanged(before, tmp_path)


def test_train_refuses_a_non_finite_config_before_creating_anything(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  lr: .inf\n")
    before = snapshot(tmp_path)
    refused(vidcap("train", config, f"out={tmp_path / 'run'}", "data.features=feats", timeout=120),
            status=2, names=("train.lr=inf", "run.yaml"))
    unchanged(before, tmp_path)
    assert not (tmp_path / "run").exists()


SIZES = [
    Case("hidden-size-1e6", (["model.hidden_size=1000000"], {"frame": 512}), ("model.hidden_size=1000000",),
         status=2),
    Case("embed-size-1e7", (["model.embed_size=10000000"], {"frame": 512}), ("model.embed_size=10000000",),
         status=2),
    Case("store-dims-at-the-store-limit", ([], {"frame": 1 << 22}), ("inputs {'frame': 4194304}", "stores' dims"),
         status=2),
]


@pytest.mark.parametrize("case", SIZES, ids=lambda c: c.name)
def test_a_model_too_large_for_any_machine_is_refused_before_allocating(case):
    """Sizes are checked on the meta device: the refusal takes no memory and names the sizes."""
    import resource

    from vidcap.config.loading import load_config
    from vidcap.training.rundata import build_model
    from vidcap.errors import UsageError

    overrides, dims = case.make
    cfg = load_config(None, overrides)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    raised(lambda: build_model(cfg, vocab_size=1000, input_dims=dims), names=("parameters", *case.names),
           error=UsageError)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KiB: nothing was allocated
