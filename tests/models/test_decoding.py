"""vidcap.models.decoding: greedy, batched beam search (vs a plain per-video one), sampling.

Hand-checkable cases use ``Bigram``, a real CaptionModel whose next-token distribution is a fixed
table indexed by the previous token, so expected captions and scores follow from the table by hand.
"""
from __future__ import annotations

import argparse
import math

import pytest
import torch
from torch import nn

from modelkit import (FRAME_DIMS, MULTI_DIMS, benchmark_module, captions, fit, make_batch, random_captions,
                      reference_beam_search, tiny)
from vidcap.data.vocab import BOS, EOS, PAD, UNK
from vidcap.errors import UsageError
from vidcap.models import CaptionModel, beam_search, greedy, sample
from vidcap.models.decoding import Decoded, strip_after_eos

V = 10


class Bigram(CaptionModel):
    """p(next | previous token) from a table; the features are read but do not matter."""

    def __init__(self, rows: dict[int, dict[int, float]]):
        super().__init__(vocab_size=V, input_dims={"frame": 2}, embed_size=1, hidden_size=1, layers=1,
                         dropout=0.0, cell="lstm")
        table = torch.full((V, V), 1e-6, dtype=torch.float64)
        for prev, nxt in rows.items():
            for tok, p in nxt.items():
                table[prev, tok] = p
        self.table = table / table.sum(1, keepdim=True)
        self.logits = nn.Parameter(self.table.log())

    def encode(self, feats, masks):
        feats, masks = self.check_inputs(feats, masks)
        return {"video": feats["frame"][:, 0].double()}

    def init_state(self, enc):
        return {"video": enc["video"]}

    def decode(self, tokens, state, enc):
        return self.logits[tokens], state

    def p(self, *tokens: int) -> float:
        """Probability of generating ``tokens`` after BOS."""
        path = [BOS, *tokens]
        return math.prod(self.table[a, b].item() for a, b in zip(path, path[1:]))


def batch(n: int = 2):
    return make_batch({"frame": 2}, lengths=(3,) * n)


# BOS → 4 is likelier than BOS → 5, but 5 ends well and 4 does not: beam search finds [5].
FORK = {BOS: {4: 0.5, 5: 0.4}, 4: {EOS: 0.3, 6: 0.36, 7: 0.34}, 5: {EOS: 0.9}, 6: {EOS: 1.0}, 7: {EOS: 1.0}}
# A short caption [4] against a slightly less likely long one [5, 6, 7].
SHORT_LONG = {BOS: {4: 0.52, 5: 0.48}, 4: {EOS: 0.99}, 5: {6: 0.99}, 6: {7: 0.99}, 7: {EOS: 0.99}}
# 4 and 5 call each other: greedy loops "4 5 4 5 …" until max_len.
LOOP = {BOS: {4: 0.9, 6: 0.1}, 4: {5: 0.9, EOS: 0.06, 6: 0.04}, 5: {4: 0.9, EOS: 0.06, 6: 0.04}, 6: {EOS: 1.0}}


def test_greedy_follows_the_most_likely_token():
    model = Bigram(FORK)
    out = greedy(model, *batch(), max_len=10)
    assert out.tokens == [[4, 6]] * 2
    assert out.seq.tolist() == [[4, 6, EOS]] * 2
    torch.testing.assert_close(out.scores, torch.tensor([math.log(model.p(4, 6, EOS))] * 2, dtype=torch.float64))
    torch.testing.assert_close(out.logprobs.sum(1), out.scores)


def test_beam_search_keeps_finished_hypotheses_and_beats_greedy():
    model = Bigram(FORK)
    out = beam_search(model, *batch(), beam_size=2, max_len=10)
    assert out.tokens == [[5]] * 2
    assert out.seq.tolist() == [[5, EOS]] * 2
    torch.testing.assert_close(out.scores, torch.tensor([math.log(model.p(5, EOS))] * 2, dtype=torch.float64))


def test_length_penalty_prefers_longer_captions():
    # Beam 3: with 2, a near-zero hypothesis (the table's 1e-6 rows are ties) can be the second to finish,
    # which ends the search before [5, 6, 7] does; which tie it is depends on the excluded tokens.
    model = Bigram(SHORT_LONG)
    plain = beam_search(model, *batch(1), beam_size=3, max_len=10, length_penalty=0.0)
    assert plain.tokens == [[4]]
    assert plain.scores.item() == pytest.approx(math.log(model.p(4, EOS)))
    penalised = beam_search(model, *batch(1), beam_size=3, max_len=10, length_penalty=2.0)
    assert penalised.tokens == [[5, 6, 7]]
    # GNMT: log p / ((5 + n) / 6) ** alpha with n = 4 generated tokens (EOS included).
    assert penalised.scores.item() == pytest.approx(math.log(model.p(5, 6, 7, EOS)) / (9 / 6) ** 2)


def test_max_len_truncates_without_eos():
    model = Bigram(LOOP)
    for out in (greedy(model, *batch(), max_len=7), beam_search(model, *batch(), beam_size=1, max_len=7)):
        assert out.tokens == [[4, 5, 4, 5, 4, 5, 4]] * 2
        assert EOS not in out.seq.tolist()[0]
    torch.testing.assert_close(out.scores, torch.tensor([math.log(model.p(4, 5, 4, 5, 4, 5, 4))] * 2,
                                                        dtype=torch.float64))


def test_finished_captions_end_the_search_before_max_len():
    # K=3: [6, EOS] (p=0.1), [4, EOS] and [4, 5, EOS] finish by step 3, so the search stops there
    # (the live loop "4 5 4" has p=0.73 but no end); the best finished caption is [6].
    model = Bigram(LOOP)
    out = beam_search(model, *batch(), beam_size=3, max_len=20)
    assert out.tokens == [[6]] * 2
    assert out.scores[0].item() == pytest.approx(math.log(model.p(6, EOS)))


def test_trigram_blocking():
    model = Bigram(LOOP)
    out = beam_search(model, *batch(), beam_size=1, max_len=12, block_trigrams=True)
    # "4 5 4 5" then 4 would repeat the trigram (4, 5, 4): the next best token after 5 is EOS.
    assert out.tokens == [[4, 5, 4, 5]] * 2
    assert out.scores[0].item() == pytest.approx(math.log(model.p(4, 5, 4, 5, EOS)))
    for k in (2, 4):
        for caption in beam_search(model, *batch(), beam_size=k, max_len=12, block_trigrams=True).tokens:
            trigrams = [tuple(caption[i:i + 3]) for i in range(len(caption) - 2)]
            assert len(trigrams) == len(set(trigrams))


@pytest.mark.parametrize("name, dims", [("mp-lstm", FRAME_DIMS), ("s2vt", MULTI_DIMS), ("sa-lstm", MULTI_DIMS)])
def test_beam_size_one_equals_greedy(name, dims):
    # float64: the two searches batch rows differently, and float32 rounding could flip a near-tie.
    torch.manual_seed(0)
    model = tiny(name, dims).double()
    feats, masks = make_batch(dims, lengths=(5, 3, 4, 2, 5), dtype=torch.float64)
    ref = greedy(model, feats, masks, max_len=8)
    for alpha in (0.0, 1.0):
        out = beam_search(model, feats, masks, beam_size=1, max_len=8, length_penalty=alpha)
        assert out.tokens == ref.tokens
        torch.testing.assert_close(out.seq, ref.seq)
        torch.testing.assert_close(out.logprobs, ref.logprobs)
    torch.testing.assert_close(out.scores, ref.scores / ((5 + ref.mask.sum(1)) / 6))  # GNMT, alpha = 1


CASES = [  # model, cell, dims, beam size, max_len, length penalty, trigram blocking
    ("mp-lstm", "lstm", FRAME_DIMS, 3, 9, 0.0, False),
    ("s2vt", "gru", MULTI_DIMS, 4, 9, 0.7, True),
    ("sa-lstm", "lstm", MULTI_DIMS, 3, 9, 1.0, True),
    ("sa-lstm", "gru", FRAME_DIMS, 5, 9, 0.0, True),
    ("s2vt", "lstm", FRAME_DIMS, 4, 3, 0.5, False),  # max_len cuts most hypotheses
]


@pytest.mark.parametrize("name, cell, dims, k, max_len, alpha, block", CASES)
def test_batched_beam_search_equals_per_video_beam_search(name, cell, dims, k, max_len, alpha, block):
    """Same captions and scores as the plain per-video search.

    The model is half-trained (captions of mixed lengths, uncertain next tokens) and run in float64,
    so that rounding cannot reorder near-tied candidates between the two searches.
    """
    torch.manual_seed(0)
    model = tiny(name, dims, cell=cell)
    feats, masks = make_batch(dims, lengths=(5, 3, 4, 2, 5, 1))
    fit(model, feats, masks, captions(random_captions(6)), steps=15, lr=0.03)
    model.double()
    feats = {n: x.double() for n, x in feats.items()}
    options = {"beam_size": k, "max_len": max_len, "length_penalty": alpha, "block_trigrams": block}
    out = beam_search(model, feats, masks, **options)
    ref = reference_beam_search()(model, feats, masks, **options)
    assert out.tokens == ref.tokens
    assert len({len(t) for t in out.tokens}) > 1  # captions of different lengths in one batch
    torch.testing.assert_close(out.scores, ref.scores, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out.logprobs, ref.logprobs, rtol=1e-9, atol=1e-9)


def test_batched_beam_search_equals_per_video_on_loops():
    model = Bigram(LOOP)
    for options in ({"beam_size": 3, "block_trigrams": True}, {"beam_size": 2, "length_penalty": 1.5}):
        out = beam_search(model, *batch(), max_len=10, **options)
        ref = reference_beam_search()(model, *batch(), max_len=10, **options)
        assert out.tokens == ref.tokens
        torch.testing.assert_close(out.scores, ref.scores)


@pytest.mark.parametrize("name, dims", [("s2vt", FRAME_DIMS), ("sa-lstm", MULTI_DIMS)])
def test_sampling_with_top_k_one_is_greedy(name, dims):
    torch.manual_seed(0)
    model = tiny(name, dims).double()
    feats, masks = make_batch(dims, dtype=torch.float64)
    ref = greedy(model, feats, masks, max_len=8)
    out = sample(model, feats, masks, n=2, top_k=1, temperature=0.7, max_len=8)
    assert out.tokens == [t for t in ref.tokens for _ in range(2)]  # rows video * n + i
    torch.testing.assert_close(out.logprobs, ref.logprobs.repeat_interleave(2, 0))


def test_sampling_follows_the_tempered_top_k_distribution():
    model = Bigram({BOS: {4: 0.5, 5: 0.3, 6: 0.2}, 4: {EOS: 1.0}, 5: {EOS: 1.0}, 6: {EOS: 1.0}})
    feats, masks = batch(1)
    n = 4000

    def first_tokens(**options):
        out = sample(model, feats, masks, n=n, max_len=3, generator=torch.Generator().manual_seed(0), **options)
        return torch.bincount(out.seq[:, 0], minlength=V).double() / n

    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    torch.testing.assert_close(first_tokens()[4:7], p, atol=0.03, rtol=0)
    torch.testing.assert_close(first_tokens(temperature=0.5)[4:7], p ** 2 / (p ** 2).sum(), atol=0.03, rtol=0)
    top2 = first_tokens(top_k=2)
    assert top2[6] == 0 and top2[4:6].sum() == 1
    torch.testing.assert_close(top2[4:6], p[:2] / p[:2].sum(), atol=0.03, rtol=0)


def test_sampling_is_reproducible_and_differentiable():
    model = tiny("sa-lstm", MULTI_DIMS).train()
    feats, masks = make_batch(MULTI_DIMS)
    a = sample(model, feats, masks, n=3, max_len=6, generator=torch.Generator().manual_seed(1))
    b = sample(model, feats, masks, n=3, max_len=6, generator=torch.Generator().manual_seed(1))
    assert a.tokens == b.tokens and a.seq.shape[0] == 9
    (a.logprobs * a.mask).sum().backward()  # a self-critical loss's gradient reaches the model
    assert model.out.weight.grad is not None and model.out.weight.grad.abs().sum() > 0


def test_decoded_tokens_and_strip_after_eos():
    seq = torch.tensor([[4, 5, EOS, PAD], [6, EOS, 7, 8], [4, 4, 4, 4]])
    assert strip_after_eos(seq).tolist() == [[4, 5, EOS, PAD], [6, EOS, PAD, PAD], [4, 4, 4, 4]]
    out = Decoded(seq, torch.zeros(3, 4), torch.zeros(3))
    assert out.tokens == [[4, 5], [6], [4, 4, 4, 4]]


@pytest.mark.parametrize("call", [
    lambda m, f, k: greedy(m, f, k, max_len=0),
    lambda m, f, k: beam_search(m, f, k, beam_size=0, max_len=20),
    lambda m, f, k: sample(m, f, k, n=0),
    lambda m, f, k: sample(m, f, k, temperature=0.0),
    lambda m, f, k: sample(m, f, k, top_k=0),
])
def test_bad_decoding_options_are_usage_errors(call):
    model = tiny("mp-lstm")
    with pytest.raises(UsageError):
        call(model, *make_batch(FRAME_DIMS))


def test_beam_benchmark_runs_and_agrees():
    """tools/benchmark.py beam on a tiny setting: one case, identical captions, a positive ratio."""
    bench = benchmark_module()
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--videos", "3", "--vocab", "30", "--hidden-size", "16", "--embed-size", "8",
                              "--feature-dim", "8", "--frames", "4", "--max-len", "6", "--beam-size", "3"])
    (case,) = bench.run(args)
    assert case["identical"] and case["max_score_diff"] < 1e-4 and case["ratio"] > 0


def test_no_unk_in_decoded_captions_when_the_vocabulary_is_small():
    """A vocabulary that keeps one word: the training captions are mostly <unk>, and a model fitted to
    them finds <unk> its likeliest next word. Greedy, beam search and sampling still never emit it."""
    from vidcap.data import Vocabulary, tokenize

    texts = ["a red ball rolls", "a blue cube spins", "a green star jumps", "the dog barks"]
    vocab = Vocabulary.build([tokenize(t) for t in texts], min_count=2)
    assert vocab.words[4:] == ["a"]
    caps = captions([vocab.encode(t)[1:-1] for t in texts])
    torch.manual_seed(0)
    model = tiny("sa-lstm", FRAME_DIMS, vocab=len(vocab))
    feats, masks = make_batch(FRAME_DIMS, lengths=(5, 3, 4, 2))
    fit(model, feats, masks, caps, steps=60, lr=0.03)
    unk_first = greedy(model, feats, masks, max_len=6, allow_unk=True)
    assert any(UNK in row for row in unk_first.tokens)  # what decoding would emit if it were allowed
    gen = torch.Generator().manual_seed(0)
    for out in (greedy(model, feats, masks, max_len=6), beam_search(model, feats, masks, beam_size=3, max_len=6),
                sample(model, feats, masks, n=20, max_len=6, generator=gen)):
        assert not any(UNK in row for row in out.tokens)
        assert all("<unk>" not in vocab.decode(row) for row in out.tokens)
