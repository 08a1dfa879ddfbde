"""Beam search: batched over videos and beams (``vidcap.models.beam_search``) vs one video at a time.

Builds a caption model with random weights (sizes of the config schema's model defaults) and random features for
``--videos`` videos, then captions them twice: with the batched beam search, and with
:func:`reference_beam_search`, a plain per-video implementation of the same algorithm (each video's
K beams are one model batch; candidates are ranked and kept in Python lists). The case's ``ratio`` is
per-video seconds / batched seconds (target ≥ 10); ``identical`` says whether both gave the same
captions, and ``max_score_diff`` the largest difference between their scores.

The model's output layer is scaled up (``--sharpness``) so that its next-token distributions are
about as peaked as a trained model's; with the near-uniform distributions of fresh random weights,
candidates tie to within rounding and the two searches could legitimately order them differently.

Example:
    $ python tools/benchmark.py beam --json --videos 100 --beam-size 5
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from vidcap.data.vocab import BOS, EOS, PAD, UNK
from vidcap.models import CaptionModel, beam_search, get_model
from vidcap.models.decoding import Decoded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="sa-lstm", help="model name (vidcap.models.list_models())")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=20)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--block-trigrams", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--vocab", type=int, default=13615,
                        help="vocabulary size (MSR-VTT's train split, words seen twice or more, + 4 specials)")
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--embed-size", type=int, default=300)
    parser.add_argument("--frames", type=int, default=28)
    parser.add_argument("--feature-dim", type=int, default=2048)
    parser.add_argument("--sharpness", type=float, default=4.0, help="scale of the output layer's weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)


def reference_beam_search(model: CaptionModel, feats: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], *,
                          beam_size: int, max_len: int, length_penalty: float = 0.0,
                          block_trigrams: bool = False) -> Decoded:
    """The same beam search as ``vidcap.models.beam_search``, written plainly, one video at a time."""
    k = beam_size
    seqs, lps, scores = [], [], []
    with torch.no_grad():
        for v in range(next(iter(feats.values())).size(0)):
            enc = model.encode({n: x[v:v + 1] for n, x in feats.items()}, {n: m[v:v + 1] for n, m in masks.items()})
            state = model.init_state(enc)
            device = next(iter(enc.values())).device
            beams = [([], [], 0.0)]  # (tokens, per-token log-probs, summed log-prob)
            finished = []  # (normalised score, tokens, log-probs)
            for t in range(max_len):
                last_tokens = torch.tensor([b[0][-1] if b[0] else BOS for b in beams], device=device)
                beam_enc = {n: x.expand(len(beams), *x.shape[1:]) for n, x in enc.items()}  # views, no copies
                logp, new_state = model.step(last_tokens, state, beam_enc)
                logp = logp.clone()
                logp[:, [PAD, BOS, UNK]] = float("-inf")  # vidcap's decoding never emits these
                candidates = []
                for j, (toks, tok_lps, cum) in enumerate(beams):
                    if block_trigrams:
                        seen = {tuple(toks[i:i + 3]) for i in range(len(toks) - 2)}
                        banned = [c for (a, b, c) in seen if (a, b) == tuple(toks[-2:])]
                        logp[j, banned] = float("-inf")
                    vals, idx = logp[j].topk(2 * k)
                    candidates += [(cum + lp, j, tok, lp) for lp, tok in zip(vals.tolist(), idx.tolist())]
                candidates.sort(key=lambda c: -c[0])
                candidates = candidates[:2 * k]
                last = t == max_len - 1
                for score, j, tok, lp in candidates[:k]:
                    if (tok == EOS or last) and math.isfinite(score):
                        norm = score / ((5 + t + 1) / 6) ** length_penalty  # GNMT, t + 1 tokens with EOS
                        finished.append((norm, beams[j][0] + [tok], beams[j][1] + [lp]))
                if last or len(finished) >= k:
                    break
                live = [c for c in candidates if c[2] != EOS][:k]
                beams = [(beams[j][0] + [tok], beams[j][1] + [lp], score) for score, j, tok, lp in live]
                state = {n: s.index_select(0, torch.tensor([c[1] for c in live], device=device))
                         for n, s in new_state.items()}
            best = max(finished, key=lambda f: f[0])
            scores.append(best[0])
            seqs.append(best[1])
            lps.append(best[2])
    width = max(map(len, seqs))
    seq = torch.tensor([s + [PAD] * (width - len(s)) for s in seqs])
    lp = torch.tensor([p + [0.0] * (width - len(p)) for p in lps], dtype=torch.float64)
    return Decoded(seq, lp, torch.tensor(scores, dtype=torch.float64))


def run(args: argparse.Namespace) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dims = {"frame": args.feature_dim}
    model = get_model(args.model, vocab_size=args.vocab, input_dims=dims, hidden_size=args.hidden_size,
                      embed_size=args.embed_size, cell=args.cell).to(args.device).eval()
    with torch.no_grad():
        model.out.weight.mul_(args.sharpness)
    gen = torch.Generator().manual_seed(args.seed)
    feats = {"frame": torch.randn(args.videos, args.frames, args.feature_dim, generator=gen).to(args.device)}
    lengths = torch.randint(args.frames // 2, args.frames + 1, (args.videos,), generator=gen)
    masks = {"frame": (torch.arange(args.frames) < lengths.unsqueeze(1)).to(args.device)}
    options = {"beam_size": args.beam_size, "max_len": args.max_len, "length_penalty": args.length_penalty,
               "block_trigrams": args.block_trigrams}
    beam_search(model, {n: x[:2] for n, x in feats.items()}, {n: m[:2] for n, m in masks.items()}, **options)  # warm-up
    start = time.perf_counter()
    batched = beam_search(model, feats, masks, **options)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = reference_beam_search(model, feats, masks, **options)
    reference_s = time.perf_counter() - start
    identical = batched.tokens == reference.tokens
    return [{"case": "batched_vs_per_video", "model": args.model, "cell": args.cell, "device": args.device,
             "videos": args.videos, **options, "vocab": args.vocab, "hidden_size": args.hidden_size,
             "threads": torch.get_num_threads(), "mean_len": sum(map(len, batched.tokens)) / args.videos,
             "batched_s": batched_s, "per_video_s": reference_s, "identical": identical,
             "max_score_diff": (batched.scores.double().cpu() - reference.scores).abs().max().item(),
             "ratio": reference_s / batched_s}]
