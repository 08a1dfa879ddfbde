"""Captions for a dataset of videos (beam search, batched), spread over processes, and the in-process
validation scores (CIDEr-D, BLEU-4) that select checkpoints.

Validation must be cheap enough to run every epoch, so it tokenises with vidcap's Python tokenizer
(the same rules as the PTB tokenizer) and scores with the fast in-process CIDEr-D and pycocoevalcap's
pure-Python BLEU; no Java process is started. Final test numbers come from ``vidcap eval``/``score``.

Example:
    >>> caps = generate_captions(model, val_dataset, vocab, **EvalSettings().decoding())   # doctest: +SKIP
    >>> validation_scores(caps, val_dataset.references)                               # doctest: +SKIP
    {'CIDEr': 0.412, 'Bleu_4': 0.371}
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import torch
from pycocoevalcap.bleu.bleu import Bleu

from vidcap.data import Batch, EvalDataset, Vocabulary, collate, tokenize
from vidcap.distributed import DistContext, all_gather_objects
from vidcap.metrics import CiderD
from vidcap.models import CaptionModel, beam_search
from vidcap.progress import bar as progress_bar

__all__ = ["MONITORS", "batches_in_order", "generate_captions", "validation_scores"]


def batches_in_order(items: Sequence[Any], indices: Sequence[int], batch_size: int) -> Iterator[Batch]:
    """Collated batches of ``items[i]`` for ``indices``, in order.

    Made here rather than by a DataLoader, whose iterator draws a seed from torch's global random stream:
    validating every epoch must not change the training run's dropout and sampling.

    Example:
        >>> [b.ids for b in batches_in_order(dataset, [0, 1, 2], batch_size=2)]   # doctest: +SKIP
        [['video0', 'video1'], ['video2']]
    """
    for start in range(0, len(indices), batch_size):
        yield collate([items[i] for i in indices[start:start + batch_size]])


def generate_captions(model: CaptionModel, dataset: EvalDataset, vocab: Vocabulary, *, beam_size: int,
                      max_len: int, length_penalty: float, block_trigrams: bool, allow_unk: bool,
                      batch_size: int, device: torch.device | str = "cpu",
                      ctx: DistContext = DistContext(), progress: bool | None = False) -> dict[str, str]:
    """Caption every video of ``dataset``: id → caption text. Under torchrun each process decodes an
    interleaved share and every process gets the whole dict back. ``progress``: a bar over the batches
    (None: :mod:`vidcap.progress`'s rule, drawn on a terminal). The decoding settings have no defaults
    here: they are a model's :class:`~vidcap.trained.model.EvalSettings` (``EvalSettings.decoding()``,
    also the run's validation settings), whose fields hold the one default of each.

    Example:
        >>> settings = EvalSettings(beam_size=5)   # the others at their defaults   # doctest: +SKIP
        >>> generate_captions(model, EvalDataset("feats/", ann, split="test"), vocab,
        ...                   **settings.decoding())["video7010"]  # doctest: +SKIP
        'a man is playing a guitar'
    """
    mine = list(range(ctx.rank, len(dataset), ctx.world_size))
    was_training = model.training
    model.eval()
    captions: dict[str, str] = {}
    try:
        with torch.inference_mode():
            batches = batches_in_order(dataset, mine, batch_size)
            for batch in progress_bar(batches, total=-(-len(mine) // batch_size), desc="decode", unit="batch",
                                      leave=False, show=progress):
                batch = batch.to(device)
                out = beam_search(model, batch.feats, batch.masks, beam_size=beam_size, max_len=max_len,
                                  length_penalty=length_penalty, block_trigrams=block_trigrams,
                                  allow_unk=allow_unk)
                captions.update(zip(batch.ids, (vocab.decode(t) for t in out.tokens)))
    finally:
        model.train(was_training)
    merged: dict[str, str] = {}
    for part in all_gather_objects(captions, ctx):
        merged.update(part)
    return merged


def tokenized(text: str) -> str:
    """A caption as evaluation sees it: PTB-style tokens joined by spaces (CIDEr-D's input form).

    Example:
        >>> tokenized("A man's singing.")
        "a man 's singing"
    """
    return " ".join(tokenize(text))


def tokenized_references(references: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """``references`` with every caption :func:`tokenized`."""
    return {vid: [tokenized(r) for r in refs] for vid, refs in references.items()}


# train.monitor: each validation score a run can select best.pt by → whether higher is better.
# validation_scores gives CIDEr and Bleu_4; the trainer adds loss, the validation references' mean token
# cross-entropy, which sums over every paraphrase where CIDEr credits the one the caption happens to use.
MONITORS: dict[str, bool] = {"CIDEr": True, "Bleu_4": True, "loss": False}


def validation_scores(captions: Mapping[str, str], references: Mapping[str, Sequence[str]],
                      cider: CiderD | None = None) -> dict[str, float]:
    """CIDEr (pycocoevalcap's CIDEr-D) and BLEU-4 of ``captions`` against ``references``.

    ``cider`` is a prepared :class:`CiderD` over the same references (reused across epochs).

    Example:
        >>> scores = validation_scores({"v": "a cat sits on the mat"}, {"v": ["a cat sits on the mat", "a cat sleeps"]})
        >>> round(scores["Bleu_4"], 3)
        1.0
    """
    ids = [vid for vid in references if vid in captions]
    gts = tokenized_references({vid: references[vid] for vid in ids})
    res = {vid: [tokenized(captions[vid])] for vid in ids}
    cider = cider if cider is not None else CiderD(gts)
    cider_score, _ = cider.score(res)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return {"CIDEr": float(cider_score), "Bleu_4": float(bleu[3])}


def reference_scorer(references: Mapping[str, Sequence[str]]) -> CiderD:
    """A :class:`CiderD` over tokenized ``references``, prepared once for every validation."""
    return CiderD(tokenized_references(references))
