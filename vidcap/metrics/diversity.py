"""Does the model say the same sentence for everything? Diversity of a set of generated captions.

Computed on the captions as the scorer tokenised them (``Evaluation.tokenized``: PTB tokens, or the Python
tokenizer without Java), one caption per video:

* ``vocabulary``: distinct words used;
* ``unique_captions``: distinct captions;
* ``novel_captions``: the fraction of captions not found verbatim among the training captions (``None``
  when no training captions are given). Training captions are tokenised with
  :func:`vidcap.data.tokenize.tokenize`, which gives the PTB tokenizer's output on all but one of
  MSR-VTT's 200,000 captions, so no Java run over the training set is needed;
* ``div1`` / ``div2``: distinct unigrams / bigrams over all generated unigrams / bigrams;
* ``mean_length``: mean words per caption.

Example:
    >>> d = diversity(["a man is singing", "a man is singing", "a dog runs"], training=["A dog runs."])
    >>> d["vocabulary"], d["unique_captions"], round(d["novel_captions"], 3), d["div1"], d["div2"]
    (6, 2, 0.667, 0.5454545454545454, 0.625)
"""
from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any, Iterable, Sequence

__all__ = ["DIVERSITY_KEYS", "diversity", "diversity_lines"]

DIVERSITY_KEYS = ("vocabulary", "unique_captions", "novel_captions", "div1", "div2", "mean_length")


def diversity(captions: Sequence[str], *, training: Iterable[str] | None = None) -> dict[str, Any]:
    """The diversity figures (module docstring) of tokenised ``captions`` (space-separated tokens);
    ``training``: raw training captions, for ``novel_captions``.

    Example:
        >>> diversity(["a cat", "a cat"])["unique_captions"], diversity(["a cat", "a cat"])["novel_captions"]
        (1, None)
    """
    token_lists = [c.split() for c in captions]
    unigrams = [t for tokens in token_lists for t in tokens]
    bigrams = [pair for tokens in token_lists for pair in pairwise(tokens)]
    joined = [" ".join(tokens) for tokens in token_lists]
    novel = None
    if training is not None:
        from vidcap.data.tokenize import tokenize

        seen = {" ".join(tokenize(c)) for c in set(training)}
        novel = sum(c not in seen for c in joined) / len(joined) if joined else None
    return {
        "vocabulary": len(set(unigrams)),
        "unique_captions": len(set(joined)),
        "novel_captions": novel,
        "div1": len(set(unigrams)) / len(unigrams) if unigrams else 0.0,
        "div2": len(set(bigrams)) / len(bigrams) if bigrams else 0.0,
        "mean_length": len(unigrams) / len(token_lists) if token_lists else 0.0,
        "captions": len(token_lists),
    }


def diversity_lines(figures: dict[str, Any]) -> list[str]:
    """The figures as printed under the score table.

    Example:
        >>> print("\\n".join(diversity_lines(diversity(["a cat", "a dog"], training=["a cat"]))))
        diversity: 3 words, 2 of 2 captions distinct, 50.0% not in the training captions
                   div1 0.750, div2 1.000, mean length 2.00 words
    """
    n = figures["captions"]
    novel = ("" if figures["novel_captions"] is None
             else f", {100 * figures['novel_captions']:.1f}% not in the training captions")
    return [f"diversity: {figures['vocabulary']} words, {figures['unique_captions']} of {n} captions distinct{novel}",
            (f"           div1 {figures['div1']:.3f}, div2 {figures['div2']:.3f}, "
             f"mean length {figures['mean_length']:.2f} words")]


def most_common_ngrams(captions: Sequence[str], n: int) -> Counter:
    """How many of ``captions`` (tokenised) contain each ``n``-gram (counted once per caption)."""
    counts: Counter = Counter()
    for caption in captions:
        tokens = caption.split()
        counts.update({tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)})
    return counts
