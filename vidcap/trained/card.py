"""The model card (``README.md``) of a model folder: what the model is, what it was trained on, its scores.

Everything in it comes from the folder's ``config.json`` (model, features, vocabulary, training settings,
the validation record of the saved epoch), the run's ``metrics.json`` (one record per epoch) and, when
given, a ``vidcap eval --json`` document with test scores. Local paths are reduced to file names, so a
card pushed to the Hub does not reveal the machine's folders. The YAML front matter is the Hub's
model-card metadata.

Example:
    >>> card = model_card({"model": {"name": "sa-lstm", "cell": "lstm", "hidden_size": 512},
    ...                    "vocab": {"words": ["<pad>", "a"]}, "stores": [], "streams": ["frame"],
    ...                    "trained": {"epoch": 3, "metrics": {"val": {"CIDEr": 0.41}}}}, name="sa")
    >>> card.splitlines()[1], "| CIDEr | 41.00 |" in card
    ('library_name: vidcap', True)
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

__all__ = ["model_card"]


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object, else empty: a folder's training record (carried into a new card by
    ``Captioner.save_pretrained``) is untrusted JSON, and a card is never worth an error."""
    return value if isinstance(value, Mapping) else {}


def _table(scores: Mapping[str, Any]) -> list[str]:
    """Scores ×100 (as papers print them) in a Markdown table; a loss is printed as it is."""
    rows = ["| metric | value |", "|---|---|"]
    for name, value in scores.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append(f"| {name} | {value:.4f} |" if name == "loss" else f"| {name} | {100 * value:.2f} |")
    return rows


def _features(stores: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for meta in stores:
        spec = meta.get("spec") or {}
        sampling = spec.get("sampling") or {}
        how = (f"{sampling['frames']} frames sampled uniformly" if sampling.get("frames")
               else f"{sampling.get('fps')} frames per second")
        lines.append(f"- `{spec.get('backbone', meta.get('backbone', '?'))}` features, weights "
                     f"`{spec.get('weights', '?')}`, {how}; options `{json.dumps(spec.get('options', {}), sort_keys=True)}`")
    return lines or ["- (no feature spec recorded)"]


def model_card(config: Mapping[str, Any], *, scores: Mapping[str, Any] | None = None,
               history: Sequence[Mapping[str, Any]] | None = None, name: str = "model") -> str:
    """The Markdown model card of a model folder whose ``config.json`` holds ``config``."""
    model = config["model"]
    trained = config.get("trained") if isinstance(config.get("trained"), Mapping) else {}
    title = f"{model['name']} ({model.get('cell', '')}, hidden {model.get('hidden_size', '?')})"
    lines = ["---", "library_name: vidcap", "tags:", "- video-captioning", f"- {model['name']}", "---", "",
             f"# {name}", "",
             f"A vidcap video-captioning model: {title}, with a vocabulary "
             f"of {len(config['vocab']['words'])} words, reading the streams {', '.join(config['streams'])}.", "",
             "## Use", "", "With vidcap installed:", "", "```bash",
             f"vidcap caption clip.mp4 --model hf:ORG/{name}      # or the path of this folder", "```", "",
             "```python", "from vidcap import Captioner",
             f'Captioner.from_pretrained("hf:ORG/{name}").caption(["clip.mp4"])', "```", "",
             "The files are data only: `model.safetensors` (tensors) and `config.json` (model config, "
             "vocabulary, feature normaliser, feature spec). Loading them runs no code.", "",
             "## Features", "", *_features(config.get("stores", [])), "",
             "Videos are decoded and turned into features exactly as listed (vidcap rebuilds the backbone "
             "from this spec and refuses features made any other way).", "",
             "## Training data", ""]
    if not trained:
        lines.append("- unknown: this model was saved without a record of how it was trained")
    if isinstance(trained.get("annotations"), list) and trained["annotations"]:
        lines.append(f"- annotations: {', '.join(f'`{a}`' for a in trained['annotations'])} "
                     f"(trained on split `{trained.get('train_split', 'train')}`, validated on "
                     f"`{trained.get('val_split', 'validate')}`)")
    if isinstance(trained.get("features"), list) and trained["features"]:
        lines.append(f"- feature stores: {', '.join(f'`{f}`' for f in trained['features'])}")
    train_cfg = _mapping(trained.get("train"))
    if train_cfg:
        keys = ("epochs", "batch_size", "lr", "scst", "seed")
        lines.append("- training: " + ", ".join(f"{k}={train_cfg[k]}" for k in keys if k in train_cfg))
    if history:
        lines.append(f"- the run recorded {len(history)} epochs; this model is the one saved at epoch "
                     f"{trained.get('epoch', '?')}")
    lines += ["", "## Scores", ""]
    val = _mapping(_mapping(trained.get("metrics")).get("val"))
    if val:
        lines += [f"Validation (split `{trained.get('val_split', 'validate')}`, epoch {trained.get('epoch', '?')}, "
                  "vidcap's own scorer during training; ×100):", "", *_table(val), ""]
    if scores:
        overall = scores.get("overall") or {}
        lines += [f"Test (`vidcap eval`, split `{scores.get('split', '?')}`, {scores.get('videos_scored', '?')} of "
                  f"{scores.get('videos_in_split', '?')} videos, "
                  f"{'comparable' if scores.get('comparable_to_published') else 'NOT comparable'} to published "
                  "numbers; ×100):", "", *_table(overall), ""]
    if not val and not scores:
        lines += ["No scores were recorded for this model.", ""]
    origin = (f"from `{trained['checkpoint']}` " if trained.get("checkpoint") else "") + (
        f"(trained with vidcap {trained['vidcap_version']})" if trained.get("vidcap_version")
        else "(the checkpoint it was trained as is unknown)")
    lines += ["## Provenance", "", f"Written by vidcap {config.get('vidcap_version', '?')} {origin}.", ""]
    return "\n".join(lines)
