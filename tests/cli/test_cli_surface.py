"""What `vidcap --help` and its errors tell a new user: help and defaults on every flag, backbone options
with type, default and meaning, close-match suggestions, and where a model comes from."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vidcap.cli import build_parser, main
from vidcap.features import describe_options, list_backbones
from vidcap.features.backbone import backbone_options

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the command line, sub-commands' sub-commands (convert msvd …) included."""
    found, todo = [], [("vidcap", build_parser())]
    while todo:
        name, parser = todo.pop()
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(f"{name} {sub}", p) for sub, p in action.choices.items()]
    return found


def test_every_flag_and_argument_has_help() -> None:
    parsers = _parsers()
    assert {"vidcap", "vidcap caption", "vidcap convert msvd"} <= {name for name, _ in parsers}
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in parsers for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not a.help]
    assert missing == []


def test_every_meaningful_default_is_shown_in_help() -> None:
    unshown = []
    for name, parser in _parsers():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if (action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS)
                    and "default" not in formatter._expand_help(action).lower()):
                unshown.append(f"{name} {action.option_strings}")
    assert unshown == []


@pytest.mark.parametrize("command, shown", [
    (["demo", "--help"], "(default: vidcap-demo)"),
    (["extract", "--help"], "(default: 2)"),             # --workers
    (["caption", "--help"], "default: the model's eval.beam_size"),  # --beam-size: from the checkpoint
    (["caption", "--help"], "(default: all)"),           # --output-format
])
def test_help_prints_defaults(command: list[str], shown: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert exit_.value.code == 0
    assert shown in " ".join(capsys.readouterr().out.split())


def test_switches_work_before_and_after_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["-q", "caption", "a.mp4"]).quiet is True
    assert parser.parse_args(["caption", "a.mp4", "--quiet", "-v"]).quiet is True
    args = parser.parse_args(["caption", "a.mp4"])
    assert (args.quiet, args.verbose) == (False, False)


@pytest.mark.parametrize("command", [
    ["caption", str(ASSETS / "intel_eat.mkv")],
    ["eval", "--annotations", "ann.json", "--features", "feats/"],
    ["serve"],
])
def test_commands_without_a_model_say_how_to_get_one(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"vidcap {command[0]}: error: no --model given" in err
    assert "does not ship a pretrained MSR-VTT model" in err
    assert "vidcap demo" in err and "python tools/reproduce.py msrvtt" in err
    assert "required" not in err  # not argparse's bare message


def test_unknown_backbone_suggests_the_name_in_another_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["extract", str(ASSETS / "intel_eat.mkv"), "--backbone", "ResNet18", "--weights", "none",
                 "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown backbone 'ResNet18'" in err and "Did you mean 'resnet18'?" in err
    assert not (tmp_path / "f").exists()


def test_unknown_option_suggests_the_closest_and_where_options_are_listed(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["extract", str(ASSETS / "intel_eat.mkv"), "--backbone", "resnet18", "--weights", "none",
                 "--option", "inputsize=64", "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and "Did you mean 'input_size'?" in err
    assert "vidcap list backbones --options resnet18" in err


def test_list_backbone_options_prints_type_default_and_meaning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "backbones", "--options", "yolov8n"]) == 0
    out = capsys.readouterr().out
    for option in describe_options("yolov8n"):
        assert f"  {option.name} ({option.type}; default: " in out
    assert "  imgsz (int; default: 640)" in out and "multiple of 32" in out
    assert main(["list", "models", "--options", "yolov8n"]) == 2
    assert main(["list", "backbones", "--options", "YOLOv8n"]) == 2
    assert "Did you mean 'yolov8n'?" in capsys.readouterr().err


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_option_is_described_from_the_checked_signature(name: str) -> None:
    # describe_options lists exactly the options get_backbone accepts, and each one has a meaning (an
    # "Options:" line in the builder's docstring): a new backbone family must describe its options.
    options = describe_options(name)
    assert [o.name for o in options] == backbone_options(name)
    assert [o.name for o in options if not o.help] == []


def test_a_help_that_names_its_default_source_is_kept_as_written() -> None:
    # decoding flags whose default comes from the model say so themselves; nothing is appended to them
    from vidcap.cli.base import HelpFormatter

    parser = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    parser.add_argument("--beam-size", type=int, default=None, help="beam width (default: the model's eval.beam_size)")
    parser.add_argument("--max-len", type=int, default=20, help="longest caption in words")
    text = " ".join(parser.format_help().split())
    assert "beam width (default: the model's eval.beam_size)" in text
    assert "longest caption in words (default: 20)" in text


@pytest.mark.parametrize("command", ["caption", "eval", "serve"])
def test_a_missing_model_path_is_not_looked_up_on_the_hub(command: str, tmp_path, capsys: pytest.CaptureFixture) -> None:
    """On the command line a Hub model is written hf:org/name: `runs/best.pt` that does not exist is a missing
    file (exit 1, named), never a Hub request — HF_HUB_OFFLINE is off here, so a lookup would try the network."""
    args = {"caption": ["caption", str(tmp_path / "clip.mp4")],
            "eval": ["eval", "--annotations", str(tmp_path / "a.json"), "--features", str(tmp_path)],
            "serve": ["serve"]}[command]
    missing = "runs/best.pt"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "0")
        mp.chdir(tmp_path)
        code = main([*args, "--model", missing])
    err = capsys.readouterr().err
    assert code == 1 and f"--model {missing}: checkpoint not found" in err and "hf:org/name" in err, err
