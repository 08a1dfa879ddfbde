"""SA-LSTM (Yao et al., 2015): a decoder with temporal soft attention over the frames (and objects).

Frame-like streams are concatenated per time step and projected to ``embed_size``. At every word the
decoder attends over the frame memory and, for each object stream, over all valid detections of the
clip (T·K of them, projected to ``embed_size``); its input is [word embedding; frame context; object
contexts], and the attention query is the top layer's previous hidden state.

Two choices, each a small registry:

* ``encoder`` — what the decoder attends over: ``"none"`` the projected frame features themselves, as
  the paper and its reference re-implementation (hobincar/SA-LSTM ``models/decoder.py``) do; ``"lstm"``
  the outputs of a recurrent encoder run over them (packed over the valid frames), vidcap's first
  variant, whose attention sees each frame in its temporal context.
* ``init_state`` — the decoder state before the first word: ``"zero"`` as the paper and hobincar's
  ``CaptionGenerator.get_rnn_init_hidden``; ``"mean"`` a projection (tanh) of the mean memory.

The constructor's defaults (``lstm``/``mean``) are the first variant, so the configs saved in older
checkpoints, which do not name these options, rebuild the model they were trained with;
``configs/sa_lstm_msrvtt.yaml`` sets ``encoder: none`` and ``init_state: zero``.

Attending over projected features is the paper's attention with factorised weights: the context is
Σ α_i P x_i = P Σ α_i x_i and the key W_k P x_i, so it equals attention over the raw features followed by
a linear map of rank ``embed_size`` (hobincar attends over the raw 2,048-d ResNet features); the
projection keeps the decoder's input size independent of the backbone and lets dropout act on it.

Example:
    >>> from vidcap.models import get_model
    >>> m = get_model("sa-lstm", vocab_size=20, input_dims={"frame": 16, "objects": (5, 8)}, hidden_size=32)
    >>> feats = {"frame": torch.randn(2, 6, 16), "objects": torch.randn(2, 6, 5, 8)}
    >>> masks = {"frame": torch.ones(2, 6, dtype=torch.bool), "objects": torch.rand(2, 6, 5) > 0.5}
    >>> m(feats, masks, torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])).shape
    torch.Size([2, 3, 20])
    >>> paper = get_model("sa-lstm", vocab_size=20, input_dims={"frame": 16}, encoder="none", init_state="zero")
    >>> hasattr(paper, "encoder"), float(paper.init_state(paper.encode(feats, masks))["h"].abs().sum())
    (False, 0.0)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from vidcap.errors import UsageError
from vidcap.models.attention import AdditiveAttention
from vidcap.models.base import (CaptionModel, Feats, Masks, State, frame_sequence, left_align, masked_mean,
                                positive_int, unalign)
from vidcap.registry import UnknownNameError


@dataclass(frozen=True)
class _Encoder:
    """How the frame memory is made from the projected, left-aligned frames (B, T, E)."""

    memory_size: Callable[["SALSTM"], int]
    build: Callable[["SALSTM"], nn.Module | None]
    run: Callable[["SALSTM", Tensor, Tensor], Tensor]


ENCODERS: dict[str, _Encoder] = {
    "lstm": _Encoder(lambda m: m.hidden_size, lambda m: m.recurrent(m.embed_size, prefix="enc_"),
                     lambda m, x, lengths: m.encoder.run_packed(x, lengths)[0]),
    "none": _Encoder(lambda m: m.embed_size, lambda m: None, lambda m, x, lengths: x),
}


def _mean_state(model: "SALSTM", enc: State) -> State:
    mean = enc["frames_mean"]
    return {n: torch.tanh(proj(mean)).view(mean.size(0), model.layers, model.hidden_size)
            for n, proj in model.init_proj.items()}


def _zero_state(model: "SALSTM", enc: State) -> State:
    memory = enc["frames"]
    return model.decoder.zero_state(memory.size(0), memory.device, memory.dtype)


# init_state name → (whether it needs the init_proj layers, the state function)
INIT_STATES: dict[str, tuple[bool, Callable[["SALSTM", State], State]]] = {
    "mean": (True, _mean_state), "zero": (False, _zero_state)}


def _choose(option: str, value: object, table: Mapping[str, object]) -> str:
    if not isinstance(value, str) or value not in table:
        raise UnknownNameError(option, str(value), list(table))
    return value


class SALSTM(CaptionModel):
    """Temporal-attention decoder over the frames (and objects when given); see the module docstring."""

    frame_attention_path = "frame_att"

    def __init__(self, *, vocab_size: int, input_dims: Mapping[str, int | Sequence[int]], embed_size: int = 300,
                 hidden_size: int = 512, layers: int = 1, dropout: float = 0.5, cell: str = "lstm",
                 attention_size: int = 256, encoder: str = "lstm", init_state: str = "mean"):
        super().__init__(vocab_size=vocab_size, input_dims=input_dims, embed_size=embed_size,
                         hidden_size=hidden_size, layers=layers, dropout=dropout, cell=cell)
        if not self.streams.frames:
            raise UsageError(f"sa-lstm needs at least one frame-like stream (D), got only object streams "
                             f"{list(self.streams.objects)}")
        attention_size = positive_int("attention_size", attention_size)
        self.encoder_kind = _choose("encoder", encoder, ENCODERS)
        self.init_kind = _choose("init_state", init_state, INIT_STATES)
        spec = ENCODERS[encoder]
        self.frame_proj = nn.Linear(sum(self.streams.frames.values()), embed_size)
        module = spec.build(self)
        if module is not None:  # no parameters, no state-dict keys for encoder="none"
            self.encoder = module
        memory_size = spec.memory_size(self)
        self.frame_att = AdditiveAttention(query_size=hidden_size, memory_size=memory_size, att_size=attention_size)
        # One projection and one attention per object stream, indexed like streams.objects.
        self.object_proj = nn.ModuleList(nn.Linear(d, embed_size) for _, d in self.streams.objects.values())
        self.object_att = nn.ModuleList(
            AdditiveAttention(query_size=hidden_size, memory_size=embed_size, att_size=attention_size)
            for _ in self.streams.objects)
        self.decoder = self.recurrent(embed_size + memory_size + embed_size * len(self.streams.objects))
        if INIT_STATES[init_state][0]:
            self.init_proj = nn.ModuleDict({n: nn.Linear(memory_size, layers * hidden_size)
                                            for n in self.decoder.names})

    def encode(self, feats: Feats, masks: Masks) -> State:
        feats, masks = self.check_inputs(feats, masks)
        x, mask = frame_sequence(feats, masks, list(self.streams.frames))
        x, mask, lengths = left_align(self.drop(self.frame_proj(x)), mask)
        memory = ENCODERS[self.encoder_kind].run(self, x, lengths)
        enc = {"frames": memory, "frames_keys": self.frame_att.keys(memory), "frames_mask": mask,
               "frames_mean": masked_mean(memory, mask)}
        for i, (name, proj, att) in enumerate(zip(self.streams.objects, self.object_proj, self.object_att)):
            objects = self.drop(proj(feats[name].flatten(1, 2)))  # (B, T·K, E)
            enc.update({f"objects{i}": objects, f"objects{i}_keys": att.keys(objects),
                        f"objects{i}_mask": masks[name].flatten(1, 2)})
        return enc

    def init_state(self, enc: State) -> State:
        return INIT_STATES[self.init_kind][1](self, enc)

    def frame_weights(self, weights: Tensor, mask: Tensor) -> Tensor:
        """The frame memory holds the valid frames first, in order (``left_align``): memory position i is
        the i-th valid frame of ``mask``, so each weight goes back to that frame.

        Example:
            >>> from vidcap.models import get_model
            >>> m = get_model("sa-lstm", vocab_size=9, input_dims={"frame": 4}, hidden_size=8, embed_size=4)
            >>> m.frame_weights(torch.tensor([[0.75, 0.25, 0.0]]), torch.tensor([[True, False, True]])).tolist()
            [[0.75, 0.0, 0.25]]
        """
        return unalign(weights, mask)

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
