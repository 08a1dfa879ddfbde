"""Up-Down (Anderson et al., CVPR 2018): a two-LSTM decoder, an attention LSTM and a language LSTM.

"Bottom-Up and Top-Down Attention for Image Captioning and Visual Question Answering", section 3.2,
with video memories in place of image regions. Frame-like streams are concatenated per time step and
each object stream's detections are taken over the whole clip (T·K of them); each memory is embedded
(linear + ReLU, as the widely used re-implementation's ``att_embed``) to ``embed_size``. At word t:

1. the attention LSTM reads [h_lang(t-1); mean memories; word embedding] (the paper's
   [h²_{t-1}; v̄; W_e Π_t]) → h_att;
2. additive attention with query h_att over the frames and, separately, over each object stream's valid
   detections → contexts (the paper's v̂_t);
3. the language LSTM reads [contexts; h_att] → h_lang, and the word distribution is softmax(W_p h_lang + b).

Both LSTMs start from zeros (as the paper). They are ``nn.LSTMCell``s: one step per word, which is
all the decoder needs; there is no ``cell``/``layers`` option — the architecture is these two LSTMs.
With CLIP frame features and YOLO object regions: ``configs/topdown_clip_msrvtt.yaml``.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("topdown", vocab_size=20, input_dims={"frame": 16, "objects": (5, 8)}, hidden_size=32,
    ...               embed_size=12, attention_size=10)
    >>> feats = {"frame": torch.randn(2, 6, 16), "objects": torch.randn(2, 6, 5, 8)}
    >>> masks = {"frame": torch.ones(2, 6, dtype=torch.bool), "objects": torch.rand(2, 6, 5) > 0.5}
    >>> m(feats, masks, torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])).shape
    torch.Size([2, 3, 20])
    >>> sorted(m.init_state(m.encode(feats, masks)))
    ['att_c', 'att_h', 'lang_c', 'lang_h']
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from vidcap.errors import UsageError
from vidcap.models.attention import AdditiveAttention
from vidcap.models.base import (
                                CaptionModel,
                                Feats,
                                Masks,
                                State,
                                frame_sequence,
                                masked_mean,
                                positive_int,
                                )


class TopDown(CaptionModel):
    """Attention LSTM + language LSTM over frames (and objects when given); see the module docstring."""

    frame_attention_path = "attention.0"  # memory 0 is the frames, every frame at its own place

    def __init__(self, *, vocab_size: int, input_dims: Mapping[str, int | Sequence[int]], embed_size: int = 300,
                 hidden_size: int = 512, attention_size: int = 256, dropout: float = 0.5):
        super().__init__(vocab_size=vocab_size, input_dims=input_dims, embed_size=embed_size,
                         hidden_size=hidden_size, layers=1, dropout=dropout, cell="lstm")
        if not self.streams.frames:
            raise UsageError(f"topdown needs at least one frame-like stream (D), got only object streams "
                             f"{list(self.streams.objects)}")
        attention_size = positive_int("attention_size", attention_size)
        # Memory 0 is the frames; memories 1.. the object streams in streams.objects order.
        dims = [sum(self.streams.frames.values()), *(d for _, d in self.streams.objects.values())]
        self.memory_embed = nn.ModuleList(nn.Sequential(nn.Linear(d, embed_size), nn.ReLU()) for d in dims)
        self.attention = nn.ModuleList(
            AdditiveAttention(query_size=hidden_size, memory_size=embed_size, att_size=attention_size)
            for _ in dims)
        memories = len(dims) * embed_size
        self.att_lstm = nn.LSTMCell(hidden_size + memories + embed_size, hidden_size)
        self.lang_lstm = nn.LSTMCell(memories + hidden_size, hidden_size)

    def encode(self, feats: Feats, masks: Masks) -> State:
        feats, masks = self.check_inputs(feats, masks)
        frames, frame_mask = frame_sequence(feats, masks, list(self.streams.frames))
        sets = [(frames, frame_mask)] + [(feats[n].flatten(1, 2), masks[n].flatten(1, 2))  # (B, T·K, D)
                                         for n in self.streams.objects]
        enc: State = {}
        means = []
        for i, ((x, mask), embed, att) in enumerate(zip(sets, self.memory_embed, self.attention)):
            memory = self.drop(embed(x))
            enc.update({f"memory{i}": memory, f"memory{i}_keys": att.keys(memory), f"memory{i}_mask": mask})
            means.append(masked_mean(memory, mask))
        enc["mean"] = torch.cat(means, dim=-1)
        return enc

    def init_state(self, enc: State) -> State:
        zeros = enc["mean"].new_zeros(enc["mean"].size(0), self.hidden_size)
        return {"att_h": zeros, "att_c": zeros, "lang_h": zeros, "lang_c": zeros}

    def decode(self, tokens: Tensor, state: State, enc: State) -> tuple[Tensor, State]:
        words = self.drop(self.embed(tokens))
        att_h, att_c, lang_h, lang_c = state["att_h"], state["att_c"], state["lang_h"], state["lang_c"]
        outputs = []
        for t in range(tokens.size(1)):
            att_h, att_c = self.att_lstm(torch.cat([lang_h, enc["mean"], words[:, t]], dim=-1), (att_h, att_c))
            contexts = [att(att_h, enc[f"memory{i}_keys"], enc[f"memory{i}"], enc[f"memory{i}_mask"])[0]
                        for i, att in enumerate(self.attention)]
            lang_h, lang_c = self.lang_lstm(torch.cat([*contexts, att_h], dim=-1), (lang_h, lang_c))
            outputs.append(lang_h)
        state = {"att_h": att_h, "att_c": att_c, "lang_h": lang_h, "lang_c": lang_c}
        return self.out(self.drop(torch.stack(outputs, dim=1))), state
