"""Hostile checkpoints (`vidcap caption CLIP --model best.pt`): the session's tiny model's checkpoint edited
as an attacker (or a bad disk) would — its plain data rewritten with torch.save, checksums recomputed unless
the case is about them — or replaced by a pickle that runs code. Each must end with exit 1, a message
naming the checkpoint (and the key or tensor), no traceback, nothing written, no code run (the marker
never appears) and no request to the web server. The issue's reproduction (a store's weights set to a
pickle file or a URL, backbone yolov8n) runs in a fresh process."""
from __future__ import annotations

import pickle
import zipfile

import pytest
import torch

from hostilekit import Case, refused, snapshot, unchanged, vidcap
from hostile_models import RunsCode, edit_checkpoint, run, store_spec
from trainkit import BOTTLE
from vidcap.features.backbone import file_digest

SPEC = "stores[0].spec"
YOLO_OPTIONS = {"imgsz": 640, "top_k": 10, "conf": 0.25, "iou": 0.7, "roi_size": 7, "dtype": "fp32", "seed": 0}


def _caption(path, *extra):
    return ["caption", BOTTLE, "--model", path, "--device", "cpu", "--beam-size", "1", *extra]


def _edit(change, *, checksums=True):
    def make(tmp, k):
        return _caption(edit_checkpoint(k, tmp, lambda d: change(d, k), checksums=checksums))
    return make


def _spec(**changes):
    return _edit(lambda d, k: store_spec(d, **changes))


def _yolo_with(weights):
    return _edit(lambda d, k: store_spec(d, backbone="yolov8n", weights=weights(k), options=YOLO_OPTIONS))


def _user_file_of_another_identity(tmp, k):
    return _yolo_with(lambda k: "sha256:" + "0" * 64)(tmp, k) + ["--weights", f"yolov8n={k.evil}"]


def _raw(write):
    def make(tmp, k):
        path = tmp / "best.pt"
        write(path, k)
        return _caption(path)
    return make


def _state(d):
    return d["model"]["state"]


def _set(d, name, index, value):
    tensor = _state(d)[name].clone()
    tensor.view(-1)[index] = value
    _state(d)[name] = tensor


def _flip_tensor_byte(path, k):
    """A copy of the checkpoint with one byte of a tensor's data flipped (the archive stays readable)."""
    raw = bytearray(k.ckpt.read_bytes())
    with zipfile.ZipFile(k.ckpt) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.file_size // 2] ^= 0x04
    path.write_bytes(bytes(raw))


def _truncate(path, k):
    path.write_bytes(k.ckpt.read_bytes()[: k.ckpt.stat().st_size // 2])


def _export(change):
    def make(tmp, k):
        return ["export", edit_checkpoint(k, tmp, lambda d: change(d, k)), tmp / "shared-model"]
    return make


CASES = [
    # the reproduction
    Case("weights: a pickle file, yolov8n", _yolo_with(lambda k: str(k.evil)), (f"{SPEC}.weights", "yolov8n.pt")),
    Case("weights: an http URL, yolov8n", _yolo_with(lambda k: f"{k.url}/yolov8n.pt"), (f"{SPEC}.weights", "http://")),
    Case("weights: sha256 of a pickle, no --weights", _yolo_with(lambda k: f"sha256:{file_digest(k.evil)}"),
         (f"{SPEC}.weights", "--weights yolov8n=FILE")),
    Case("--weights: a pickle of another identity", _user_file_of_another_identity, ("yolov8n.pt", "sha256:000")),
    Case("weights: a bare file name", _spec(weights="evil.pt"), (f"{SPEC}.weights", "evil.pt")),
    Case("weights: a path", _spec(weights="/etc/passwd"), (f"{SPEC}.weights",)),
    Case("unknown backbone", _spec(backbone="resnet9000"), (f"{SPEC}.backbone", "resnet9000")),
    Case("absurd sampling", _spec(sampling={"frames": 0, "fps": None, "start": None, "end": None}),
         (f"{SPEC}.sampling",)),
    Case("a billion frames to decode", _spec(sampling={"frames": 10**9, "fps": None, "start": None, "end": None}),
         (f"{SPEC}.sampling", "at most 4096")),
    Case("streams naming no store's stream", _edit(lambda d, k: d["data"].update(streams=["grid"])), ("grid",)),
    # code in the file itself
    Case("a raw pickle that runs code", _raw(lambda p, k: p.write_bytes(pickle.dumps(RunsCode(k.marker)))),
         ("raw pickle",)),
    Case("torch.save of an object that runs code", _raw(lambda p, k: torch.save(RunsCode(k.marker), p)),
         ("refused to load", "posix.system")),
    Case("code nested in the plain data",
         _raw(lambda p, k: torch.save({"format": "vidcap-checkpoint/1", "model": [RunsCode(k.marker)]}, p)),
         ("refused to load",)),
    # damage
    Case("a flipped byte in a tensor", _raw(_flip_tensor_byte), ("does not match its recorded SHA-256",)),
    Case("a tensor changed, checksums not", _edit(lambda d, k: _set(d, "out.bias", 0, 7.0), checksums=False),
         ("model/state/out.bias", "does not match")),
    Case("a checksum for a tensor that is not there",
         _edit(lambda d, k: d["checksums"].update({"model/state/backdoor": "0" * 64}), checksums=False),
         ("model/state/backdoor",)),
    Case("truncated", _raw(_truncate), ("damaged",)),
    Case("empty file", _raw(lambda p, k: p.write_bytes(b"")), ("empty file",)),
    Case("not a zip or pickle", _raw(lambda p, k: p.write_text("hello")), ("not a PyTorch archive",)),
    # values
    Case("NaN in a weight", _edit(lambda d, k: _set(d, "out.bias", 0, float("nan"))), ("out.bias", "non-finite")),
    Case("Inf in the normaliser",
         _edit(lambda d, k: d["data"]["normalizer"]["std"].update(frame=torch.full_like(
             d["data"]["normalizer"]["std"]["frame"], float("inf")))), ("normalizer/std/frame", "non-finite")),
    Case("huge hidden size", _edit(lambda d, k: d["model"]["config"].update(hidden_size=10**7)), ("needs float32",)),
    Case("huge vocabulary size", _edit(lambda d, k: d["model"]["config"].update(vocab_size=10**9)), ("needs float32",)),
    Case("sizes that overflow", _edit(lambda d, k: d["model"]["config"].update(hidden_size=10**12)), ("model.config",)),
    Case("a hundred thousand layers", _edit(lambda d, k: d["model"]["config"].update(layers=100_000)),
         ("model.config", "layers must be at most 64")),
    Case("unknown model", _edit(lambda d, k: d["model"]["config"].update(name="gpt-5")), ("gpt-5",)),
    Case("model config not a dict", _edit(lambda d, k: d["model"].update(config="sa-lstm")), ("model.config",)),
    Case("a string where a tensor belongs", _edit(lambda d, k: _state(d).update({"out.bias": "rm -rf /"})),
         ("out.bias",)),
    Case("wrong shape", _edit(lambda d, k: _state(d).update({"out.weight": _state(d)["out.weight"][:, :-1].clone()})),
         ("out.weight",)),
    Case("wrong dtype", _edit(lambda d, k: _state(d).update({"out.bias": _state(d)["out.bias"].double()})),
         ("out.bias", "float64")),
    Case("missing tensor", _edit(lambda d, k: _state(d).pop("out.bias")), ("out.bias",)),
    Case("extra tensor", _edit(lambda d, k: _state(d).update({"backdoor": torch.zeros(2)})), ("backdoor",)),
    Case("missing data", _edit(lambda d, k: d.pop("data")), ("not a complete vidcap model checkpoint",)),
    Case("other format", _edit(lambda d, k: d.update(format="vidcap-checkpoint/99")), ("vidcap-checkpoint/99",)),
    Case("not a dict", _raw(lambda p, k: torch.save([1, 2], p)), ("not a vidcap checkpoint",)),
    Case("missing file", lambda tmp, k: _caption(tmp / "nothing.pt"), ("nothing.pt",)),
    # `vidcap export` passes no such description on (to a folder, and from there to the Hub)
    Case("export: weights a pickle file", _export(lambda d, k: store_spec(d, weights=str(k.evil))),
         (f"{SPEC}.weights", "yolov8n.pt")),
    Case("export: weights a URL", _export(lambda d, k: store_spec(d, weights=f"{k.url}/x.pt")),
         (f"{SPEC}.weights", "http://")),
    Case("export: NaN in a weight", _export(lambda d, k: _set(d, "out.bias", 1, float("nan"))), ("non-finite",)),
]
FRESH_PROCESS = {c.name for c in CASES[:4]}


# The fresh-process cases start a Python that imports torch: 6-9 s each on 2 shared cores.
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.name in FRESH_PROCESS else c
                                  for c in CASES], ids=lambda c: c.name)
def test_a_hostile_checkpoint_is_refused(models, tmp_path, case):
    args = case.make(tmp_path, models)
    before, hits = snapshot(tmp_path), len(models.hits)
    result = vidcap(*args) if case.name in FRESH_PROCESS else run(*args)
    model = next(str(a) for a in args if str(a).endswith(".pt"))
    out = refused(result, status=case.status, names=case.names + (model,))
    assert result.stdout == "", out
    unchanged(before, tmp_path)
    assert not models.marker.exists(), "the pickle ran"
    assert len(models.hits) == hits, f"vidcap fetched {models.hits[hits:]}"


def test_the_suite_counts_its_cases():
    assert len(CASES) == 39 and len({c.name for c in CASES}) == len(CASES)
