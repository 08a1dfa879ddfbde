"""Minimal PyTorch implementations of vidcap's caption models, the yardstick of the ``train`` benchmark.

Each is the plain loop one would write for a paper (``nn.LSTM`` over sequences, ``nn.LSTMCell`` for
attention decoders), with exactly the parameters of vidcap's model for one frame stream with every frame
valid and one LSTM layer, so :func:`load_from` copies vidcap's weights in and both compute the same loss
(the benchmark checks it). No masks, no packing, no state dicts, no registry: what vidcap adds on top of
the arithmetic is what the benchmark measures.

Example:
    >>> model = MINIMAL["mp-lstm"](vocab=100, feat=16, embed=8, hidden=12, attention=0, dropout=0.0)
    >>> model(torch.randn(2, 5, 16), torch.tensor([[1, 5, 2], [1, 6, 2]])).shape
    torch.Size([2, 2, 100])
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class _Base(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)


class MinimalMPLSTM(_Base):
    """Mean of the frames, projected, next to each word embedding; one LSTM over the caption."""

    def __init__(self, *, vocab: int, feat: int, embed: int, hidden: int, attention: int, dropout: float):
        super().__init__(vocab, embed, hidden, dropout)
        self.proj = nn.Linear(feat, embed)
        self.lstm = nn.LSTM(2 * embed, hidden, batch_first=True)

    def forward(self, frames: Tensor, captions: Tensor) -> Tensor:
        video = self.drop(self.proj(frames.mean(1)))
        words = self.drop(self.embed(captions[:, :-1]))
        out, _ = self.lstm(torch.cat([words, video.unsqueeze(1).expand(-1, words.size(1), -1)], 2))
        return self.out(self.drop(out))


class MinimalS2VT(_Base):
    """Two stacked LSTMs over [frames; zero frames] and [zero words; words]."""

    def __init__(self, *, vocab: int, feat: int, embed: int, hidden: int, attention: int, dropout: float):
        super().__init__(vocab, embed, hidden, dropout)
        self.proj = nn.Linear(feat, embed)
        self.lstm1 = nn.LSTM(embed, hidden, batch_first=True)
        self.lstm2 = nn.LSTM(hidden + embed, hidden, batch_first=True)

    def forward(self, frames: Tensor, captions: Tensor) -> Tensor:
        b, t, _ = frames.shape
        words = self.drop(self.embed(captions[:, :-1]))
        x = self.drop(self.proj(frames))
        out1, _ = self.lstm1(torch.cat([x, x.new_zeros(b, words.size(1), x.size(2))], 1))
        out2, _ = self.lstm2(torch.cat([out1, torch.cat([words.new_zeros(b, t, words.size(2)), words], 1)], 2))
        return self.out(self.drop(out2[:, t:]))


class MinimalSALSTM(_Base):
    """LSTM encoder over the frames; an LSTMCell decoder with additive attention over its outputs."""

    def __init__(self, *, vocab: int, feat: int, embed: int, hidden: int, attention: int, dropout: float):
        super().__init__(vocab, embed, hidden, dropout)
        self.proj = nn.Linear(feat, embed)
        self.encoder = nn.LSTM(embed, hidden, batch_first=True)
        self.key = nn.Linear(hidden, attention)
        self.query = nn.Linear(hidden, attention, bias=False)
        self.score = nn.Linear(attention, 1, bias=False)
        self.init_h, self.init_c = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.cell = nn.LSTMCell(embed + hidden, hidden)

    def forward(self, frames: Tensor, captions: Tensor) -> Tensor:
        memory, _ = self.encoder(self.drop(self.proj(frames)))
        keys, mean = self.key(memory), memory.mean(1)
        h, c = torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))
        words = self.drop(self.embed(captions[:, :-1]))
        outs = []
        for t in range(words.size(1)):
            weights = torch.softmax(self.score(torch.tanh(keys + self.query(h).unsqueeze(1))).squeeze(2), 1)
            context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
            h, c = self.cell(torch.cat([words[:, t], context], 1), (h, c))
            outs.append(h)
        return self.out(self.drop(torch.stack(outs, 1)))


class MinimalTopDown(_Base):
    """Up-Down: an attention LSTMCell over [language state; mean memory; word], attention over the embedded
    frames, a language LSTMCell over [context; attention state]; both start from zeros."""

    def __init__(self, *, vocab: int, feat: int, embed: int, hidden: int, attention: int, dropout: float):
        super().__init__(vocab, embed, hidden, dropout)
        self.memory = nn.Linear(feat, embed)
        self.key = nn.Linear(embed, attention)
        self.query = nn.Linear(hidden, attention, bias=False)
        self.score = nn.Linear(attention, 1, bias=False)
        self.att_lstm = nn.LSTMCell(hidden + 2 * embed, hidden)
        self.lang_lstm = nn.LSTMCell(embed + hidden, hidden)

    def forward(self, frames: Tensor, captions: Tensor) -> Tensor:
        memory = self.drop(torch.relu(self.memory(frames)))
        keys, mean = self.key(memory), memory.mean(1)
        words = self.drop(self.embed(captions[:, :-1]))
        h1 = c1 = h2 = c2 = frames.new_zeros(frames.size(0), self.att_lstm.hidden_size)
        outs = []
        for t in range(words.size(1)):
            h1, c1 = self.att_lstm(torch.cat([h2, mean, words[:, t]], 1), (h1, c1))
            weights = torch.softmax(self.score(torch.tanh(keys + self.query(h1).unsqueeze(1))).squeeze(2), 1)
            context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
            h2, c2 = self.lang_lstm(torch.cat([context, h1], 1), (h2, c2))
            outs.append(h2)
        return self.out(self.drop(torch.stack(outs, 1)))


MINIMAL: dict[str, type[_Base]] = {"mp-lstm": MinimalMPLSTM, "s2vt": MinimalS2VT, "sa-lstm": MinimalSALSTM,
                                   "topdown": MinimalTopDown}

_RNN = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_LINEAR = ("weight", "bias")
# minimal parameter name → vidcap parameter name, per model (the shared embed/out layers map to themselves).
NAMES: dict[str, dict[str, str]] = {
    "mp-lstm": {**{f"proj.{p}": f"video_proj.{p}" for p in _LINEAR},
                **{f"lstm.{p}_l0": f"rnn.rnn.{p}_l0" for p in _RNN}},
    "s2vt": {**{f"proj.{p}": f"frame_proj.{p}" for p in _LINEAR},
             **{f"lstm1.{p}_l0": f"frame_rnn.rnn.{p}_l0" for p in _RNN},
             **{f"lstm2.{p}_l0": f"word_rnn.rnn.{p}_l0" for p in _RNN}},
    "sa-lstm": {**{f"proj.{p}": f"frame_proj.{p}" for p in _LINEAR},
                **{f"encoder.{p}_l0": f"encoder.rnn.{p}_l0" for p in _RNN},
                **{f"key.{p}": f"frame_att.key_proj.{p}" for p in _LINEAR},
                "query.weight": "frame_att.query_proj.weight", "score.weight": "frame_att.score.weight",
                **{f"init_h.{p}": f"init_proj.h.{p}" for p in _LINEAR},
                **{f"init_c.{p}": f"init_proj.c.{p}" for p in _LINEAR},
                **{f"cell.{p}": f"decoder.rnn.{p}_l0" for p in _RNN}},
    "topdown": {**{f"memory.{p}": f"memory_embed.0.0.{p}" for p in _LINEAR},
                **{f"key.{p}": f"attention.0.key_proj.{p}" for p in _LINEAR},
                "query.weight": "attention.0.query_proj.weight", "score.weight": "attention.0.score.weight",
                **{f"{cell}.{p}": f"{cell}.{p}" for cell in ("att_lstm", "lang_lstm") for p in _RNN}},
}


def load_from(minimal: _Base, name: str, vidcap_model: nn.Module) -> None:
    """Copy ``vidcap_model``'s weights into ``minimal``; every parameter of both must be used once.

    Example:
        >>> load_from(model, "mp-lstm", get_model("mp-lstm", ...))   # doctest: +SKIP
    """
    theirs = dict(vidcap_model.named_parameters())
    names = {**{k: k for k in ("embed.weight", "out.weight", "out.bias")}, **NAMES[name]}
    ours = dict(minimal.named_parameters())
    if set(ours) != set(names) or set(names.values()) != set(theirs):
        raise ValueError(f"{name}: the minimal model's parameters do not map onto vidcap's one to one "
                         f"(minimal only: {sorted(set(ours) - set(names))}, "
                         f"vidcap only: {sorted(set(theirs) - set(names.values()))})")
    with torch.no_grad():
        for mine, their in names.items():
            ours[mine].copy_(theirs[their])
