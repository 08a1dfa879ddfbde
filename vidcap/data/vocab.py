"""Caption vocabulary: word ↔ id, with the special ids shared by datasets, models and decoding.

Ids 0..3 are always ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>`` (:data:`PAD`, :data:`BOS`, :data:`EOS`,
:data:`UNK`); words follow, most frequent first (ties in alphabetical order, so the same captions always
give the same ids). Words seen fewer than ``min_count`` times map to ``<unk>``.

``max_len`` everywhere counts *words*: an encoded caption is ``BOS w1 … wn EOS`` with ``n <= max_len``
(longer captions are cut, the EOS is kept), so its length is at most ``max_len + 2``. Its default,
:data:`MAX_LEN`, is the one for training captions, decoding and the config's ``data.max_len``,
``eval.max_len`` and ``train.scst_max_len``.

Example:
    >>> vocab = Vocabulary.build([["a", "dog", "runs"], ["a", "cat", "runs"]], min_count=2)
    >>> vocab.words
    ['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'runs']
    >>> vocab.encode(["a", "dog", "runs"])
    [1, 4, 3, 5, 2]
    >>> vocab.decode([1, 4, 5, 2, 0])
    'a runs'
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

from vidcap.data.tokenize import tokenize
from vidcap.errors import InputError, UsageError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
FORMAT = "vidcap-vocab/1"
# The longest caption in words where no setting says otherwise: training captions are cut to it and decoding
# stops there. One constant, because a model is trained and evaluated on captions of the same length.
MAX_LEN = 20


class Vocabulary:
    """An ordered word list; see the module docstring.

    Attributes:
        words: id → word (the specials first).
        index: word → id.
    """

    PAD, BOS, EOS, UNK = PAD, BOS, EOS, UNK

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if tuple(words[:len(SPECIALS)]) != SPECIALS:
            raise UsageError(f"a vocabulary must start with {', '.join(SPECIALS)}; got {words[:4]}")
        repeated = sorted(w for w, n in Counter(words).items() if n > 1)
        if repeated:
            raise UsageError(f"words repeated in the vocabulary: {', '.join(repeated[:5])}")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], *, min_count: int = 1,
              max_size: int | None = None) -> "Vocabulary":
        """Words seen at least ``min_count`` times, the ``max_size`` most frequent at most (specials
        not counted).

        Example:
            >>> Vocabulary.build([["b", "a"], ["a"]], max_size=1).words[4:]
            ['a']
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise UsageError(f"min_count={min_count!r}: must be an integer >= 1")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < 1):
            raise UsageError(f"max_size={max_size!r}: must be an integer >= 1 or None")
        counts = Counter(tok for tokens in token_lists for tok in tokens)
        kept = sorted((w for w, n in counts.items() if n >= min_count and w not in SPECIALS),
                      key=lambda w: (-counts[w], w))
        return cls([*SPECIALS, *kept[:max_size]])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def encode(self, caption: str | Sequence[str], *, max_len: int | None = None) -> list[int]:
        """``BOS`` + word ids (``UNK`` for unknown words) + ``EOS``; a string is tokenized first.

        Example:
            >>> Vocabulary.build([["a", "dog"]]).encode("A dog, a DOG!", max_len=3)
            [1, 4, 5, 4, 2]
        """
        tokens = tokenize(caption) if isinstance(caption, str) else caption
        if max_len is not None:
            if max_len < 1:
                raise UsageError(f"max_len={max_len!r}: must be >= 1")
            tokens = tokens[:max_len]
        return [BOS, *(self.index.get(t, UNK) for t in tokens), EOS]

    def decode_tokens(self, ids: Iterable[int]) -> list[str]:
        """Words of ``ids`` up to the first ``EOS``; ``PAD`` and ``BOS`` are skipped, ``UNK`` shown as
        ``<unk>``."""
        words = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            if not 0 <= i < len(self.words):
                raise UsageError(f"token id {i} is outside this vocabulary of {len(self.words)} words")
            words.append(self.words[i])
        return words

    def decode(self, ids: Iterable[int]) -> str:
        """The caption text of ``ids`` (see :meth:`decode_tokens`)."""
        return " ".join(self.decode_tokens(ids))

    def state_dict(self) -> dict[str, Any]:
        """Plain data (safe for ``torch.load(weights_only=True)``)."""
        return {"format": FORMAT, "words": list(self.words)}

    @classmethod
    def from_state_dict(cls, state: Any) -> "Vocabulary":
        """Inverse of :meth:`state_dict`; InputError for anything else."""
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise InputError(f"vocabulary state: expected format {FORMAT!r}, found {found!r}")
        words = state.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise InputError("vocabulary state: 'words' must be a list of strings")
        try:
            return cls(words)
        except UsageError as err:
            raise InputError(f"vocabulary state: {err}") from None

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words)"
