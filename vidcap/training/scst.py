"""Self-critical sequence training: REINFORCE on CIDEr-D with a baseline (Rennie et al., CVPR 2017).

For each video, ``samples`` captions are drawn from the model (batched over the whole batch); each gets
the reward ``CIDEr-D(sample, references)`` (optionally mixed with BLEU-4), scored in-process by a
:class:`~vidcap.metrics.CiderD` whose document frequencies come from the training references, computed
once. Baselines:

* ``greedy`` — the reward of the model's own greedy caption (the original SCST);
* ``mean`` — the mean reward of the *other* samples of the same video ("new self-critical", Luo 2020),
  which needs no extra decoding and is unbiased.

As in ruotianluo/self-critical.pytorch (a widely used third-party SCST codebase, not Rennie et al.'s own
code), two details:

* ``eos_word`` (default on): the end-of-sentence token counts as a word, ``<eos>``, appended to every
  reference and to every sample (and greedy caption) that ended with it, so it takes part in the
  n-grams and the document frequencies (their ``captioning/utils/rewards.py`` ``array_to_str`` keeps
  the final 0 token, ``scripts/prepro_ngrams.py`` appends ``<eos>`` to the references). A caption cut
  off at ``max_len`` gets no ``<eos>``. Without it, "a man is playing a" loses nothing for ending on an
  article; with it, the n-grams "a <eos>" and "playing a <eos>" match no reference.
* the loss ``-(reward - baseline) · log p(token)`` is summed over the sampled tokens (EOS included) and
  divided by their number (their ``RewardCriterion``: sum over the mask, EOS included, divided by the
  mask's sum), so ``forward`` returns the token count; under torchrun the trainer divides by the count
  summed over processes, which is the same mean over the global batch.

Example:
    >>> objective = SelfCritical(model, vocab, train_refs, samples=5, baseline="mean")   # doctest: +SKIP
    >>> loss_sum, n = objective(batch)                                                 # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Callable

import numpy as np
import torch
from pycocoevalcap.bleu.bleu import Bleu
from torch import Tensor, nn

from vidcap.data import EOS, Batch, Vocabulary
from vidcap.data.vocab import MAX_LEN
from vidcap.errors import UsageError
from vidcap.inference.generate import tokenized, tokenized_references
from vidcap.metrics import CiderD
from vidcap.models import CaptionModel, Decoded, greedy, sample

__all__ = ["BASELINES", "EOS_WORD", "SelfCritical"]

# The end-of-sentence token as a word of reward texts; tokenized captions cannot contain "<".
EOS_WORD = "<eos>"


def _mean_of_others(rewards: np.ndarray, n: int, _greedy: Callable[[], np.ndarray]) -> np.ndarray:
    grouped = rewards.reshape(-1, n)
    return ((grouped.sum(1, keepdims=True) - grouped) / (n - 1)).reshape(-1)


def _greedy_reward(rewards: np.ndarray, n: int, greedy_rewards: Callable[[], np.ndarray]) -> np.ndarray:
    return np.repeat(greedy_rewards(), n)


# baseline name → (rewards of all samples (B*n,), samples per video, greedy-caption rewards (B,) on demand) → (B*n,)
BASELINES: dict[str, Callable[[np.ndarray, int, Callable[[], np.ndarray]], np.ndarray]] = {
    "mean": _mean_of_others, "greedy": _greedy_reward}


class SelfCritical(nn.Module):
    """The SCST objective; ``forward(batch)`` returns ``(loss summed over sampled tokens, number of tokens)``.

    ``references``: video id → raw reference captions of the training videos (tokenized here, as
    evaluation does; with ``eos_word`` each ends in :data:`EOS_WORD`). The keyword arguments are the
    config's ``train.scst_<name>`` keys, whose defaults the schema reads from this signature.
    """

    def __init__(self, model: CaptionModel, vocab: Vocabulary, references: Mapping[str, Sequence[str]], *,
                 samples: int = 5, baseline: str = "mean", temperature: float = 1.0, max_len: int = MAX_LEN,
                 bleu_weight: float = 0.0, eos_word: bool = True):
        super().__init__()
        if baseline not in BASELINES:
            raise UsageError(f"train.scst_baseline={baseline!r}: choose one of {', '.join(BASELINES)}")
        if baseline == "mean" and samples < 2:
            raise UsageError("train.scst_baseline=mean needs train.scst_samples >= 2 (the mean of the other samples)")
        if not 0.0 <= bleu_weight <= 1.0:
            raise UsageError(f"train.scst_bleu_weight={bleu_weight!r}: must lie in [0, 1]")
        self.model, self.vocab = model, vocab
        self.samples, self.baseline, self.temperature, self.max_len = samples, baseline, temperature, max_len
        self.bleu_weight, self.eos_word = float(bleu_weight), bool(eos_word)
        self.refs = {vid: [self._text(r, True) for r in refs]
                     for vid, refs in tokenized_references(references).items()}
        self.cider = CiderD(self.refs)

    def _text(self, tokens: str, ended: bool) -> str:
        if not (self.eos_word and ended):
            return tokens
        return f"{tokens} {EOS_WORD}" if tokens else EOS_WORD

    def rewards(self, ids: Sequence[str], captions: Sequence[str],
                ended: Sequence[bool] | None = None) -> np.ndarray:
        """Reward of each (video id, caption) pair: CIDEr-D, mixed with BLEU-4 by ``bleu_weight``.
        ``ended``: whether each caption ended with EOS (default: all did), which with ``eos_word`` adds
        :data:`EOS_WORD` to its text.

        Example:
            >>> objective.rewards(["video0"], ["a man is singing"])   # doctest: +SKIP
            array([1.73])
        """
        ended = [True] * len(captions) if ended is None else ended
        texts = [self._text(tokenized(c), e) for c, e in zip(captions, ended, strict=True)]
        reward = self.cider.score_pairs(list(zip(ids, texts)))
        if self.bleu_weight:
            keys = [f"{i}" for i in range(len(texts))]
            _, per = Bleu(4).compute_score({k: self.refs[v] for k, v in zip(keys, ids)},
                                           {k: [t if t else "<empty>"] for k, t in zip(keys, texts)}, verbose=0)
            reward = (1 - self.bleu_weight) * reward + self.bleu_weight * np.asarray(per[3])
        return reward

    def greedy_rewards(self, batch: Batch) -> np.ndarray:
        """The reward of each video's greedy caption (eval mode, no gradient): the ``greedy`` baseline."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = greedy(self.model, batch.feats, batch.masks, max_len=self.max_len)
        self.model.train(was_training)
        return self.rewards(batch.ids, [self.vocab.decode(t) for t in out.tokens], _ended(out))

    def forward(self, batch: Batch) -> tuple[Tensor, Tensor]:
        out = sample(self.model, batch.feats, batch.masks, n=self.samples, temperature=self.temperature,
                     max_len=self.max_len)
        return self.loss(batch, out)

    def loss(self, batch: Batch, out: Decoded) -> tuple[Tensor, Tensor]:
        """The loss of given samples (``samples`` rows per video, as :func:`~vidcap.models.sample` returns
        them, with log-probabilities that carry gradients) summed over their tokens, and the number of
        tokens (EOS included)."""
        ids = [vid for vid in batch.ids for _ in range(self.samples)]
        reward = self.rewards(ids, [self.vocab.decode(t) for t in out.tokens], _ended(out))
        base = BASELINES[self.baseline](reward, self.samples, lambda: self.greedy_rewards(batch))
        advantage = torch.as_tensor(reward - base, dtype=out.logprobs.dtype, device=out.logprobs.device)
        loss = -(advantage.unsqueeze(1) * out.logprobs * out.mask).sum()
        return loss, out.mask.sum()


def _ended(out: Decoded) -> list[bool]:
    """Whether each decoded caption ended with EOS (not cut off at max_len)."""
    return (out.seq == EOS).any(1).tolist()
