"""How scores are shown to people: the ×100 convention of the captioning papers.

Logs, tables and progress lines print the COCO caption metrics ×100 (CIDEr 147.85, not 1.4785), so that
every number a person reads is on the papers' scale. Files (``metrics.json``, ``--json`` reports, COCO
results) keep pycocoevalcap's raw values, which is what ``RAW_NOTE`` says where they are described.
Anything that is not a caption metric (a loss, a learning rate) is shown as it is.

Example:
    >>> shown("CIDEr", 1.4785), shown("loss", 2.5)
    (147.85, 2.5)
    >>> format_scores({"CIDEr": 1.4785, "Bleu_4": 0.4012, "loss": 2.34567})
    'CIDEr 147.85, Bleu_4 40.12, loss 2.3457'
"""
from __future__ import annotations

from collections.abc import Mapping

from vidcap.metrics.coco import METRICS

SCALE = 100
RAW_NOTE = "pycocoevalcap's raw values (0..1; CIDEr 0..10); logs and tables print them x100"


def shown(name: str, value: float) -> float:
    """``value`` on the scale people read: ×100 for a caption metric, unchanged otherwise."""
    return SCALE * value if name in METRICS else value


def format_scores(scores: Mapping[str, float]) -> str:
    """``"CIDEr 147.85, Bleu_4 40.12, loss 2.3457"``: metrics ×100 with two decimals, others with four."""
    return ", ".join(f"{k} {shown(k, v):.2f}" if k in METRICS else f"{k} {v:.4f}" for k, v in scores.items())
