"""What the model-folder and checkpoint suites share (the session fixture ``models`` in conftest.py holds
it): the session's tiny model and its exported folder, a web server that counts requests (none may come),
a pickle that runs code when unpickled (it creates a marker file), edits of a folder or checkpoint as an
attacker would make them (checksums recomputed, so what is left to refuse is what the contents say), and
an in-process `vidcap` run for the many quick cases."""
from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vidcap.cli import main
from vidcap.trained.checkpoint import tensor_checksums, tensor_digest
from vidcap.trained.folder import CONFIG, WEIGHTS


class RunsCode:
    """Unpickling this creates ``marker`` (a real malicious pickle)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []
    body = b""

    def do_GET(self):
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@dataclass
class Kit:
    ckpt: Path          # the tiny model's best.pt
    folder: Path        # exported from it
    url: str            # web server root; serves an evil pickle
    hits: list[str]     # requests it got
    evil: Path          # a torch.save'd object that runs code when unpickled ...
    marker: Path        # ... by creating this file


def start_kit(ckpt: Path, folder: Path, root: Path) -> tuple[Kit, http.server.ThreadingHTTPServer]:
    """The kit for a checkpoint and its exported folder, its evil pickle written under ``root``, and the
    started web server (to shut down when done)."""
    marker = root / "pwned"
    evil = root / "yolov8n.pt"
    torch.save(RunsCode(marker), evil)
    _Counter.body = evil.read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Kit(ckpt, folder, f"http://127.0.0.1:{server.server_address[1]}", _Counter.hits, evil, marker), server


def run(*args: object) -> subprocess.CompletedProcess:
    """``vidcap ARGS`` in this process (seconds faster than a fresh one): exit status and what it printed.
    An exception escaping ``main`` is a traceback the user would see: it fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


# ------------------------------------------------------------------------------------ model folders
def copy_folder(kit: Kit, tmp: Path) -> Path:
    return shutil.copytree(kit.folder, tmp / "model")


def edit_config(folder: Path, change) -> None:
    config = json.loads((folder / CONFIG).read_text())
    change(config)
    (folder / CONFIG).write_text(json.dumps(config))


def edit_tensors(folder: Path, change) -> None:
    """Change model.safetensors and record the new tensors' checksums in config.json."""
    tensors = load_file(folder / WEIGHTS)
    change(tensors)
    save_file(tensors, folder / WEIGHTS)
    edit_config(folder, lambda c: c.update(checksums={k: tensor_digest(t) for k, t in tensors.items()}))


# -------------------------------------------------------------------------------------- checkpoints
def edit_checkpoint(kit: Kit, tmp: Path, change, *, checksums: bool = True) -> Path:
    """A copy of the checkpoint whose plain data ``change`` edited, written with torch.save (as anyone
    can) and, with ``checksums``, the tensors' checksums recomputed."""
    data = torch.load(kit.ckpt, weights_only=True)
    change(data)
    if checksums:
        data["checksums"] = tensor_checksums({k: v for k, v in data.items() if k != "checksums"})
    path = tmp / "best.pt"
    torch.save(data, path)
    return path


def store_spec(data: dict, **changes) -> None:
    """Change the first training store's feature spec (and the meta's backbone, as a consistent edit)."""
    store = data["data"]["stores"][0] if "data" in data else data["stores"][0]
    store["spec"].update(changes)
    if "backbone" in changes:
        store["backbone"] = changes["backbone"]
    if "weights" in changes:  # the store's own record of how it was asked for, too
        store["extra"]["weights"] = changes["weights"]
