"""The COCO caption metrics through pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr (CIDEr-D), SPICE.

Scores equal pycocoevalcap's scorers run directly on the same inputs (tests check every metric), with
these differences in *how* they are computed, none in *what*:

* Java is checked up front (:func:`~vidcap.metrics.java.require_java`): a clear error with the install
  hint instead of a late ``FileNotFoundError``; ``java=False`` skips METEOR and SPICE and needs a Python
  tokenizer, and the result is marked as not comparable to published numbers.
* References and candidates are PTB-tokenised in one Java run, not two.
* METEOR runs in one Java process per 500 ids, up to one per two cores and four
  (:mod:`vidcap.metrics.meteor`): each scores a contiguous shard's statistics and one final evaluation
  over all of them gives the scores of a single process. The processes start first, so their start-up
  overlaps tokenisation, score in threads while BLEU/ROUGE-L/CIDEr are computed, answer the per-group
  aggregates too, and are always closed (no leaked ``java`` process). ``meteor_processes`` sets the
  count; ``meteor`` passes a pool the caller started earlier.
* CIDEr comes from :func:`vidcap.metrics.cider.cider_d` (equal to pycocoevalcap's ``Cider`` to ~1e-15,
  and faster: docs/benchmarks.md, "Metrics").
* SPICE is optional: with ``spice="auto"`` it is skipped, with a one-line reason and without touching the
  network, when the Stanford CoreNLP 3.6.0 jars are not in pycocoevalcap's ``spice/lib``.

``groups`` (e.g. MSR-VTT categories) get each metric computed on the group's ids alone: corpus BLEU and
METEOR's aggregate over the group, the mean of the per-id scores for ROUGE-L, CIDEr (with the document
frequencies of the whole set, as for the overall score) and SPICE.

Example:
    >>> gts = {"v1": ["A man is singing.", "a man sings"], "v2": ["a dog runs", "The dog is running."]}
    >>> res = {"v1": ["a man is singing"], "v2": ["a cat sleeps"]}
    >>> score(gts, res, spice="off")["CIDEr"]        # doctest: +SKIP
    3.0598...
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence, Union

import numpy as np

from vidcap.errors import UsageError
from vidcap.metrics.cider import cider_d
from vidcap.metrics.java import JavaError, ptb_tokenize, pycocoevalcap_dir, require_java
from vidcap.metrics.meteor import MeteorJob, MeteorPool
from vidcap.metrics.meteor import meteor_processes as default_meteor_processes
from vidcap.progress import bar as progress_bar

BLEU = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4")
METRICS = (*BLEU, "METEOR", "ROUGE_L", "CIDEr", "SPICE")
SPICE_MODES = ("auto", "on", "off")
# The CoreNLP jars SPICE needs; pycocoevalcap would download them (~1 GB) on first use.
SPICE_CORENLP = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")

Ids = Sequence[Hashable]
Tokenizer = Union[str, Callable[[str], Union[str, Sequence[str]]]]


@dataclass
class Evaluation:
    """Everything one evaluation produced.

    Attributes:
        overall: metric name (pycocoevalcap's) → score, for the metrics that ran.
        per_id: id → metric name → score.
        groups: group name → metric name → score (see the module docstring for how).
        skipped: metric name → one-line reason it did not run.
        tokenizer: "ptb" (pycocoevalcap's Java PTBTokenizer), "none" (pre-tokenised) or "python".
        comparable: True when the scores follow the published pipeline (PTB tokenizer, METEOR present).
        seconds: wall time per stage.
        statistics: per-id sufficient statistics of the corpus-level metrics, rows in ``per_id`` order, so
            that a corpus score can be recomputed for any subset or resample of the ids without scoring
            again (:mod:`vidcap.metrics.significance`): ``"bleu"`` (N, 10): test length, closest reference
            length (pycocoevalcap's ``closest``), guessed n-grams 1-4, clipped correct n-grams 1-4;
            ``"meteor"`` (N, 23): METEOR 1.5's statistics line per id, as the jar answered it.
        tokenized: id → the candidate caption as it was scored (tokenised, space-separated).
    """

    overall: dict[str, float]
    per_id: dict[Hashable, dict[str, float]]
    groups: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    tokenizer: str = "ptb"
    comparable: bool = True
    seconds: dict[str, float] = field(default_factory=dict)
    statistics: dict[str, np.ndarray] = field(default_factory=dict)
    tokenized: dict[Hashable, str] = field(default_factory=dict)


def spice_unavailable() -> str | None:
    """Why SPICE cannot run here (one line), or ``None`` when its CoreNLP jars are installed.

    Only looks at files, so it answers at once; it never starts a download.

    Example:
        >>> spice_unavailable()   # doctest: +SKIP
        'SPICE skipped: Stanford CoreNLP 3.6.0 jars not in .../pycocoevalcap/spice/lib (...)'
    """
    folder = pycocoevalcap_dir() / "spice"
    if not (folder / "spice-1.0.jar").is_file():
        return f"SPICE skipped: {folder / 'spice-1.0.jar'} is missing (reinstall pycocoevalcap)"
    lib = folder / "lib"
    missing = [name for name in SPICE_CORENLP if not (lib / name).is_file()]
    if not missing:
        return None
    return (f"SPICE skipped: Stanford CoreNLP 3.6.0 jars not in {lib} ({', '.join(missing)}); "
            f"get them with `python -m pycocoevalcap.spice.get_stanford_models` where the internet is reachable")


def preflight(*, java: bool = True, spice: str = "auto", tokenizer: Tokenizer = "ptb") -> dict[str, str]:
    """Check the options (and Java) before any work; returns metric → reason for the ones to skip.

    Cheap (a cached ``java -version`` and a few file checks), so callers can fail fast before loading
    annotations. Raises :class:`UsageError` for impossible requests.

    Example:
        >>> preflight(java=False, tokenizer="none")
        {'METEOR': 'METEOR skipped: Java disabled (--no-java)', 'SPICE': 'SPICE skipped: Java disabled (--no-java)'}
    """
    if spice not in SPICE_MODES:
        raise UsageError(f"spice must be one of {', '.join(SPICE_MODES)}, got {spice!r}")
    if tokenizer == "ptb" and not java:
        raise UsageError("java=False needs a Python tokenizer (tokenizer='none' for pre-tokenised "
                         "captions, or a function such as vidcap.data.tokenize.tokenize)")
    if not java:
        if spice == "on":
            raise UsageError("SPICE requested (--spice on) runs in Java: drop --no-java or use --spice auto/off")
        return {m: f"{m} skipped: Java disabled (--no-java)" for m in ("METEOR", "SPICE")}
    require_java()
    reason = "SPICE skipped: --spice off" if spice == "off" else spice_unavailable()
    if reason and spice == "on":
        raise UsageError(reason.replace("SPICE skipped", "SPICE requested (--spice on)", 1))
    return {"SPICE": reason} if reason else {}


def score(gts: Mapping[Hashable, Sequence[str]], res: Mapping[Hashable, Sequence[str]], *,
          java: bool = True, spice: str = "auto", tokenizer: Tokenizer = "ptb") -> dict[str, float]:
    """Overall scores keyed by pycocoevalcap's metric names; see :func:`evaluate`.

    Example:
        >>> score({"v1": ["a man sings"]}, {"v1": ["a man sings"]}, spice="off")   # doctest: +SKIP
        {'Bleu_1': 0.99..., ..., 'METEOR': 1.0, 'ROUGE_L': 1.0, 'CIDEr': 0.0}
    """
    return evaluate(gts, res, java=java, spice=spice, tokenizer=tokenizer).overall


def evaluate(gts: Mapping[Hashable, Sequence[str]], res: Mapping[Hashable, Sequence[str]], *,
             java: bool = True, spice: str = "auto", tokenizer: Tokenizer = "ptb",
             groups: Mapping[str, Ids] | None = None, meteor_processes: int | None = None,
             meteor: MeteorPool | None = None) -> Evaluation:
    """Score raw captions ``res`` (id → [one caption]) against ``gts`` (id → [references]).

    ``tokenizer``: "ptb" (pycocoevalcap's Java PTBTokenizer, the published pipeline), "none" (captions
    are already tokenised, space-separated) or a function caption → tokens. ``java=False`` skips METEOR
    and SPICE and needs a tokenizer other than "ptb". ``spice``: "auto" runs SPICE when its models are
    installed and otherwise skips it with a reason, "on" requires it, "off" skips it. ``meteor_processes``:
    how many METEOR processes score shards of the ids (None: see the module docstring). ``meteor``: a
    :class:`~vidcap.metrics.meteor.MeteorPool` the caller started earlier (so that Java's start-up
    overlapped its own work) and closes itself; ``meteor_processes`` is then not used.

    Example:
        >>> ev = evaluate({"v1": ["a cat"], "v2": ["a dog"]}, {"v1": ["a cat"], "v2": ["a cow"]},
        ...               spice="off", groups={"pets": ["v1"]})            # doctest: +SKIP
        >>> ev.overall["CIDEr"], ev.per_id["v1"]["ROUGE_L"], ev.groups["pets"]["ROUGE_L"]  # doctest: +SKIP
        (2.5, 1.0, 1.0)
    """
    ids = _check_inputs(gts, res)
    groups = _check_groups(groups, ids)
    skipped = preflight(java=java, spice=spice, tokenizer=tokenizer)

    seconds: dict[str, float] = {}
    processes = default_meteor_processes(len(ids)) if meteor_processes is None else meteor_processes
    if "METEOR" in skipped:
        pool = contextlib.nullcontext()
    elif meteor is not None:
        pool = contextlib.nullcontext(meteor)  # the caller's: it stays open for the caller to close
    else:
        pool = MeteorPool(processes)
    # A bar over the stages (the tokenizer's and METEOR's Java runs take seconds to minutes), on a terminal.
    stages = ["tokenize", "BLEU, ROUGE-L, CIDEr", *(m for m in ("METEOR", "SPICE") if m not in skipped)]
    bar = progress_bar(total=len(stages), desc="score", unit="stage", leave=False)
    step = _stepper(bar, stages)
    with bar:
        with pool as scorer:  # start-up overlaps tokenisation
            clock = time.perf_counter()
            next(step)
            tok_gts, tok_res = _tokenize(gts, res, ids, tokenizer)
            seconds["tokenize"] = time.perf_counter() - clock
            meteor_job = MeteorJob(scorer, tok_gts, tok_res, ids, groups) if scorer is not None else None
            clock = time.perf_counter()
            next(step)
            per_metric, group_scores, statistics = _python_metrics(tok_gts, tok_res, ids, groups)
            seconds["bleu_rouge_cider"] = time.perf_counter() - clock
            if meteor_job is not None:
                next(step)
                clock = time.perf_counter()
                overall, per, by_group = meteor_job.result()
                seconds["meteor_wait"] = time.perf_counter() - clock
                per_metric["METEOR"] = (overall, per)
                statistics["meteor"] = meteor_job.statistics_array()
                for name, value in by_group.items():
                    group_scores[name]["METEOR"] = value
        if "SPICE" not in skipped:
            next(step)
            clock = time.perf_counter()
            outcome = _spice(tok_gts, tok_res, ids, required=spice == "on")
            seconds["spice"] = time.perf_counter() - clock
            if isinstance(outcome, str):
                skipped["SPICE"] = outcome
            else:
                per_metric["SPICE"] = outcome
                for name, members in groups.items():
                    group_scores[name]["SPICE"] = float(np.mean([outcome[1][i] for i in members]))
        next(step, None)

    order = [m for m in METRICS if m in per_metric]
    return Evaluation(
        overall={m: float(per_metric[m][0]) for m in order},
        per_id={vid: {m: float(per_metric[m][1][i]) for m in order} for i, vid in enumerate(ids)},
        groups={name: {m: scores[m] for m in order} for name, scores in group_scores.items()},
        skipped=skipped,
        tokenizer=tokenizer if isinstance(tokenizer, str) else "python",
        comparable=java and tokenizer == "ptb",
        seconds=seconds, statistics=statistics,
        tokenized={vid: tok_res[vid][0] for vid in ids})


def _stepper(bar: Any, stages: Sequence[str]) -> Iterator[None]:
    """Each ``next()`` completes the stage before (if any) and names the next one on the bar."""
    for i, name in enumerate(stages):
        if i:
            bar.update(1)
        bar.set_postfix_str(name)
        yield
    bar.update(1)


def _check_inputs(gts: Mapping[Hashable, Sequence[str]], res: Mapping[Hashable, Sequence[str]]) -> list:
    if not gts:
        raise UsageError("nothing to score: no ids in gts")
    if set(gts) != set(res):
        only_gts = sorted(map(str, set(gts) - set(res)))
        only_res = sorted(map(str, set(res) - set(gts)))
        raise UsageError(f"gts and res need the same ids; only in gts: {only_gts[:5]} ({len(only_gts)}), "
                         f"only in res: {only_res[:5]} ({len(only_res)})")
    bad_res = [vid for vid, c in res.items()
               if isinstance(c, str) or len(c) != 1 or not isinstance(c[0], str)]
    if bad_res:
        raise UsageError(f"res must map each id to a list of exactly one caption string; not for "
                         f"{[str(v) for v in bad_res[:5]]}")
    bad_gts = [vid for vid, refs in gts.items()
               if isinstance(refs, str) or not refs or not all(isinstance(r, str) for r in refs)]
    if bad_gts:
        raise UsageError(f"gts must map each id to a non-empty list of reference strings; not for "
                         f"{[str(v) for v in bad_gts[:5]]}")
    return list(gts)


def _check_groups(groups: Mapping[str, Ids] | None, ids: list) -> dict[str, list[int]]:
    """Group name → positions of its ids in ``ids``."""
    if not groups:
        return {}
    position = {vid: i for i, vid in enumerate(ids)}
    out: dict[str, list[int]] = {}
    for name, members in groups.items():
        unknown = [str(v) for v in members if v not in position]
        if unknown or not members:
            raise UsageError(f"group {name!r} must list scored ids; unknown: {unknown[:5]}")
        out[name] = [position[v] for v in members]
    return out


def _no_tokenizer(caption: str) -> str:
    return caption


_PYTHON_TOKENIZERS: dict[str, Callable[[str], str]] = {"none": _no_tokenizer}


def _tokenize(gts, res, ids, tokenizer: Tokenizer) -> tuple[dict, dict]:
    """Tokenise references and candidates together (one Java start for PTB)."""
    flat = [c for vid in ids for c in gts[vid]] + [res[vid][0] for vid in ids]
    if tokenizer == "ptb":
        tokens = ptb_tokenize(flat)
    else:
        if isinstance(tokenizer, str):
            if tokenizer not in _PYTHON_TOKENIZERS:
                raise UsageError(f"unknown tokenizer {tokenizer!r}; use 'ptb', "
                                 f"{', '.join(map(repr, _PYTHON_TOKENIZERS))} or a function")
            tokenizer = _PYTHON_TOKENIZERS[tokenizer]
        tokens = []
        for caption in flat:
            out = tokenizer(caption)
            tokens.append(" ".join(out.split() if isinstance(out, str) else out))
    tok_gts, at = {}, 0
    for vid in ids:
        tok_gts[vid] = tokens[at:at + len(gts[vid])]
        at += len(gts[vid])
    tok_res = {vid: [tokens[at + i]] for i, vid in enumerate(ids)}
    return tok_gts, tok_res


def _python_metrics(gts, res, ids, groups) -> tuple[dict, dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """BLEU-1..4, ROUGE-L, CIDEr: overall + per id (+ per group), and BLEU's per-id statistics."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer
    from pycocoevalcap.rouge.rouge import Rouge

    # What pycocoevalcap's Bleu.compute_score does, keeping the scorer to re-aggregate groups.
    bleu = BleuScorer(n=4)
    for vid in ids:
        bleu += (res[vid][0], gts[vid])
    bleu_all, bleu_per = bleu.compute_score(option="closest", verbose=0)
    rouge_all, rouge_per = Rouge().compute_score(gts, res)
    cider_all, cider_per = cider_d(gts, res)

    per_metric = {m: (bleu_all[k], bleu_per[k]) for k, m in enumerate(BLEU)}
    per_metric["ROUGE_L"] = (rouge_all, rouge_per)
    per_metric["CIDEr"] = (cider_all, cider_per)
    group_scores: dict[str, dict[str, float]] = {}
    for name, members in groups.items():
        sub = BleuScorer(n=4)
        sub.crefs = [bleu.crefs[i] for i in members]
        sub.ctest = [bleu.ctest[i] for i in members]
        sub_bleu = sub.compute_score(option="closest", verbose=0)[0]
        scores = {m: float(sub_bleu[k]) for k, m in enumerate(BLEU)}
        scores["ROUGE_L"] = float(np.mean(rouge_per[members]))
        scores["CIDEr"] = float(np.mean(cider_per[members]))
        group_scores[name] = scores
    return per_metric, group_scores, {"bleu": bleu_statistics(bleu)}


def bleu_statistics(scorer) -> np.ndarray:
    """(N, 10) per-id statistics of a filled ``BleuScorer(n=4)``: test length, the reference length
    pycocoevalcap's ``compute_score(option="closest")`` picks, guessed n-grams 1-4, correct n-grams 1-4.
    Their column sums are all its corpus BLEU depends on (:func:`bleu_from_statistics`)."""
    rows = []
    for comps in scorer.ctest:
        testlen = comps["testlen"]
        # pycocoevalcap's _single_reflen(option="closest"): the closest length, the shorter one on a tie.
        reflen = min((abs(length - testlen), length) for length in comps["reflen"])[1]
        rows.append([testlen, reflen, *comps["guess"], *comps["correct"]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 10)


def bleu_from_statistics(totals: np.ndarray) -> np.ndarray:
    """Corpus BLEU-1..4 from summed :func:`bleu_statistics` columns, (..., 10) → (..., 4), computed as
    pycocoevalcap's ``BleuScorer.compute_score`` does (same smoothing constants and brevity penalty).

    Example:
        >>> bleu_from_statistics(np.array([4, 4, 4, 3, 2, 1, 4, 3, 2, 1.0])).round(6).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    small, tiny = 1e-9, 1e-15  # pycocoevalcap's: BLEU is 0, not NaN, when nothing was guessed
    totals = np.asarray(totals, dtype=np.float64)
    testlen, reflen = totals[..., 0], totals[..., 1]
    guess, correct = totals[..., 2:6], totals[..., 6:10]
    product = np.cumprod((correct + tiny) / (guess + small), axis=-1)
    bleus = product ** (1.0 / np.arange(1, 5))
    ratio = (testlen + tiny) / (reflen + small)
    with np.errstate(divide="ignore", over="ignore"):
        penalty = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
    return bleus * penalty[..., None]


def _spice(gts, res, ids, *, required: bool) -> tuple[float, list[float]] | str:
    """pycocoevalcap's SPICE; a failure is a one-line reason (or an error when SPICE was required)."""
    import subprocess

    from pycocoevalcap.spice.spice import Spice

    try:
        mean, per = Spice().compute_score(gts, res)
    except (subprocess.CalledProcessError, OSError, ValueError) as err:
        if required:
            raise JavaError(f"SPICE failed: {err}") from None
        return f"SPICE skipped: it failed ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
    # Spice orders its per-id list by sorted id; map it back to ``ids`` order.
    by_id = dict(zip(sorted(ids), per))
    f_scores = [by_id[vid]["All"]["f"] for vid in ids]
    return float(mean), [math.nan if v is None else float(v) for v in f_scores]
