"""vidcap/training/trainer.py: learning, checkpoints and metrics, resume after SIGKILL, DDP with gloo."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vidcap.errors import InputError, UsageError
from vidcap.models import get_model, greedy
from vidcap.trained.checkpoint import load_checkpoint
from vidcap.trained.model import EvalSettings, TrainedModel
from vidcap.training.optim import lr_factor
from vidcap.training.trainer import train

from tinytask import CAPTIONS, TINY


def _states_equal(a: dict, b: dict, atol: float = 0.0) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=0) for k in a)


def test_lr_schedule_warms_up_then_decays_to_zero():
    factors = [lr_factor(s, warmup=4, total=20) for s in range(21)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0] and factors[4] == 1.0
    assert all(a >= b for a, b in zip(factors[4:], factors[5:])) and factors[20] == pytest.approx(0.0)


@pytest.mark.slow
def test_training_learns_the_task_and_writes_the_run_folder(tiny_cfg, tmp_path):
    summary = train(tiny_cfg("train.epochs=12"))
    out = tmp_path / "run"
    assert {"best.pt", "last.pt", "metrics.json", "config.yaml"} <= {p.name for p in out.iterdir()}
    records = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in records] == list(range(1, 13))
    assert records[-1]["train_loss"] < records[0]["train_loss"] / 3
    assert summary["best"]["CIDEr"] == max(r["val"]["CIDEr"] for r in records)
    best = load_checkpoint(out / "best.pt")
    assert "training" not in best and best["epoch"] == summary["best_epoch"]
    assert summary["best"]["CIDEr"] > 2.0 and summary["best"]["Bleu_4"] > 0.8


@pytest.mark.slow
def test_an_existing_run_is_never_overwritten(tiny_cfg, tmp_path):
    train(tiny_cfg("train.epochs=1"))
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(UsageError, match="already holds a run"):
        train(tiny_cfg("train.epochs=1"))
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
    with pytest.raises(InputError, match="nothing to resume"):
        train(tiny_cfg("train.epochs=1", out=tmp_path / "empty"), resume=True)
    with pytest.raises(UsageError, match="model.hidden_size: 32 -> 64"):
        train(tiny_cfg("train.epochs=2", "model.hidden_size=64"), resume=True)
    (tmp_path / "run" / "last.pt").unlink()  # best.pt and metrics.json alone still mark a run
    with pytest.raises(UsageError, match="already holds a run"):
        train(tiny_cfg("train.epochs=1"))
    assert (tmp_path / "run" / "best.pt").exists()


@pytest.mark.slow
def test_early_stopping_stops_after_patience_epochs(tiny_cfg, tmp_path):
    # lr 1e-12: nothing improves after the first epoch, so patience 2 stops after epoch 3.
    summary = train(tiny_cfg("train.epochs=10", "train.lr=1e-12", "train.early_stop=2"))
    assert summary["stopped_early"] and summary["epochs"] == 3 and summary["best_epoch"] == 1


@pytest.mark.slow
def test_monitor_loss_keeps_the_epoch_with_the_lowest_validation_cross_entropy(tiny_cfg, tmp_path):
    import torch.nn.functional as F

    from vidcap.data import PAD, CaptionDataset, collate
    from vidcap.training.rundata import build_data

    cfg = tiny_cfg("train.epochs=5", "train.monitor=loss", "model.dropout=0.3")
    summary = train(cfg)
    records = json.loads((tmp_path / "run" / "metrics.json").read_text())
    losses = [r["val"]["loss"] for r in records]
    assert summary["best_epoch"] == 1 + losses.index(min(losses)) and summary["best"]["loss"] == min(losses)
    assert [r["best"] for r in records] == [x < min(losses[:i], default=float("inf")) for i, x in enumerate(losses)]
    assert losses[-1] < losses[0]
    # The recorded value is the mean token cross-entropy of every validation reference under best.pt's
    # model, with dropout off: recomputed here from the checkpoint alone.
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    model = get_model(**best["model"]["config"])
    model.load_state_dict(best["model"]["state"])
    data = build_data(cfg, trained=TrainedModel.from_checkpoint(tmp_path / "run" / "best.pt"))
    pairs = CaptionDataset(list(cfg.data.features), data.annotations, data.vocab, split="validate",
                           max_len=cfg.data.max_len, normalizer=data.normalizer)
    batch = collate([pairs[i] for i in range(len(pairs))])
    with torch.no_grad():
        logits = model.eval()(batch.feats, batch.masks, batch.captions)
    expected = F.cross_entropy(logits.flatten(0, 1), batch.captions[:, 1:].flatten(), ignore_index=PAD)
    assert len(pairs) == 12 and summary["best"]["loss"] == pytest.approx(float(expected), rel=1e-5)


def test_validation_leaves_the_training_random_stream_alone(tiny_cfg, tmp_path):
    from vidcap.inference.generate import generate_captions
    from vidcap.training.trainer import Trainer

    trainer = Trainer(tiny_cfg("model.dropout=0.3"))
    state = torch.get_rng_state()
    loss = trainer.validation_loss()
    assert loss > 0 and torch.equal(torch.get_rng_state(), state)  # dropout and sampling go on unchanged
    assert trainer.validation_loss() == loss  # dropout is off while validating
    captions = generate_captions(trainer.model, trainer.data.val, trainer.data.vocab,
                                 **EvalSettings(beam_size=2, max_len=6, batch_size=4).decoding())  # several batches
    assert len(captions) == len(trainer.data.val) == 6 and torch.equal(torch.get_rng_state(), state)
    scores = trainer.validate()
    assert set(scores) == {"CIDEr", "Bleu_4", "loss"} and torch.equal(torch.get_rng_state(), state)


@pytest.mark.slow
def test_a_training_run_does_not_depend_on_validating(tiny_cfg, tmp_path):
    from vidcap.training.trainer import Trainer

    # Dropout and scheduled sampling both draw from the random stream that validation must leave alone.
    overrides = ("model.dropout=0.3", "train.scheduled_sampling.max_prob=0.25", "train.epochs=2")
    weights = []
    for validate in (True, False):
        trainer = Trainer(tiny_cfg(*overrides, out=tmp_path / f"validate_{validate}"))
        for _ in range(2):
            trainer.train_epoch()
            if validate:
                trainer.validate()
            trainer.epoch += 1
        weights.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
    assert _states_equal(*weights)  # bitwise


def _train_cli(cfg_overrides: list[str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vidcap", "train", str(Path(__file__).parents[1] / "tiny.yaml"),
                             *cfg_overrides, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_after_two_epochs(proc: subprocess.Popen, out: Path, kill) -> int:
    """Wait until the run in ``out`` has logged two epochs (or ended), ``kill()`` it; epochs it logged."""
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if (out / "metrics.json").exists() and len(json.loads((out / "metrics.json").read_text())) >= 2:
            break
        time.sleep(0.01)
    kill()
    proc.wait()
    return len(json.loads((out / "metrics.json").read_text()))


@pytest.mark.slow
@pytest.mark.parametrize("averaging", ["train.ema=0", "train.ema=0.9"])
def test_resume_after_sigkill_reaches_the_uninterrupted_result(task, tmp_path, averaging):
    feats, ann = task
    common = [f"data.features={feats}", f"data.annotations={ann}", *TINY, "train.epochs=6", "model.dropout=0.3",
              "train.scheduled_sampling.max_prob=0.25", "train.scheduled_sampling.ramp_epochs=3", averaging]
    whole = _train_cli([*common, f"out={tmp_path / 'whole'}"])
    assert whole.wait(timeout=600) == 0, whole.stderr.read()[-2000:]

    out = tmp_path / "killed"
    proc = _train_cli([*common, f"out={out}"])
    done = _kill_after_two_epochs(proc, out, lambda: proc.send_signal(signal.SIGKILL))
    assert 2 <= done < 6, f"the kill should land mid-run, after epoch {done} of 6"
    load_checkpoint(out / "last.pt")  # intact whatever the moment of the kill
    resumed = _train_cli([*common, f"out={out}"], "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-2000:]

    a, b = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(out / "last.pt")
    assert _states_equal(a["model"]["state"], b["model"]["state"])  # bitwise (the average, with train.ema)
    if "weights" in a["training"]:  # the optimised weights too
        assert _states_equal(a["training"]["weights"], b["training"]["weights"])
        assert a["training"]["ema_updates"] == b["training"]["ema_updates"]
    assert a["training"]["history"][-1]["val"] == b["training"]["history"][-1]["val"]
    assert json.loads((tmp_path / "whole" / "metrics.json").read_text())[-1]["train_loss"] == \
        json.loads((out / "metrics.json").read_text())[-1]["train_loss"]


@pytest.mark.slow
def test_ddp_on_two_processes_equals_one_process_with_the_global_batch(task, tmp_path):
    feats, ann = task
    common = [f"data.features={feats}", f"data.annotations={ann}", *TINY, "train.epochs=2"]
    one = _train_cli([*common, f"out={tmp_path / 'one'}"])
    assert one.wait(timeout=600) == 0, one.stderr.read()[-2000:]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "vidcap", "train", str(Path(__file__).parents[1] / "tiny.yaml"), *common,
                          f"out={tmp_path / 'two'}"], capture_output=True, text=True, timeout=600, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = load_checkpoint(tmp_path / "one" / "last.pt"), load_checkpoint(tmp_path / "two" / "last.pt")
    assert a["training"]["step"] == b["training"]["step"] > 0
    assert _states_equal(a["model"]["state"], b["model"]["state"], atol=1e-5)
    assert not _states_equal(a["model"]["state"], get_model(**a["model"]["config"]).state_dict(), atol=1e-3)
    assert len(b["training"]["rng"]) == 2  # every rank's random state is kept for resuming
    # Validation decoded in parallel and gathered scores the same captions.
    assert a["training"]["history"][-1]["val"] == pytest.approx(b["training"]["history"][-1]["val"], abs=1e-6)


@pytest.mark.slow
def test_greedy_captions_of_the_trained_model_are_references(tiny_cfg, tmp_path):
    from vidcap.data import Vocabulary
    from vidcap.training.rundata import build_data

    cfg = tiny_cfg("train.epochs=12")
    train(cfg)
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    model = get_model(**best["model"]["config"])
    model.load_state_dict(best["model"]["state"])
    data = build_data(cfg, trained=TrainedModel.from_checkpoint(tmp_path / "run" / "best.pt"))
    vocab = Vocabulary.from_state_dict(best["data"]["vocab"])
    from vidcap.data import collate
    batch = collate([data.val[i] for i in range(len(data.val))])
    out = greedy(model.eval(), batch.feats, batch.masks, max_len=6)
    refs = {c for caps in CAPTIONS.values() for c in caps}
    captions = [vocab.decode(t) for t in out.tokens]
    assert sum(c in refs for c in captions) >= len(captions) - 1, captions


@pytest.mark.slow
def test_train_tool_is_the_train_command(task, tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tools" / "train.py"
    spec = importlib.util.spec_from_file_location("tool_train", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    feats, ann = task
    args = [str(Path(__file__).parents[1] / "tiny.yaml"), f"data.features={feats}", f"data.annotations={ann}", *TINY,
            "train.epochs=2", f"out={tmp_path / 'run'}"]
    assert tool.main(args) == 0
    summary = json.loads(capsys.readouterr().out)  # what `vidcap train` prints
    assert summary["epochs"] == 2 and summary["checkpoint"] == str(tmp_path / "run" / "best.pt")
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())) == 2
    assert tool.main(args) == 2  # the run exists: a usage error, nothing overwritten
    assert "vidcap train: error: " in capsys.readouterr().err


def _torchrun(args: list[str], *extra: str) -> subprocess.Popen:
    """``torchrun --nproc_per_node=2 -m vidcap train`` in its own process group (so it can be killed whole)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "vidcap", "train", str(Path(__file__).parents[1] / "tiny.yaml"), *args, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


@pytest.mark.slow
def test_distributed_run_killed_and_resumed_equals_the_uninterrupted_one(task, tmp_path):
    feats, ann = task
    common = [f"data.features={feats}", f"data.annotations={ann}", *TINY, "train.epochs=5", "model.dropout=0.3"]
    whole = _torchrun([*common, f"out={tmp_path / 'whole'}"])
    assert whole.wait(timeout=600) == 0, whole.stderr.read()[-3000:]

    out = tmp_path / "killed"
    proc = _torchrun([*common, f"out={out}"])
    # The launcher and both ranks, at once.
    done = _kill_after_two_epochs(proc, out, lambda: os.killpg(proc.pid, signal.SIGKILL))
    assert 2 <= done < 5, f"the kill should land mid-run, after epoch {done} of 5"
    resumed = _torchrun([*common, f"out={out}"], "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-3000:]
    a, b = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(out / "last.pt")
    assert a["training"]["step"] == b["training"]["step"]
    assert _states_equal(a["model"]["state"], b["model"]["state"])


@pytest.mark.slow
def test_training_with_whitened_features_learns_and_stores_the_projection(tiny_cfg, tmp_path):
    from vidcap.data import FeatureNormalizer

    summary = train(tiny_cfg("train.epochs=12", "data.whiten=6", "data.deltas=true"))
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    norm = FeatureNormalizer.from_state_dict(best["data"]["normalizer"])
    assert {k: p.shape for k, p in norm.projection.items()} == {"frame": (16, 6)}
    assert best["model"]["config"]["input_dims"] == {"frame": 12}  # 6 whitened values + their differences
    assert summary["best"]["CIDEr"] > 2.0
    with pytest.raises(UsageError, match="data.whiten=6 needs data.normalize: true"):
        train(tiny_cfg("data.whiten=6", "data.normalize=false", out=tmp_path / "raw"))
    with pytest.raises(UsageError, match="whiten_streams names objects"):
        train(tiny_cfg("data.whiten=6", "data.whiten_streams=[objects]", out=tmp_path / "named"))


@pytest.mark.slow
def test_ema_keeps_the_exponential_average_of_every_step_without_changing_training(tiny_cfg, tmp_path):
    from vidcap.training.trainer import Trainer

    trainer = Trainer(tiny_cfg("train.ema=0.75", out=tmp_path / "steps"))
    seen = []
    for batch, _ in zip(trainer.loader, range(4)):
        trainer.train_step(batch)
        seen.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
    expected = seen[0]  # the first update copies the weights, later ones move 25% of the way to them
    for weights in seen[1:]:
        expected = {k: 0.75 * expected[k] + 0.25 * weights[k] for k in weights}
    assert int(trainer.ema.n_averaged) == 4
    assert _states_equal(trainer.ema.module.state_dict(), expected, atol=1e-6)
    assert not _states_equal(trainer.ema.module.state_dict(), seen[-1], atol=1e-4)

    # Over a whole run: the optimised weights are those of a run without averaging (bitwise), and the
    # checkpoints' model is the average, which captioning and train.init then use.
    train(tiny_cfg("train.epochs=2", out=tmp_path / "plain"))
    train(tiny_cfg("train.epochs=2", "train.ema=0.9", out=tmp_path / "ema"))
    plain, ema = load_checkpoint(tmp_path / "plain" / "last.pt"), load_checkpoint(tmp_path / "ema" / "last.pt")
    assert _states_equal(ema["training"]["weights"], plain["model"]["state"])
    assert ema["training"]["ema_updates"] == ema["training"]["step"] > 0
    assert not _states_equal(ema["model"]["state"], ema["training"]["weights"], atol=1e-4)
    from vidcap.trained.checkpoint import save_checkpoint

    del ema["training"]["weights"]  # a damaged resume point is refused, and not overwritten
    save_checkpoint(tmp_path / "ema" / "last.pt", ema)
    before = (tmp_path / "ema" / "last.pt").read_bytes()
    with pytest.raises(InputError, match="lacks the optimised weights"):
        train(tiny_cfg("train.epochs=3", "train.ema=0.9", out=tmp_path / "ema"), resume=True)
    assert (tmp_path / "ema" / "last.pt").read_bytes() == before
    with pytest.raises(UsageError, match=r"train.ema=1 \(override 'train.ema=1'\): must be in \[0, 1\)"):
        train(tiny_cfg("train.ema=1", out=tmp_path / "bad"))


@pytest.mark.slow
def test_step_schedule_sgd_and_value_clipping_are_what_the_run_uses(tiny_cfg, tmp_path):
    """S2VT's solver (Caffe SGD, momentum, lr_policy step) and X-modaler's per-value clip, in a real run:
    the learning rate each epoch logged is the step schedule's, and the task is still learned."""
    steps = [lr_factor(s, warmup=0, total=12, schedule="step", steps_per_epoch=3, step_epochs=2, step_gamma=0.5)
             for s in range(12)]
    assert steps == [1.0] * 6 + [0.5] * 6
    summary = train(tiny_cfg("train.epochs=6", "train.optimizer=sgd", "train.momentum=0.9", "train.lr=0.5",
                             "train.schedule=step", "train.step_epochs=2", "train.step_gamma=0.5",
                             "train.grad_clip=0.1", "train.grad_clip_mode=value", "train.amp=off"))
    records = json.loads((tmp_path / "run" / "metrics.json").read_text())
    rates = [r["lr"] for r in records]  # the rate of each epoch's last step
    assert rates == pytest.approx([0.5, 0.5, 0.25, 0.25, 0.125, 0.125])  # halved after every 2 epochs
    assert records[-1]["train_loss"] < records[0]["train_loss"] and summary["precision"] == "fp32"
    with pytest.raises(UsageError, match="train.optimizer"):
        train(tiny_cfg("train.optimizer=rmsprop", out=tmp_path / "other"))


def test_fp16_training_needs_cuda(tiny_cfg):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UsageError, match="train.amp=fp16 needs a CUDA device"):
        train(tiny_cfg("train.amp=fp16", "device=cpu"))
