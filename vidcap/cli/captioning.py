"""`vidcap caption`, `vidcap eval` and `vidcap score`: captions of videos, and their scores."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vidcap.cli.base import BEAM_SIZE_HELP, Command, model_source, require_model
from vidcap.errors import UsageError, VidcapError


def _add_caption(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", metavar="VIDEO", type=Path, help="video files to caption")
    p.add_argument("--model", type=Path,
                   help="checkpoint written by `vidcap train`, model folder (`vidcap export`) or hf:org/name[@revision]")
    p.add_argument("--beam-size", type=int, help=BEAM_SIZE_HELP)
    p.add_argument("--device", help="cpu, cuda … (default: cuda when available)")
    p.add_argument("--weights", action="append", metavar="[BACKBONE=]WEIGHTS",
                   help="the weights file (or release name) to build a backbone with: a model only names its "
                        "weights' identity, never a file; the file must have that identity (its SHA-256 is "
                        "checked before it is loaded; docs/security.md). Repeat as BACKBONE=WEIGHTS for a "
                        "model with several backbones")
    p.add_argument("--json", type=Path, help="write COCO results JSON here; a video's id is its file name without "
                                              "the extension, so the VIDEOs' names must differ")
    p.add_argument("--segment", metavar="SECONDS|scenes",
                   help="caption consecutive windows of this length (for long videos), or each shot: 'scenes' "
                        "splits at shot boundaries (PySceneDetect)")
    p.add_argument("--min-segment", type=float, metavar="SECONDS",
                   help="with --segment scenes: a shorter shot joins the next one (default 2)")
    p.add_argument("--max-segment", type=float, metavar="SECONDS",
                   help="with --segment scenes: a longer shot is cut into equal parts (default 30)")
    add_output_arguments(p)
    p.add_argument("--srt", type=Path, help="write per-segment captions as SubRip (one video only)")
    p.add_argument("--vtt", type=Path, help="write per-segment captions as WebVTT (one video only)")
    p.add_argument("--preview", type=Path, metavar="PNG", help="contact sheet of sampled frames + caption "
                                                                "(one video only)")
    p.add_argument("--attention", action="store_true",
                   help="on the preview (--preview, or png in --output-format): add a strip showing which frames "
                        "each word attended to (models whose decoder attends over the frames; another model is "
                        "refused with the list of those that do)")


def segment_option(value: str | None, min_seconds: float | None = None,
                   max_seconds: float | None = None) -> float | object | None:
    """``--segment``'s value: a number of seconds (fixed windows) or a segmenter name with its lengths.

    Example:
        >>> segment_option("12.5"), segment_option("scenes", 1.0, 20.0)
        (12.5, SceneCuts(min_seconds=1.0, max_seconds=20.0, threshold=27.0))
    """
    from vidcap.video.scenes import SEGMENTERS

    lengths = {k: v for k, v in (("min_seconds", min_seconds), ("max_seconds", max_seconds)) if v is not None}
    if value in SEGMENTERS:
        return SEGMENTERS[value](**lengths)
    if lengths:
        raise UsageError(f"--min-segment and --max-segment go with --segment {' or '.join(SEGMENTERS)}")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise UsageError(f"--segment {value!r}: give a positive number of seconds or one of: {', '.join(SEGMENTERS)}")
    return seconds


def check_video_ids(paths: list[Path], flag: str = "--json") -> None:
    """UsageError naming both paths when two videos would get one id in the results file (an id is the
    file name without its extension, as in a video folder), before any video is captioned.

    Example:
        >>> check_video_ids([Path("a/x.mp4"), Path("b/x.mkv")])
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: --json: a/x.mp4 and b/x.mkv would both be video id 'x' in the results ...
    """
    seen: dict[str, Path] = {}
    for path in paths:
        first = seen.setdefault(path.stem, path)
        if first is not path:
            raise UsageError(f"{flag}: {first} and {path} would both be video id {path.stem!r} in the results "
                             "(an id is the file name without its extension); rename one, or caption them "
                             "in separate runs")


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


def _run_caption(args: argparse.Namespace) -> int:
    from vidcap import progress
    from vidcap.inference.captioner import Captioner
    from vidcap.outputs import Segment, save_preview, write_results, write_srt, write_vtt

    require_model(args.model)
    if (args.srt or args.vtt or args.preview) and len(args.videos) != 1:
        raise UsageError("--srt, --vtt and --preview take exactly one VIDEO; for several, use "
                         "--output-dir DIR [--output-format srt,vtt,json,png|all] (one file per video and format)")
    if args.json:
        check_video_ids(args.videos)
    formats = output_request(args)
    if args.attention and not (args.preview or "png" in formats):
        raise UsageError("--attention draws on the preview sheet: give --preview PNG too (or --output-dir DIR with "
                         "png in --output-format)")
    segment = segment_option(args.segment, args.min_segment, args.max_segment)
    captioner = Captioner.from_pretrained(model_source(args.model), device=args.device,
                                          weights=weights_values(args.weights))
    if args.attention:
        from vidcap.inference.attention import require_frame_attention

        require_frame_attention(captioner.model, "--attention: ")
    results, failed = [], []
    bar = progress.bar(total=len(args.videos), desc="caption", unit="video")
    for path in args.videos:
        try:
            described = captioner.describe(path, beam_size=args.beam_size, segment=segment,
                                           attention=args.attention,
                                           progress=lambda fraction, message: bar.set_postfix_str(message))
        except VidcapError as err:  # one bad file must not stop the others
            failed.append((str(path), getattr(err, "reason", None) or str(err)))  # VideoError: path named once
            bar.update(1)
            continue
        bar.update(1)
        progress.say(f"{path}\t{described.caption}")
        results.append({"video_id": path.stem, "caption": described.caption})
        segments = [Segment(*span) for span in described.segments]
        if formats:
            write_video_outputs(args.output_dir, path, described, segments, formats)
        if args.srt:
            write_srt(args.srt, segments)
        if args.vtt:
            write_vtt(args.vtt, segments)
        if args.preview:
            save_preview(args.preview, described.clip.frames, described.clip.timestamps, described.caption,
                         attention=described.attention)
    bar.close()
    if args.json:
        write_results(args.json, results)
    block = progress.problems_block(f"of {len(args.videos)} videos could not be captioned", failed)
    if block:
        print(block, file=sys.stderr)
    return 1 if failed else 0


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """``--output-dir`` and ``--output-format``: one file per video and format (vidcap.outputs.formats)."""
    p.add_argument("--output-dir", type=Path, metavar="DIR",
                   help="write one file per video and format here, named after the video (clip.mp4 → "
                        "DIR/clip.srt, DIR/clip.json …); the VIDEOs' names must differ")
    p.add_argument("--output-format", default="all", metavar="srt,vtt,json,png|all",
                   help="with --output-dir: comma-separated formats, or all. json holds the caption and every "
                        "segment with its start and end in seconds; png is the preview sheet")


def output_request(args: argparse.Namespace) -> list[str]:
    """The formats ``--output-dir`` asks for (none without it), checked before any video is captioned."""
    from vidcap.outputs.formats import output_formats

    if args.output_dir is None:
        if args.output_format != "all":
            raise UsageError("--output-format goes with --output-dir DIR (where the files are written)")
        return []
    formats = output_formats(args.output_format)
    check_video_ids(args.videos, "--output-dir")
    return formats


def write_video_outputs(out_dir: Path, path: Path, described: Any, segments: list, formats: list[str]) -> None:
    """Write one captioned video's files (``DIR/<stem>.<format>``) from what ``Captioner.describe`` returned."""
    from vidcap.outputs.formats import VideoCaptions, write_outputs

    clip = described.clip
    write_outputs(out_dir, VideoCaptions(path, described.caption, segments, clip.info.duration, clip.frames,
                                         clip.timestamps, described.attention), formats)


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
Under the table (and in --json "diversity"): distinct words, distinct captions, captions not found among
the training captions, distinct uni-/bigrams over all (div1/div2), mean length; --report DIR writes a
static HTML page of where the captions fail (`vidcap compare` tests a difference between two files).
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
    p.add_argument("--report", type=Path, metavar="DIR", help=REPORT_HELP)
    p.add_argument("--allow-missing", action="store_true", help="score the videos present only")
    p.add_argument("--no-java", action="store_true",
                   help="skip METEOR and SPICE and tokenise in Python: NOT comparable to published numbers")
    p.add_argument("--spice", choices=["auto", "on", "off"], default="auto",
                   help="auto: run SPICE when its CoreNLP models are installed, else skip it with a note; "
                        "on: require it; off: skip it")


def _run_score(args: argparse.Namespace) -> int:
    from vidcap.metrics.scoring import load_results, score_results_file

    report = score_results_file(args.results, args.annotations, split=args.split,
                                allow_missing=args.allow_missing, java=not args.no_java,
                                spice=args.spice)
    print(report.table())
    if args.json:
        report.write_json(args.json)
    _write_report(args.report, report, lambda: load_results(args.results))
    return 0


REPORT_HELP = ("write a static HTML report here (index.html + cider.png): scores, per-category scores, the "
               "per-video CIDEr histogram, best and worst videos, over-used phrases")


def _write_report(folder: Path | None, report, results) -> None:
    """``--report DIR`` of score and eval (``results``: the entries, or a function that reads them)."""
    if folder is None:
        return
    from vidcap.outputs.report import write_report

    page = write_report(folder, report, results() if callable(results) else results)
    print(f"report: {page}")


def _add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path,
                   help="checkpoint written by `vidcap train`, model folder (`vidcap export`) or hf:org/name[@revision]")
    p.add_argument("--annotations", required=True, type=Path, action="append",
                   help="MSR-VTT-schema annotations (repeatable, e.g. train_val and test files)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", type=Path, help="feature store made with the checkpoint's backbone")
    src.add_argument("--video-dir", type=Path, help="videos named <video_id>.<ext>")
    p.add_argument("--split", default="test", help="split to caption and score")
    p.add_argument("--beam-size", type=int, help=BEAM_SIZE_HELP)
    p.add_argument("--device", help="cpu, cuda … (default: cuda when available)")
    p.add_argument("--results", type=Path, help="also write the generated captions here (COCO results)")
    p.add_argument("--json", type=Path, help="write overall, per-video and per-category scores here")
    p.add_argument("--report", type=Path, metavar="DIR", help=REPORT_HELP)
    p.add_argument("--allow-missing", action="store_true",
                   help="skip videos without features (or file), e.g. clips gone from YouTube; the report says "
                        "how many of the split were scored")
    p.add_argument("--no-java", action="store_true",
                   help="skip METEOR and SPICE and tokenise in Python: NOT comparable to published numbers")
    p.add_argument("--spice", choices=["auto", "on", "off"], default="auto",
                   help="auto: run SPICE when its CoreNLP models are installed, else skip it with a note; "
                        "on: require it; off: skip it")


def _run_eval(args: argparse.Namespace) -> int:
    from vidcap.inference.captioner import Captioner
    from vidcap.metrics.scoring import score_results
    from vidcap.outputs import write_results

    require_model(args.model)
    captioner = Captioner.from_pretrained(model_source(args.model), device=args.device)
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
    _write_report(args.report, report, results)
    return 0


COMMANDS: list[Command] = [
    Command("caption", "caption video files with a trained checkpoint", _add_caption, _run_caption),
    Command("score", "score a COCO results file against annotations", _add_score, _run_score, epilog=SCORE_RULES),
    Command("eval", "caption a split with a checkpoint, then score it", _add_eval, _run_eval),
]
