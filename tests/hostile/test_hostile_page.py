"""Hostile inputs for the page (`vidcap serve`), through its API with gradio_client as an attacker would
use it: the client's own upload step is switched off, so a request names a file *on the server* instead
of uploading one. Every such request is refused with an error in the API, and the server reads and copies
nothing (its temporary folder is unchanged). A real upload still captions, and SIGTERM removes every
temporary file the server made.

The server runs in its own process with a private TMPDIR, so what it leaves behind can be seen whole."""
from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from hostilekit import Case, refused, snapshot, unchanged
from trainkit import BOTTLE

gradio_client = pytest.importorskip("gradio_client")
# Every test here needs the served page (a vidcap serve process): ~9 s to start on 2 shared cores.
pytestmark = pytest.mark.slow
START_TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Counter(http.server.BaseHTTPRequestHandler):
    """A web server that counts the requests it gets (none may come) and serves the real clip."""

    hits: ClassVar[list[str]] = []

    def do_GET(self):
        self.hits.append(self.path)
        data = BOTTLE.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Counter.hits
    server.shutdown()


@pytest.fixture(scope="module")
def page(tiny_folder, tmp_path_factory):
    """`vidcap serve` on a free port with a private TMPDIR; yields (url, tmpdir, process, files of the server)."""
    root = tmp_path_factory.mktemp("page")
    tmp = root / "tmp"
    tmp.mkdir()
    secrets = root / "server-files"
    secrets.mkdir()
    (secrets / "notes.txt").write_text("the server's private notes\n")
    shutil.copy(BOTTLE, secrets / "private.mp4")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vidcap", "serve", "--model", str(tiny_folder), "--port", str(port),
                             "--beam-size", "2", "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "TMPDIR": str(tmp)})
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            assert proc.poll() is None, "".join(lines)
            time.sleep(1)
    yield f"http://127.0.0.1:{port}/", tmp, proc, secrets, lines
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _attacker(url: str):
    """A gradio_client Client whose requests carry file paths as given, without uploading anything."""
    client = gradio_client.Client(url, verbose=False)
    for endpoint in client.endpoints.values():
        if hasattr(endpoint, "_upload_file"):
            endpoint._upload_file = lambda f, data_index: f
    return client


def _call(url: str, path: str) -> subprocess.CompletedProcess:
    """The page's API called with a FileData naming ``path``: exit 1 and the message for an error."""
    payload = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}
    try:
        result = _attacker(url).predict(payload, "whole video only", 10, False, api_name="/run")
    except Exception as err:  # noqa: BLE001  (the client raises AppError for an error the page shows)
        return subprocess.CompletedProcess([path], 1, "", f"{type(err).__name__}: {err}")
    return subprocess.CompletedProcess([path], 0, str(result), "")


def _in_shared_gradio_area(tmp: Path, secrets: Path) -> str:
    """Another server's upload in the machine-wide Gradio folder (TMPDIR/gradio), which Gradio's default
    upload area would have let through."""
    other = tmp / "gradio" / "0123456789abcdef"
    other.mkdir(parents=True, exist_ok=True)
    shutil.copy(secrets / "private.mp4", other / "someone-elses.mp4")
    return str(other / "someone-elses.mp4")


CASES = [
    Case("server video", lambda tmp, secrets, web: str(secrets / "private.mp4"), ("private.mp4", "not uploaded")),
    Case("server text file", lambda tmp, secrets, web: str(secrets / "notes.txt"), ("notes.txt", "not uploaded")),
    Case("test asset by absolute path", lambda tmp, secrets, web: str(BOTTLE), (BOTTLE.name, "not uploaded")),
    Case("system file", lambda tmp, secrets, web: "/etc/passwd", ("passwd", "not uploaded")),
    Case("another server's upload in /tmp/gradio", lambda tmp, secrets, web: _in_shared_gradio_area(tmp, secrets),
         ("someone-elses.mp4", "not uploaded")),
    Case("relative path from the server's folder", lambda tmp, secrets, web: "tests/assets/" + BOTTLE.name,
         (BOTTLE.name, "not uploaded")),
    Case("path climbing out of the upload area",
         lambda tmp, secrets, web: str(next(tmp.glob("vidcap-uploads-*"))) + "/../../server-files/notes.txt",
         ("notes.txt", "not uploaded")),
    Case("missing file", lambda tmp, secrets, web: str(secrets / "nothing.mp4"), ("nothing.mp4",)),
    Case("URL of a web server", lambda tmp, secrets, web: f"{web[0]}/clip.mp4", ("clip.mp4",)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_page_refuses_what_was_not_uploaded(page, web, case):
    url, tmp, proc, secrets, _ = page
    path = case.make(tmp, secrets, web)
    before, hits = snapshot(tmp), len(web[1])
    refused(_call(url, path), status=case.status, names=case.names)
    unchanged(before, tmp)  # nothing read into or copied to the server's upload area or results
    assert len(web[1]) == hits, f"the server fetched {web[1][hits:]}"
    assert proc.poll() is None  # and it keeps serving


def test_a_real_upload_captions_and_sigterm_removes_the_temporary_files(page):
    url, tmp, proc, _, lines = page
    client = gradio_client.Client(url, verbose=False)
    caption, _, _sheet, downloads = client.predict(gradio_client.handle_file(str(BOTTLE)), "whole video only", 10,
                                                  False, api_name="/run")
    assert caption and len(downloads) == 3
    assert any(tmp.glob("vidcap-uploads-*/**/" + BOTTLE.name)), sorted(map(str, tmp.rglob("*")))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) in (0, -signal.SIGTERM, 128 + signal.SIGTERM), "".join(lines)
    left = sorted(str(p.relative_to(tmp)) for p in tmp.iterdir())
    assert not [p for p in left if p.startswith("vidcap-")], left  # uploads and results gone
