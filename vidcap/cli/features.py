"""`vidcap extract` and `vidcap list`: feature stores and what is registered."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vidcap.cli.base import Command
from vidcap.errors import UsageError


def _add_extract(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("videos", nargs="*", default=[], metavar="VIDEO", help="video files to extract")
    src.add_argument("--video-dir", type=Path, help="folder of videos, each named <video_id>.<ext>")
    p.add_argument("--annotations", type=Path, action="append",
                   help="take the video ids from this MSR-VTT-schema file (with --video-dir; repeatable)")
    p.add_argument("--split", help="with --annotations: only this split (train, validate, test)")
    p.add_argument("--backbone", required=True, help="backbone name, see `vidcap list backbones`")
    p.add_argument("--weights",
                   help="default: the backbone's usual pretrained weights (ResNet: imagenet = torchvision's "
                        "DEFAULT release; YOLO: coco). Also a release name (ResNet: IMAGENET1K_V1, the "
                        "papers' weights), 'none' for seeded random weights, or a file path")
    p.add_argument("--out", type=Path, required=True, help="feature store folder (created or resumed)")
    samp = p.add_mutually_exclusive_group()
    samp.add_argument("--frames", type=int, help="frames sampled uniformly per video (default 28)")
    samp.add_argument("--fps", type=float, help="sample at this many frames per second instead")
    p.add_argument("--stride", type=int,
                   help="take every STRIDE-th frame instead (with --frames: that many spread over them; "
                        "hobincar/SA-LSTM's features: --stride 5 --margin 8 --window 60 --frames 28)")
    p.add_argument("--margin", type=int, help="with --stride: start MARGIN frames in and stop MARGIN before the end")
    p.add_argument("--window", type=int, help="with --stride: keep only the first WINDOW strided frames")
    p.add_argument("--start", type=float, help="sample only from this time (seconds)")
    p.add_argument("--end", type=float, help="sample only up to this time (seconds)")
    p.add_argument("--batch-size", type=int,
                   help="frames per forward pass (default: 16 on CPU, 64 on GPU)")
    p.add_argument("--workers", type=int, default=2, help="decoding worker processes")
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    p.add_argument("--shard", help="i/n: extract only the i-th of n interleaved parts (set by torchrun)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backbone option, repeatable, e.g. --option input_size=64 --option stage=layer1; "
                        "`vidcap list backbones --options NAME` lists a backbone's options with type, default "
                        "and meaning")
    p.add_argument("--verify", action="store_true",
                   help="read every stored entry in full (CRC) before resuming, not only its zip directory; "
                        "damaged entries are extracted again either way")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (as vidcap --quiet)")


def backbone_option_values(pairs: list[str]) -> dict[str, Any]:
    """``["input_size=64", "second_order=conv1"]`` → ``{"input_size": 64, "second_order": "conv1"}``.

    Values are read as YAML scalars, as config overrides are (numbers, true/false, null, else strings);
    the backbone checks names and ranges.

    Example:
        >>> backbone_option_values(["input_size=64", "stage=layer1", "grid=null"])
        {'input_size': 64, 'stage': 'layer1', 'grid': None}
    """
    from vidcap.config.loading import parse_override

    options: dict[str, Any] = {}
    for pair in pairs:
        try:
            parsed = parse_override(pair)
        except UsageError:
            raise UsageError(f"--option {pair!r}: write KEY=VALUE, e.g. --option input_size=64") from None
        (key, value), = parsed.items()
        if isinstance(value, (list, dict)):
            raise UsageError(f"--option {pair!r}: a backbone option is one name (no dots) with one value")
        options[key] = value
    return options


def _run_extract(args: argparse.Namespace) -> int:
    from vidcap.features.extract import collect_sources, extract, parse_shard
    from vidcap.features.sources import missing_summary
    from vidcap.video import Sampling

    sampling = Sampling.from_options(frames=args.frames, fps=args.fps, start=args.start, end=args.end,
                                     stride=args.stride, margin=args.margin, window=args.window)
    sources = collect_sources(args.videos, video_dir=args.video_dir, annotations=args.annotations,
                              split=args.split)
    report = extract(sources, args.out, backbone=args.backbone, weights=args.weights,
                     sampling=sampling, batch_size=args.batch_size, workers=args.workers,
                     device=args.device, shard=parse_shard(args.shard),
                     progress=False if args.no_progress else None, options=backbone_option_values(args.option),
                     verify=args.verify)
    print(report.summary())
    problems = report.problems()
    if problems:
        print(problems)
    missing = missing_summary(sources)  # annotated videos without a file, per split (clips gone from YouTube)
    if missing:
        print(missing)
    return 0 if not report.failures else 1


def _add_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["backbones", "models"], help="which registry to list")
    p.add_argument("--options", metavar="BACKBONE",
                   help="with backbones: every option of this backbone (for `vidcap extract --option KEY=VALUE`) "
                        "with its type, default and meaning")


def option_table(name: str) -> str:
    """``vidcap list backbones --options NAME``: each option of a backbone with type, default and meaning.

    Example:
        >>> print(option_table("resnet18").splitlines()[1])
          grid (int | None; default: unset)
    """
    import textwrap

    from vidcap.features import describe_options

    lines = [f"{name} options (give each to `vidcap extract` as --option KEY=VALUE):"]
    for opt in describe_options(name):
        default = "unset" if opt.default is None else opt.default
        lines.append(f"  {opt.name} ({opt.type}; default: {default})")
        lines += textwrap.wrap(opt.help or "(not described)", width=96, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)
    return "\n".join(lines)


def _run_list(args: argparse.Namespace) -> int:
    if args.options is not None:
        if args.what != "backbones":
            raise UsageError("--options describes a backbone's options: `vidcap list backbones --options NAME`")
        print(option_table(args.options))
        return 0
    if args.what == "backbones":
        from vidcap.features import list_backbones as names
    else:
        from vidcap.models import list_models as names
    if args.what == "backbones":  # clip backbones add their window length and feature size
        from vidcap.features.backbone import backbone_summary
        print("\n".join(f"{n}\t{backbone_summary(n)}".rstrip() for n in names()))
    else:
        print("\n".join(names()))
    return 0


COMMANDS: list[Command] = [
    Command("extract", "decode videos and write a frame-feature store", _add_extract, _run_extract),
    Command("list", "list registered backbones or models", _add_list, _run_list),
]
