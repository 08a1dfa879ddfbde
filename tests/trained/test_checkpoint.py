"""Checkpoints (vidcap/trained/checkpoint.py): atomic writes, untrusted reads."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from vidcap import __version__
from vidcap.errors import InputError, UsageError
from vidcap.trained.checkpoint import FORMAT, load_checkpoint, save_checkpoint


class _RunsCode:
    """Unpickling this runs a shell command that creates ``marker`` (a real malicious pickle)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _payload() -> dict:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LSTM(3, 2))
    return {"model": model.state_dict(), "epoch": 4, "config": {"model": {"name": "sa-lstm"}, "lr": 1e-3},
            "vocab": {"format": "vidcap-vocab/1", "words": ["<pad>", "a"]}, "history": [(1, 0.5), (2, 0.25)],
            "best": None, "rng": torch.get_rng_state()}


def test_round_trip_adds_format_and_version(tmp_path):
    payload = _payload()
    save_checkpoint(tmp_path / "run" / "last.pt", payload)  # the folder is created
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["format"] == FORMAT and ckpt["vidcap_version"] == __version__
    assert ckpt["epoch"] == 4 and ckpt["config"] == payload["config"] and ckpt["best"] is None
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LSTM(3, 2))
    model.load_state_dict(ckpt["model"])
    for name, value in payload["model"].items():
        assert torch.equal(model.state_dict()[name], value)
    assert list(tmp_path.joinpath("run").iterdir()) == [tmp_path / "run" / "last.pt"]  # no temp files left


def test_overwrites_in_place(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})
    save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path)["epoch"] == 2 and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("bad", [np.zeros(3), object(), {"nested": [1, {"x": np.float32(1)}]}, {(1, 2): 3}])
def test_non_plain_payloads_are_refused_and_the_old_file_kept(tmp_path, bad):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises(UsageError, match="checkpoint payload"):
        save_checkpoint(path, {"epoch": 2, "extra": bad})
    assert load_checkpoint(path)["epoch"] == 1 and len(list(tmp_path.iterdir())) == 1


def test_a_kill_during_the_write_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1, "weights": torch.ones(10)})
    # A real SIGKILL of the writing process after half of the new checkpoint's bytes are on disk.
    script = textwrap.dedent(f"""
        import os, signal, torch
        from vidcap.trained.checkpoint import save_checkpoint
        real_save = torch.save
        def dying_save(obj, f):
            real_save(obj, f)
            f.truncate(f.tell() // 2)
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        torch.save = dying_save
        save_checkpoint({str(path)!r}, {{"epoch": 2, "weights": torch.zeros(100000)}})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and torch.equal(ckpt["weights"], torch.ones(10))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "model": {}, "payload": _RunsCode(marker)}, path)
    # The file really is malicious: a full unpickle runs the command.
    pickle.loads(pickle.dumps(_RunsCode(tmp_path / "control")))
    assert (tmp_path / "control").exists()
    with pytest.raises(InputError, match=rf"{path}: refused to load.*(posix|os)\.system"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol, match", [(2, r"refused to load.*(posix|os)\.system"),
                                             (pickle.HIGHEST_PROTOCOL, r"not a vidcap checkpoint \(a raw pickle")])
def test_malicious_plain_pickle_is_refused(tmp_path, protocol, match):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"model": _RunsCode(marker)}, protocol=protocol))
    with pytest.raises(InputError, match=rf"{path}: {match}"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_checkpoint(tmp_path, fraction):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _payload())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError, match=rf"{path}: truncated or damaged"):
        load_checkpoint(path)


@pytest.mark.parametrize("content, match", [
    (b"", "empty file"),
    (b"hello, this is text\n", "not a vidcap checkpoint"),
    (json.dumps({"format": FORMAT}).encode(), r"not a vidcap checkpoint \(not a PyTorch archive"),
])
def test_files_that_are_not_checkpoints(tmp_path, content, match):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"{path}: {match}"):
        load_checkpoint(path)


@pytest.mark.parametrize("obj, match", [
    ({"model": {"w": torch.ones(2)}}, r"not a vidcap checkpoint \(format None"),    # a plain torch.save
    ([1, 2, 3], "holds a list"),
    ({"format": "other-tool/3"}, "format 'other-tool/3'"),
])
def test_foreign_torch_files(tmp_path, obj, match):
    path = tmp_path / "x.pt"
    torch.save(obj, path)
    with pytest.raises(InputError, match=match):
        load_checkpoint(path)


def test_checkpoint_of_another_format_version_names_the_writer(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": "vidcap-checkpoint/0", "vidcap_version": "0.0.1", "model": {}}, path)
    with pytest.raises(InputError, match=r"format 'vidcap-checkpoint/0' written by vidcap 0\.0\.1.*reads "
                                         rf"'{FORMAT}'"):
        load_checkpoint(path)


def test_missing_path_and_folders(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_checkpoint(tmp_path / "nothing.pt")
    with pytest.raises(InputError, match="not a file"):
        load_checkpoint(tmp_path)
    with pytest.raises(UsageError, match="must be a dict"):
        save_checkpoint(tmp_path / "x.pt", [1, 2])
