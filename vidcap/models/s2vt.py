"""S2VT (Venugopalan et al., 2015): two stacked recurrent layers read the frames, then write the words.

Two stacks, each of ``layers`` recurrent layers: the frame stack and the language stack, so the model
has ``2 * layers`` layers in all. The paper's model is ``layers=1``: one LSTM reads the frames and one
writes the words (``configs/s2vt_msrvtt.yaml``).

Frame-like streams are concatenated per time step, with each object stream's per-frame mean of valid
detections appended, and projected to ``embed_size``. The first (frame) layer reads the valid frames;
the second (language) layer reads [first-layer output; zero word] meanwhile. Decoding continues both
layers' states: the first layer now reads zero frames, the second [first-layer output; word].
Padding frames are skipped (packed sequences over the left-aligned valid frames), so they change nothing.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("s2vt", vocab_size=20, input_dims={"frame": 16}, hidden_size=32, cell="gru")
    >>> feats, masks = {"frame": torch.randn(2, 6, 16)}, {"frame": torch.ones(2, 6, dtype=torch.bool)}
    >>> m(feats, masks, torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])).shape
    torch.Size([2, 3, 20])
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from vidcap.models.base import CaptionModel, Feats, Masks, State, frame_sequence, left_align


class S2VT(CaptionModel):
    """Sequence to sequence: frame stack + language stack (``layers`` each), shared across encoding and decoding."""

    def __init__(self, *, vocab_size: int, input_dims: Mapping[str, int | Sequence[int]], embed_size: int = 300,
                 hidden_size: int = 512, layers: int = 1, dropout: float = 0.5, cell: str = "lstm"):
        super().__init__(vocab_size=vocab_size, input_dims=input_dims, embed_size=embed_size,
                         hidden_size=hidden_size, layers=layers, dropout=dropout, cell=cell)
        feat_size = sum(self.streams.feature_dims.values())
        self.frame_proj = nn.Linear(feat_size, embed_size)
        self.frame_rnn = self.recurrent(embed_size, prefix="frame_")
        self.word_rnn = self.recurrent(hidden_size + embed_size, prefix="word_")

    def encode(self, feats: Feats, masks: Masks) -> State:
        feats, masks = self.check_inputs(feats, masks)
        x, mask = frame_sequence(feats, masks, list(self.streams.frames), list(self.streams.objects))
        x, _, lengths = left_align(self.drop(self.frame_proj(x)), mask)
        frame_out, frame_state = self.frame_rnn.run_packed(x, lengths)
        no_word = frame_out.new_zeros(*frame_out.shape[:2], self.embed_size)
        _, word_state = self.word_rnn.run_packed(torch.cat([frame_out, no_word], dim=-1), lengths)
        return {**frame_state, **word_state}

    def init_state(self, enc: State) -> State:
        return {name: enc[name] for name in (*self.frame_rnn.names, *self.word_rnn.names)}

    def decode(self, tokens: Tensor, state: State, enc: State) -> tuple[Tensor, State]:
        batch, length = tokens.shape
        h = state[self.frame_rnn.names[0]]
        no_frame = h.new_zeros(batch, length, self.embed_size)
        frame_out, frame_state = self.frame_rnn(no_frame, {n: state[n] for n in self.frame_rnn.names})
        words = self.drop(self.embed(tokens))
        out, word_state = self.word_rnn(torch.cat([frame_out, words], dim=-1),
                                        {n: state[n] for n in self.word_rnn.names})
        return self.out(self.drop(out)), {**frame_state, **word_state}
