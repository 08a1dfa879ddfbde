"""Is system B better than system A on these videos, or is the difference noise?

Per metric, on the same videos: A, B, the difference B − A, its confidence interval by a **paired
bootstrap over videos**, and a p-value by **paired approximate randomization**.

Both re-aggregate the corpus score the way the scorer does, from per-video sufficient statistics kept by
:func:`vidcap.metrics.coco.evaluate` (``Evaluation.statistics``), so nothing is scored again:

* BLEU-1..4 from the summed test/reference lengths and guessed/correct n-gram counts (pycocoevalcap's
  ``BleuScorer``: corpus brevity penalty, its smoothing constants);
* METEOR from the summed METEOR 1.5 statistics, scored with the jar's formula
  (:func:`vidcap.metrics.meteor.meteor_from_statistics`, equal to the jar's own aggregate);
* ROUGE-L, CIDEr-D (document frequencies of the whole reference set, as scored) and SPICE as means of
  per-video scores.

Every one of these is a function of column sums of an (N videos, K) matrix, so a resample is a row of
counts (how often each video was drawn) and R resamples are one (R, N) @ (N, K) product. The bootstrap
draws R resamples of N videos with replacement, the same videos for A and B (paired); the interval is the
percentile interval of B − A. The randomization test swaps A's and B's caption of each video with
probability 1/2, R times; the p-value is (1 + the number of shuffles whose |B − A| is at least the observed
one) / (R + 1), two-sided.

Example:
    >>> cmp = compare_results_files("a.json", "b.json", ["test_videodatainfo.json"])   # doctest: +SKIP
    >>> print(cmp.table())                                                             # doctest: +SKIP
    >>> cmp.to_dict()["metrics"]["CIDEr"]["ci_low"] > 0                                # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Hashable, Sequence

import numpy as np

from vidcap.errors import UsageError
from vidcap.metrics.coco import BLEU, METRICS, Evaluation, bleu_from_statistics
from vidcap.metrics.meteor import meteor_from_statistics, summable_statistics

__all__ = ["Comparison", "Sufficient", "compare", "compare_results_files", "resample_counts"]

MEAN_METRICS = ("ROUGE_L", "CIDEr", "SPICE")
# Resamples per (R, N) block: bounds the memory of the count matrices (8 bytes each) for large test sets.
BLOCK_CELLS = 4_000_000


@dataclass
class Sufficient:
    """One system's per-video statistics as an (N, K) matrix whose column sums give every corpus score.

    ``layout`` maps a family ("bleu", "meteor", or a mean metric) to its columns; a mean metric has two:
    the per-video score (NaN as 0) and 1 where the score is defined (SPICE can be undefined).

    Example:
        >>> ev = Evaluation(overall={"CIDEr": 1.5}, per_id={"v1": {"CIDEr": 1.0}, "v2": {"CIDEr": 2.0}})
        >>> s = Sufficient.from_evaluation(ev)
        >>> s.scores(s.matrix.sum(0))["CIDEr"]
        1.5
    """

    ids: list[Hashable]
    matrix: np.ndarray
    layout: dict[str, slice]

    @classmethod
    def from_evaluation(cls, ev: Evaluation, ids: Sequence[Hashable] | None = None) -> "Sufficient":
        """The statistics of ``ev`` with rows in ``ids`` order (default: ``ev.per_id``'s)."""
        ids = list(ev.per_id) if ids is None else list(ids)
        order = {vid: i for i, vid in enumerate(ev.per_id)}
        rows = np.array([order[vid] for vid in ids], dtype=np.int64)
        blocks, layout, at = [], {}, 0

        def add(name: str, block: np.ndarray) -> None:
            nonlocal at
            blocks.append(block)
            layout[name] = slice(at, at + block.shape[1])
            at += block.shape[1]

        if "Bleu_1" in ev.overall:
            if "bleu" not in ev.statistics:
                raise UsageError("the evaluation has BLEU scores but no BLEU statistics (scored by an older vidcap?)")
            add("bleu", ev.statistics["bleu"][rows])
        if "METEOR" in ev.overall:
            if "meteor" not in ev.statistics:
                raise UsageError("the evaluation has METEOR scores but no METEOR statistics")
            add("meteor", summable_statistics(ev.statistics["meteor"][rows]))
        for metric in MEAN_METRICS:
            if metric in ev.overall:
                values = np.array([ev.per_id[vid][metric] for vid in ids], dtype=np.float64)
                defined = ~np.isnan(values)
                add(metric, np.stack([np.where(defined, values, 0.0), defined.astype(np.float64)], axis=1))
        matrix = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(ids), 0))
        return cls(ids, matrix, layout)

    @property
    def metrics(self) -> list[str]:
        """The metrics these statistics score, in pycocoevalcap's order."""
        have = [*(BLEU if "bleu" in self.layout else ()), *(("METEOR",) if "meteor" in self.layout else ()),
                *(m for m in MEAN_METRICS if m in self.layout)]
        return [m for m in METRICS if m in have]

    def scores(self, totals: np.ndarray) -> dict[str, Any]:
        """Corpus scores from column sums ``totals`` (..., K): metric → array (...) (a float for (K,))."""
        totals = np.asarray(totals, dtype=np.float64)
        out: dict[str, Any] = {}
        if "bleu" in self.layout:
            bleu = bleu_from_statistics(totals[..., self.layout["bleu"]])
            out.update({m: bleu[..., k] for k, m in enumerate(BLEU)})
        if "meteor" in self.layout:
            out["METEOR"] = meteor_from_statistics(totals[..., self.layout["meteor"]])
        for metric in MEAN_METRICS:
            if metric in self.layout:
                cols = totals[..., self.layout[metric]]
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[metric] = cols[..., 0] / cols[..., 1]
        if totals.ndim == 1:
            out = {m: float(v) for m, v in out.items()}
        return {m: out[m] for m in self.metrics}


def resample_counts(rng: np.random.Generator, resamples: int, n: int) -> np.ndarray:
    """(resamples, n): how often each of ``n`` videos is drawn in each bootstrap resample of size ``n``.

    Example:
        >>> counts = resample_counts(np.random.default_rng(0), 3, 5)
        >>> counts.shape, counts.sum(axis=1).tolist()
        ((3, 5), [5.0, 5.0, 5.0])
    """
    draws = rng.integers(0, n, size=(resamples, n))
    flat = draws + (np.arange(resamples) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def _blocks(total: int, n: int) -> list[int]:
    size = max(1, BLOCK_CELLS // max(n, 1))
    return [min(size, total - start) for start in range(0, total, size)]


@dataclass
class Comparison:
    """The result of :func:`compare`: per metric a, b, delta, ci_low, ci_high, p_value (unscaled)."""

    metrics: dict[str, dict[str, float]]
    videos: int
    resamples: int
    seed: int
    confidence: float = 0.95
    names: tuple[str, str] = ("A", "B")
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: ``{"metrics": {metric: {a, b, delta, ci_low, ci_high, p_value}}, "videos",
        "resamples", "seed"}``."""
        return {"metrics": self.metrics, "videos": self.videos, "resamples": self.resamples, "seed": self.seed}

    def table(self) -> str:
        """Scores ×100 as papers print them, the interval of B − A, the p-value; ``*`` marks p < 0.05.

        Example:
            >>> print(Comparison({"CIDEr": {"a": 0.4, "b": 0.45, "delta": 0.05, "ci_low": 0.02, "ci_high": 0.08,
            ...                             "p_value": 0.003}}, videos=100, resamples=1000, seed=0).table())
            A: A
            B: B
            100 videos, 1000 resamples, seed 0
            metric          A       B     B-A         95% CI         p
            CIDEr       40.00   45.00   +5.00  [ +2.00,  +8.00]  0.003 *
            * p < 0.05: paired approximate randomization (A/B swapped per video); CI: paired bootstrap over videos
        """
        level = f"{100 * self.confidence:g}% CI"
        lines = [f"A: {self.names[0]}", f"B: {self.names[1]}",
                 f"{self.videos} videos, {self.resamples} resamples, seed {self.seed}",
                 f"{'metric':<10} {'A':>6} {'B':>7} {'B-A':>7} {level:>14} {'p':>9}"]
        for metric, row in self.metrics.items():
            mark = " *" if row["p_value"] < 0.05 else ""
            lines.append(f"{metric:<10} {100 * row['a']:>6.2f} {100 * row['b']:>7.2f} {100 * row['delta']:>+7.2f}  "
                         f"[{100 * row['ci_low']:>+6.2f}, {100 * row['ci_high']:>+6.2f}]  {row['p_value']:>5.3f}{mark}")
        lines.append("* p < 0.05: paired approximate randomization (A/B swapped per video); "
                     "CI: paired bootstrap over videos")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def compare(a: Evaluation, b: Evaluation, *, resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
            names: tuple[str, str] = ("A", "B")) -> Comparison:
    """Paired bootstrap interval and approximate randomization p-value of B − A, per metric both scored.

    ``a`` and ``b`` must have scored the same ids (in any order) against the same references.

    Example:
        >>> ev = Evaluation(overall={"CIDEr": 1.5}, per_id={"v1": {"CIDEr": 1.0}, "v2": {"CIDEr": 2.0}})
        >>> row = compare(ev, ev, resamples=200).metrics["CIDEr"]
        >>> row["delta"], row["ci_low"], row["ci_high"], row["p_value"]
        (0.0, 0.0, 0.0, 1.0)
    """
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise UsageError(f"--resamples must be a positive integer, got {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"--seed must be an integer, got {seed!r}")
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, got {confidence!r}")
    if set(a.per_id) != set(b.per_id):
        only_a = sorted(map(str, set(a.per_id) - set(b.per_id)))
        only_b = sorted(map(str, set(b.per_id) - set(a.per_id)))
        raise UsageError(f"{names[0]} and {names[1]} must be scored on the same videos; only in {names[0]}: "
                         f"{only_a[:5]} ({len(only_a)}), only in {names[1]}: {only_b[:5]} ({len(only_b)})")
    ids = list(a.per_id)
    if not ids:
        raise UsageError("nothing to compare: no videos")
    sa, sb = Sufficient.from_evaluation(a, ids), Sufficient.from_evaluation(b, ids)
    notes = []
    if sa.layout.keys() != sb.layout.keys():
        only = sorted(set(sa.metrics) ^ set(sb.metrics))
        notes.append(f"{', '.join(only)} scored for one system only: not compared")
        keep = [name for name in sa.layout if name in sb.layout]
        sa, sb = (_subset(s, keep) for s in (sa, sb))
    metrics = sa.metrics
    n = len(ids)
    rng = np.random.default_rng(seed)

    # Bootstrap: the same resampled videos for A and B.
    deltas = {m: [] for m in metrics}
    for size in _blocks(resamples, n):
        counts = resample_counts(rng, size, n)
        score_a, score_b = sa.scores(counts @ sa.matrix), sb.scores(counts @ sb.matrix)
        for m in metrics:
            deltas[m].append(score_b[m] - score_a[m])

    # Approximate randomization: swapping video i moves D[i] = B[i] - A[i] from B's sums to A's.
    total_a, total_b = sa.matrix.sum(0), sb.matrix.sum(0)
    observed_a, observed_b = sa.scores(total_a), sb.scores(total_b)
    diff = sb.matrix - sa.matrix
    shuffled = {m: [] for m in metrics}
    for size in _blocks(resamples, n):
        moved = (rng.random((size, n)) < 0.5).astype(np.float64) @ diff
        score_a, score_b = sa.scores(total_a + moved), sb.scores(total_b - moved)
        for m in metrics:
            shuffled[m].append(np.abs(score_b[m] - score_a[m]))

    tail = (1 - confidence) / 2
    rows: dict[str, dict[str, float]] = {}
    for m in metrics:
        boot = np.concatenate(deltas[m])
        boot = boot[~np.isnan(boot)]
        observed = observed_b[m] - observed_a[m]
        # Ties count as "at least as large"; the tolerance absorbs the rounding of summing in another order.
        extreme = np.concatenate(shuffled[m]) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
        low, high = (np.quantile(boot, [tail, 1 - tail]) if len(boot) else (math.nan, math.nan))
        rows[m] = {"a": _scored(a, m, observed_a[m]), "b": _scored(b, m, observed_b[m]), "delta": float(observed),
                   "ci_low": float(low), "ci_high": float(high),
                   "p_value": float((1 + np.count_nonzero(extreme)) / (resamples + 1))}
    return Comparison(rows, videos=n, resamples=resamples, seed=seed, confidence=confidence, names=names,
                      notes=notes)


def _scored(ev: Evaluation, metric: str, recomputed: float) -> float:
    """The scorer's own value (identical to the recomputed one up to summation order)."""
    return float(ev.overall.get(metric, recomputed))


def _subset(s: Sufficient, families: list[str]) -> Sufficient:
    cols, layout, at = [], {}, 0
    for name in families:
        part = s.layout[name]
        cols.append(s.matrix[:, part])
        layout[name] = slice(at, at + part.stop - part.start)
        at = layout[name].stop
    return Sufficient(s.ids, np.concatenate(cols, axis=1) if cols else np.zeros((len(s.ids), 0)), layout)


def compare_results_files(a: str | os.PathLike[str], b: str | os.PathLike[str], annotations: Any, *,
                          split: str = "test", resamples: int = 1000, seed: int = 0, java: bool = True,
                          spice: str = "off") -> Comparison:
    """Score two COCO results files on ``split`` of ``annotations`` (one METEOR pool for both) and
    :func:`compare` them. The files follow ``vidcap score``'s rules and must both cover the whole split.

    Example:
        >>> print(compare_results_files("sa_lstm.json", "topdown.json", "test_videodatainfo.json").table())  # doctest: +SKIP
    """
    from vidcap.metrics.coco import preflight
    from vidcap.metrics.meteor import MeteorPool, meteor_processes
    from vidcap.metrics.scoring import _annotations, load_results, score_results

    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise UsageError(f"--resamples must be a positive integer, got {resamples!r}")
    tokenizer = None
    if not java:
        from vidcap.data.tokenize import tokenize as tokenizer
    skipped = preflight(java=java, spice=spice, tokenizer=tokenizer or "ptb")
    items = [load_results(a), load_results(b)]  # both read before any scoring: a bad file fails fast
    ann = _annotations(annotations)
    pool = (contextlib.nullcontext() if "METEOR" in skipped
            else MeteorPool(meteor_processes(len(ann.ids(split)))))
    with pool as meteor:
        reports = [score_results(entries, ann, split=split, java=java, spice=spice, source=str(path),
                                 meteor=meteor)
                   for entries, path in zip(items, (a, b))]
    result = compare(reports[0].evaluation, reports[1].evaluation, resamples=resamples, seed=seed,
                     names=(str(a), str(b)))
    result.notes = [*result.notes, *dict.fromkeys(n for r in reports for n in r.notes())]
    return result
