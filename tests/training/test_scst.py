"""vidcap/training/scst.py: rewards are CIDEr-D, the baselines are the right ones, a step favours better samples,
and `vidcap train train.scst=true` runs from a cross-entropy checkpoint (also under torchrun)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocoevalcap.cider.cider import Cider

from vidcap.data import EOS, PAD, collate
from vidcap.errors import UsageError
from vidcap.inference.generate import tokenized
from vidcap.models import greedy, sample
from vidcap.trained.checkpoint import load_checkpoint
from vidcap.training.rundata import build_data, build_model
from vidcap.training.scst import SelfCritical
from vidcap.training.trainer import train


@pytest.fixture
def setup(tiny_cfg):
    cfg = tiny_cfg()
    data = build_data(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=len(data.vocab), input_dims=data.input_dims)
    refs = data.annotations.references(data.train.video_ids)
    batch = collate([data.train[i] for i in range(0, len(data.train), 2)][:12])
    return model, data, refs, batch


def test_rewards_equal_pycocoevalcap_cider_d_over_the_training_references(setup):
    model, data, refs, _ = setup
    scst = SelfCritical(model, data.vocab, refs, samples=3, eos_word=False)
    ids = sorted(refs)
    candidates = ["a red ball rolls", "the blue cube", "a green star jumps jumps", ""] * len(ids)
    for k in range(3):  # one candidate per id per call, so pycocoevalcap's document frequencies match
        cands = candidates[k:k + len(ids)]
        expected, per_id = Cider().compute_score({v: scst.refs[v] for v in ids},
                                                 {v: [c if c else ""] for v, c in zip(ids, cands)})
        got = scst.rewards(ids, cands)
        np.testing.assert_allclose(got, per_id, rtol=0, atol=1e-9)


def test_the_end_token_counts_as_a_word_as_pycocoevalcap_scores_it_when_added(setup):
    model, data, refs, _ = setup
    scst = SelfCritical(model, data.vocab, refs, samples=3)  # eos_word is on by default
    ids = sorted(refs)
    plain = {v: [tokenized(r) for r in refs[v]] for v in ids}
    assert all(r.endswith(" <eos>") for v in ids for r in scst.refs[v])
    candidates = ["a red ball rolls", "the blue cube", "a green star jumps a", ""] * len(ids)
    for k in range(3):
        cands = candidates[k:k + len(ids)]
        ended = [(i + k) % 3 != 0 for i in range(len(ids))]  # some captions were cut off at max_len
        with_eos = {v: [r + " <eos>" for r in plain[v]] for v in ids}
        res = {v: [(c + " <eos>").strip() if e else c] for v, c, e in zip(ids, cands, ended)}
        _, per_id = Cider().compute_score(with_eos, res)
        np.testing.assert_allclose(scst.rewards(ids, cands, ended), per_id, rtol=0, atol=1e-9)


def test_the_end_token_penalises_a_caption_that_ends_on_an_article(setup):
    model, data, _, _ = setup
    refs = {"v1": ["a man is playing a guitar", "a man is playing", "a man plays a guitar"],
            "v2": ["a cat is sleeping", "a cat sleeps on a bed"], "v3": ["a dog runs", "a dog is running"]}
    cut, whole = "a man is playing a", "a man is playing"
    ratios = []
    for eos_word in (False, True):
        scst = SelfCritical(model, data.vocab, refs, samples=2, eos_word=eos_word)
        r_cut, r_whole = scst.rewards(["v1", "v1"], [cut, whole])
        ratios.append(r_cut / r_whole)
    assert ratios[1] < ratios[0]  # with <eos>, "a <eos>" and "playing a <eos>" match no reference


def test_baselines(setup):
    model, data, refs, batch = setup
    mean = SelfCritical(model, data.vocab, refs, samples=4, baseline="mean")
    rewards = np.array([1.0, 2.0, 3.0, 6.0, 0.0, 0.0, 0.0, 4.0])
    from vidcap.training.scst import BASELINES
    np.testing.assert_allclose(BASELINES["mean"](rewards, 4, lambda: None),
                               [11 / 3, 10 / 3, 3.0, 2.0, 4 / 3, 4 / 3, 4 / 3, 0.0])
    # greedy: each sample's baseline is the reward of its video's greedy caption
    scst = SelfCritical(model, data.vocab, refs, samples=2, baseline="greedy")
    model.eval()
    with torch.no_grad():
        out = greedy(model, batch.feats, batch.masks, max_len=20)
    caps, ended = [data.vocab.decode(t) for t in out.tokens], (out.seq == EOS).any(1).tolist()
    np.testing.assert_allclose(scst.greedy_rewards(batch), mean.rewards(batch.ids, caps, ended))
    with pytest.raises(UsageError, match="scst_samples >= 2"):
        SelfCritical(model, data.vocab, refs, samples=1, baseline="mean")
    with pytest.raises(UsageError, match="choose one of: mean, greedy|choose one of mean, greedy"):
        SelfCritical(model, data.vocab, refs, baseline="best")


def _sequence_logprob(model, batch, seq: torch.Tensor, n: int) -> torch.Tensor:
    """log p(seq) per row by teacher forcing (rows: video * n + k)."""
    index = torch.arange(len(batch)).repeat_interleave(n)
    feats = {k: v[index] for k, v in batch.feats.items()}
    masks = {k: v[index] for k, v in batch.masks.items()}
    caps = torch.cat([torch.full((len(seq), 1), 1), seq], 1)  # BOS + sample
    logits = model(feats, masks, caps).log_softmax(-1)
    lp = logits.gather(2, seq.unsqueeze(2)).squeeze(2)
    return (lp * (seq != 0)).sum(1)


def test_a_step_moves_probability_towards_higher_reward_samples(setup):
    model, data, refs, batch = setup
    scst = SelfCritical(model, data.vocab, refs, samples=5, baseline="mean")
    model.train()
    out = sample(model, batch.feats, batch.masks, n=5, max_len=8, generator=torch.Generator().manual_seed(1))
    reward = scst.rewards([v for v in batch.ids for _ in range(5)], [data.vocab.decode(t) for t in out.tokens],
                          (out.seq == EOS).any(1).tolist())
    advantage = reward - np.repeat(reward.reshape(-1, 5).mean(1), 5) * 5 / 4 + reward / 4  # mean of the others
    assert advantage.std() > 0
    model.eval()  # no dropout: the before/after log-probabilities differ only by the update
    before = _sequence_logprob(model, batch, out.seq, 5).detach()
    model.train()
    loss, n = scst.loss(batch, out)
    assert n.item() == int((out.seq != PAD).sum()) > 5 * len(batch)  # normalised per sampled token, EOS included
    torch.optim.SGD(model.parameters(), lr=0.05).zero_grad()
    (loss / n).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.05 * p.grad
    model.eval()
    after = _sequence_logprob(model, batch, out.seq, 5).detach()
    change = (after - before).numpy()
    assert float((advantage * change).sum()) > 0  # the objective improved
    best, worst = int(np.argmax(advantage)), int(np.argmin(advantage))
    assert change[best] > 0 > change[worst]


@pytest.mark.slow
def test_scst_training_from_a_cross_entropy_checkpoint_single_and_ddp(tiny_cfg, task, tmp_path):
    train(tiny_cfg("train.epochs=6", out=tmp_path / "xe"))
    xe = tmp_path / "xe" / "best.pt"
    summary = train(tiny_cfg("train.epochs=2", "train.scst=true", f"train.init={xe}", "train.lr=0.001",
                             "data.references=sample", "train.scst_samples=3", out=tmp_path / "scst"))
    start = load_checkpoint(xe)["data"]
    ckpt = load_checkpoint(tmp_path / "scst" / "last.pt")
    assert ckpt["data"]["vocab"] == start["vocab"]  # the XE run's vocabulary and normaliser are kept
    assert summary["epochs"] == 2
    # Mixed precision (bf16 autocast; on CPU here, the same code path as on GPU).
    amp = train(tiny_cfg("train.epochs=1", "train.scst=true", f"train.init={xe}", "train.amp=bf16",
                         "data.references=sample", "train.scst_samples=2", out=tmp_path / "amp"))
    assert amp["epochs"] == 1 and all(np.isfinite(list(amp["best"].values())))
    feats, ann = task
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    from tinytask import TINY
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "vidcap", "train", str(Path(__file__).parents[1] / "tiny.yaml"),
                          f"data.features={feats}", f"data.annotations={ann}", *TINY, "train.epochs=1",
                          "train.scst=true", f"train.init={xe}", "train.scst_baseline=greedy",
                          "train.scst_samples=2", f"out={tmp_path / 'ddp'}"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(load_checkpoint(tmp_path / "ddp" / "last.pt")["training"]["rng"]) == 2


def test_bleu_mix_in_the_reward(setup):
    from pycocoevalcap.bleu.bleu import Bleu

    model, data, refs, _ = setup
    cider_only = SelfCritical(model, data.vocab, refs, samples=2)
    mixed = SelfCritical(model, data.vocab, refs, samples=2, bleu_weight=0.25)
    ids = sorted(refs)[:6]
    caps = ["a red ball rolls", "the blue cube spins", "a green star", "a red ball rolls", "the cube", "a star jumps"]
    _, per_id = Bleu(4).compute_score({i: mixed.refs[v] for i, v in enumerate(ids)},  # with <eos>, as theirs
                                      {i: [c + " <eos>"] for i, c in enumerate(caps)}, verbose=0)
    expected = 0.75 * cider_only.rewards(ids, caps) + 0.25 * np.asarray(per_id[3])
    np.testing.assert_allclose(mixed.rewards(ids, caps), expected, rtol=1e-12)
    with pytest.raises(UsageError, match="scst_bleu_weight"):
        SelfCritical(model, data.vocab, refs, bleu_weight=1.5)
