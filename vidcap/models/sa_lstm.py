"""SA-LSTM (Yao et al., 2015): a recurrent encoder over frames and a decoder with temporal soft attention.

Frame-like streams are concatenated per time step, projected to ``embed_size`` and read by an
LSTM/GRU encoder (packed over the valid frames). At every word the decoder attends over the encoder
outputs and, for each object stream, over all valid detections of the clip (T·K of them, projected to
``embed_size``); its input is [word embedding; frame context; object contexts], and the attention
query is the top layer's previous hidden state. The initial state is a projection of the mean encoder
output.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("sa-lstm", vocab_size=20, input_dims={"frame": 16, "objects": (5, 8)}, hidden_size=32)
    >>> feats = {"frame": torch.randn(2, 6, 16), "objects": torch.randn(2, 6, 5, 8)}
    >>> masks = {"frame": torch.ones(2, 6, dtype=torch.bool), "objects": torch.rand(2, 6, 5) > 0.5}
    >>> m(feats, masks, torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])).shape
    torch.Size([2, 3, 20])
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from vidcap.errors import UsageError
from vidcap.models.attention import AdditiveAttention
from vidcap.models.base import (CaptionModel, Feats, Masks, State, frame_sequence, left_align, masked_mean,
                                positive_int)


class SALSTM(CaptionModel):
    """Recurrent frame encoder + attention decoder (frames, and objects when given)."""

    def __init__(self, *, vocab_size: int, input_dims: Mapping[str, int | Sequence[int]], embed_size: int = 300,
                 hidden_size: int = 512, layers: int = 1, dropout: float = 0.5, cell: str = "lstm",
                 attention_size: int = 256):
        super().__init__(vocab_size=vocab_size, input_dims=input_dims, embed_size=embed_size,
                         hidden_size=hidden_size, layers=layers, dropout=dropout, cell=cell)
        if not self.streams.frames:
            raise UsageError(f"sa-lstm needs at least one frame-like stream (D), got only object streams "
                             f"{list(self.streams.objects)}")
        attention_size = positive_int("attention_size", attention_size)
        self.frame_proj = nn.Linear(sum(self.streams.frames.values()), embed_size)
        self.encoder = self.recurrent(embed_size, prefix="enc_")
        self.frame_att = AdditiveAttention(query_size=hidden_size, memory_size=hidden_size, att_size=attention_size)
        # One projection and one attention per object stream, indexed like streams.objects.
        self.object_proj = nn.ModuleList(nn.Linear(d, embed_size) for _, d in self.streams.objects.values())
        self.object_att = nn.ModuleList(
            AdditiveAttention(query_size=hidden_size, memory_size=embed_size, att_size=attention_size)
            for _ in self.streams.objects)
        self.decoder = self.recurrent(embed_size + hidden_size + embed_size * len(self.streams.objects))
        self.init_proj = nn.ModuleDict({n: nn.Linear(hidden_size, layers * hidden_size) for n in self.decoder.names})

    def encode(self, feats: Feats, masks: Masks) -> State:
        feats, masks = self.check_inputs(feats, masks)
        x, mask = frame_sequence(feats, masks, list(self.streams.frames))
        x, mask, lengths = left_align(self.drop(self.frame_proj(x)), mask)
        memory, _ = self.encoder.run_packed(x, lengths)
        enc = {"frames": memory, "frames_keys": self.frame_att.keys(memory), "frames_mask": mask,
               "frames_mean": masked_mean(memory, mask)}
        for i, (name, proj, att) in enumerate(zip(self.streams.objects, self.object_proj, self.object_att)):
            objects = self.drop(proj(feats[name].flatten(1, 2)))  # (B, T·K, E)
            enc.update({f"objects{i}": objects, f"objects{i}_keys": att.keys(objects),
                        f"objects{i}_mask": masks[name].flatten(1, 2)})
        return enc

    def init_state(self, enc: State) -> State:
        mean = enc["frames_mean"]
        return {n: torch.tanh(proj(mean)).view(mean.size(0), self.layers, self.hidden_size)
                for n, proj in self.init_proj.items()}

    def decode(self, tokens: Tensor, state: State, enc: State) -> tuple[Tensor, State]:
        words = self.drop(self.embed(tokens))
        outputs = []
        for t in range(tokens.size(1)):  # attention depends on the previous state: one step at a time
            query = state["h"][:, -1]
            contexts = [self.frame_att(query, enc["frames_keys"], enc["frames"], enc["frames_mask"])[0]]
            for i, att in enumerate(self.object_att):
                contexts.append(att(query, enc[f"objects{i}_keys"], enc[f"objects{i}"], enc[f"objects{i}_mask"])[0])
            out, state = self.decoder(torch.cat([words[:, t], *contexts], dim=-1).unsqueeze(1), state)
            outputs.append(out)
        return self.out(self.drop(torch.cat(outputs, dim=1))), state
