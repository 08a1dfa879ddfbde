"""Caption vocabulary (vidcap/data/vocab.py) and building it from annotations."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from vidcap.data import Annotations, VideoRecord, build_vocabulary, tokenize
from vidcap.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocabulary
from vidcap.errors import InputError, UsageError

CAPTIONS = [["a", "dog", "runs"], ["a", "cat", "runs"], ["a", "dog", "sleeps"], ["the", "dog"]]


def test_specials_come_first_with_fixed_ids():
    vocab = Vocabulary.build(CAPTIONS)
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert vocab.words[:4] == list(SPECIALS) == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (vocab.PAD, vocab.BOS, vocab.EOS, vocab.UNK) == (0, 1, 2, 3)


def test_order_is_by_count_then_alphabetical():
    vocab = Vocabulary.build(CAPTIONS)
    # a: 3, dog: 3, runs: 2, then cat/sleeps/the once each.
    assert vocab.words[4:] == ["a", "dog", "runs", "cat", "sleeps", "the"]
    assert Vocabulary.build(reversed(CAPTIONS)).words == vocab.words  # input order does not matter


def test_min_count_and_max_size():
    assert Vocabulary.build(CAPTIONS, min_count=2).words[4:] == ["a", "dog", "runs"]
    assert Vocabulary.build(CAPTIONS, min_count=4).words == list(SPECIALS)
    assert Vocabulary.build(CAPTIONS, max_size=2).words[4:] == ["a", "dog"]


@pytest.mark.parametrize("kwargs", [{"min_count": 0}, {"min_count": 1.5}, {"max_size": 0}, {"min_count": True}])
def test_bad_build_options(kwargs):
    with pytest.raises(UsageError):
        Vocabulary.build(CAPTIONS, **kwargs)


def test_encode_adds_bos_eos_and_maps_unknown_words():
    vocab = Vocabulary.build(CAPTIONS, min_count=2)
    ids = vocab.encode(["the", "dog", "runs"])
    assert ids == [BOS, UNK, vocab.index["dog"], vocab.index["runs"], EOS]
    assert vocab.encode("The DOG runs.") == ids  # strings are tokenized first


def test_max_len_counts_words_and_keeps_eos():
    vocab = Vocabulary.build(CAPTIONS)
    ids = vocab.encode(["a", "dog", "runs", "a", "cat"], max_len=3)
    assert ids == [BOS, vocab.index["a"], vocab.index["dog"], vocab.index["runs"], EOS]
    assert len(vocab.encode(["a"] * 50, max_len=20)) == 22
    with pytest.raises(UsageError):
        vocab.encode(["a"], max_len=0)


def test_decode_stops_at_eos_and_skips_padding():
    vocab = Vocabulary.build(CAPTIONS)
    ids = vocab.encode(["a", "cat", "sleeps"]) + [PAD, PAD]
    assert vocab.decode(ids) == "a cat sleeps"
    assert vocab.decode(torch.tensor([BOS, vocab.index["dog"], EOS, vocab.index["cat"]])) == "dog"
    assert vocab.decode_tokens([vocab.index["a"], UNK]) == ["a", "<unk>"]
    with pytest.raises(UsageError, match="outside"):
        vocab.decode([len(vocab)])


def test_state_dict_survives_a_weights_only_load(tmp_path):
    vocab = Vocabulary.build(CAPTIONS)
    torch.save({"vocab": vocab.state_dict()}, tmp_path / "v.pt")
    again = Vocabulary.from_state_dict(torch.load(tmp_path / "v.pt", weights_only=True)["vocab"])
    assert again.words == vocab.words and again.index == vocab.index


@pytest.mark.parametrize("state", [None, [], {"words": ["a"]}, {"format": "vidcap-vocab/1", "words": ["a", "b"]},
                                   {"format": "vidcap-vocab/1", "words": [*SPECIALS, "a", "a"]},
                                   {"format": "vidcap-vocab/9", "words": list(SPECIALS)}])
def test_bad_states_are_input_errors(state):
    with pytest.raises(InputError, match="vocabulary state"):
        Vocabulary.from_state_dict(state)


def test_build_vocabulary_uses_only_the_split():
    ann = Annotations({"t": VideoRecord("t", "train"), "v": VideoRecord("v", "validate")},
                      {"t": ["A dog runs.", "a dog sleeps"], "v": ["a zebra"]})
    vocab = build_vocabulary(ann, split="train", min_count=1)
    assert "zebra" not in vocab and vocab.words[4:6] == ["a", "dog"]


def test_msrvtt_vocabulary(msrvtt_dir):
    # The validate split of tests/assets/msrvtt (104 videos, 2,080 captions); train is built the same way.
    ann = Annotations.load(msrvtt_dir / "train_val_videodatainfo.json")
    vocab = build_vocabulary(ann, split="validate", min_count=3)
    counts = Counter(tok for caps in ann.references(ann.ids("validate")).values() for c in caps
                     for tok in tokenize(c))
    kept = set(vocab.words[4:])
    assert kept == {w for w, n in counts.items() if n >= 3}
    assert "man" in kept and "guitar" in kept
    # Most frequent first: "a" is MSR-VTT's commonest word.
    assert vocab.words[4] == "a" and counts["a"] == max(counts.values())
