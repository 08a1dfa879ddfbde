"""vidcap.models (the package API): registry, builders, the shared interface of every model × cell."""
from __future__ import annotations

import json

import pytest
import torch

from modelkit import (CELL_MODELS, CELL_NAMES, FRAME_DIMS, MODEL_NAMES, MULTI_DIMS, VOCAB, captions, fit,
                      make_batch, random_captions, tiny, token_loss)
from vidcap.data.vocab import EOS
from vidcap.errors import InputError, UsageError
from vidcap.models import get_model, greedy, list_models, model_options


def test_list_models():
    assert list_models() == sorted(MODEL_NAMES)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(UsageError) as err:
        get_model("transformer", vocab_size=10, input_dims=FRAME_DIMS)
    assert "transformer" in str(err.value) and all(n in str(err.value) for n in MODEL_NAMES)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(UsageError) as err:
        get_model("mp-lstm", vocab_size=10, input_dims=FRAME_DIMS, hiden_size=3)
    assert "'hiden_size'" in str(err.value) and "hidden_size" in str(err.value).split("options:")[1]
    assert "attention_size" in model_options("sa-lstm") and "attention_size" not in model_options("s2vt")


def test_unknown_cell_lists_the_valid_ones():
    with pytest.raises(UsageError, match=r"unknown cell 'rnn'; choose one of: gru, lstm"):
        get_model("s2vt", vocab_size=10, input_dims=FRAME_DIMS, cell="rnn")


@pytest.mark.parametrize("cfg, word", [({"hidden_size": 0}, "hidden_size"), ({"layers": 1.5}, "layers"),
                                       ({"dropout": 1.0}, "dropout"), ({"embed_size": True}, "embed_size"),
                                       ({"attention_size": -2}, "attention_size"), ({"vocab_size": 3}, "vocab_size")])
def test_bad_sizes_are_usage_errors(cfg, word):
    with pytest.raises(UsageError, match=word):
        get_model("sa-lstm", input_dims=FRAME_DIMS, **{"vocab_size": 10, **cfg})


@pytest.mark.parametrize("dims", [{}, {"frame": 0}, {"objects": (3,)}, {"objects": (3, 4, 5)}, {"frame": "512"}])
def test_bad_input_dims_are_usage_errors(dims):
    with pytest.raises(UsageError, match="input_dims"):
        get_model("mp-lstm", vocab_size=10, input_dims=dims)


def test_config_rebuilds_the_same_model():
    model = tiny("sa-lstm", MULTI_DIMS, cell="gru", layers=2)
    config = json.loads(json.dumps(model.config))  # as stored in a checkpoint
    assert config["name"] == "sa-lstm" and config["cell"] == "gru" and config["input_dims"]["objects"] == [3, 5]
    clone = get_model(**config).eval()
    clone.load_state_dict(model.state_dict())
    feats, masks = make_batch(MULTI_DIMS)
    caps = captions([[4, 5], [6], [7, 8, 9]])
    torch.testing.assert_close(clone(feats, masks, caps), model(feats, masks, caps), rtol=0, atol=0)


@pytest.mark.parametrize("name, cell", [(n, c) for n in CELL_MODELS for c in CELL_NAMES] + [("topdown", None)])
@pytest.mark.parametrize("dims", [FRAME_DIMS, MULTI_DIMS], ids=["frame", "multi+objects"])
def test_every_model_and_cell_follows_the_interface(name, cell, dims):
    """Shapes, batch-first enc/state, and teacher forcing == step-by-step decoding."""
    model = tiny(name, dims, **({"cell": cell, "layers": 2} if cell else {}))  # topdown: two LSTM cells, no choice
    if cell:
        assert model.config["cell"] == cell
        rnn_types = {type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.RNNBase)}
        assert rnn_types == {cell.upper()}
    feats, masks = make_batch(dims)
    caps = captions([[4, 5, 6], [7], [8, 9]])
    b, t = caps.shape
    logits = model(feats, masks, caps)
    assert logits.shape == (b, t - 1, VOCAB)

    enc = model.encode(feats, masks)
    state = model.init_state(enc)
    assert all(v.size(0) == b for v in [*enc.values(), *state.values()])
    steps = []
    for i in range(t - 1):
        logp, state = model.step(caps[:, i], state, enc)
        assert logp.shape == (b, VOCAB) and all(v.size(0) == b for v in state.values())
        steps.append(logp)
    torch.testing.assert_close(torch.stack(steps, 1), logits.log_softmax(-1), rtol=1e-5, atol=1e-5)

    # Batch-first contract: reordering enc and state with index_select(0, …) reorders the outputs.
    order = torch.tensor([2, 0, 0, 1])
    enc2 = {k: v.index_select(0, order) for k, v in enc.items()}
    state2 = {k: v.index_select(0, order) for k, v in model.init_state(enc).items()}
    logp2, _ = model.step(caps[order, 0], state2, enc2)
    torch.testing.assert_close(logp2, steps[0][order], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_caption_padding_does_not_change_the_loss(name):
    model = tiny(name, MULTI_DIMS)
    feats, masks = make_batch(MULTI_DIMS)
    rows = [[4, 5, 6], [7], [8, 9]]
    short, long = captions(rows), captions(rows, width=9)
    loss_short = token_loss(model(feats, masks, short), short)
    loss_long = token_loss(model(feats, masks, long), long)
    torch.testing.assert_close(loss_long, loss_short)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_frame_and_object_padding_do_not_change_the_outputs(name):
    """Extra padded frames (random values, mask False) and padded detections change nothing."""
    model = tiny(name, MULTI_DIMS)
    feats, masks = make_batch(MULTI_DIMS, lengths=(5, 3, 4))
    gen = torch.Generator().manual_seed(1)
    padded_f, padded_m = {}, {}
    for n, x in feats.items():  # 3 more frames and, for objects, 2 more detections per frame
        pad_k = (0, 0, 0, 2) if x.dim() == 4 else (0, 0)
        grown = torch.nn.functional.pad(x, (*pad_k, 0, 3))
        garbage = torch.randn(grown.shape, generator=gen)
        m = torch.nn.functional.pad(masks[n], pad_k[2:] + (0, 3), value=False)
        padded_f[n] = torch.where(m.unsqueeze(-1), grown, garbage)
        padded_m[n] = m
    caps = captions([[4, 5, 6], [7], [8, 9]])
    torch.testing.assert_close(model(padded_f, padded_m, caps), model(feats, masks, caps), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_missing_or_misshapen_streams_are_input_errors(name):
    model = tiny(name, MULTI_DIMS)
    feats, masks = make_batch(MULTI_DIMS)
    with pytest.raises(InputError, match="lacks stream 'objects'"):
        model.encode({k: v for k, v in feats.items() if k != "objects"}, masks)
    with pytest.raises(InputError, match="stream 'yolov8n/frame'.*D=4"):
        model.encode({**feats, "yolov8n/frame": feats["yolov8n/frame"][..., :3]}, masks)
    with pytest.raises(InputError, match="mask of stream 'objects'"):
        model.encode(feats, {**masks, "objects": masks["objects"][:, :, :2]})
    with pytest.raises(InputError, match="captions"):
        model(feats, masks, captions([[4]])[:, :1])


@pytest.mark.parametrize("name, cell", [("mp-lstm", "lstm"), ("s2vt", "gru"), ("sa-lstm", "lstm")])
def test_tiny_model_overfits_and_captions_exactly(name, cell):
    """Eight synthetic videos with distinct captions: loss → ~0 and greedy decoding reproduces them."""
    torch.manual_seed(0)
    dims = {"frame": 8, "objects": (2, 4)}
    feats, masks = make_batch(dims, lengths=(4, 3, 4, 2, 4, 3, 4, 4), seed=3)
    rows = random_captions(8)
    assert len({tuple(r) for r in rows}) == 8
    caps = captions(rows)
    model = get_model(name, vocab_size=VOCAB, input_dims=dims, embed_size=16, hidden_size=48, dropout=0.0, cell=cell,
                      **({"attention_size": 16} if name == "sa-lstm" else {}))
    fit(model, feats, masks, caps, steps=300, lr=0.02, stop_below=0.005)
    with torch.no_grad():
        final = token_loss(model(feats, masks, caps), caps).item()
    assert final < 0.02
    out = greedy(model, feats, masks, max_len=10)
    assert out.tokens == rows
    assert (out.seq == EOS).sum(1).tolist() == [1] * len(rows)
