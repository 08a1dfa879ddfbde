"""The paper configs follow their sources: each value below was read from the source named beside it
(repository + file at the commit vidcap/reproduce/published.py records), and every key a paper config
sets carries a comment saying where it comes from or why it differs."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from vidcap.config.loading import config_files, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# config -> {dotted key: (value, source)}
SOURCED = {
    "s2vt_msrvtt": {
        # vsubhashini/caffe@recurrent examples/s2vt/s2vt_solver.prototxt and s2vt.prototxt
        "train.optimizer": ("sgd", "solver: Caffe SGD"), "train.momentum": (0.9, "momentum: 0.9"),
        "train.lr": (0.01, "base_lr: 0.01"), "train.schedule": ("step", 'lr_policy: "step"'),
        "train.step_gamma": (0.5, "gamma: 0.5"), "train.weight_decay": (0.0, "weight_decay: 0.0000"),
        "train.grad_clip": (10.0, "clip_gradients: 10"), "train.grad_clip_mode": ("norm", "Caffe ClipGradients"),
        "train.batch_size": (32, "buffer_32_s2vt_80"), "model.dropout": (0.0, "train_state without drop stages"),
        "model.hidden_size": (1000, "lstm num_output 1000"), "model.embed_size": (500, "num_output 500"),
        "data.max_len": (51, "MAX_WORDS 80 - 28 frames - EOS"), "eval.beam_size": (1, "s2vt_captioner.py"),
        "eval.max_len": (50, "s2vt_captioner.py max_length"), "train.amp": ("off", "fp32"),
    },
    "mp_lstm_msrvtt": {
        # YehLi/xmodaler configs/video_caption/msrvtt/base_caption.yaml, mplstm/train.sh
        "train.grad_clip": (0.1, "GRAD_CLIP 0.1"), "train.grad_clip_mode": ("value", "GRAD_CLIP_TYPE value"),
        "model.embed_activation": ("relu", "TOKEN_EMBED/VISUAL_EMBED ACTIVATION relu"),
        "train.schedule": ("step", "StepLR"), "train.step_epochs": (3.0, "STEP_SIZE 3"),
        "train.step_gamma": (0.8, "GAMMA 0.8"), "train.lr": (0.0005, "BASE_LR"), "train.epochs": (50, "EPOCH 50"),
        "train.batch_size": (256, "train.sh TRAIN_BATCH_SIZE 256"), "model.hidden_size": (1024, "DECODER_DIM"),
        "train.label_smoothing": (0.1, "LABELSMOOTHING"), "data.min_count": (6, "word_count_threshold 5"),
        "train.amp": ("off", "fp32"),
    },
    "mp_lstm_msvd": {
        # YehLi/xmodaler configs/video_caption/msvd/base_caption.yaml, mplstm/train.sh, tools/msvd_preprocess.py
        "train.grad_clip": (0.1, "GRAD_CLIP"), "train.grad_clip_mode": ("value", "GRAD_CLIP_TYPE"),
        "model.embed_activation": ("relu", "ACTIVATION"), "train.batch_size": (8, "TRAIN_BATCH_SIZE 8"),
        "data.min_count": (4, "word_count_threshold 3"), "model.hidden_size": (1024, "DECODER_DIM"),
        "train.step_epochs": (3.0, "STEP_SIZE"), "train.step_gamma": (0.8, "GAMMA"), "train.amp": ("off", "fp32"),
    },
    "sa_lstm_msrvtt": {
        # hobincar/SA-LSTM config.py (e4c26fb and HEAD 646bcd8), models/decoder.py
        "model.encoder": ("none", "TemporalAttention, no encoder"), "model.init_state": ("zero", "zeros"),
        "model.hidden_size": (512, "rnn_hidden_size"), "model.embed_size": (468, "embedding_size"),
        "model.attention_size": (256, "rnn_attn_size"), "train.lr": (0.0002, "lr MSR-VTT"),
        "train.epochs": (30, "epochs MSR-VTT"), "train.batch_size": (200, "batch_size"),
        "train.grad_clip": (5.0, "gradient_clip"), "eval.beam_size": (5, "beam_width"), "train.amp": ("off", "fp32"),
    },
    "sa_lstm_msvd": {
        "model.encoder": ("none", "Yao et al.; hobincar"), "model.init_state": ("zero", "hobincar zeros"),
        "train.lr": (0.00005, "hobincar lr MSVD"), "train.epochs": (50, "hobincar epochs MSVD"),
        "model.embed_size": (468, "embedding_size"), "train.amp": ("off", "fp32"),
    },
    "sa_lstm_vatex": {"model.encoder": ("none", "Yao et al."), "model.init_state": ("zero", "Yao et al."),
                      "train.amp": ("off", "fp32")},
    "sa_lstm_scst_msrvtt": {
        # ruotianluo/self-critical.pytorch captioning/utils/opts.py
        "train.grad_clip": (0.1, "grad_clip_value 0.1"), "train.grad_clip_mode": ("value", "grad_clip_mode value"),
        "train.amp": ("off", "fp32"),
        # inherited from sa_lstm_msrvtt.yaml (_base_): the checkpoint it starts from must fit
        "model.embed_size": (468, "[hob] embedding_size"), "model.encoder": ("none", "[hob] no encoder"),
        "data.max_len": (30, "[hob] max_caption_len"), "eval.beam_size": (5, "[hob] beam_width"),
    },
    "s2vt_msvd": {"train.optimizer": ("sgd", "solver"), "train.lr": (0.01, "base_lr"),
                  "model.dropout": (0.0, "no drop stage"), "train.grad_clip": (10.0, "clip_gradients"),
                  "train.amp": ("off", "fp32")},
}
# Keys whose value names a file or the model rather than a setting: no source comment needed.
STRUCTURAL = {"_base_", "annotations", "features", "streams", "name", "out", "init", "scheduled_sampling", "data",
              "model", "train", "eval"}
FULLY_SOURCED = ["s2vt_msrvtt", "mp_lstm_msrvtt", "mp_lstm_msvd", "sa_lstm_msrvtt", "sa_lstm_msvd", "s2vt_msvd",
                 "sa_lstm_scst_msrvtt"]


@pytest.mark.parametrize("name", sorted(SOURCED))
def test_paper_config_has_its_sources_values(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")  # merged with its _base_ files: the values it trains with
    for key, (value, source) in SOURCED[name].items():
        section, _, leaf = key.rpartition(".")
        got = cfg
        for part in key.split("."):
            got = got[part]
        assert got == value, f"{name}: {key} = {got!r}, its source ({source}) says {value!r}"
        assert section and leaf


@pytest.mark.parametrize("name", FULLY_SOURCED)
def test_every_key_a_paper_config_sets_says_where_it_comes_from(name):
    """A key without a comment on its line (or on the line after, for a long value) is unsourced; a key a
    config inherits (_base_) is checked in the file that sets it."""
    unsourced = []
    for path in config_files(CONFIGS / f"{name}.yaml"):
        unsourced += [f"{path.name}: {key}" for key in _unsourced(path.read_text().splitlines())]
    assert not unsourced, f"{name}: keys with no source or DIFFERENCE comment: {unsourced}"


def _unsourced(lines: list[str]) -> list[str]:
    unsourced = []
    for i, line in enumerate(lines):
        match = re.match(r"^\s*([a-z_]+):", line)
        if not match or match.group(1) in STRUCTURAL:
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if "#" not in line and not re.match(r"^\s+#", nxt):
            unsourced.append(match.group(1))
    return unsourced


def test_every_paper_config_trains_in_fp32():
    for path in sorted(CONFIGS.glob("*.yaml")):
        if path.stem in SOURCED or path.stem == "sa_lstm_yolo_msrvtt":
            assert load_config(path).train.amp == "off", path.name
