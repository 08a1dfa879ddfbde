"""vidcap.models.topdown: Up-Down's two LSTMs, checked step by step against the paper's equations by hand."""
from __future__ import annotations

import torch
from modelkit import VOCAB, captions, fit, make_batch, random_captions, tiny

from vidcap.data.vocab import BOS, EOS, PAD
from vidcap.models import get_model, greedy

DIMS = {"frame": 6, "objects": (3, 5)}


def lstm_by_hand(cell: torch.nn.LSTMCell, x, h, c):
    """c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c'), gates = W_ih x + b_ih + W_hh h + b_hh (i, f, g, o)."""
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def attend_by_hand(att, query, memory, mask):
    """α = softmax over the valid i of wᵀ tanh(W_k m_i + b_k + W_q q); context = Σ α_i m_i."""
    scores = torch.tanh(memory @ att.key_proj.weight.T + att.key_proj.bias
                        + (query @ att.query_proj.weight.T).unsqueeze(1)) @ att.score.weight[0]
    alpha = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
    return (alpha.unsqueeze(-1) * memory).sum(1)


def test_two_steps_equal_the_equations_by_hand():
    model = tiny("topdown", DIMS)
    feats, masks = make_batch(DIMS, lengths=(4, 2))
    enc = model.encode(feats, masks)
    with torch.no_grad():
        # memories: frames (B, T, E) and every detection of the clip (B, T·K, E), embedded by linear + ReLU
        frames = torch.relu(feats["frame"] @ model.memory_embed[0][0].weight.T + model.memory_embed[0][0].bias)
        objects = torch.relu(feats["objects"].flatten(1, 2) @ model.memory_embed[1][0].weight.T
                             + model.memory_embed[1][0].bias)
        fmask, omask = masks["frame"], masks["objects"].flatten(1, 2)
        mean = torch.cat([(frames * fmask.unsqueeze(-1)).sum(1) / fmask.sum(1, keepdim=True),
                          (objects * omask.unsqueeze(-1)).sum(1) / omask.sum(1, keepdim=True)], dim=-1)
        torch.testing.assert_close(enc["mean"], mean)
        zeros = torch.zeros(2, 16)
        att_h, att_c, lang_h, lang_c = zeros, zeros, zeros, zeros  # both LSTMs start from zeros
        state = model.init_state(enc)
        for token in (BOS, 7):
            tokens = torch.full((2,), token)
            word = model.embed.weight[tokens]
            att_h, att_c = lstm_by_hand(model.att_lstm, torch.cat([lang_h, mean, word], -1), att_h, att_c)
            contexts = [attend_by_hand(model.attention[0], att_h, frames, fmask),
                        attend_by_hand(model.attention[1], att_h, objects, omask)]
            lang_h, lang_c = lstm_by_hand(model.lang_lstm, torch.cat([*contexts, att_h], -1), lang_h, lang_c)
            expected = torch.log_softmax(lang_h @ model.out.weight.T + model.out.bias, dim=-1)
            logp, state = model.step(tokens, state, enc)
            torch.testing.assert_close(logp, expected, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(state["lang_h"], lang_h, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(state["att_c"], att_c, rtol=1e-5, atol=1e-5)


def test_options_and_parameters():
    model = tiny("topdown", {"a/frame": 6, "b/frame": 4, "objects": (3, 5)})
    assert model.config == {"name": "topdown", "vocab_size": VOCAB, "input_dims": {"a/frame": 6, "b/frame": 4,
                                                                                   "objects": [3, 5]},
                            "embed_size": 8, "hidden_size": 16, "attention_size": 8, "dropout": 0.0}
    # frame streams share one memory (concatenated per frame: 6 + 4 values); objects have their own
    assert model.memory_embed[0][0].in_features == 10 and model.memory_embed[1][0].in_features == 5
    assert model.att_lstm.input_size == 16 + 2 * 8 + 8 and model.lang_lstm.input_size == 2 * 8 + 16


def test_topdown_overfits_and_captions_exactly():
    """Eight synthetic videos with distinct captions: loss → ~0 and greedy decoding reproduces them."""
    torch.manual_seed(0)
    dims = {"frame": 8, "objects": (2, 4)}
    feats, masks = make_batch(dims, lengths=(4, 3, 4, 2, 4, 3, 4, 4), seed=3)
    rows = random_captions(8)
    caps = captions(rows)
    model = get_model("topdown", vocab_size=VOCAB, input_dims=dims, embed_size=16, hidden_size=48,
                      attention_size=16, dropout=0.0)
    fit(model, feats, masks, caps, steps=300, lr=0.02, stop_below=0.005)
    with torch.no_grad():
        logits = model(feats, masks, caps)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), caps[:, 1:].flatten(), ignore_index=PAD)
    assert loss.item() < 0.02
    out = greedy(model, feats, masks, max_len=10)
    assert out.tokens == rows and (out.seq == EOS).sum(1).tolist() == [1] * len(rows)
