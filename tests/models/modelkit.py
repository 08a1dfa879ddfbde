"""Helpers shared by the model tests: tiny models, random padded batches, the reference beam search."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from vidcap.data.vocab import PAD
from vidcap.models import get_model

ROOT = Path(__file__).resolve().parents[2]
VOCAB = 12
CELL_MODELS = ("mp-lstm", "s2vt", "sa-lstm")  # the models with a cell (LSTM/GRU) and layers choice
MODEL_NAMES = (*CELL_MODELS, "topdown")
ATTENTION_MODELS = ("sa-lstm", "topdown")
CELL_NAMES = ("lstm", "gru")
FRAME_DIMS = {"frame": 6}
MULTI_DIMS = {"resnet18/frame": 6, "yolov8n/frame": 4, "objects": (3, 5)}


def tiny(name: str, dims: dict = FRAME_DIMS, *, vocab: int = VOCAB, **cfg):
    """A small model in eval mode with dropout off (so outputs are deterministic)."""
    sizes = {"embed_size": 8, "hidden_size": 16, "dropout": 0.0, **({"attention_size": 8} if name in ATTENTION_MODELS else {})}
    return get_model(name, vocab_size=vocab, input_dims=dims, **{**sizes, **cfg}).eval()


def make_batch(dims: dict, *, lengths=(5, 3, 4), frames: int | None = None, objects_valid: float = 0.6,
               seed: int = 0, dtype=torch.float32):
    """Random features for ``dims`` with ``lengths[i]`` valid frames per video (the rest padding)."""
    gen = torch.Generator().manual_seed(seed)
    b, t = len(lengths), frames or max(lengths)
    frame_mask = torch.arange(t) < torch.tensor(lengths).unsqueeze(1)
    feats, masks = {}, {}
    for name, dim in dims.items():
        if isinstance(dim, int):
            feats[name] = torch.randn(b, t, dim, generator=gen, dtype=dtype)
            masks[name] = frame_mask.clone()
        else:
            k, d = dim
            feats[name] = torch.randn(b, t, k, d, generator=gen, dtype=dtype)
            masks[name] = (torch.rand(b, t, k, generator=gen) < objects_valid) & frame_mask.unsqueeze(2)
    return feats, masks


def captions(rows: list[list[int]], width: int | None = None) -> torch.Tensor:
    """(B, T) BOS + tokens + EOS, right-padded with PAD to ``width``."""
    from vidcap.data.vocab import BOS, EOS, PAD

    seqs = [[BOS, *r, EOS] for r in rows]
    width = width or max(map(len, seqs))
    return torch.tensor([s + [PAD] * (width - len(s)) for s in seqs])


def benchmark_module():
    """tools/benchmarks/beam.py, loaded from its file (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("vidcap_bench_beam", ROOT / "tools" / "benchmarks" / "beam.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_beam_search():
    """The plain per-video beam search that lives in the benchmark."""
    return benchmark_module().reference_beam_search


def random_captions(n: int, *, vocab: int = VOCAB, lengths=(2, 6), seed: int = 5) -> list[list[int]]:
    """``n`` random token lists (ids 4..vocab-1) of random lengths in [lengths[0], lengths[1])."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(*lengths, (n,), generator=gen)
    return [torch.randint(4, vocab, (int(s),), generator=gen).tolist() for s in sizes]


def token_loss(logits: torch.Tensor, caps: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of teacher-forced ``logits`` against ``caps[:, 1:]`` over the non-PAD tokens."""
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), caps[:, 1:].flatten(), ignore_index=PAD)


def fit(model, feats, masks, caps, *, steps: int, lr: float = 0.02, stop_below: float = 0.0) -> float:
    """Train ``model`` on one batch with Adam; returns the last training loss (the model ends in eval mode)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = token_loss(model(feats, masks, caps), caps)
        loss.backward()
        opt.step()
        if loss.item() < stop_below:
            break
    model.eval()
    return loss.item()
