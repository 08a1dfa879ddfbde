"""Model folders (vidcap/trained/folder.py, card.py, hub.py; `vidcap export` / `push`): the folder
captions exactly as its checkpoint, loads from a local folder and from a Hugging Face cache with the
network off, and every damaged or lying folder is refused with the file named and nothing executed."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from exportkit import COMMIT, hub_cache
from trainkit import BOTTLE
from vidcap import __version__
from vidcap.cli import main
from vidcap.errors import InputError, UsageError
from vidcap.inference.captioner import Captioner
from vidcap.trained.checkpoint import tensor_digest
from vidcap.trained.folder import CARD, CONFIG, FILES, FORMAT, WEIGHTS, read_model_folder
from vidcap.trained.hub import download, parse_hub_id, push
from vidcap.trained.model import export_model

@pytest.fixture
def model(tiny_model):
    """The session's trained model (tests/conftest.py), under the name this module's tests use."""
    return tiny_model


@pytest.fixture
def folder(tiny_folder) -> Path:
    """The session's export of it (tests/conftest.py)."""
    return tiny_folder


def _videos(model) -> list[Path]:
    return sorted(model.videos.iterdir())[:3] + [BOTTLE]


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------------------------- export
@pytest.mark.slow
def test_export_then_caption_gives_exactly_the_checkpoints_captions(model, folder, capsys):
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    videos = _videos(model)
    from_ckpt = Captioner.from_checkpoint(model.ckpt, device="cpu").caption(videos, beam_size=2)
    from_folder = Captioner.from_pretrained(folder, device="cpu").caption(videos, beam_size=2)
    assert from_folder == from_ckpt and len(set(from_ckpt)) > 1  # not one caption for everything
    # `vidcap caption --model` takes the folder too; from_checkpoint sends it to from_pretrained (one direction)
    with pytest.raises(UsageError, match="load it with Captioner.from_pretrained"):
        Captioner.from_checkpoint(folder, device="cpu")
    code, out, err = _run(capsys, "caption", *videos, "--model", folder, "--beam-size", "2")
    assert code == 0 and out.splitlines() == [f"{v}\t{c}" for v, c in zip(videos, from_ckpt)], err


def test_the_folder_is_data_only_and_says_what_it_holds(model, folder):
    raw = (folder / WEIGHTS).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    assert header["__metadata__"]["vidcap"] == FORMAT
    tensors = load_file(folder / WEIGHTS)
    state = torch.load(model.ckpt, weights_only=True)
    for key, value in state["model"]["state"].items():  # bit for bit the checkpoint's tensors
        assert torch.equal(tensors[f"model.{key}"], value)
    assert torch.equal(tensors["normalizer.mean.frame"], state["data"]["normalizer"]["mean"]["frame"])
    config = json.loads((folder / CONFIG).read_text())
    assert config["format"] == FORMAT and config["vidcap_version"] == __version__
    assert config["model"]["name"] == "sa-lstm" and config["vocab"]["words"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert config["stores"][0]["spec"]["backbone"] == "resnet18" and config["stores"][0]["spec"]["sampling"]["frames"] == 4
    assert config["normalizer"]["mean"]["frame"] == {"tensor": "normalizer.mean.frame", "dtype": "float32",
                                                     "shape": [512]}
    for name in (CONFIG, CARD):  # no local folder leaks into what may be pushed to the Hub
        assert str(model.run.parent) not in (folder / name).read_text()


def test_model_card_has_the_training_data_and_the_runs_scores(model, tmp_path, capsys):
    code, _, err = _run(capsys, "eval", "--model", model.ckpt, "--annotations", model.annotations, "--features",
                        model.features, "--split", "test", "--beam-size", "2", "--no-java", "--json",
                        tmp_path / "scores.json")
    assert code == 0, err
    code, out, err = _run(capsys, "export", model.ckpt, tmp_path / "card-model", "--scores", tmp_path / "scores.json")
    assert code == 0 and out.startswith(f"wrote {tmp_path / 'card-model'}"), err
    card = (tmp_path / "card-model" / CARD).read_text()
    scores = json.loads((tmp_path / "scores.json").read_text())
    val = torch.load(model.ckpt, weights_only=True)["metrics"]["val"]
    assert card.startswith("---\nlibrary_name: vidcap\n") and "# card-model" in card
    assert f"`{model.annotations.name}`" in card and "`resnet18` features, weights `none(seed=0)`, 4 frames" in card
    assert f"| loss | {val['loss']:.4f} |" in card and f"| CIDEr | {100 * val['CIDEr']:.2f} |" in card
    assert f"| Bleu_4 | {100 * scores['overall']['Bleu_4']:.2f} |" in card and "NOT comparable" in card
    epochs = len(json.loads((model.run / "metrics.json").read_text()))
    assert epochs > 1 and f"the run recorded {epochs} epochs" in card


# ----------------------------------------------------------------------------------------- Hub cache
@pytest.mark.slow
def test_hub_ids_load_from_the_cache_with_the_network_off(model, folder, tmp_path):
    cache = hub_cache(folder, tmp_path / "hub")
    expected = Captioner.from_pretrained(folder, device="cpu").caption([BOTTLE], beam_size=2)
    got = Captioner.from_pretrained("hf:vidcap-test/tiny-sa-lstm", device="cpu", cache_dir=cache)
    assert got.caption([BOTTLE], beam_size=2) == expected and "hf:vidcap-test/tiny-sa-lstm" in got.source
    snapshot = cache / "models--vidcap-test--tiny-sa-lstm" / "snapshots" / COMMIT
    assert download(f"hf:vidcap-test/tiny-sa-lstm@{COMMIT}", cache_dir=cache) == snapshot  # pinned by commit
    with pytest.raises(InputError, match="not in the Hugging Face cache .* for revision 'v2'"):
        download("hf:vidcap-test/tiny-sa-lstm@v2", cache_dir=cache)
    # The command line, in a fresh process that finds the cache through the environment, with
    # HF_HUB_OFFLINE and an endpoint nothing listens on.
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    run = subprocess.run([sys.executable, "-m", "vidcap", "caption", str(BOTTLE), "--model",
                          "hf:vidcap-test/tiny-sa-lstm", "--beam-size", "2"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0 and run.stdout == f"{BOTTLE}\t{expected[0]}\n", run.stderr
    run = subprocess.run([sys.executable, "-m", "vidcap", "caption", str(BOTTLE), "--model",
                          "hf:vidcap-test/other-model"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 1 and "not in the Hugging Face cache" in run.stderr, run.stderr
    assert "HF_HUB_OFFLINE is set" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("text, message", [
    ("hf:just-a-name", "write it as org/name"), ("hf:org/na me", "not a Hub model id"),
    ("hf:org/name@", "nothing after '@'"), ("hf:a/b/c", "write it as org/name")])
def test_malformed_hub_ids(text, message):
    with pytest.raises(UsageError, match=message):
        parse_hub_id(text)


def test_push_checks_the_folder_first_and_says_why_it_cannot_upload(folder, tmp_path, monkeypatch):
    broken = shutil.copytree(folder, tmp_path / "broken")
    (broken / WEIGHTS).unlink()
    with pytest.raises(InputError, match=f"{broken / WEIGHTS}: missing"):
        push(broken, "vidcap-test/tiny")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE is set"):
        push(folder, "vidcap-test/tiny")


# -------------------------------------------------------------------------------------- bad folders
def _copy(folder: Path, tmp_path: Path) -> Path:
    return shutil.copytree(folder, tmp_path / "model")


def _header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _write_header(path: Path, header: dict, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def _edit_tensors(path: Path, change) -> None:
    """Change the tensors and record their new checksums, as someone editing the folder on purpose would:
    what is left to refuse is what the tensors themselves say."""
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)
    config = json.loads((path.parent / CONFIG).read_text())
    config["checksums"] = {name: tensor_digest(t) for name, t in tensors.items()}
    (path.parent / CONFIG).write_text(json.dumps(config))


def _flipped_byte(d: Path) -> None:
    raw = bytearray((d / WEIGHTS).read_bytes())
    raw[-5] ^= 0x10  # inside the last tensor's data: the file still parses
    (d / WEIGHTS).write_bytes(bytes(raw))


def _missing_weights(d: Path) -> None:
    (d / WEIGHTS).unlink()


def _missing_config(d: Path) -> None:
    (d / CONFIG).unlink()


def _header_longer_than_file(d: Path) -> None:
    raw = (d / WEIGHTS).read_bytes()
    (d / WEIGHTS).write_bytes(struct.pack("<Q", len(raw) * 4) + raw[8:])


def _offsets_past_the_end(d: Path) -> None:
    header, data = _header(d / WEIGHTS)
    key = next(k for k in header if k != "__metadata__")
    start, end = header[key]["data_offsets"]
    header[key]["data_offsets"] = [start, end + 10 * len(data)]
    _write_header(d / WEIGHTS, header, data)


def _shape_disagrees_with_bytes(d: Path) -> None:
    header, data = _header(d / WEIGHTS)
    key = next(k for k in header if k != "__metadata__" and len(header[k]["shape"]) == 2)
    header[key]["shape"] = [header[key]["shape"][0] * 3, header[key]["shape"][1]]
    _write_header(d / WEIGHTS, header, data)


def _truncated(d: Path) -> None:
    raw = (d / WEIGHTS).read_bytes()
    (d / WEIGHTS).write_bytes(raw[: len(raw) // 2])


def _wrong_shape(d: Path) -> None:
    _edit_tensors(d / WEIGHTS, lambda t: t.update({"model.out.weight": t["model.out.weight"][:, :-1].clone()}))


def _wrong_dtype(d: Path) -> None:
    _edit_tensors(d / WEIGHTS, lambda t: t.update({"model.out.bias": t["model.out.bias"].double()}))


def _missing_tensor(d: Path) -> None:
    _edit_tensors(d / WEIGHTS, lambda t: t.pop("model.out.bias"))


def _extra_tensor(d: Path) -> None:
    _edit_tensors(d / WEIGHTS, lambda t: t.update({"model.backdoor.weight": torch.zeros(2)}))


def _normaliser_shape(d: Path) -> None:
    _edit_tensors(d / WEIGHTS, lambda t: t.update({"normalizer.std.frame": torch.ones(7)}))


def _edit_config(change):
    def edit(d: Path) -> None:
        config = json.loads((d / CONFIG).read_text())
        change(config)
        (d / CONFIG).write_text(json.dumps(config))
    return edit


BAD = {
    "missing weights": (_missing_weights, WEIGHTS, "missing; a vidcap model folder holds"),
    "missing config": (_missing_config, CONFIG, "missing; a vidcap model folder holds"),
    "header longer than the file": (_header_longer_than_file, WEIGHTS, "not a valid safetensors file"),
    "offsets past the end": (_offsets_past_the_end, WEIGHTS, "not a valid safetensors file"),
    "shape disagrees with the bytes": (_shape_disagrees_with_bytes, WEIGHTS, "not a valid safetensors file"),
    "truncated": (_truncated, WEIGHTS, "not a valid safetensors file"),
    "wrong shape": (_wrong_shape, WEIGHTS, "tensor 'out.weight' is float32 [{V}, 31], the sa-lstm model needs float32 [{V}, 32]"),
    "wrong dtype": (_wrong_dtype, WEIGHTS, "tensor 'out.bias' is float64 [{V}], the sa-lstm model needs float32 [{V}]"),
    "missing tensor": (_missing_tensor, WEIGHTS, "lacks 1 of the model's tensors, e.g. 'out.bias'"),
    "extra tensor": (_extra_tensor, WEIGHTS, "holds 1 tensors the sa-lstm model does not have, e.g. 'backdoor.weight'"),
    "normaliser tensor unlike its config": (_normaliser_shape, CONFIG, "tensor 'normalizer.std.frame' is float32 [7]"),
    "a flipped byte": (_flipped_byte, WEIGHTS, "does not match its SHA-256 in config.json"),
    "unknown model": (_edit_config(lambda c: c["model"].update(name="gpt-5")), CONFIG, "unknown model 'gpt-5'"),
    "unknown model option": (_edit_config(lambda c: c["model"].update(exec="rm -rf /")), CONFIG, "has no option 'exec'"),
    "other format": (_edit_config(lambda c: c.update(format="vidcap-model/99")), CONFIG, "not a vidcap model config"),
    "vocabulary of another size": (_edit_config(lambda c: c["vocab"]["words"].pop()), CONFIG,
                                   "the vocabulary has {V_less_one} words, the model {V}"),
    "config not JSON": (lambda d: (d / CONFIG).write_text("{not json"), CONFIG, "invalid JSON"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_folder_is_an_error_naming_the_file(folder, tmp_path, case):
    damage, name, message = BAD[case]
    words = len(json.loads((folder / CONFIG).read_text())["vocab"]["words"])  # the trained model's vocabulary
    message = message.format(V=words, V_less_one=words - 1)
    bad = _copy(folder, tmp_path)
    damage(bad)
    with pytest.raises(InputError) as err:
        read_model_folder(bad)
    assert str(err.value).startswith(str(bad / name)) and message in str(err.value), str(err.value)


def test_the_command_line_reports_a_bad_folder_in_one_line(folder, tmp_path, capsys):
    bad = _copy(folder, tmp_path)
    _wrong_shape(bad)
    code, out, err = _run(capsys, "caption", BOTTLE, "--model", bad)
    assert code == 1 and out == "" and err.startswith(f"vidcap caption: error: {bad / WEIGHTS}: tensor 'out.weight'")
    assert len(err.strip().splitlines()) == 1


class _RunsCode:
    """Unpickling this creates ``marker`` (a real malicious pickle)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_posing_as_safetensors_is_refused_and_never_run(folder, tmp_path):
    bad = _copy(folder, tmp_path)
    marker = tmp_path / "pwned"
    (bad / WEIGHTS).write_bytes(pickle.dumps({"model.out.weight": _RunsCode(marker)}))
    with pytest.raises(InputError, match=f"{bad / WEIGHTS}: not a valid safetensors file"):
        Captioner.from_pretrained(bad, device="cpu")
    assert not marker.exists()
    pickle.loads(pickle.dumps(_RunsCode(marker)))  # the payload is live: unpickled, it does run
    assert marker.exists()


def test_export_refuses_a_checkpoint_that_is_not_a_model(model, tmp_path):
    from vidcap.trained.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "odd.pt", {"epoch": 1})
    with pytest.raises(InputError, match="odd.pt: not a complete vidcap model checkpoint"):
        export_model(tmp_path / "odd.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()
