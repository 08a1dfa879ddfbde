"""Training objectives as modules, so DistributedDataParallel wraps the whole loss computation.

Each objective's ``forward(batch)`` returns ``(loss_sum, count)``: the loss summed over its items
(tokens for cross-entropy) and how many there are. The trainer divides by the count summed over all
processes, so a global batch split across N processes gives the same gradient as one process with the
whole batch (DDP averages gradients over processes, which the trainer undoes by scaling by N).

Example:
    >>> objective = CrossEntropy(model, label_smoothing=0.1)       # doctest: +SKIP
    >>> loss_sum, tokens = objective(batch)                       # doctest: +SKIP
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidcap.data import PAD, Batch
from vidcap.models import CaptionModel, excluded_tokens

__all__ = ["CrossEntropy", "token_count"]


def token_count(captions: Tensor) -> Tensor:
    """Number of predicted (non-PAD) target tokens in a (B, L) caption batch."""
    return (captions[:, 1:] != PAD).sum()


class CrossEntropy(nn.Module):
    """Token cross-entropy with teacher forcing, label smoothing and scheduled sampling.

    Scheduled sampling (Bengio et al., 2015): at each position, with probability ``sampling_prob``
    the model's own sampled previous word replaces the reference word as the next input. The model's
    word is drawn from the tokens a generated caption may hold (:func:`~vidcap.models.excluded_tokens`:
    never PAD or BOS, which no caption continues with, nor ``<unk>``, which evaluation never emits).
    At 0 the whole caption goes through the model in one teacher-forced call (cuDNN's fused LSTM on GPU).
    """

    def __init__(self, model: CaptionModel, *, label_smoothing: float = 0.0):
        super().__init__()
        self.model = model
        self.label_smoothing = float(label_smoothing)
        self.sampling_prob = 0.0

    def _stepwise_logits(self, batch: Batch) -> Tensor:
        captions = batch.captions
        enc = self.model.encode(batch.feats, batch.masks)
        state = self.model.init_state(enc)
        tokens, steps = captions[:, 0], []
        excluded = torch.tensor(excluded_tokens(), device=captions.device)
        for t in range(captions.size(1) - 1):
            logp, state = self.model.step(tokens, state, enc)
            steps.append(logp)
            weights = logp.detach().exp().index_fill(1, excluded, 0.0)
            own = torch.multinomial(weights, 1).squeeze(1)
            use_own = torch.rand(len(tokens), device=tokens.device) < self.sampling_prob
            tokens = torch.where(use_own, own, captions[:, t + 1])
        return torch.stack(steps, 1)  # log-probabilities: cross_entropy's log_softmax leaves them unchanged

    def forward(self, batch: Batch) -> tuple[Tensor, Tensor]:
        captions = batch.captions
        if self.training and self.sampling_prob > 0:
            logits = self._stepwise_logits(batch)
        else:
            logits = self.model(batch.feats, batch.masks, captions)
        logits = logits.float()
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), captions[:, 1:].reshape(-1),
                               ignore_index=PAD, label_smoothing=self.label_smoothing, reduction="sum")
        return loss, token_count(captions)
