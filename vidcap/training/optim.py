"""The optimisation registries behind ``train.optimizer``, ``train.schedule`` and ``train.grad_clip_mode``.

They live apart from :mod:`vidcap.training.trainer` so that the config schema can list their names without
importing the training loop (which imports the config: a cycle). This module imports neither.

Example:
    >>> sorted(OPTIMIZERS), list(SCHEDULES), list(CLIPPERS)
    (['adamw', 'sgd'], ['cosine', 'constant', 'step'], ['norm', 'value'])
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

__all__ = ["CLIPPERS", "OPTIMIZERS", "SCHEDULES", "lr_factor"]

# train.schedule: the multiplier after the warm-up, from the progress through the remaining steps (0 → 1)
# and the epochs done (steps / steps per epoch), with train.step_epochs and train.step_gamma. constant is
# what self-critical training uses in ruotianluo/self-critical.pytorch (learning_rate_decay_start: -1);
# step is Caffe's lr_policy "step" (S2VT's solver) and X-modaler's StepLR.
SCHEDULES: dict[str, Callable[[float, float, float, float], float]] = {
    "cosine": lambda progress, epochs, every, gamma: 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))),
    "constant": lambda progress, epochs, every, gamma: 1.0,
    "step": lambda progress, epochs, every, gamma: gamma ** math.floor(epochs / every + 1e-9),
}


def lr_factor(step: int, *, warmup: int, total: int, schedule: str = "cosine", steps_per_epoch: int = 1,
              step_epochs: float = 1.0, step_gamma: float = 0.5) -> float:
    """Learning-rate multiplier: linear warm-up over ``warmup`` steps, then ``schedule`` (cosine: decay
    to 0 at ``total``; constant: 1; step: ``step_gamma`` per ``step_epochs`` epochs done). The config's
    ``train.schedule``, ``train.step_epochs`` and ``train.step_gamma`` take their defaults from this signature.

    Example:
        >>> [round(lr_factor(s, warmup=2, total=6), 3) for s in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
        >>> [lr_factor(s, warmup=2, total=6, schedule="constant") for s in range(4)]
        [0.5, 1.0, 1.0, 1.0]
        >>> [lr_factor(s, warmup=0, total=8, schedule="step", steps_per_epoch=2, step_epochs=1.5) for s in range(8)]
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    """
    if step < warmup:
        return (step + 1) / warmup
    return SCHEDULES[schedule]((step - warmup) / max(1, total - warmup), step / max(1, steps_per_epoch),
                               step_epochs, step_gamma)


# train.optimizer: a builder from the parameters and the train section.
OPTIMIZERS: dict[str, Callable[[Any, Any], torch.optim.Optimizer]] = {
    "adamw": lambda params, t: torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay),
    "sgd": lambda params, t: torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay),
}

# train.grad_clip_mode: how train.grad_clip bounds the gradients.
CLIPPERS: dict[str, Callable[[Any, float], Any]] = {
    "norm": torch.nn.utils.clip_grad_norm_,
    "value": torch.nn.utils.clip_grad_value_,
}
