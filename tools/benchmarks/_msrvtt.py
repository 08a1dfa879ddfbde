"""MSR-VTT-shaped benchmark data: a feature store of random ResNet-152-sized features for the training
split, with the real MSR-VTT training references when ``--references FOLDER`` names MSR-VTT's annotation
folder (else made-up captions of a similar length spread), written once into a cache folder and reused by
later runs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vidcap.config.loading import load_config
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import FeatureStore, StoreWriter
from vidcap.models import model_options

WORDS = ("a man woman is playing singing cooking talking about the car dog guitar on stage in kitchen "
         "with to people are running game video of news show girl boy").split()


# The model the training benchmarks measure, pinned here (not read from configs/, which follow the papers
# and change) so that figures stay comparable: the SA-LSTM of issue #19's measurements (recurrent frame
# encoder, initial state from the mean encoding, hidden 512, embed 512, attention 256, dropout 0.5), the
# other models at the same sizes; everything else at vidcap's defaults (vocabulary min_count 2: 13,615
# words on MSR-VTT's training captions, captions cut to 20 words, normalised features, lr 2e-4, batch 64).
MODEL = {"hidden_size": 512, "embed_size": 512, "attention_size": 256, "dropout": 0.5, "layers": 1, "cell": "lstm",
         "encoder": "lstm", "init_state": "mean"}


def training_config(ann_path: Path, store: Path, out: Path, model: str = "sa-lstm", overrides: tuple = ()):
    """The benchmark's training config for ``model`` (see ``MODEL``), with ``overrides`` (key=value) on top."""
    sizes = [f"model.{k}={v}" for k, v in MODEL.items() if k in model_options(model)]
    return load_config(None, [f"data.annotations={ann_path}", f"data.features={store}", f"out={out}",
                              f"model.name={model}", *sizes, "train.log_every=1000000", *overrides])


def add_references_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--references", type=Path, default=None, metavar="FOLDER",
                        help="MSR-VTT's annotation folder (train_val_videodatainfo.json): the real training "
                             "references, as docs/benchmarks.md's figures used; without it, made-up captions")


def training_references(folder: Path | None) -> Path | None:
    """MSR-VTT's ``train_val_videodatainfo.json`` in ``folder`` (``--references``); None without one."""
    if folder is None:
        return None
    real = folder / "train_val_videodatainfo.json"
    if not real.is_file():
        raise SystemExit(f"--references {folder}: no train_val_videodatainfo.json there (MSR-VTT's annotation "
                         "folder), or leave --references out for made-up captions")
    return real


def annotations(folder: Path, videos: int, seed: int = 0, references: Path | None = None) -> tuple[Path, str]:
    """An annotation file whose first ``videos`` training videos have 20 references each: the real ones
    of MSR-VTT's annotation folder ``references``, else made-up captions."""
    real = training_references(references)
    rng = np.random.default_rng(seed)
    if real is not None:
        data = json.loads(real.read_text())
        keep = {v["video_id"] for v in data["videos"] if v["split"] == "train"}
        keep = set(sorted(keep, key=lambda v: int(v[5:]))[:videos])
        vids = [v for v in data["videos"] if v["video_id"] in keep]
        sents = [s for s in data["sentences"] if s["video_id"] in keep]
        source = "msrvtt-train"
    else:
        vids = [{"video_id": f"video{i}", "split": "train"} for i in range(videos)]
        sents = [{"video_id": f"video{i}", "sen_id": 20 * i + k,
                  "caption": " ".join(rng.choice(WORDS, size=int(rng.integers(5, 15))))}
                 for i in range(videos) for k in range(20)]
        source = "synthetic"
    # Validation needs a split too; the benchmarks do not validate, one video suffices.
    vids.append({"video_id": "val0", "split": "validate"})
    sents.append({"video_id": "val0", "caption": "a man is talking", "sen_id": 10 ** 7})
    path = folder / f"ann-{videos}.json"
    path.write_text(json.dumps({"videos": vids, "sentences": sents}))
    return path, source


def feature_store(folder: Path, ids: list[str], frames: int = 28, dim: int = 2048, seed: int = 0) -> Path:
    """A store with random float16 (frames, dim) ``frame`` features for ``ids`` (kept between runs)."""
    path = folder / f"store-{frames}x{dim}"
    writer = StoreWriter(path, FeatureSpec.external("resnet152", {"frame": "float16"}, frames=frames),
                         {"frame": [dim]})
    have = set(FeatureStore(path).ids())
    rng = np.random.default_rng(seed)
    for vid in ids:
        if vid not in have:
            writer.write(vid, {"frame": rng.standard_normal((frames, dim), dtype=np.float32)},
                         indices=np.arange(frames), timestamps=np.arange(frames) / 3.0, info={"fps": 30.0})
    return path
