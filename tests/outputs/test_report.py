"""The evaluation report (vidcap/outputs/report.py) of `vidcap score --report` on real MSR-VTT annotations
(tests/assets/msrvtt), opened in a real headless browser (Debian's chromium driven by Playwright, as
tests/test_serve.py does), and of `vidcap eval --report` with the tests' tiny trained model. The browser
test saves a screenshot (``VIDCAP_REPORT_SCREENSHOT=docs/report.png`` copies it there)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from vidcap.cli import main
from vidcap.data.annotations import Annotations
from vidcap.metrics import java
from vidcap.outputs.report import overused_phrases

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it); Playwright cannot fetch its own
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CONSTANT = "a man is talking"
HOSTILE = "<b>a cat</b> & <img src=x onerror=alert(1)> dog"
WRONG = "a purple submarine sleeps"

needs_java = pytest.mark.skipif(java.java_version() is None, reason="needs java")


def test_overused_phrases_are_the_ones_captions_use_more_than_references():
    caps = ["a man is talking", "a man is talking", "a dog runs", "a dog runs fast"]
    refs = ["a man talks", "a dog is running", "a dog runs", "a dog runs", "a man is talking"]
    got = {p["phrase"]: (p["captions"], p["references"]) for p in overused_phrases(caps, refs)}
    assert got["a man is"] == (0.5, 0.2) and got["is talking"] == (0.5, 0.2)
    assert "a dog" not in got  # 2 of 4 captions, 3 of 5 references: used less, not more
    assert "runs fast" not in got  # in one caption only


@pytest.fixture(scope="module")
def scored_report(msrvtt_dir, tmp_path_factory):
    """`vidcap score --report` of a results file on the real test split: a third of the videos get their own
    first reference (the best), a third a constant caption, the others a hostile string or a wrong caption."""
    folder = tmp_path_factory.mktemp("report")
    ann = [msrvtt_dir / "train_val_videodatainfo.json", msrvtt_dir / "test_videodatainfo.json"]
    data = json.loads(ann[1].read_text())
    first: dict[str, str] = {}
    for s in sorted(data["sentences"], key=lambda s: s["sen_id"]):
        first.setdefault(s["video_id"], s["caption"])
    test_ids = [v["video_id"] for v in data["videos"] if v["split"] == "test"]
    captions = {vid: (first[vid], CONSTANT, HOSTILE, first[vid], CONSTANT, WRONG)[i % 6]
                for i, vid in enumerate(test_ids)}
    results = folder / "results.json"
    results.write_text(json.dumps([{"video_id": v, "caption": c} for v, c in captions.items()]))
    code = main(["score", "--results", str(results), "--annotations", str(ann[0]), "--annotations", str(ann[1]),
                 "--spice", "off", "--report", str(folder / "report")])
    assert code == 0
    return folder / "report", captions, test_ids


@pytest.mark.slow
@needs_java
def test_report_in_a_headless_browser(scored_report, tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "install Debian's chromium (apt-get install chromium; .ci/run does)"
    folder, captions, test_ids = scored_report
    assert sorted(p.name for p in folder.iterdir()) == ["cider.png", "index.html"]
    requested: set[tuple[str, str]] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requested.add(urlsplit(request.url)[:2]))
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto((folder / "index.html").as_uri(), wait_until="load")
            for anchor in ("scores", "diversity", "categories", "distribution", "best", "worst", "phrases"):
                assert page.locator(f"h2#{anchor}").is_visible(), anchor
            scores = page.locator("h2#scores + table tr").all_inner_texts()
            assert [row.split("\t")[0] for row in scores[1:]] == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR",
                                                                   "ROUGE_L", "CIDEr"]
            # The test split covers all 20 MSR-VTT categories: one row each, worst CIDEr first.
            categories = page.locator("h2#categories + table tr").all_inner_texts()[1:]
            assert len(categories) == 20
            cider = [float(row.split("\t")[-1]) for row in categories]
            assert cider == sorted(cider)
            assert page.evaluate("() => document.querySelector('img').naturalWidth") == 700
            best = page.locator("h2#best ~ div.example").first.inner_text()
            assert any(captions[v] in best for v in test_ids[::3])  # a video captioned with its own reference
            worst = page.locator("h2#worst ~ div.example").all_inner_texts()
            assert len(worst) == 5 and all("CIDEr 0.0" in w for w in worst)
            assert any(HOSTILE in w for w in worst)  # shown as text, not as markup
            assert page.locator("div.example b, div.example img").count() == 0 and not dialogs
            phrases = page.locator("h2#phrases ~ table tr").all_inner_texts()[1:]
            # The constant caption (a third of the videos) is the most over-used, ahead of the hostile string
            # (a sixth) and the wrong caption (a sixth, one video too few to outweigh its rare references).
            # 65 of the 195 videos: 33.3% of the captions, against 1.7% of the MSR-VTT references.
            assert phrases[0].startswith("man is talking\t33.3%\t"), phrases
            shot = page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert len(shot) > 10_000
        finally:
            browser.close()
    assert {scheme for scheme, _ in requested} == {"file"}, requested  # nothing fetched from anywhere
    if os.environ.get("VIDCAP_REPORT_SCREENSHOT"):  # for the docs: a 128-colour PNG, a third of the size
        Image.open(tmp_path / "report.png").convert("RGB").quantize(colors=128).save(
            os.environ["VIDCAP_REPORT_SCREENSHOT"], optimize=True)


@pytest.mark.slow
@needs_java
def test_eval_writes_a_report_of_the_models_captions(tiny_model, tmp_path, capsys):
    results = tmp_path / "results.json"
    code = main(["eval", "--model", str(tiny_model.ckpt), "--annotations", str(tiny_model.annotations), "--features",
                 str(tiny_model.features), "--split", "test", "--beam-size", "2", "--spice", "off",
                 "--results", str(results), "--report", str(tmp_path / "report")])
    out = capsys.readouterr().out
    assert code == 0 and f"report: {tmp_path / 'report' / 'index.html'}" in out
    page = (tmp_path / "report" / "index.html").read_text()
    generated = json.loads(results.read_text())
    assert generated and all(f"<span class=\"caption\">{r['caption']}</span>" in page for r in generated
                             if r["caption"])
    categorised = any(r.category is not None for r in Annotations.load(tiny_model.annotations).videos.values())
    assert ('id="categories"' in page) == categorised
    assert Image.open(tmp_path / "report" / "cider.png").size == (700, 320)
