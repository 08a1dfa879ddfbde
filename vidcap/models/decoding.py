"""Caption decoding for any :class:`~vidcap.models.base.CaptionModel`: greedy, beam search, sampling.

All three run the whole batch at once. Beam search keeps B·K hypotheses as one batch (the encoder
output and decoder state are expanded and reordered with ``index_select(0, …)``), keeps its finished
hypotheses in tensors and blocks repeated trigrams with tensor ops, so no step loops over videos in
Python. Decoding stops early once every video is done, and drops finished videos from the batch.

Tokens a caption never continues with: PAD and BOS always, and the unknown-word token ``<unk>`` unless
``allow_unk=True``. A caption holding ``<unk>`` cannot match a reference word (references are the raw
captions), so emitting it only costs score; it is ruled out by default for greedy, beam search and
sampling alike (self-critical training then samples from the distribution it is evaluated on), and
:func:`excluded_tokens` gives the same rule to scheduled sampling.

Scores: greedy and sampling report the summed log-probability of the generated tokens (EOS included).
Beam search ranks by the GNMT length-normalised score ``Σ log p / ((5 + n) / 6) ** length_penalty``
with ``n`` the number of generated tokens (EOS included); ``length_penalty=0`` is the plain sum.

Example:
    >>> from vidcap.models import get_model
    >>> model = get_model("mp-lstm", vocab_size=30, input_dims={"frame": 8}, hidden_size=16).eval()
    >>> feats, masks = {"frame": torch.randn(2, 4, 8)}, {"frame": torch.ones(2, 4, dtype=torch.bool)}
    >>> out = beam_search(model, feats, masks, beam_size=3, max_len=6, length_penalty=0.6)
    >>> len(out.tokens), out.seq.shape[1] <= 6, out.scores.shape
    (2, True, torch.Size([2]))
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vidcap.data.vocab import BOS, EOS, MAX_LEN, PAD, UNK
from vidcap.errors import UsageError
from vidcap.models.base import CaptionModel, Feats, Masks


@dataclass
class Decoded:
    """Generated captions, one row per caption.

    Attributes:
        seq: (N, L) generated token ids after BOS, EOS included when produced, PAD after it.
        logprobs: (N, L) the model's log-probability of each token of ``seq`` (0 at PAD).
        scores: (N,) the ranking score (see the module docstring).
    """

    seq: Tensor
    logprobs: Tensor
    scores: Tensor

    @property
    def tokens(self) -> list[list[int]]:
        """Token lists without EOS and PAD, ready for ``Vocabulary.decode``."""
        return [[t for t in row if t not in (EOS, PAD)] for row in strip_after_eos(self.seq).tolist()]

    @property
    def mask(self) -> Tensor:
        """(N, L) True at generated tokens (EOS included), False at padding."""
        return self.seq != PAD


def strip_after_eos(seq: Tensor) -> Tensor:
    """``seq`` with every token after the first EOS of its row replaced by PAD."""
    after = (seq == EOS).long().cumsum(1) - (seq == EOS).long() > 0
    return seq.masked_fill(after, PAD)


def length_normalise(scores: Tensor, lengths: Tensor | int, alpha: float) -> Tensor:
    """GNMT length normalisation: ``scores / ((5 + lengths) / 6) ** alpha``."""
    if alpha == 0:
        return scores
    lengths = torch.as_tensor(lengths, dtype=scores.dtype, device=scores.device)
    return scores / ((5.0 + lengths) / 6.0) ** alpha


def _check(max_len: int, **positive: int) -> None:
    for name, value in {"max_len": max_len, **positive}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")


def _batch_size(enc: dict[str, Tensor]) -> int:
    return next(iter(enc.values())).size(0)


def _select(tensors: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
    return {k: v.index_select(0, index) for k, v in tensors.items()}


def excluded_tokens(allow_unk: bool = False) -> tuple[int, ...]:
    """The token ids a generated caption never continues with (see the module docstring).

    Example:
        >>> excluded_tokens(), excluded_tokens(allow_unk=True)
        ((0, 1, 3), (0, 1))
    """
    return (PAD, BOS) if allow_unk else (PAD, BOS, UNK)


def _allowed(logp: Tensor, allow_unk: bool) -> Tensor:
    """``logp`` with the :func:`excluded_tokens` ruled out."""
    return logp.index_fill(1, torch.tensor(excluded_tokens(allow_unk), device=logp.device), float("-inf"))


def _score_dtype(model: CaptionModel) -> torch.dtype:
    return torch.promote_types(next(model.parameters()).dtype, torch.float32)


def _run(model: CaptionModel, enc: dict[str, Tensor], max_len: int, pick, allow_unk: bool) -> Decoded:
    """Step the model from BOS, choosing each next token with ``pick(logp) -> tokens (N,)``, until EOS or max_len."""
    n = _batch_size(enc)
    device = next(iter(enc.values())).device
    state = model.init_state(enc)
    tokens = torch.full((n,), BOS, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    seq, logprobs = [], []
    for _ in range(max_len):
        logp, state = model.step(tokens, state, enc)
        tokens = pick(_allowed(logp, allow_unk))
        lp = logp.gather(1, tokens.unsqueeze(1)).squeeze(1)
        seq.append(tokens.masked_fill(done, PAD))
        logprobs.append(lp.masked_fill(done, 0.0))
        done = done | (tokens == EOS)
        if bool(done.all()):
            break
    seq_t, lp_t = torch.stack(seq, 1), torch.stack(logprobs, 1)
    return Decoded(seq_t, lp_t, lp_t.sum(1))


@torch.no_grad()
def greedy(model: CaptionModel, feats: Feats, masks: Masks, max_len: int = MAX_LEN,
           allow_unk: bool = False) -> Decoded:
    """The most likely next token at every step (``<unk>`` only with ``allow_unk``), for every video of the batch,
    for at most ``max_len`` words (default :data:`~vidcap.data.vocab.MAX_LEN`, as the config's).

    Example:
        >>> greedy(model, feats, masks, max_len=20).tokens   # doctest: +SKIP
        [[4, 17, 9, 5], [4, 12, 5]]
    """
    _check(max_len)
    return _run(model, model.encode(feats, masks), max_len, lambda logp: logp.argmax(1), allow_unk)


def sample(model: CaptionModel, feats: Feats, masks: Masks, n: int = 1, temperature: float = 1.0,
           top_k: int | None = None, max_len: int = MAX_LEN, generator: torch.Generator | None = None,
           allow_unk: bool = False) -> Decoded:
    """``n`` sampled captions per video (rows ``video * n + i``), from softmax(logits / temperature)
    restricted to the ``top_k`` most likely tokens (all tokens when None) and to the tokens a caption
    may hold (no ``<unk>`` unless ``allow_unk``), for at most ``max_len`` words (default
    :data:`~vidcap.data.vocab.MAX_LEN`, as the config's).

    Runs with autograd as the caller set it, so ``logprobs`` (the model's untempered log-probabilities
    of the sampled tokens) can carry gradients for self-critical training.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> out = sample(model, feats, masks, n=5, top_k=10, generator=gen)   # doctest: +SKIP
        >>> out.seq.shape[0] == 5 * len(feats["frame"])                       # doctest: +SKIP
        True
    """
    _check(max_len, n=n)
    if top_k is not None:
        _check(max_len, top_k=top_k)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise UsageError(f"temperature must be a positive number, got {temperature!r}")

    def pick(logp: Tensor) -> Tensor:
        scaled = logp.detach() / temperature
        if top_k is not None and top_k < scaled.size(1):
            kth = scaled.topk(top_k, dim=1).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        return torch.multinomial(torch.softmax(scaled, dim=1), 1, generator=generator).squeeze(1)

    enc = model.encode(feats, masks)
    index = torch.arange(_batch_size(enc), device=next(iter(enc.values())).device).repeat_interleave(n)
    return _run(model, _select(enc, index), max_len, pick, allow_unk)


def _block_trigrams_(logp: Tensor, hist: Tensor) -> Tensor:
    """Set to -inf, in place, each next token of ``logp`` (N, V) that would repeat a trigram of ``hist`` (N, t)."""
    t = hist.size(1)
    # Earlier trigrams (hist[i], hist[i+1], hist[i+2]), i ≤ t-3, whose first two tokens equal the last two.
    match = (hist[:, : t - 2] == hist[:, t - 2 : t - 1]) & (hist[:, 1 : t - 1] == hist[:, t - 1 :])
    # Adding 0 or -inf is exact and order-free, so repeated indices need no care (unlike scatter_).
    penalty = torch.zeros(match.shape, dtype=logp.dtype, device=logp.device).masked_fill_(match, float("-inf"))
    return logp.scatter_add_(1, hist[:, 2:], penalty)


@torch.no_grad()
def beam_search(model: CaptionModel, feats: Feats, masks: Masks, *, beam_size: int, max_len: int,
                length_penalty: float = 0.0, block_trigrams: bool = False, allow_unk: bool = False) -> Decoded:
    """Batched beam search; returns each video's best hypothesis and its length-normalised score.

    At each step the 2K best extensions of a video's K live hypotheses are ranked; those among the
    best K that end in EOS are finished, the best K others live on. A video is done after K finished
    hypotheses; at ``max_len`` the best K extensions are finished whatever their last token. The
    answer is the finished hypothesis with the best normalised score. ``block_trigrams`` forbids a
    token that would repeat a trigram of its hypothesis; ``<unk>`` is never a candidate unless
    ``allow_unk``. ``beam_size=1`` gives the greedy caption. Width and length have no default here: a
    trained model's come from its ``eval`` settings (the config schema holds the width's one default;
    the length's is :data:`~vidcap.data.vocab.MAX_LEN`).

    Example:
        >>> out = beam_search(model, feats, masks, beam_size=5, max_len=20, block_trigrams=True)   # doctest: +SKIP
        >>> len(out.tokens) == len(feats["frame"])                                     # doctest: +SKIP
        True
    """
    _check(max_len, beam_size=beam_size)
    k = beam_size
    first_enc = model.encode(feats, masks)
    b = _batch_size(first_enc)
    device = next(iter(first_enc.values())).device
    expand = torch.arange(b, device=device).repeat_interleave(k)
    enc = _select(first_enc, expand)
    state = model.init_state(first_enc)
    tokens = torch.full((b,), BOS, dtype=torch.long, device=device)
    # Only the first of the K identical start hypotheses may be extended at step 0.
    dtype = _score_dtype(model)
    cum = torch.full((b, k), float("-inf"), device=device, dtype=dtype)
    cum[:, 0] = 0.0
    hist = torch.zeros(b * k, 0, dtype=torch.long, device=device)
    hist_lp = torch.zeros(b * k, 0, device=device, dtype=dtype)
    # Finished pool per video: the K best by normalised score.
    pool_seq = torch.full((b, k, max_len), PAD, dtype=torch.long, device=device)
    pool_lp = torch.zeros(b, k, max_len, device=device, dtype=dtype)
    pool_score = torch.full((b, k), float("-inf"), device=device, dtype=dtype)
    n_finished = torch.zeros(b, dtype=torch.long, device=device)
    active = torch.arange(b, device=device)  # videos still decoding, in the order of the rows
    rank = torch.arange(2 * k, device=device)
    excluded = torch.tensor(excluded_tokens(allow_unk), device=device)

    for t in range(max_len):
        a = active.numel()
        if t == 0:  # the K start hypotheses are the same: step once per video, then copy
            logp, state = model.step(tokens, state, first_enc)
            logp, state = logp.index_select(0, expand), _select(state, expand)
        else:
            logp, state = model.step(tokens, state, enc)
        # In place: under no_grad nothing else holds logp, and each (B·K, V) pass costs as much as a small layer.
        logp.index_fill_(1, excluded, float("-inf"))
        vocab = logp.size(1)
        if block_trigrams and t >= 3:
            _block_trigrams_(logp, hist)
        cand = torch.add(logp, cum.view(-1, 1)).view(a, k * vocab)
        top_s, top_i = cand.topk(min(2 * k, k * vocab), dim=1)
        width = top_s.size(1)
        beam, tok = top_i // vocab, top_i % vocab
        rows = beam + torch.arange(a, device=device).unsqueeze(1) * k  # (a, 2K) rows of hist/state
        tok_lp = logp.view(a, k * vocab).gather(1, top_i)
        is_eos = tok == EOS
        last = t == max_len - 1

        # Finish the EOS candidates ranked in the top K (at max_len: all of the top K).
        finish = (is_eos | last) & (rank[:width] < k) & torch.isfinite(top_s)
        fk = min(k, width)
        new_seq = torch.cat([hist[rows[:, :fk]], tok[:, :fk, None]], dim=2)  # (a, fk, t+1)
        new_lp = torch.cat([hist_lp[rows[:, :fk]], tok_lp[:, :fk, None]], dim=2)
        new_score = length_normalise(top_s[:, :fk], t + 1, length_penalty).masked_fill(~finish[:, :fk], float("-inf"))
        pad = max_len - t - 1
        all_score = torch.cat([pool_score[active], new_score], 1)
        all_seq = torch.cat([pool_seq[active], torch.nn.functional.pad(new_seq, (0, pad), value=PAD)], 1)
        all_lp = torch.cat([pool_lp[active], torch.nn.functional.pad(new_lp, (0, pad))], 1)
        best_s, best_i = all_score.topk(k, dim=1)
        pool_score[active] = best_s
        pool_seq[active] = all_seq.gather(1, best_i[..., None].expand(-1, -1, max_len))
        pool_lp[active] = all_lp.gather(1, best_i[..., None].expand(-1, -1, max_len))
        n_finished[active] += finish.sum(1)
        if last:
            break

        # The K best candidates not ending in EOS live on (a stable sort keeps their rank order).
        keep = is_eos.to(torch.uint8).sort(dim=1, stable=True).indices[:, :k]
        rows, tok = rows.gather(1, keep), tok.gather(1, keep)
        cum, tok_lp = top_s.gather(1, keep), tok_lp.gather(1, keep)

        # Drop the videos that are done from the batch.
        live = n_finished[active] < k
        dropped = not bool(live.all())
        if dropped:
            if not bool(live.any()):
                break
            active = active[live]
            rows, tok, cum, tok_lp = rows[live], tok[live], cum[live], tok_lp[live]
        flat = rows.reshape(-1)
        state = _select(state, flat)
        if dropped:  # a video's K rows of enc are copies, so beams move within them for free
            enc = _select(enc, flat)
        hist = torch.cat([hist[flat], tok.reshape(-1, 1)], 1)
        hist_lp = torch.cat([hist_lp[flat], tok_lp.reshape(-1, 1)], 1)
        tokens = tok.reshape(-1)

    best = pool_score.argmax(1)
    seq = pool_seq[torch.arange(b, device=device), best]
    lp = pool_lp[torch.arange(b, device=device), best]
    length = int((seq != PAD).sum(1).max().item()) if b else 0
    return Decoded(seq[:, :length], lp[:, :length], pool_score.max(1).values)
