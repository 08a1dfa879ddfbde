"""`vidcap serve` (vidcap/serve.py): the page in a real headless browser, Debian's chromium driven by
Playwright. The server is the real command in its own process, bound to 127.0.0.1 on a free port and
stopped at the end; the browser uploads a real clip and reads the caption `vidcap caption` gives, gets
an error for a text file named .mp4 and for a file over the upload limit, and fetches nothing from
anywhere but the server. The test saves a screenshot (``VIDCAP_SERVE_SCREENSHOT=docs/serve.png`` copies
it there) and prints its timings."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from trainkit import BOTTLE
from vidcap.cli import main
from vidcap.inference.captioner import Captioner
from vidcap.outputs import Segment
from vidcap.serve import caption_video, timeline_html

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it); Playwright cannot fetch its own
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 240  # s for the server to come up (importing torch and Gradio on a loaded 2-core machine)


def test_caption_video_writes_what_the_page_offers(tiny_folder, tmp_path):
    captioner = Captioner.from_pretrained(tiny_folder, device="cpu")
    seen: list[tuple[float, str]] = []
    result = caption_video(captioner, BOTTLE, tmp_path, segment=20.0, beam_size=2, attention=True,
                           progress=lambda f, m: seen.append((f, m)))
    assert result.caption == captioner.caption([BOTTLE], beam_size=2)[0]
    assert [(s.start, s.end) for s in result.segments] == [(0.0, 20.0), (20.0, pytest.approx(39.855, abs=1e-3))]
    assert [p.name for p in result.downloads] == [f"{BOTTLE.stem}.srt", f"{BOTTLE.stem}.vtt", f"{BOTTLE.stem}.json"]
    record = json.loads(result.downloads[2].read_text())
    assert record["caption"] == result.caption and record["video"] == BOTTLE.name
    assert [(s["start"], s["end"], s["caption"]) for s in record["segments"]] == \
        [(s.start, s.end, s.caption) for s in result.segments]
    assert result.downloads[0].read_text().startswith("1\n00:00:00,000 --> 00:00:20,000\n")
    assert Image.open(result.sheet).height > 300  # 4 frames in one row (~160 px), plus the attention strip
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 5


def test_timeline_lists_every_segment_with_its_times():
    page = timeline_html([Segment(0, 2.5, "a <b> c"), Segment(2.5, 65.0, "d & e")], 65.0)
    assert page.count('class="vc-cue"') == 2 and "0:02.50 – 1:05.00" in page
    assert "a &lt;b&gt; c" in page and "d &amp; e" in page and "<b>" not in page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tiny_folder):
    """`vidcap serve` in its own process on a free port of 127.0.0.1; stopped afterwards."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vidcap", "serve", "--model", str(tiny_folder), "--port", str(port),
                             "--beam-size", "2", "--max-upload-mb", "2", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while not any(f"Running on local URL:  {url}" in line for line in lines):
            assert proc.poll() is None, "vidcap serve exited:\n" + "".join(lines)
            assert time.monotonic() - started < START_TIMEOUT, "vidcap serve did not start:\n" + "".join(lines)
            time.sleep(0.2)
        yield {"url": url, "port": port, "start_s": time.monotonic() - started, "log": lines}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)


def _wait_for_error(page, text: str) -> None:
    page.get_by_text(text).first.wait_for(timeout=120_000)


@pytest.mark.slow
def test_page_in_a_headless_browser(server, tiny_folder, tmp_path, capsys):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install chromium; .ci/run does)"
    code = main(["caption", str(BOTTLE), "--model", str(tiny_folder), "--beam-size", "2"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith(f"{BOTTLE}\t"), out
    expected = out.strip().split("\t", 1)[1]
    text_file = tmp_path / "notes.mp4"
    text_file.write_text("These are notes, not a video.\n" * 40)
    too_big = tmp_path / "too-big.mp4"
    too_big.write_bytes(BOTTLE.read_bytes() * 5)  # 2.5 MB, over --max-upload-mb 2
    timings: dict[str, float] = {"server_start_s": server["start_s"]}
    requested: set[tuple[str, str]] = set()  # (scheme, host) of every request the page made
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("request", lambda request: requested.add(urlsplit(request.url)[:2]))
            upload = "#video input[type=file]"

            started = time.monotonic()
            page.goto(server["url"], wait_until="load", timeout=120_000)
            page.wait_for_selector(upload, state="attached", timeout=120_000)
            timings["page_load_s"] = time.monotonic() - started

            page.set_input_files(upload, str(text_file))  # a bad file: an error in the page
            _wait_for_error(page, "notes.mp4: not a video: the file holds plain text")
            assert str(tmp_path) not in page.inner_text("body")  # the server's folders stay private

            page.reload(wait_until="load")
            page.wait_for_selector(upload, state="attached", timeout=120_000)
            page.set_input_files(upload, str(too_big))
            _wait_for_error(page, 'exceed the maximum allowed size of 2.0 Mb: "too-big.mp4"')

            page.reload(wait_until="load")  # the server kept serving: caption the real clip
            page.wait_for_selector(upload, state="attached", timeout=120_000)
            started = time.monotonic()
            page.set_input_files(upload, str(BOTTLE))
            page.wait_for_function("() => { const t = document.querySelector('#caption textarea');"
                                   " return t !== null && t.value.length > 0; }", timeout=300_000)
            timings["caption_s"] = time.monotonic() - started
            assert page.input_value("#caption textarea") == expected

            page.wait_for_selector("#downloads a[href*='.json']", timeout=60_000)
            record = page.request.get(page.locator("#downloads a[href*='.json']").first.get_attribute("href")).json()
            assert record["caption"] == expected and record["video"] == BOTTLE.name
            assert record["model"] == tiny_folder.name and str(tiny_folder) not in page.inner_text("body")
            cues = page.locator("#timeline .vc-cue").all_inner_texts()
            assert len(cues) == len(record["segments"]) >= 2  # 40 s in one shot: split at the 30 s maximum
            for cue, segment in zip(cues, record["segments"]):
                assert cue.endswith(segment["caption"]) and " – " in cue
            assert page.locator("#downloads a").count() == 3
            assert page.evaluate("() => document.querySelector('#sheet img').naturalHeight") > 300
            shot = page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
            assert len(shot) > 10_000
        finally:
            browser.close()
    # Nothing fetched from outside the server (data: and blob: URLs are the page's own, in memory).
    network = {(scheme, host) for scheme, host in requested if scheme not in ("data", "blob")}
    assert network == {("http", f"127.0.0.1:{server['port']}")}, requested
    if os.environ.get("VIDCAP_SERVE_SCREENSHOT"):  # for the README: a 128-colour PNG, a third of the size
        Image.open(tmp_path / "serve.png").convert("RGB").quantize(colors=128).save(
            os.environ["VIDCAP_SERVE_SCREENSHOT"], optimize=True)
    with capsys.disabled():
        print(f"\nvidcap serve timings: {json.dumps({k: round(v, 2) for k, v in timings.items()})}")
