"""Hostile model folders (`vidcap caption CLIP --model FOLDER`): each case edits the session's exported
tiny model as an attacker (or a bad disk) would, and the command must end with exit 1, a message naming
the folder's file and what is wrong, no traceback, nothing written anywhere, no code run (the marker file
of the pickle never appears) and no request to the web server.

The first cases are the issue's reproduction (a store's weights set to a pickle file or a URL, backbone
yolov8n); they run in a fresh process, exactly as a user would type it. The rest run in-process."""
from __future__ import annotations

import json
import os
import struct

import pytest
import torch

from hostilekit import Case, refused, snapshot, unchanged, vidcap
from hostile_models import copy_folder, edit_config, edit_tensors, run, store_spec
from trainkit import BOTTLE
from vidcap.features.backbone import file_digest
from vidcap.trained.folder import CONFIG, FIRST_FORMAT, WEIGHTS

SPEC = "stores[0].spec"


def _caption(folder, *extra):
    return ["caption", BOTTLE, "--model", folder, "--device", "cpu", "--beam-size", "1", *extra]


def _spec(**changes):
    def make(tmp, k):
        folder = copy_folder(k, tmp)
        edit_config(folder, lambda c: store_spec(c, **changes(k) if callable(changes.get("_")) else changes))
        return _caption(folder)
    return make


def _yolo_with(weights):
    """The store's backbone set to yolov8n (default YOLO options) and its weights to ``weights(kit)``."""
    def make(tmp, k):
        folder = copy_folder(k, tmp)
        options = {"imgsz": 640, "top_k": 10, "conf": 0.25, "iou": 0.7, "roi_size": 7, "dtype": "fp32", "seed": 0}
        edit_config(folder, lambda c: store_spec(c, backbone="yolov8n", weights=weights(k), options=options))
        return _caption(folder)
    return make


def _user_file_of_another_identity(tmp, k):
    args = _yolo_with(lambda k: "sha256:" + "0" * 64)(tmp, k)
    return args + ["--weights", f"yolov8n={k.evil}"]


def _config(change):
    def make(tmp, k):
        folder = copy_folder(k, tmp)
        edit_config(folder, change)
        return _caption(folder)
    return make


def _tensors(change):
    def make(tmp, k):
        folder = copy_folder(k, tmp)
        edit_tensors(folder, change)
        return _caption(folder)
    return make


def _file(change):
    def make(tmp, k):
        folder = copy_folder(k, tmp)
        change(folder, k)
        return _caption(folder)
    return make


def _set(tensors, name, index, value):
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[index] = value


def _flip(folder, k):
    raw = bytearray((folder / WEIGHTS).read_bytes())
    raw[-5] ^= 0x10
    (folder / WEIGHTS).write_bytes(bytes(raw))


def _header(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _lying_header(folder, k):
    header, data = _header(folder / WEIGHTS)
    key = next(n for n in header if n != "__metadata__" and len(header[n]["shape"]) == 2)
    header[key]["shape"] = [header[key]["shape"][0] * 3, header[key]["shape"][1]]
    text = json.dumps(header).encode()
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", len(text)) + text + data)


def _huge_header_length(folder, k):
    raw = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(struct.pack("<Q", 1 << 62) + raw[8:])


def _pickle_as_safetensors(folder, k):
    (folder / WEIGHTS).write_bytes(k.evil.read_bytes())


def _link_out(name, target):
    def change(folder, k):
        (folder / name).unlink()
        (folder / name).symlink_to(target(k))
    return change


def _older_format_two_streams(c):
    c.update(format=FIRST_FORMAT)
    dims = dict(c["model"]["input_dims"])
    c["model"]["input_dims"] = {"bilinear": 1, **{n: d - 1 for n, d in dims.items()}}


W = (WEIGHTS,)
C = (CONFIG,)
CASES = [
    # the reproduction: a weights file or URL named by the model is never opened, fetched or unpickled
    Case("weights: a pickle file, yolov8n", _yolo_with(lambda k: str(k.evil)), (f"{SPEC}.weights", "yolov8n.pt")),
    Case("weights: an http URL, yolov8n", _yolo_with(lambda k: f"{k.url}/yolov8n.pt"), (f"{SPEC}.weights", "http://")),
    Case("weights: sha256 of a pickle, no --weights", _yolo_with(lambda k: f"sha256:{file_digest(k.evil)}"),
         (f"{SPEC}.weights", "--weights yolov8n=FILE")),
    Case("--weights: a pickle of another identity", _user_file_of_another_identity, ("yolov8n.pt", "sha256:000")),
    Case("weights: a bare file name", _spec(weights="evil.pt"), (f"{SPEC}.weights", "evil.pt")),
    Case("weights: a path climbing out", _spec(weights="../../../etc/passwd"), (f"{SPEC}.weights",)),
    Case("weights: file:// URL", _spec(weights="file:///etc/passwd"), (f"{SPEC}.weights",)),
    Case("weights: another family's release", _spec(weights="ResNet50_Weights.IMAGENET1K_V2"), (f"{SPEC}.weights",)),
    Case("weights: not a string", _spec(weights=["none(seed=0)"]), (f"{SPEC}.weights",)),
    # the rest of the feature spec
    Case("unknown backbone", _spec(backbone="resnet9000"), (f"{SPEC}.backbone", "resnet9000")),
    Case("backbone option it does not have", _spec(options={"exec": "rm -rf /"}), (SPEC, "exec")),
    Case("absurd backbone option", _spec(options={"input_size": 10**6}), (SPEC, "input_size")),
    Case("spec is not a spec", _config(lambda c: c["stores"][0].update(spec="resnet18")), ("feature spec",)),
    Case("absurd sampling", _spec(sampling={"frames": -4, "fps": None, "start": None, "end": None}),
         (f"{SPEC}.sampling",)),
    Case("a billion frames to decode", _spec(sampling={"frames": 10**9, "fps": None, "start": None, "end": None}),
         (f"{SPEC}.sampling", "at most 4096")),
    # the model's config
    Case("unknown model", _config(lambda c: c["model"].update(name="gpt-5")), C + ("gpt-5",)),
    Case("unknown model option", _config(lambda c: c["model"].update(exec="rm -rf /")), C + ("exec",)),
    Case("huge hidden size", _config(lambda c: c["model"].update(hidden_size=10**7)), W + ("needs float32",)),
    Case("huge vocabulary size", _config(lambda c: c["model"].update(vocab_size=10**9)), W + ("needs float32",)),
    Case("sizes that overflow", _config(lambda c: c["model"].update(hidden_size=10**12, embed_size=10**12)), C),
    Case("a hundred thousand layers", _config(lambda c: c["model"].update(layers=100_000)),
         C + ("layers must be at most 64",)),
    Case("vocabulary of another size", _config(lambda c: c["vocab"]["words"].pop()), C + ("vocabulary",)),
    Case("other format", _config(lambda c: c.update(format="vidcap-model/99")), C + ("vidcap-model/99",)),
    Case("stores not a list", _config(lambda c: c.update(stores={"0": 1})), C + ("stores",)),
    Case("streams naming no store's stream", _config(lambda c: c.update(streams=["objects"])), ("objects",)),
    Case("input_dims as an object in this format", _config(lambda c: c["model"].update(input_dims={"frame": 1024})),
         C + ("input_dims",)),
    Case("input_dims naming a stream twice",
         _config(lambda c: c["model"].update(input_dims=[["frame", 512], ["frame", 512]])), C + ("twice",)),
    Case("older format, two frame streams (order lost)", _config(_older_format_two_streams),
         C + ("2 frame streams", "Export the model again")),
    Case("decoding a billion words", _config(lambda c: c["eval"].update(max_len=10**9)), ("eval.max_len",)),
    Case("length penalty NaN", _config(lambda c: c["eval"].update(length_penalty=float("nan"))),
         # refused where it enters: JSON has no NaN (vidcap.files.read_json)
         C + ("NaN", "not JSON")),
    Case("decoding batches of 0", _config(lambda c: c["eval"].update(batch_size=0)), ("eval.batch_size",)),
    Case("checksums missing", _config(lambda c: c.pop("checksums")), C + ("checksums",)),
    Case("checksum of a tensor not held",
         _config(lambda c: c["checksums"].update({"model.backdoor": "0" * 64})), C + ("model.backdoor",)),
    Case("config not JSON", _file(lambda f, k: (f / CONFIG).write_text("{not json")), C + ("invalid JSON",)),
    Case("config nested 100000 deep", _file(lambda f, k: (f / CONFIG).write_text("[" * 100000 + "]" * 100000)),
         C + ("nests deeper than 64 levels",)),
    Case("config not UTF-8", _file(lambda f, k: (f / CONFIG).write_bytes(b"\xff\xfe{}")), C),
    # the tensors
    Case("NaN in a weight", _tensors(lambda t: _set(t, "model.out.bias", 0, float("nan"))),
         W + ("out.bias", "non-finite")),
    Case("Inf in the normaliser", _tensors(lambda t: _set(t, "normalizer.std.frame", 3, float("inf"))),
         W + ("normalizer.std.frame", "non-finite")),
    Case("a flipped byte", _file(_flip), W + ("does not match its SHA-256",)),
    Case("wrong shape", _tensors(lambda t: t.update({"model.out.weight": t["model.out.weight"][:, :-1].clone()})),
         W + ("out.weight",)),
    Case("wrong dtype", _tensors(lambda t: t.update({"model.out.bias": t["model.out.bias"].double()})),
         W + ("out.bias", "float64")),
    Case("missing tensor", _tensors(lambda t: t.pop("model.out.bias")), W + ("out.bias",)),
    Case("extra tensor", _tensors(lambda t: t.update({"model.backdoor": torch.zeros(2)})), W + ("backdoor",)),
    Case("lying safetensors header", _file(_lying_header), W + ("not a valid safetensors file",)),
    Case("header length 2**62", _file(_huge_header_length), W + ("not a valid safetensors file",)),
    Case("truncated weights", _file(lambda f, k: (f / WEIGHTS).write_bytes((f / WEIGHTS).read_bytes()[:999])), W),
    Case("empty weights", _file(lambda f, k: (f / WEIGHTS).write_bytes(b"")), W),
    Case("a pickle posing as safetensors", _file(_pickle_as_safetensors), W + ("not a valid safetensors file",)),
    # the files
    Case("missing weights", _file(lambda f, k: (f / WEIGHTS).unlink()), W + ("missing",)),
    Case("missing config", _file(lambda f, k: (f / CONFIG).unlink()), C + ("missing",)),
    Case("config.json linking out of the folder", _file(_link_out(CONFIG, lambda k: "/etc/passwd")),
         C + ("outside the model folder",)),
    Case("model.safetensors linking out of the folder", _file(_link_out(WEIGHTS, lambda k: k.folder / WEIGHTS)),
         W + ("outside the model folder",)),
    Case("weights a folder", _file(lambda f, k: ((f / WEIGHTS).unlink(), (f / WEIGHTS).mkdir())), W),
]
FRESH_PROCESS = {c.name for c in CASES[:4]}  # the reproduction, as a user runs it


# The fresh-process cases start a Python that imports torch: about 5 s each on 2 shared cores.
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.name in FRESH_PROCESS else c
                                  for c in CASES], ids=lambda c: c.name)
def test_a_hostile_model_folder_is_refused(models, tmp_path, case):
    args = case.make(tmp_path, models)
    before, kit_before, hits = snapshot(tmp_path), snapshot(models.folder), len(models.hits)
    result = vidcap(*args) if case.name in FRESH_PROCESS else run(*args)
    out = refused(result, status=case.status, names=case.names)
    assert result.stdout == "" and "error" not in out.strip().rpartition("\n")[0].lower(), out  # one message, no caption
    unchanged(before, tmp_path)
    unchanged(kit_before, models.folder)
    assert not models.marker.exists(), "the pickle ran"
    assert len(models.hits) == hits, f"vidcap fetched {models.hits[hits:]}"


@pytest.mark.slow
def test_the_recorded_weights_path_is_never_used(models, tmp_path):
    """A store's own record of how its weights were asked for (``extra.weights``, a path on the trainer's
    machine) is not read at all: set to the pickle, captioning builds the weights from their identity."""
    folder = copy_folder(models, tmp_path)
    edit_config(folder, lambda c: c["stores"][0]["extra"].update(weights=str(models.evil)))
    result = vidcap(*_caption(folder))
    assert result.returncode == 0 and result.stdout.startswith(f"{BOTTLE}\t"), result.stderr
    assert not models.marker.exists()


def test_the_suite_counts_its_cases():
    assert len(CASES) == 53 and len({c.name for c in CASES}) == len(CASES)
    assert os.environ.get("YOLO_OFFLINE") == "1"  # set by conftest; the fetch refusal does not rely on it
