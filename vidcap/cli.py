"""The ``vidcap`` command. Thin: parses arguments and calls the stages' Python API.

Each sub-command is one ``_add_<name>`` function (its arguments) and one ``_run_<name>``
function (the call into the package), collected in ``COMMANDS``. Exit status: 0 success,
1 when some input failed (the message or DIR/failures.json says which), 2 on a usage error.

Example:
    $ vidcap extract --video-dir clips/ --backbone resnet18 --weights none --out feats/
    $ vidcap train configs/sa_lstm_msrvtt.yaml data.features=feats/ out=runs/sa
    $ vidcap caption clip.mp4 --model runs/sa/best.pt
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

from vidcap import __version__
from vidcap.errors import UsageError, VidcapError

log = logging.getLogger("vidcap")


# ----------------------------------------------------------------------------------------- extract
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
    p.add_argument("--start", type=float, help="sample only from this time (seconds)")
    p.add_argument("--end", type=float, help="sample only up to this time (seconds)")
    p.add_argument("--batch-size", type=int,
                   help="frames per forward pass (default: 16 on CPU, 64 on GPU)")
    p.add_argument("--workers", type=int, default=2, help="decoding worker processes")
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    p.add_argument("--shard", help="i/n: extract only the i-th of n interleaved parts (set by torchrun)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backbone option, repeatable, e.g. --option input_size=64 --option stage=layer1 "
                        "(an unknown KEY is an error that lists the backbone's options)")
    p.add_argument("--verify", action="store_true",
                   help="read every stored entry in full (CRC) before resuming, not only its zip directory; "
                        "damaged entries are extracted again either way")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def backbone_option_values(pairs: list[str]) -> dict[str, Any]:
    """``["input_size=64", "second_order=conv1"]`` → ``{"input_size": 64, "second_order": "conv1"}``.

    Values are read as YAML scalars, as config overrides are (numbers, true/false, null, else strings);
    the backbone checks names and ranges.

    Example:
        >>> backbone_option_values(["input_size=64", "stage=layer1", "grid=null"])
        {'input_size': 64, 'stage': 'layer1', 'grid': None}
    """
    from vidcap.engine.config import parse_override

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


def weights_values(values: list[str] | None) -> str | dict[str, str] | None:
    """``--weights`` values: one plain ``WEIGHTS``, or ``BACKBONE=WEIGHTS`` pairs.

    Example:
        >>> weights_values(["r.pth"]), weights_values(["resnet18=r.pth", "yolov8n=y.pt"])
        ('r.pth', {'resnet18': 'r.pth', 'yolov8n': 'y.pt'})
    """
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    pairs = [v.partition("=") for v in values]
    bad = [v for v, (name, sep, weights) in zip(values, pairs) if not (sep and name and weights)]
    if bad:
        raise UsageError(f"--weights {bad[0]!r}: with several --weights, write BACKBONE=WEIGHTS each time")
    return {name: weights for name, _, weights in pairs}


def _run_extract(args: argparse.Namespace) -> int:
    from vidcap.features.extract import collect_sources, extract, parse_shard
    from vidcap.features.sources import missing_summary
    from vidcap.video import Sampling

    sampling = Sampling.from_options(frames=args.frames, fps=args.fps, start=args.start, end=args.end)
    sources = collect_sources(args.videos, video_dir=args.video_dir, annotations=args.annotations,
                              split=args.split)
    report = extract(sources, args.out, backbone=args.backbone, weights=args.weights,
                     sampling=sampling, batch_size=args.batch_size, workers=args.workers,
                     device=args.device, shard=parse_shard(args.shard),
                     progress=not args.no_progress, options=backbone_option_values(args.option),
                     verify=args.verify)
    print(report.summary())
    missing = missing_summary(sources)  # annotated videos without a file, per split (clips gone from YouTube)
    if missing:
        print(missing)
    return 0 if not report.failures else 1


# ------------------------------------------------------------------------------------------- train
def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="YAML config (see configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides, e.g. data.features=feats/ train.epochs=30 out=runs/x")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.epilog = ("Every config key with its type, allowed values, default and meaning: `vidcap config show`\n"
                "(`vidcap config show CONFIG.yaml key=value ...`: the values that config and overrides give).")


def _run_train(args: argparse.Namespace) -> int:
    from vidcap.engine.config import load_config
    from vidcap.engine.train import train

    cfg = load_config(args.config, args.overrides)
    summary = train(cfg, resume=args.resume)
    if summary is not None:  # only rank 0 returns a summary under torchrun
        print(json.dumps(summary, indent=2))
    return 0


# ------------------------------------------------------------------------------------------ config
def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"],
                   help="show: every training config key with its type, allowed values, value, default and "
                        "meaning, as a commented YAML config")
    p.add_argument("items", nargs="*", metavar="CONFIG.yaml|key=value",
                   help="an optional config file first, then dotted overrides (as for `vidcap train`)")


def _run_config(args: argparse.Namespace) -> int:
    from vidcap.engine.config import describe, load_config

    items = list(args.items)
    path = items.pop(0) if items and "=" not in items[0] else None
    print(describe(load_config(path, items)), end="")
    return 0


# ----------------------------------------------------------------------------------------- caption
def _add_caption(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", metavar="VIDEO", type=Path)
    p.add_argument("--model", required=True, type=Path, help="checkpoint written by `vidcap train`")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--device", help="cpu, cuda … (default: cuda when available)")
    p.add_argument("--weights", action="append", metavar="[BACKBONE=]WEIGHTS",
                   help="build a backbone with these weights (e.g. a local file offline) instead of the ones "
                        "its store recorded; they must be the same weights (checked). Repeat as "
                        "BACKBONE=WEIGHTS for a model with several backbones")
    p.add_argument("--json", type=Path, help="write COCO results JSON here")
    p.add_argument("--segment", type=float, metavar="SECONDS",
                   help="caption consecutive windows of this length (for long videos)")
    p.add_argument("--srt", type=Path, help="write per-segment captions as SubRip (one video only)")
    p.add_argument("--vtt", type=Path, help="write per-segment captions as WebVTT (one video only)")
    p.add_argument("--preview", type=Path, metavar="PNG", help="contact sheet of sampled frames + caption")


def _run_caption(args: argparse.Namespace) -> int:
    from vidcap.engine.captioner import Captioner
    from vidcap.outputs import Segment, save_preview, write_results, write_srt, write_vtt

    if (args.srt or args.vtt or args.preview) and len(args.videos) != 1:
        raise UsageError("--srt, --vtt and --preview take exactly one VIDEO")
    captioner = Captioner.from_checkpoint(args.model, device=args.device, weights=weights_values(args.weights))
    results, failed = [], 0
    for path in args.videos:
        try:
            described = captioner.describe(path, beam_size=args.beam_size, segment=args.segment)
        except VidcapError as err:  # one bad file must not stop the others
            print(f"vidcap: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}\t{described.caption}", flush=True)
        results.append({"video_id": path.stem, "caption": described.caption})
        segments = [Segment(*span) for span in described.segments]
        if args.srt:
            write_srt(args.srt, segments)
        if args.vtt:
            write_vtt(args.vtt, segments)
        if args.preview:
            save_preview(args.preview, described.clip.frames, described.clip.timestamps, described.caption)
    if args.json:
        write_results(args.json, results)
    return 1 if failed else 0


# ------------------------------------------------------------------------------------------- score
SCORE_RULES = """\
Rules for results files (COCO results format, [{"video_id": "...", "caption": "..."}]):
  * "image_id" is accepted as a synonym of "video_id" (not both in one entry); an integer id is read
    as its decimal string; other keys (e.g. "score") are ignored.
  * Every video of the chosen split must have a caption: missing videos are an error that lists them
    (--allow-missing scores the videos present, and the report says how many of the split were scored).
  * Ids that are not in the split are an error that lists them (and says which split they belong to).
  * A video with two or more entries is an error that lists the duplicates.
  * An empty or blank caption is scored as an empty sentence (0 for that video on BLEU, METEOR,
    ROUGE-L and CIDEr; it also counts towards corpus BLEU's brevity penalty) and is counted in the
    report.
  * Invalid JSON, a top level that is not a list, entries that are not objects, a missing id or caption,
    and ids or captions that are not strings are errors that name the file and the entries.
Scores: pycocoevalcap's Bleu_1..4, METEOR, ROUGE_L, CIDEr (CIDEr-D) and SPICE on PTB-tokenised captions;
the table prints them x100, --json writes them unscaled with per-video and per-category scores.
Java is required (PTB tokenizer, METEOR); --no-java skips METEOR and SPICE and tokenises in Python,
and the output marks such scores as NOT comparable to published numbers. SPICE needs the Stanford
CoreNLP 3.6.0 jars in pycocoevalcap/spice/lib; --spice auto skips it with a one-line note when absent.
Exit status: 0 scored, 1 bad input file (the message names the entries), 2 usage error (e.g. no Java).
"""


def _add_score(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", required=True, type=Path, help="COCO results JSON")
    p.add_argument("--annotations", required=True, type=Path, action="append",
                   help="MSR-VTT-schema annotations (repeatable, e.g. train_val and test files)")
    p.add_argument("--split", default="test", help="split to score (default: test)")
    p.add_argument("--json", type=Path, help="write overall, per-video and per-category scores here")
    p.add_argument("--allow-missing", action="store_true", help="score the videos present only")
    p.add_argument("--no-java", action="store_true",
                   help="skip METEOR and SPICE and tokenise in Python: NOT comparable to published numbers")
    p.add_argument("--spice", choices=["auto", "on", "off"], default="auto",
                   help="auto: run SPICE when its CoreNLP models are installed, else skip it with a note; "
                        "on: require it; off: skip it")


def _run_score(args: argparse.Namespace) -> int:
    from vidcap.metrics.scoring import score_results_file

    report = score_results_file(args.results, args.annotations, split=args.split,
                                allow_missing=args.allow_missing, java=not args.no_java,
                                spice=args.spice)
    print(report.table())
    if args.json:
        report.write_json(args.json)
    return 0


# -------------------------------------------------------------------------------------------- eval
def _add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, type=Path, help="checkpoint written by `vidcap train`")
    p.add_argument("--annotations", required=True, type=Path, action="append")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", type=Path, help="feature store made with the checkpoint's backbone")
    src.add_argument("--video-dir", type=Path, help="videos named <video_id>.<ext>")
    p.add_argument("--split", default="test")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--device")
    p.add_argument("--results", type=Path, help="also write the generated captions here (COCO results)")
    p.add_argument("--json", type=Path, help="write overall, per-video and per-category scores here")
    p.add_argument("--allow-missing", action="store_true",
                   help="skip videos without features (or file), e.g. clips gone from YouTube; the report says "
                        "how many of the split were scored")
    p.add_argument("--no-java", action="store_true",
                   help="skip METEOR and SPICE and tokenise in Python: NOT comparable to published numbers")
    p.add_argument("--spice", choices=["auto", "on", "off"], default="auto")


def _run_eval(args: argparse.Namespace) -> int:
    from vidcap.engine.captioner import Captioner
    from vidcap.metrics.scoring import score_results
    from vidcap.outputs import write_results

    captioner = Captioner.from_checkpoint(args.model, device=args.device)
    results = captioner.caption_split(args.annotations, split=args.split, features=args.features,
                                      video_dir=args.video_dir, beam_size=args.beam_size,
                                      allow_missing=args.allow_missing)
    if args.results:
        write_results(args.results, results)
    report = score_results(results, args.annotations, split=args.split, java=not args.no_java,
                           spice=args.spice, source=str(args.model), allow_missing=args.allow_missing)
    print(report.table())
    if args.json:
        report.write_json(args.json)
    return 0


# -------------------------------------------------------------------------------------------- demo
def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("vidcap-demo"), help="where everything is written")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (used by the tests)")
    p.add_argument("--no-java", action="store_true", help="skip METEOR/SPICE (no Java needed)")


def _run_demo(args: argparse.Namespace) -> int:
    from vidcap.demo import run_demo

    run_demo(args.out, quick=args.quick, java=not args.no_java)
    return 0


# ----------------------------------------------------------------------------------------- convert
def _add_convert(p: argparse.ArgumentParser) -> None:
    from vidcap.data.convert import add_convert_arguments  # one sub-command per registered dataset

    add_convert_arguments(p)


def _run_convert(args: argparse.Namespace) -> int:
    from vidcap.data.convert import convert_from_args

    conversion = convert_from_args(args)
    print(f"wrote {args.out}")
    print(conversion.report(verbose=args.list_left_out))
    return 0


# -------------------------------------------------------------------------------------------- list
def _add_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["backbones", "models"])


def _run_list(args: argparse.Namespace) -> int:
    if args.what == "backbones":
        from vidcap.features import list_backbones as names
    else:
        from vidcap.models import list_models as names
    print("\n".join(names()))
    return 0


Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: list[Command] = [
    ("extract", "decode videos and write a frame-feature store", _add_extract, _run_extract),
    ("train", "train a captioning model from a YAML config", _add_train, _run_train),
    ("config", "show every training config key with its type, default and meaning", _add_config, _run_config),
    ("caption", "caption video files with a trained checkpoint", _add_caption, _run_caption),
    ("score", "score a COCO results file against annotations", _add_score, _run_score),
    ("eval", "caption a split with a checkpoint, then score it", _add_eval, _run_eval),
    ("demo", "offline end-to-end run on synthetic clips", _add_demo, _run_demo),
    ("convert", "convert another dataset's annotations (MSVD, VATEX) to the annotation schema",
     _add_convert, _run_convert),
    ("list", "list registered backbones or models", _add_list, _run_list),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcap", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Caption videos with ResNet/YOLO frame features and LSTM/GRU decoders, and score captions "
                    "with the COCO caption metrics.",
        epilog="examples:\n" + "\n".join("  " + line.strip()[2:] for line in __doc__.splitlines() if line.strip().startswith("$ "))
        + "\n\n`vidcap COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"vidcap {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, add_arguments, run in COMMANDS:
        epilog = SCORE_RULES if name == "score" else None
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.run(args)
    except VidcapError as err:
        print(f"vidcap {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("vidcap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
