"""Fast CIDEr-D, equal to pycocoevalcap's ``Cider`` (which is CIDEr-D), computed with numpy.

pycocoevalcap's definition, reproduced exactly: n-grams n = 1..4 of the whitespace-split (already
tokenized) sentences; document frequency ``df`` = number of evaluated ids whose references contain the
n-gram; ``ref_len = log(number of ids)``; an n-gram's weight is ``tf * (ref_len - log(max(1, df)))``;
per order, the clipped similarity ``sum(min(w_cand, w_ref) * w_ref) / (|cand| * |ref|)`` (no division when a
norm is zero) times the Gaussian length penalty ``exp(-delta**2 / (2 * 6**2))``, where the "length" is
pycocoevalcap's count of bigrams (``max(0, words - 1)``); averaged over the four orders and the references,
times 10.

Instead of Python dictionaries per sentence pair: words become integer ids; the (k+1)-grams become codes
``id of the k-gram prefix * radix + next word``, and one sort per order of ``(code, sentence)`` yields the
compact n-gram ids, the term frequencies and the document frequencies at once. Every candidate/reference
pair is then scored by one ``searchsorted`` join and ``bincount`` sums. :class:`CiderD` does the reference
side once; :meth:`CiderD.score` / :meth:`CiderD.score_pairs` only process candidates, which is what
validation every epoch and SCST rewards every batch need.

Example:
    >>> gts = {"v1": ["a man is singing", "a man sings"], "v2": ["a dog runs", "the dog is running"]}
    >>> score, per_id = cider_d(gts, {"v1": ["a man is singing"], "v2": ["a cat"]})
    >>> round(score, 4), per_id.round(4).tolist()
    (3.0598, [6.1197, 0.0])
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import count, repeat
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

from vidcap.errors import UsageError


# Bound for ``code * positions + position`` in int64; larger inputs take the (slower) two-key sort.
_KEY_LIMIT = 2 ** 62


def _word_ids(sentences: Sequence[str], vocab: dict[str, int], grow: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Flat word ids, words per sentence, and the id radix. With ``grow=False`` words missing from
    ``vocab`` get fresh ids above it: distinct from each other, never equal to a reference word."""
    # pycocoevalcap's precook splits each sentence on whitespace; one join + split does all at once.
    joined = " ".join(sentences)
    words = joined.split()
    lengths = _sentence_lengths(sentences, joined, len(words))
    if grow:
        # One hashing pass: a word missing from the table gets the next id from the counter (both in C).
        table = defaultdict(count(len(vocab)).__next__, vocab)
        ids = np.fromiter(map(table.__getitem__, words), dtype=np.int64, count=len(words))
        vocab.update(table)
        return ids, lengths, max(len(vocab), 1)
    unseen = [w for w in dict.fromkeys(words) if w not in vocab]
    lookup = {**vocab, **{w: len(vocab) + i for i, w in enumerate(unseen)}} if unseen else vocab
    ids = np.fromiter(map(lookup.__getitem__, words), dtype=np.int64, count=len(words))
    return ids, lengths, max(len(lookup), 1)


def _sentence_lengths(sentences: Sequence[str], joined: str, n_words: int) -> np.ndarray:
    """Words per sentence as ``str.split`` counts them; ``joined`` is the sentences joined by spaces."""
    # Tokenized text is single-spaced: then a sentence's words are its spaces + 1, counted at C speed
    # without building its word list again. isprintable() rules out every whitespace but " ".
    if joined[:1] not in ("", " ") and joined[-1] != " " and "  " not in joined and joined.isprintable():
        lengths = np.fromiter(map(str.count, sentences, repeat(" ")), dtype=np.int64, count=len(sentences)) + 1
        if int(lengths.sum()) == n_words:
            return lengths
    return np.fromiter(map(len, map(str.split, sentences)), dtype=np.int64, count=len(sentences))


@dataclass
class _Level:
    """The (k+1)-grams of a batch of sentences, for one order k."""

    codes: np.ndarray      # sorted distinct codes; an n-gram's compact id is its index here
    full_ids: np.ndarray   # compact id of the n-gram starting at each word position (-1: none)
    gram: np.ndarray       # per distinct (n-gram, sentence) row, sorted by n-gram then sentence: compact id
    sentence: np.ndarray   # ... its sentence
    count: np.ndarray      # ... its term frequency (float64)
    position: np.ndarray   # ... one word position where it starts


def _levels(words: np.ndarray, lengths: np.ndarray, n: int, radix: int) -> list[_Level]:
    """Compact n-gram ids and (n-gram, sentence) term frequencies for orders 1..n (exact, no hashing)."""
    n_pos = max(len(words), 1)
    sentence_of = np.repeat(np.arange(len(lengths)), lengths)
    end_of = np.repeat(np.cumsum(lengths), lengths)  # one past the last word of each word's sentence
    prefix = np.full(len(words), 0, dtype=np.int64)  # order-0 "prefix" is empty: code = word id
    start = np.arange(len(words))
    levels: list[_Level] = []
    for k in range(n):
        # The (k+1)-grams start where a k-gram starts and the sentence has one more word.
        start = start[start + k < end_of[start]] if k else start
        code = prefix[start] * radix + words[start + k]
        # Sort by (code, position); sentences grow with positions, so this also sorts (code, sentence).
        if k == 0 and radix <= 2 ** 16:
            # Word ids fit 16 bits: numpy's stable sort is then a radix sort, and positions are already
            # ascending, so ties keep position order.
            order = np.argsort(code.astype(np.uint16), kind="stable")
            code, start = code[order], start[order]
        elif len(code) and int(code.max()) < _KEY_LIMIT // n_pos:
            # One sort of combined keys. Stable (timsort) because ``start`` arrives sorted by the prefix
            # n-gram, so the keys come in ascending runs that it merges several times faster.
            key = np.sort(code * n_pos + start, kind="stable")
            code = key // n_pos
            start = key - code * n_pos
        else:  # a code too large to combine with the position: sort on both keys instead
            order = np.lexsort((start, code))
            code, start = code[order], start[order]
        sent = sentence_of[start]
        new_gram = np.empty(len(code), dtype=bool)
        new_gram[:1] = True
        np.not_equal(code[1:], code[:-1], out=new_gram[1:])
        new_row = new_gram.copy()
        new_row[1:] |= sent[1:] != sent[:-1]
        gram = np.cumsum(new_gram) - 1
        rows = np.flatnonzero(new_row)
        prefix = np.full(len(words), -1, dtype=np.int64)
        prefix[start] = gram
        levels.append(_Level(code[new_gram], prefix, gram[rows], sent[rows],
                             np.diff(np.append(rows, len(code))).astype(np.float64), start[rows]))
    return levels


class CiderD:
    """CIDEr-D against a fixed set of references, prepared once and reused for many candidate sets.

    ``refs`` maps id → list of tokenized reference strings (pycocoevalcap's ``gts``). Document
    frequencies come from all of ``refs``, as pycocoevalcap computes them from the evaluated set: scoring
    one candidate for every id gives exactly ``Cider().compute_score(refs, res)``; scoring a subset or
    several candidates per id keeps the same (whole-set) weights, which is what SCST and validation want.

    Example:
        >>> scorer = CiderD({"v1": ["a man is singing", "a man sings"], "v2": ["a dog runs"]})
        >>> scorer.score_pairs([("v1", "a man sings"), ("v1", "a woman dances"), ("v2", "a dog runs")]).round(3).tolist()
        [4.757, 0.0, 7.5]
    """

    def __init__(self, refs: Mapping[Hashable, Sequence[str]], *, n: int = 4, sigma: float = 6.0) -> None:
        if not refs:
            raise UsageError("CiderD needs at least one id with references")
        if n < 1:
            raise UsageError(f"CiderD n must be at least 1, got {n}")
        self.n, self.sigma = n, float(sigma)
        self.ids = list(refs)
        self._row = {vid: i for i, vid in enumerate(self.ids)}
        sentences: list[str] = []
        for vid in self.ids:
            group = refs[vid]
            if isinstance(group, str) or not group:
                raise UsageError(f"references of {vid!r} must be a non-empty list of strings")
            sentences.extend(group)
        if not all(map(str.__instancecheck__, sentences)):
            bad = next(vid for vid in self.ids if not all(isinstance(s, str) for s in refs[vid]))
            raise UsageError(f"references of {bad!r} must be a non-empty list of strings")
        self._ref_count = np.array([len(refs[vid]) for vid in self.ids], dtype=np.int64)
        self._ref_start = np.concatenate([[0], np.cumsum(self._ref_count)[:-1]]).astype(np.int64)
        self._n_sent = len(sentences)
        item_of = np.repeat(np.arange(len(self.ids)), self._ref_count)

        self._vocab: dict[str, int] = {}
        words, lengths, self._radix = _word_ids(sentences, self._vocab, grow=True)
        levels = _levels(words, lengths, n, self._radix)
        self._codes = [level.codes for level in levels]  # per order, for looking up candidate n-grams
        # Global n-gram id = compact id + offset of its order.
        self._offsets = np.concatenate([[0], np.cumsum([len(c) for c in self._codes])]).astype(np.int64)
        self._ref_len = float(np.log(float(len(self.ids))))

        idf_parts, key_parts, weight_parts = [], [], []
        norm_sq = np.zeros(self._n_sent * n)
        for k, level in enumerate(levels):
            # Document frequency: the ids (not sentences) whose references contain the n-gram. Rows are
            # sorted by n-gram then sentence, and sentences are grouped by id, so count id changes.
            item = item_of[level.sentence]
            new_item = np.ones(len(item), dtype=bool)
            new_item[1:] = (level.gram[1:] != level.gram[:-1]) | (item[1:] != item[:-1])
            df = np.bincount(level.gram[new_item], minlength=len(level.codes)).astype(np.float64)
            idf = self._ref_len - np.log(np.maximum(1.0, df))
            weight = level.count * idf[level.gram]
            norm_sq += np.bincount(level.sentence * n + k, weight ** 2, minlength=self._n_sent * n)
            idf_parts.append(idf)
            # Join key (global n-gram, sentence): sorted within an order, orders in increasing offset.
            key_parts.append((level.gram + self._offsets[k]) * self._n_sent + level.sentence)
            weight_parts.append(weight)
        self._idf = np.concatenate(idf_parts)
        self._ref_key = np.concatenate(key_parts)
        self._ref_weight = np.concatenate(weight_parts)
        self._ref_norm = np.sqrt(norm_sq).reshape(-1, n)
        self._ref_length = _bigram_length(lengths, n)

    def __len__(self) -> int:
        return len(self.ids)

    def score(self, res: Mapping[Hashable, Sequence[str]]) -> tuple[float, np.ndarray]:
        """Mean and per-id CIDEr-D of ``res`` (id → [one tokenized candidate]), per-id in ``res`` order.

        Example:
            >>> CiderD({"v1": ["a cat"], "v2": ["a dog"]}).score({"v1": ["a cat"], "v2": ["a dog"]})[0]
            5.0
        """
        pairs = []
        for vid, group in res.items():
            if isinstance(group, str) or len(group) != 1:
                raise UsageError(f"candidates of {vid!r} must be a list of exactly one string "
                                 f"(score_pairs takes several per id)")
            pairs.append((vid, group[0]))
        if not pairs:
            raise UsageError("no candidates to score")
        scores = self.score_pairs(pairs)
        return float(np.mean(scores)), scores

    def score_pairs(self, pairs: Iterable[tuple[Hashable, str]]) -> np.ndarray:
        """CIDEr-D of each (id, tokenized candidate) pair; ids may repeat (several samples per video).

        Example:
            >>> CiderD({"v1": ["a man sings"], "v2": ["a dog"]}).score_pairs([("v1", "a man")]).round(3).tolist()
            [3.487]
        """
        pairs = list(pairs)
        unknown = [vid for vid, _ in pairs if vid not in self._row]
        if unknown:
            raise UsageError(f"ids without references: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
        bad = [vid for vid, cand in pairs if not isinstance(cand, str)]
        if bad:
            raise UsageError(f"candidates must be strings; not for ids {bad[:5]}")
        if not pairs:
            return np.zeros(0)
        n, n_cand = self.n, len(pairs)
        item = np.array([self._row[vid] for vid, _ in pairs], dtype=np.int64)
        words, lengths, radix = _word_ids([c for _, c in pairs], self._vocab, grow=False)

        # Candidate n-grams: identity within the batch from their own codes; the reference id (if any)
        # by extending the prefix's reference id with the next word and looking the code up.
        vocab_size = len(self._vocab)
        ref_ids = np.where(words < vocab_size, words, -1)
        sent_p, key_p, order_p, weight_p = [], [], [], []
        for k, level in enumerate(_levels(words, lengths, n, radix)):
            if k > 0:
                starts = np.flatnonzero(level.full_ids >= 0)
                prefix, last = ref_ids[starts], words[starts + k]
                code = np.where((prefix >= 0) & (last < vocab_size), prefix * self._radix + last, -1)
                table = self._codes[k]
                at = np.minimum(np.searchsorted(table, code), max(len(table) - 1, 0))
                ref_ids = np.full(len(words), -1, dtype=np.int64)
                if len(table):
                    ref_ids[starts] = np.where((code >= 0) & (table[at] == code), at, -1)
            ref = ref_ids[level.position]
            known = ref >= 0
            key = np.where(known, ref + self._offsets[k], -1)
            # Unseen n-grams have df = 0, so their idf is ref_len.
            idf = np.where(known, self._idf[np.maximum(key, 0)], self._ref_len)
            sent_p.append(level.sentence)
            key_p.append(key)
            order_p.append(np.full(len(key), k, dtype=np.int64))
            weight_p.append(level.count * idf)
        sent, key = np.concatenate(sent_p), np.concatenate(key_p)
        order, weight = np.concatenate(order_p), np.concatenate(weight_p)
        norm = np.sqrt(np.bincount(sent * n + order, weight ** 2, minlength=n_cand * n)).reshape(-1, n)
        length = _bigram_length(lengths, n)

        # One row per (candidate, reference of its id) pair.
        n_refs = self._ref_count[item]
        pair_start = np.concatenate([[0], np.cumsum(n_refs)[:-1]]).astype(np.int64)
        n_pairs = int(n_refs.sum())
        pair_cand = np.repeat(np.arange(n_cand), n_refs)
        pair_ref = self._ref_start[item][pair_cand] + (np.arange(n_pairs) - pair_start[pair_cand])

        # Join: the reference rows of an n-gram are contiguous in _ref_key (sorted by n-gram, then
        # sentence) and an id's references are consecutive sentences, so two searchsorted calls per
        # candidate n-gram bound exactly the rows of the references that contain it.
        known = key >= 0
        e_sent, e_key, e_order, e_w = sent[known], key[known], order[known], weight[known]
        first_ref = self._ref_start[item][e_sent]
        lo = np.searchsorted(self._ref_key, e_key * self._n_sent + first_ref)
        hi = np.searchsorted(self._ref_key, e_key * self._n_sent + first_ref + n_refs[e_sent])
        hits = hi - lo
        rows = np.repeat(np.arange(len(e_key)), hits)
        at = np.repeat(lo, hits) + (np.arange(len(rows)) - np.repeat(np.cumsum(hits) - hits, hits))
        ref_w = self._ref_weight[at]
        pair = pair_start[e_sent][rows] + (self._ref_key[at] % self._n_sent - first_ref[rows])
        overlap = np.minimum(e_w[rows], ref_w) * ref_w
        val = np.bincount(pair * n + e_order[rows], overlap, minlength=n_pairs * n).reshape(-1, n)

        # Cosine normalisation (skipped when a norm is zero, as pycocoevalcap does) and length penalty.
        norm_c, norm_r = norm[pair_cand], self._ref_norm[pair_ref]
        both = (norm_c != 0) & (norm_r != 0)
        val = np.where(both, val / np.where(both, norm_c * norm_r, 1.0), val)
        delta = (length[pair_cand] - self._ref_length[pair_ref]).astype(np.float64)
        val = val * np.exp(-(delta ** 2) / (2 * self.sigma ** 2))[:, None]
        per_cand = np.bincount(pair_cand, val.mean(axis=1), minlength=n_cand)
        return per_cand / n_refs * 10.0


def _bigram_length(lengths: np.ndarray, n: int) -> np.ndarray:
    """pycocoevalcap's CIDEr "length": the number of bigrams (it counts ``len(ngram) - 1 == 1``)."""
    return np.maximum(lengths - 1, 0) if n >= 2 else np.zeros_like(lengths)


def cider_d(gts: Mapping[Hashable, Sequence[str]], res: Mapping[Hashable, Sequence[str]],
            *, n: int = 4, sigma: float = 6.0) -> tuple[float, np.ndarray]:
    """CIDEr-D of ``res`` against ``gts``, equal to ``pycocoevalcap.cider.cider.Cider().compute_score``.

    Both map id → list of tokenized strings (one candidate per id in ``res``); the ids must be the same.
    Returns the mean and the per-id scores in ``gts`` order.

    Example:
        >>> score, per_id = cider_d({"v1": ["a cat sits"], "v2": ["a dog runs"]},
        ...                         {"v1": ["a cat sits"], "v2": ["a dog sleeps"]})
        >>> round(score, 4), per_id.round(4).tolist()
        (5.0, [7.5, 2.5])
    """
    if set(gts) != set(res):
        only_gts = sorted(map(str, set(gts) - set(res)))[:5]
        only_res = sorted(map(str, set(res) - set(gts)))[:5]
        raise UsageError(f"cider_d needs the same ids in gts and res; only in gts: {only_gts}, "
                         f"only in res: {only_res}")
    return CiderD(gts, n=n, sigma=sigma).score({vid: res[vid] for vid in gts})
