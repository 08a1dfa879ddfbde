"""A reproduction's results: per config, mean ± std over seeds beside the published numbers, with the
commands, configs, feature specs, software versions and step times that produced them.

``results.json`` holds everything (per-seed scores and files, the resolved config of every run);
``results.md`` is the table a paper or a review can quote, and what it rests on.

Example:
    >>> mean_std([0.40, 0.42, 0.44])
    (0.42, 0.02)
    >>> cell(0.4123, 0.0051), cell(0.4123, None)
    ('41.23 ± 0.51', '41.23')
"""
from __future__ import annotations

import platform
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from vidcap.files import write_atomic, write_json
from vidcap.reproduce.plan import METRICS, PUBLISHED
from vidcap.reproduce.runner import Runner

__all__ = ["cell", "mean_std", "software", "summarise", "write_report"]

HEADERS = {"Bleu_4": "BLEU-4", "METEOR": "METEOR", "ROUGE_L": "ROUGE-L", "CIDEr": "CIDEr"}
PACKAGES = ("vidcap", "torch", "torchvision", "numpy", "opencv-python", "pycocoevalcap", "omegaconf")


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    mean = statistics.fmean(values)
    return round(mean, 10), (round(statistics.stdev(values), 10) if len(values) > 1 else None)


def cell(mean: float, std: float | None) -> str:
    """A table cell ×100, as papers print scores."""
    return f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def software(device: str | None) -> dict[str, Any]:
    """Versions of what the numbers depend on (Python, packages, Java, the accelerator when used)."""
    from vidcap.metrics.java import java_version

    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "packages": found, "java": java_version()}
    import torch

    if device and device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def summarise(runner: Runner) -> dict[str, Any]:
    """The results document of a finished ``runner`` (every step done)."""
    configs: dict[str, Any] = {}
    for run in runner.plan.runs:
        seeds = []
        for seed in range(runner.seeds):
            train, test = runner.steps[f"train-{run.config}-seed{seed}"], runner.steps[f"test-{run.config}-seed{seed}"]
            folder = runner.run_dir(run.config, seed)
            seeds.append({"seed": seed, "scores": {m: test["scores"][m] for m in METRICS},
                          "videos_scored": test["scored"], "videos_in_split": test["split_size"],
                          "notes": test["notes"], "captions": str(folder / "test_results.json"),
                          "scores_file": str(folder / "test_scores.json"),
                          "train_command": train["command"], "test_command": test["command"],
                          "config": train["config"]})
        stats = {m: mean_std([s["scores"][m] for s in seeds]) for m in METRICS}
        configs[run.config] = {
            "model": seeds[0]["config"]["model"]["name"], "seeds": seeds,
            "mean": {m: v[0] for m, v in stats.items()}, "std": {m: v[1] for m, v in stats.items()},
            "published": [{"model": p.model, "source": p.source,
                           "scores": {m: s / 100 for m, s in zip(METRICS, p.scores)}}
                          for p in PUBLISHED.get(run.config, ())]}
    stores = sorted({runner.store_name(run.features) for run in runner.plan.runs})
    return {
        "dataset": runner.dataset_name, "split": runner.plan.split, "seeds": runner.seeds, "smoke": runner.smoke,
        "annotations": [str(a) for a in runner.annotations], "video_dir": str(runner.video_dir),
        "videos_without_file": runner.missing,
        "unreadable_videos": {n: runner.steps[f"extract-{n}"]["unreadable"] for n in stores},
        "feature_specs": {n: runner.steps[f"extract-{n}"]["spec"] for n in stores},
        "configs": configs,
        "commands": [r["command"] for r in runner.steps.values()],
        "seconds": {name: r["seconds"] for name, r in runner.steps.items()},
        "software": software(runner.device),
    }


def _table(doc: Mapping[str, Any]) -> list[str]:
    lines = ["| config | model | seeds | " + " | ".join(HEADERS[m] for m in METRICS) + " | test videos / source |",
             "|---|---|---|" + "---|" * len(METRICS) + "---|"]
    for name, entry in doc["configs"].items():
        scored = {(s["videos_scored"], s["videos_in_split"]) for s in entry["seeds"]}
        videos = ", ".join(f"{a} of {b}" for a, b in sorted(scored))
        lines.append(f"| `{name}` | {entry['model']} (vidcap) | {len(entry['seeds'])} | "
                     + " | ".join(cell(entry["mean"][m], entry["std"][m]) for m in METRICS)
                     + f" | this run: {videos} |")
        for pub in entry["published"]:
            lines.append(f"| | published: {pub['model']} | | "
                         + " | ".join(f"{100 * pub['scores'][m]:.1f}" for m in METRICS) + f" | {pub['source']} |")
        if not entry["published"]:
            lines.append("| | published: none checked | | " + " | ".join("—" for _ in METRICS) + " | |")
    return lines


def _step_times(doc: Mapping[str, Any]) -> list[str]:
    groups: dict[str, list[float]] = {}
    for name, seconds in doc["seconds"].items():
        key = name.rsplit("-seed", 1)[0]
        groups.setdefault(key, []).append(seconds)
    lines = ["| step | runs | seconds per run (mean) |", "|---|---|---|"]
    lines += [f"| {k} | {len(v)} | {statistics.fmean(v):.1f} |" for k, v in groups.items()]
    return lines


def markdown(doc: Mapping[str, Any]) -> str:
    """``results.md``: the table first, then everything it rests on."""
    title = f"# {doc['dataset']} reproduction: {doc['split']} split, {doc['seeds']} seed(s)"
    lines = [title, ""]
    if doc["smoke"]:
        lines += [("**Smoke run** (`--smoke`): tiny models, a random-weights ResNet-18 at 64 px, 4 frames, 1-2 "
                   "epochs. The numbers show that the pipeline runs end to end; they are not results."), ""]
    lines += [("Scores ×100 on the test split (pycocoevalcap: PTB tokenizer, BLEU-4, METEOR, ROUGE-L, CIDEr-D), "
               "mean ± sample standard deviation over seeds; each seed's model is the epoch with the best "
               "validation CIDEr."), ""] + _table(doc) + [""]
    lost = {s: v for s, v in doc["videos_without_file"].items() if v["missing"]}
    unreadable = sum(len(v) for v in doc["unreadable_videos"].values())
    lines += ["## Videos", ""]
    lines.append("Annotated videos without a file: " + (", ".join(f"{s} {v['missing']} of {v['annotated']}"
                                                                  for s, v in lost.items()) if lost else "none")
                 + f"; unreadable files: {unreadable}.")
    if lost or unreadable:
        lines.append("Training skipped those videos (`data.allow_missing=true`) and the test scores cover only "
                     "the test videos with features: not comparable to numbers on the whole split.")
    notes = sorted({n for c in doc["configs"].values() for s in c["seeds"] for n in s["notes"]})
    lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    lines += ["## Feature spec", ""]
    for name, spec in doc["feature_specs"].items():
        lines += [f"`{name}`:", "", "```json", _json(spec), "```", ""]
    lines += ["## Commands", "", "The steps as `vidcap` commands, in the order they ran:", "", "```"]
    lines += list(doc["commands"]) + ["```", "", "## Configs", ""]
    for name, entry in doc["configs"].items():
        lines.append(f"- `{name}`: `configs/{name}.yaml` (copied to `configs/` here); each seed's resolved "
                     f"config is its run folder's `config.yaml` and in results.json; test captions (COCO "
                     f"results): " + ", ".join(f"`{s['captions']}`" for s in entry["seeds"]))
    lines += ["", "## Time per step", ""] + _step_times(doc) + ["", "## Software", "", "```json",
                                                                 _json(doc["software"]), "```", ""]
    return "\n".join(lines)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=1, sort_keys=True)


def write_report(runner: Runner) -> tuple[Path, Path]:
    """Write ``OUT/results.json`` and ``OUT/results.md``; returns their paths."""
    doc = summarise(runner)
    # Each config against the previous one, pooled over seeds (vidcap.reproduce.significance).
    from vidcap.reproduce.significance import runner_comparisons, significance_markdown
    doc["significance"] = runner_comparisons(runner)
    text = markdown(doc) + "\n" + significance_markdown(doc["significance"])
    return write_json(runner.out / "results.json", doc), write_atomic(runner.out / "results.md", text)
