"""What each word looked at (vidcap/inference/attention.py, `vidcap caption --preview --attention`): the weights
read from the models' steps are the attention the decoder computed, put back at their frames."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from trainkit import BOTTLE
from vidcap.cli import main
from vidcap.data import BOS
from vidcap.errors import UsageError
from vidcap.inference.attention import frame_attention, require_frame_attention
from vidcap.inference.captioner import Captioner
from vidcap.models import frame_attention_models, get_model, list_models, model_options
from vidcap.trained.checkpoint import load_checkpoint, save_checkpoint

MASK = torch.tensor([[True, False, True, True, False, True]])  # two padded frames inside the clip


def _inputs(objects: bool = False):
    torch.manual_seed(0)
    feats = {"frame": torch.randn(1, 6, 8)}
    masks = {"frame": MASK.clone()}
    if objects:
        feats["objects"] = torch.randn(1, 6, 3, 5)
        masks["objects"] = torch.ones(1, 6, 3, dtype=torch.bool)
    return feats, masks


def test_sa_lstm_weights_are_its_attention_at_each_frame():
    model = get_model("sa-lstm", vocab_size=12, input_dims={"frame": 8}, hidden_size=16, embed_size=8,
                      attention_size=6, dropout=0.0).eval()
    feats, masks = _inputs()
    words = [5, 7, 4]
    got = frame_attention(model, feats, masks, words)
    # By hand: the decoder's query before each word is the top layer's hidden state; its memory holds
    # the four valid frames first, in order.
    with torch.no_grad():
        enc = model.encode(feats, masks)
        state = model.init_state(enc)
        rows = []
        for token in [BOS, *words[:-1]]:
            _, weights = model.frame_att(state["h"][:, -1], enc["frames_keys"], enc["frames"], enc["frames_mask"])
            rows.append(weights[0, :4].numpy())
            _, state = model.step(torch.tensor([token]), state, enc)
    expected = np.zeros((3, 6), np.float32)
    expected[:, [0, 2, 3, 5]] = np.stack(rows)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert (got[:, [1, 4]] == 0).all() and np.allclose(got.sum(1), 1.0)
    assert len({tuple(r.round(6)) for r in got}) > 1  # the attention moves from word to word


def test_topdown_keeps_frames_in_place():
    model = get_model("topdown", vocab_size=12, input_dims={"frame": 8, "objects": (3, 5)}, hidden_size=16,
                      embed_size=8, attention_size=6, dropout=0.0).eval()
    feats, masks = _inputs(objects=True)
    got = frame_attention(model, feats, masks, [5, 6])
    assert got.shape == (2, 6) and (got[:, [1, 4]] == 0).all() and np.allclose(got.sum(1), 1.0)
    with torch.no_grad():  # the first word's attention: query = the attention LSTM's output from BOS
        enc = model.encode(feats, masks)
        s = model.init_state(enc)
        h, _ = model.att_lstm(torch.cat([s["lang_h"], enc["mean"], model.embed(torch.tensor([BOS]))], -1),
                              (s["att_h"], s["att_c"]))
        _, first = model.attention[0](h, enc["memory0_keys"], enc["memory0"], enc["memory0_mask"])
    np.testing.assert_allclose(got[0], first[0].numpy(), rtol=1e-5, atol=1e-7)


def _tiny(name: str, dims: dict):
    sizes = {"hidden_size": 16, "embed_size": 8, "attention_size": 6, "dropout": 0.0}
    return get_model(name, vocab_size=12, input_dims=dims,
                     **{k: v for k, v in sizes.items() if k in model_options(name)}).eval()


@pytest.mark.parametrize("objects", [False, True], ids=["frames", "frames+objects"])
@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_shows_what_each_word_looked_at_or_refuses(name, objects):
    """Each model puts its weights at the frames itself (SA-LSTM's memory holds the valid frames first,
    Up-Down's keeps them in place): with invalid frames inside the clip, each word's weights sum to 1 over
    the valid frames, are 0 at the invalid ones, and each valid frame keeps its weight wherever the padding
    sits (the same valid frames, padded at the end instead, give the same weights)."""
    dims = {"frame": 8, **({"objects": (3, 5)} if objects else {})}
    model = _tiny(name, dims)
    feats, masks = _inputs(objects)
    words = [5, 7, 4]
    if not model.attends_to_frames():
        assert model.frame_attention() is None and name not in frame_attention_models()
        with pytest.raises(UsageError) as err:
            frame_attention(model, feats, masks, words)
        assert str(err.value) == (f"model {name} has no attention over frames, so there is no per-word attention "
                                  f"to show (models that have: {', '.join(frame_attention_models())})")
        return
    assert name in frame_attention_models()
    got = frame_attention(model, feats, masks, words)
    valid = MASK[0].numpy()
    assert got.shape == (3, 6) and (got[:, ~valid] == 0).all() and (got[:, valid] > 0).all()
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-5)
    # The same clip with its two invalid frames moved to the end: the weights move with the frames.
    order = torch.tensor([0, 2, 3, 5, 1, 4])
    moved = frame_attention(model, {n: f[:, order] for n, f in feats.items()},
                            {n: m[:, order] for n, m in masks.items()}, words)
    np.testing.assert_allclose(moved[:, :4], got[:, valid], rtol=1e-5, atol=1e-7)
    assert (moved[:, 4:] == 0).all()


def test_each_model_agrees_with_its_class_and_the_refusal_names_the_option():
    """frame_attention_models asks the registered classes; each instance agrees with its class."""
    for name in list_models():
        model = _tiny(name, {"frame": 8})
        assert model.attends_to_frames() == (name in frame_attention_models())
        assert (model.frame_attention() is not None) == model.attends_to_frames()
    model = _tiny("s2vt", {"frame": 8})
    with pytest.raises(UsageError, match=r"^--attention: model s2vt has no attention over frames"):
        require_frame_attention(model, "--attention: ")


def test_no_words_no_rows_and_one_video_at_a_time():
    model = _tiny("sa-lstm", {"frame": 8})
    feats, masks = _inputs()
    assert frame_attention(model, feats, masks, []).shape == (0, 6)
    two = {n: f.repeat(2, *[1] * (f.dim() - 1)) for n, f in feats.items()}
    with pytest.raises(UsageError, match="one video at a time, got a batch of 2"):
        frame_attention(model, two, {n: m.repeat(2, 1) for n, m in masks.items()}, [5])


def test_describe_and_the_preview_strip_on_a_real_clip(tiny_model, tmp_path, capsys):
    captioner = Captioner.from_checkpoint(tiny_model.ckpt, device="cpu")
    described = captioner.describe(BOTTLE, beam_size=2, attention=True)
    words, weights, positions = described.attention
    assert words == described.caption.split() and weights.shape == (len(words), 4)
    assert positions.tolist() == [0, 1, 2, 3] and np.allclose(weights.sum(1), 1.0, atol=1e-5)
    sizes = {}
    for extra in ([], ["--attention"]):
        png = tmp_path / f"sheet{len(extra)}.png"
        code = main(["caption", str(BOTTLE), "--model", str(tiny_model.ckpt), "--beam-size", "2", "--preview", str(png),
                     *extra])
        out, err = capsys.readouterr()
        assert code == 0 and out == f"{BOTTLE}\t{described.caption}\n", err
        sizes[bool(extra)] = Image.open(png).size
    assert sizes[True][0] == sizes[False][0] and sizes[True][1] > sizes[False][1] + 20 * len(words)


def test_attention_needs_a_preview_and_an_attention_model(tiny_model, tmp_path, capsys):
    code = main(["caption", str(BOTTLE), "--model", str(tiny_model.ckpt), "--attention"])
    assert code == 2 and "give --preview PNG too" in capsys.readouterr().err
    ckpt = load_checkpoint(tiny_model.ckpt)  # the same checkpoint with an mp-lstm decoder
    other = get_model("mp-lstm", **{k: ckpt["model"]["config"][k] for k in ("vocab_size", "input_dims")},
                      hidden_size=16, embed_size=8)
    ckpt["model"] = {"config": other.config, "state": other.state_dict()}
    save_checkpoint(tmp_path / "mp.pt", {k: v for k, v in ckpt.items() if k not in ("format", "vidcap_version")})
    code = main(["caption", str(BOTTLE), "--model", str(tmp_path / "mp.pt"), "--preview", str(tmp_path / "p.png"),
                 "--attention"])
    assert code == 2 and "--attention: model mp-lstm has no attention over frames" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()
