"""vidcap/reproduce/published.py: every published row in one table, with its source commit and protocol;
README's tables are generated from it, and results.md's like-for-like verdicts compare protocols."""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from vidcap.reproduce.plan import DATASETS, PUBLISHED
from vidcap.reproduce.published import (FEATURES, PTB, ROWS, SPLITS, Protocol, decoding, differences, history,
                                        readme_block, rows_for, runs, update_readme, verdict, vocabulary)

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_are_the_published_data():
    readme = (ROOT / "README.md").read_text()
    assert update_readme(readme) == readme, "README's published tables differ: run python tools/published_tables.py"
    for dataset in {r.dataset for r in ROWS.values()}:
        assert readme_block(dataset) in readme
    # A changed number is caught: the generated block no longer matches.
    assert update_readme(readme.replace("| 36.4 | 25.5 | 57.6 | 41.3 |", "| 36.4 | 25.5 | 57.6 | 41.2 |")) == readme


@pytest.mark.slow
def test_the_check_tool_fails_on_a_stale_readme(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text((ROOT / "README.md").read_text().replace("| 38.6 | 26.0 | 58.3 | 41.1 |", "| 1 | 2 | 3 | 4 |"))
    env = {"PYTHONPATH": str(ROOT)}
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "published_tables.py"), "--readme", str(stale),
                            "--check"], capture_output=True, text=True, env=env)
    assert check.returncode == 1 and "published_tables.py" in check.stderr
    subprocess.run([sys.executable, str(ROOT / "tools" / "published_tables.py"), "--readme", str(stale)],
                   check=True, env=env)
    assert stale.read_text() == (ROOT / "README.md").read_text()


def test_every_row_names_its_source_and_protocol():
    configs = {p.stem for p in (ROOT / "configs").glob("*.yaml")}
    for row in ROWS.values():
        assert row.source and row.checked and len(row.scores) == 4, row.key
        assert row.commit == "" or re.fullmatch(r"[0-9a-f]{40}", row.commit), row.key
        assert ("/" in row.source.split()[0]) == bool(row.commit), f"{row.key}: a repository row needs its commit"
        assert all(getattr(row.protocol, f.name) for f in fields(Protocol)), row.key
        assert row.config is None or row.config in configs, row.key
        assert row.replaced_by is None or ROWS[row.replaced_by].replaced_by is None, row.key
    # Replaced rows are history, never a comparison target.
    assert all(r.replaced_by is None for rows in PUBLISHED.values() for r in rows)
    assert {r.key for r in history("msrvtt")} == {"xmodaler-mplstm-msrvtt-2021-07", "xmodaler-ta-msrvtt-2021-07"}
    assert [r.scores for r in rows_for("mp_lstm_msrvtt")] == [(38.6, 26.0, 58.3, 41.1)]
    assert all(key in FEATURES for plan in DATASETS.values() for key in plan.extractions)


def test_verdicts_list_what_differs_field_by_field():
    hobincar = ROWS["hobincar-salstm-resnet152-msrvtt"].protocol
    run = Protocol(split=SPLITS["msrvtt"], vocabulary=vocabulary(1), references=PTB,
                   features=FEATURES["resnet152-hobincar"], decoding=decoding(5, 0.0, 30), runs=runs(5),
                   selection="best validation CIDEr", precision="fp32")
    diffs = differences(hobincar, run)
    assert [d.split(":")[0] for d in diffs] == ["split", "vocabulary", "references"]
    assert "5,175 / 398 / 2,354" in diffs[0] and verdict(diffs) == "not like-for-like (3 of 8 differ)"
    standard = replace(run, features=FEATURES["resnet152"], precision="bf16 autocast")
    assert [d.split(":")[0] for d in differences(hobincar, standard)] == [
        "split", "vocabulary", "references", "features", "precision"]
    assert verdict(differences(run, run)) == "like-for-like"
