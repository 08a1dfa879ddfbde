"""Where a model fails: a small static evaluation report (``vidcap eval --report DIR``, ``vidcap score --report``).

``DIR/index.html`` (plain HTML and CSS: no script, nothing fetched from anywhere) and ``DIR/cider.png``:

* the score table (×100) and the diversity figures (:mod:`vidcap.metrics.diversity`);
* per-category scores (MSR-VTT's 20 categories, when the annotations have them), worst CIDEr first;
* the distribution of per-video CIDEr-D (a histogram, matplotlib);
* the best and the worst videos by CIDEr-D, with their caption and references;
* the phrases (2- and 3-grams) the captions over-use: the share of captions that contain a phrase minus
  the share of reference sentences that do, largest first.

Captions and references are untrusted text: every one is HTML-escaped.

Example:
    >>> report = score_results(results, "test_videodatainfo.json")          # doctest: +SKIP
    >>> write_report("report/", report, results)                            # doctest: +SKIP
    PosixPath('report/index.html')
"""
from __future__ import annotations

import html
import io
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vidcap.files import write_atomic
from vidcap.metrics.diversity import diversity_lines, most_common_ngrams

__all__ = ["overused_phrases", "write_report"]

TABLE_METRICS = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE")
SHOWN_REFERENCES = 5  # per example video; the rest fold away

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .25em .7em; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f5f5f5; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.caption { font-weight: 600; } .refs { color: #555; margin: .2em 0 0 1.2em; padding: 0; }
.note { color: #a33; } img { max-width: 100%; border: 1px solid #eee; }
"""


def overused_phrases(captions: Sequence[str], references: Sequence[str], *, top: int = 10,
                     orders: Sequence[int] = (2, 3)) -> list[dict[str, Any]]:
    """Phrases the (tokenised) ``captions`` use more than the (tokenised) ``references``: share of
    captions containing it minus share of references containing it, largest first.

    Example:
        >>> caps = ["a man is talking", "a man is cooking", "a man is singing"]
        >>> refs = ["a woman sings", "a man cooks", "someone talks", "a man is talking"]
        >>> [(p["phrase"], round(p["captions"], 2), p["references"]) for p in overused_phrases(caps, refs, top=2)]
        [('a man is', 1.0, 0.25), ('man is', 1.0, 0.25)]
    """
    rows = []
    for n in orders:
        ours, theirs = most_common_ngrams(captions, n), most_common_ngrams(references, n)
        for gram, count in ours.items():
            share = count / max(len(captions), 1)
            ref_share = theirs.get(gram, 0) / max(len(references), 1)
            if share > ref_share and count > 1:
                rows.append({"phrase": " ".join(gram), "captions": share, "references": ref_share,
                             "excess": share - ref_share})
    rows.sort(key=lambda r: (-r["excess"], r["phrase"]))
    return rows[:top]


def _histogram(values: np.ndarray) -> bytes:
    # No pyplot: no global state, no display needed.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), dpi=100)
    ax = fig.subplots()
    ax.hist(values, bins=40, color="#4c72b0")
    mean = float(np.mean(values))
    ax.axvline(mean, color="#c44e52", linestyle="--", label=f"mean {mean:.1f}")
    ax.set_xlabel("CIDEr-D per video (x100)")
    ax.set_ylabel("videos")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int = 1) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = [f"<td class=\"n\">{_esc(v)}</td>" if i >= numeric_from else f"<td>{_esc(v)}</td>"
                 for i, v in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out + ["</table>"])


def _example(vid: str, cider: float, caption: str, refs: list[str], category: str | None) -> str:
    shown = "".join(f"<li>{_esc(r)}</li>" for r in refs[:SHOWN_REFERENCES])
    more = ""
    if len(refs) > SHOWN_REFERENCES:
        rest = "".join(f"<li>{_esc(r)}</li>" for r in refs[SHOWN_REFERENCES:])
        more = f"<details><summary>{len(refs) - SHOWN_REFERENCES} more references</summary><ul class=\"refs\">{rest}</ul></details>"
    where = f" · {_esc(category)}" if category else ""
    return (f"<div class=\"example\"><p><code>{_esc(vid)}</code>{where} · CIDEr {100 * cider:.1f}<br>"
            f"<span class=\"caption\">{_esc(caption) or '<i>(empty caption)</i>'}</span></p>"
            f"<ul class=\"refs\">{shown}</ul>{more}</div>")


def write_report(out_dir: str | os.PathLike[str], report: Any, results: Sequence[Any], *, examples: int = 5,
                 phrases: int = 10) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/cider.png`` for ``report`` (a
    :class:`~vidcap.metrics.scoring.ScoreReport`) of the COCO ``results`` entries it scored.

    Returns the path of ``index.html``.
    """
    from vidcap.data.annotations import Annotations
    from vidcap.data.tokenize import tokenize
    from vidcap.metrics.scoring import check_results

    ev = report.evaluation
    ids = [str(v) for v in ev.per_id]
    captions, _ = check_results(results, split_ids=ids, source=report.source, allow_missing=True)
    ann = Annotations.load(*report.annotations)
    refs = ann.references(ids)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    cider = np.array([ev.per_id[v]["CIDEr"] for v in ev.per_id], dtype=np.float64)
    write_atomic(out / "cider.png", _histogram(100 * cider))

    parts = [f"<h1>Evaluation: {_esc(report.source)}</h1>",
             (f"<p>{report.scored} of {report.split_size} {_esc(report.split)} videos; annotations "
              f"{_esc(', '.join(report.annotations))}</p>")]
    parts += [f"<p class=\"note\">{_esc(n)}</p>" for n in report.notes()]
    parts += ["<h2 id=\"scores\">Scores (×100)</h2>",
              _table(["metric", "score"], [(m, f"{100 * v:.2f}") for m, v in report.overall.items()])]
    if report.diversity:
        parts += ["<h2 id=\"diversity\">Diversity</h2>",
                  "<p>" + "<br>".join(_esc(line.strip()) for line in diversity_lines(report.diversity)) + "</p>"]
    if ev.groups:
        shown = [m for m in TABLE_METRICS if m in report.overall]
        rows = sorted(ev.groups.items(), key=lambda item: item[1].get("CIDEr", 0.0))
        parts += ["<h2 id=\"categories\">Per category (worst CIDEr first)</h2>",
                  _table(["category", "videos", *shown],
                         [(g, report.categories.get(g, 0), *(f"{100 * s[m]:.2f}" for m in shown)) for g, s in rows])]
    parts += ["<h2 id=\"distribution\">CIDEr-D per video</h2>",
              (f"<p>median {100 * float(np.median(cider)):.1f}; {int(np.sum(cider == 0))} of {len(cider)} "
               "videos score 0</p>"), "<img src=\"cider.png\" alt=\"histogram of per-video CIDEr-D\">"]
    order = np.argsort(-cider, kind="stable")
    for title, anchor, chosen in (("Best videos", "best", order[:examples]),
                                  ("Worst videos", "worst", order[::-1][:examples])):
        parts.append(f"<h2 id=\"{anchor}\">{title} (CIDEr-D)</h2>")
        parts += [_example(ids[i], cider[i], captions[ids[i]], refs[ids[i]], ann.category_of(ids[i])) for i in chosen]
    ref_tokens = [" ".join(tokenize(r)) for v in ids for r in refs[v]]
    over = overused_phrases(list(ev.tokenized.values()), ref_tokens, top=phrases)
    parts += ["<h2 id=\"phrases\">Over-used phrases</h2>",
              ("<p>Share of the captions containing a phrase against the share of reference sentences "
               "containing it, largest excess first.</p>"),
              _table(["phrase", "captions", "references"],
                     [(p["phrase"], f"{100 * p['captions']:.1f}%", f"{100 * p['references']:.1f}%") for p in over])]
    page = ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>vidcap evaluation: {_esc(report.source)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    return write_atomic(out / "index.html", page)
