"""Caption metrics: pycocoevalcap's BLEU/METEOR/ROUGE-L/CIDEr/SPICE with Java handled up front, and a
fast in-process CIDEr-D. A leaf library: imports no other vidcap stage (``scoring`` reads annotations
and is imported on its own: ``from vidcap.metrics.scoring import score_results_file``).

Example:
    >>> from vidcap.metrics import cider_d
    >>> cider_d({"v1": ["a cat sits"], "v2": ["a dog runs"]}, {"v1": ["a cat sits"], "v2": ["a dog"]})[0] > 0
    True
"""
from vidcap.metrics.cider import CiderD, cider_d
from vidcap.metrics.coco import METRICS, Evaluation, evaluate, preflight, score, spice_unavailable
from vidcap.metrics.java import JavaError, java_version, ptb_tokenize, require_java

__all__ = ["METRICS", "CiderD", "Evaluation", "JavaError", "cider_d", "evaluate", "java_version",
           "preflight", "ptb_tokenize", "require_java", "score", "spice_unavailable"]
