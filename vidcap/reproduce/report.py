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
from dataclasses import asdict, fields
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from vidcap.files import write_atomic, write_json
from vidcap.reproduce.plan import METRICS, Run
from vidcap.reproduce.published import (FEATURES, PTB, Protocol, decoding, differences, history, rows_for, runs,
                                        verdict, vocabulary)
from vidcap.reproduce.runner import Runner

__all__ = ["cell", "mean_std", "run_protocol", "software", "summarise", "write_report"]

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


def run_protocol(runner: Runner, run: Run, config: Mapping[str, Any], test: Mapping[str, Any],
                 train: Mapping[str, Any]) -> Protocol:
    """vidcap's protocol for ``run``, in the words of :mod:`vidcap.reproduce.published`."""
    ex = runner.extraction(run.features)
    features = FEATURES[run.features] if not runner.smoke else (
        f"smoke: {ex.backbone} weights {ex.weights}, sampling {ex.sampling}, options {ex.options}")
    dec = test["decoding"]
    return Protocol(split=runner.plan.split_sizes, vocabulary=vocabulary(config["data"]["min_count"]),
                    references=PTB, features=features,
                    decoding=decoding(dec["beam_size"], dec["length_penalty"], dec["max_len"]),
                    runs=runs(runner.seeds), selection=f"best validation {config['train']['monitor']}",
                    precision=train.get("precision") or "fp32")


def summarise(runner: Runner) -> dict[str, Any]:
    """The results document of a finished ``runner`` (every step done): per run (a config on one
    feature store), its seeds, mean ± std, protocol and, for each published row of its config, the
    like-for-like verdict with the differences listed."""
    configs: dict[str, Any] = {}
    for run in runner.plan.runs:
        seeds = []
        for seed in range(runner.seeds):
            train, test = runner.steps[f"train-{run.name}-seed{seed}"], runner.steps[f"test-{run.name}-seed{seed}"]
            folder = runner.run_dir(run.name, seed)
            seeds.append({"seed": seed, "scores": {m: test["scores"][m] for m in METRICS},
                          "videos_scored": test["scored"], "videos_in_split": test["split_size"],
                          "selected_epoch": train.get("best_epoch"), "epochs_run": train.get("epochs"),
                          "criterion": f"best validation {train['config']['train']['monitor']}",
                          "validation": train.get("validation", {}), "precision": train.get("precision"),
                          "decoding": test.get("decoding"), "vocabulary_size": test.get("vocabulary_size"),
                          "caption_words": test.get("caption_words"),
                          "notes": test["notes"], "captions": str(folder / "test_results.json"),
                          "scores_file": str(folder / "test_scores.json"),
                          "train_command": train["command"], "test_command": test["command"],
                          "config": train["config"]})
        stats = {m: mean_std([s["scores"][m] for s in seeds]) for m in METRICS}
        first = runner.steps[f"train-{run.name}-seed0"]
        protocol = run_protocol(runner, run, first["config"], runner.steps[f"test-{run.name}-seed0"], first)
        published = []
        for row in rows_for(run.config):
            diffs = differences(row.protocol, protocol)
            published.append({"key": row.key, "model": row.model, "source": row.source, "commit": row.commit,
                              "checked": row.checked, "scores": {m: s / 100 for m, s in zip(METRICS, row.scores)},
                              "protocol": asdict(row.protocol), "verdict": verdict(diffs), "differences": diffs})
        configs[run.name] = {
            "config": run.config, "features": run.features, "model": seeds[0]["config"]["model"]["name"],
            "seeds": seeds, "mean": {m: v[0] for m, v in stats.items()}, "std": {m: v[1] for m, v in stats.items()},
            "protocol": asdict(protocol), "published": published}
    stores = sorted({runner.store_name(run.features) for run in runner.plan.runs})
    return {
        "dataset": runner.dataset_name, "split": runner.plan.split, "seeds": runner.seeds, "smoke": runner.smoke,
        "annotations": [str(a) for a in runner.annotations], "video_dir": str(runner.video_dir),
        "videos_without_file": runner.missing,
        "unreadable_videos": {n: runner.steps[f"extract-{n}"]["unreadable"] for n in stores},
        "feature_specs": {n: runner.steps[f"extract-{n}"]["spec"] for n in stores},
        "configs": configs,
        "history": [{"key": r.key, "model": r.model, "scores": dict(zip(METRICS, r.scores)), "source": r.source,
                     "commit": r.commit, "replaced_by": r.replaced_by} for r in history(runner.dataset_name)],
        "commands": [r["command"] for r in runner.steps.values()],
        "seconds": {name: r["seconds"] for name, r in runner.steps.items()},
        "software": software(runner.device),
    }


def _table(doc: Mapping[str, Any]) -> list[str]:
    lines = ["| run | model | features | seeds | " + " | ".join(HEADERS[m] for m in METRICS)
             + " | verdict | test videos / source |",
             "|---|---|---|---|" + "---|" * len(METRICS) + "---|---|"]
    for name, entry in doc["configs"].items():
        scored = {(s["videos_scored"], s["videos_in_split"]) for s in entry["seeds"]}
        videos = ", ".join(f"{a} of {b}" for a, b in sorted(scored))
        lines.append(f"| `{name}` | {entry['model']} (vidcap) | `{entry['features']}` | {len(entry['seeds'])} | "
                     + " | ".join(cell(entry["mean"][m], entry["std"][m]) for m in METRICS)
                     + f" | | this run: {videos} |")
        for pub in entry["published"]:
            commit = f" @ {pub['commit'][:7]}" if pub["commit"] else ""
            lines.append(f"| | published: {pub['model']} | | | "
                         + " | ".join(f"{100 * pub['scores'][m]:.1f}" for m in METRICS)
                         + f" | {pub['verdict']} | {pub['source']}{commit} |")
        if not entry["published"]:
            lines.append("| | published: none checked | | | " + " | ".join("—" for _ in METRICS) + " | | |")
    return lines


def _comparisons(doc: Mapping[str, Any]) -> list[str]:
    """Per run and published row: what differs (the protocol fields), so a reader sees why a gap may exist."""
    lines = ["## Like-for-like", "",
             "A published row and a run compare like-for-like only when every protocol field agrees (split, "
             "vocabulary, reference processing, features, decoding, runs averaged, checkpoint selection, "
             "precision). Where they do not, the differences are listed; a gap between the numbers may be "
             "theirs rather than the model's.", ""]
    for name, entry in doc["configs"].items():
        lines.append(f"### `{name}` (`configs/{entry['config']}.yaml` on `{entry['features']}`)")
        lines += ["", "vidcap's protocol:", ""] + [f"- {f.name}: {entry['protocol'][f.name]}" for f in fields(Protocol)]
        lines.append("")
        for pub in entry["published"]:
            lines.append(f"- **{pub['model']}**: {pub['verdict']}" + (", because:" if pub["differences"] else ""))
            lines += [f"  - {d}" for d in pub["differences"]]
        lines.append("")
    if doc.get("history"):
        lines += ["Replaced at their source (history, not compared):", ""]
        lines += [f"- {h['model']}: " + " / ".join(f"{v:.1f}" for v in h["scores"].values())
                  + f" ({h['source']} @ {h['commit'][:7]}; replaced by `{h['replaced_by']}`)" for h in doc["history"]]
        lines.append("")
    return lines


def _per_seed(doc: Mapping[str, Any]) -> list[str]:
    lines = ["## Per seed", "",
             "| run | seed | " + " | ".join(HEADERS[m] for m in METRICS)
             + " | selected epoch (of run) | criterion | test decoding | vocabulary | caption words mean (min-max, "
               "empty) | precision |",
             "|---|---|" + "---|" * len(METRICS) + "---|---|---|---|---|---|"]
    for name, entry in doc["configs"].items():
        for s in entry["seeds"]:
            dec, words = s.get("decoding") or {}, s.get("caption_words") or {}
            dec_text = decoding(dec["beam_size"], dec["length_penalty"], dec["max_len"]) if dec else "—"
            length = (f"{words['mean']:.1f} ({words['min']}-{words['max']}, {words['empty']})" if words else "—")
            lines.append(f"| `{name}` | {s['seed']} | " + " | ".join(cell(s["scores"][m], None) for m in METRICS)
                         + f" | {s['selected_epoch']} ({s['epochs_run']}) | {s['criterion']} | {dec_text} | "
                           f"{s['vocabulary_size']} | {length} | {s['precision']} |")
    return lines + [""]


def _precision_note(doc: Mapping[str, Any]) -> list[str]:
    """Said when a run did not train in fp32, as every reference did."""
    mixed = sorted({f"`{n}`: {s['precision']}" for n, e in doc["configs"].items() for s in e["seeds"]
                    if s.get("precision") and s["precision"] != "fp32"})
    if not mixed:
        return []
    return [("**Precision**: " + ", ".join(mixed) + ". The references trained in fp32 and the paper configs say "
             "`train.amp: off`; a run under bf16/fp16 autocast (`train.amp=auto|bf16|fp16`) rounds activations "
             "to 8 (bf16) or 11 (fp16) mantissa bits, so its scores may differ from an fp32 run by more than "
             "the seeds' spread: compare it with the published rows as a different protocol."), ""]


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
               "mean ± sample standard deviation over seeds; each seed's model is the epoch its config's "
               "`train.monitor` selects (see Per seed). A run named `<config>-<store>` is the same config on "
               "features extracted as that reference extracted them. The verdict column says whether the "
               "published row was made the way this run was (see Like-for-like)."), ""] + _table(doc) + [""]
    lines += _precision_note(doc) + _comparisons(doc) + _per_seed(doc)
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
        lines.append(f"- `{name}`: `configs/{entry['config']}.yaml` (copied to `configs/` here); each seed's resolved "
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
