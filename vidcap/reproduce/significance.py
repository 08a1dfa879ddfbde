"""Is each config of a reproduction better than the one before it, or is it noise?

Each config is compared with the previous one of the plan (S2VT with MP-LSTM, SA-LSTM with S2VT, SA-LSTM
+ SCST with SA-LSTM) by :func:`vidcap.metrics.significance.compare`, on the per-video scores **pooled over
seeds**: the unit is a (video, seed) pair, config B's caption of a video by seed k paired with config A's
caption of that video by seed k. Each config's captions of all seeds are scored in one evaluation (ids
``<video>#<seed>``): corpus BLEU and METEOR then aggregate over every seed's captions, and CIDEr-D's
document frequencies are those of the split (repeating every video S times leaves them unchanged).

Example:
    >>> rows = compare_configs([("sa_lstm", ["s0/test_results.json", "s1/test_results.json"]),
    ...                         ("sa_lstm_scst", ["t0/test_results.json", "t1/test_results.json"])],
    ...                        ["test_videodatainfo.json"], split="test")       # doctest: +SKIP
    >>> print(significance_markdown(rows))                                     # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import replace
from itertools import pairwise
from typing import Any, Sequence

import numpy as np

from vidcap.errors import UsageError
from vidcap.metrics.coco import Evaluation, evaluate
from vidcap.metrics.meteor import MeteorPool, meteor_processes
from vidcap.metrics.scoring import _annotations, check_results, load_results
from vidcap.metrics.significance import Sufficient, compare

__all__ = ["compare_configs", "runner_comparisons", "significance_markdown"]

SHOWN = {"Bleu_4": "BLEU-4", "METEOR": "METEOR", "ROUGE_L": "ROUGE-L", "CIDEr": "CIDEr"}
PathLike = str | os.PathLike[str]


def _pooled(results: Sequence[PathLike], ann: Any, split: str, allow_missing: bool) -> dict[str, str]:
    """``<video>#<seed>`` → caption of every seed's results file (checked by vidcap score's rules)."""
    ids = ann.ids(split)
    pooled: dict[str, str] = {}
    for seed, path in enumerate(results):
        captions, _ = check_results(load_results(path), split_ids=ids, source=str(path),
                                    allow_missing=allow_missing, annotations=ann)
        pooled.update({f"{vid}#{seed}": caption for vid, caption in captions.items()})
    return pooled


def compare_configs(runs: Sequence[tuple[str, Sequence[PathLike]]], annotations: Any, *, split: str = "test",
                    allow_missing: bool = False, resamples: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """One row per config after the first: that config (B) against the previous one (A), pooled over seeds.

    ``runs``: (config name, its test results files in seed order), in plan order. A row holds ``a``,
    ``b`` (config names), ``seeds``, ``units`` (the (video, seed) pairs compared) and ``metrics`` (metric →
    a, b, delta, ci_low, ci_high, p_value, unscaled).
    """
    if len(runs) < 2:
        return []
    ann = _annotations(annotations)
    pooled = [(name, _pooled(files, ann, split, allow_missing)) for name, files in runs]
    refs = ann.references(ann.ids(split))
    evaluations = {}
    with MeteorPool(meteor_processes(max(len(p) for _, p in pooled))) as pool:
        for name, captions in pooled:
            gts = {key: refs[key.rsplit("#", 1)[0]] for key in captions}
            evaluations[name] = evaluate(gts, {k: [c] for k, c in captions.items()}, spice="off", meteor=pool)
    seeds = {name: len(files) for name, files in runs}
    rows = []
    for (a, caps_a), (b, caps_b) in pairwise(pooled):
        common = [key for key in caps_a if key in caps_b]
        if not common:
            raise UsageError(f"{a} and {b} captioned no (video, seed) in common on the {split} split")
        ev_a, ev_b = (_restricted(evaluations[n], common) for n in (a, b))
        result = compare(ev_a, ev_b, resamples=resamples, seed=seed, names=(a, b))
        rows.append({"a": a, "b": b, "seeds": min(seeds[a], seeds[b]), "units": len(common),
                     "resamples": resamples, "seed": seed, "metrics": result.metrics})
    return rows


def _restricted(ev: Evaluation, keys: list[str]) -> Evaluation:
    """``ev`` on ``keys`` only, when two configs did not caption the same (video, seed) pairs: the
    statistics are per id, so the corpus scores are re-aggregated over the common ones."""
    if list(ev.per_id) == keys:
        return ev
    position = {k: i for i, k in enumerate(ev.per_id)}
    rows = np.array([position[k] for k in keys], dtype=np.int64)
    stats = {name: value[rows] for name, value in ev.statistics.items()}
    sub = replace(ev, per_id={k: ev.per_id[k] for k in keys}, statistics=stats,
                  tokenized={k: ev.tokenized[k] for k in keys})
    suff = Sufficient.from_evaluation(sub)
    return replace(sub, overall=suff.scores(suff.matrix.sum(0)))


def runner_comparisons(runner: Any, *, resamples: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """:func:`compare_configs` on a finished :class:`~vidcap.reproduce.runner.Runner`'s test captions."""
    runs = [(run.config, [runner.run_dir(run.config, s) / "test_results.json" for s in range(runner.seeds)])
            for run in runner.plan.runs]
    return compare_configs(runs, runner.annotations, split=runner.plan.split,
                           allow_missing=bool(getattr(runner, "allow_missing", False)),
                           resamples=resamples, seed=seed)


def significance_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a markdown section: B − A ×100 with its 95% interval and p-value per metric.

    Example:
        >>> row = {"a": "s2vt", "b": "sa_lstm", "seeds": 3, "units": 8970, "resamples": 1000, "seed": 0,
        ...        "metrics": {"CIDEr": {"a": 0.40, "b": 0.43, "delta": 0.03, "ci_low": 0.01, "ci_high": 0.05,
        ...                              "p_value": 0.004}}}
        >>> print(significance_markdown([row]))   # doctest: +NORMALIZE_WHITESPACE
        ## Each config against the previous one
        <BLANKLINE>
        B − A ×100 on the test captions of every seed pooled ((video, seed) pairs), 95% paired bootstrap interval, p-value of a paired approximate randomization test (`vidcap compare`); * p < 0.05.
        <BLANKLINE>
        | B vs A | seeds | pairs | CIDEr |
        |---|---|---|---|
        | `sa_lstm` vs `s2vt` | 3 | 8970 | +3.00 [+1.00, +5.00] p=0.004 * |
    """
    if not rows:
        return ""
    metrics = [m for m in SHOWN if any(m in r["metrics"] for r in rows)]
    lines = ["## Each config against the previous one", "",
             ("B − A ×100 on the test captions of every seed pooled ((video, seed) pairs), 95% paired bootstrap "
              "interval, p-value of a paired approximate randomization test (`vidcap compare`); * p < 0.05."), "",
             "| B vs A | seeds | pairs | " + " | ".join(SHOWN[m] for m in metrics) + " |",
             "|---|---|---|" + "---|" * len(metrics)]
    for r in rows:
        cells = []
        for m in metrics:
            s = r["metrics"].get(m)
            cells.append("—" if s is None else
                         f"{100 * s['delta']:+.2f} [{100 * s['ci_low']:+.2f}, {100 * s['ci_high']:+.2f}] "
                         f"p={s['p_value']:.3f}{' *' if s['p_value'] < 0.05 else ''}")
        lines.append(f"| `{r['b']}` vs `{r['a']}` | {r['seeds']} | {r['units']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
