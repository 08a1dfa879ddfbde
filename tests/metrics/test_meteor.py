"""vidcap.metrics.meteor: METEOR statistics scored on shards by several Java processes and evaluated once
equal pycocoevalcap's single process, exactly, on real MSR-VTT references (tests/assets/msrvtt)."""
from __future__ import annotations

import json
import os

import pytest
from pycocoevalcap.meteor.meteor import Meteor

from vidcap.errors import UsageError
from vidcap.metrics import java
from vidcap.metrics.meteor import MAX_PROCESSES, MeteorJob, MeteorPool, meteor_processes

pytestmark = pytest.mark.skipif(java.java_version() is None, reason="needs java")


@pytest.fixture(scope="module")
def real(msrvtt_dir):
    """Every test video of the fixture: its first sentence scored against the other 19, PTB-tokenised."""
    data = json.loads((msrvtt_dir / "test_videodatainfo.json").read_text())
    test = {v["video_id"] for v in data["videos"] if v["split"] == "test"}
    refs: dict[str, list[str]] = {}
    for s in sorted(data["sentences"], key=lambda s: s["sen_id"]):
        if s["video_id"] in test:
            refs.setdefault(s["video_id"], []).append(s["caption"])
    ids = sorted(refs)
    tokens = java.ptb_tokenize([c for vid in ids for c in refs[vid]])
    gts, res, at = {}, {}, 0
    for vid in ids:
        n = len(refs[vid])
        res[vid], gts[vid] = tokens[at:at + 1], tokens[at + 1:at + n]
        at += n
    return ids, gts, res


@pytest.fixture(scope="module")
def single(real):
    """pycocoevalcap's own Meteor (one process): statistics per id, scores, and the scorer for groups."""
    ids, gts, res = real
    meteor = Meteor()
    try:
        stats = [meteor._stat(res[vid][0], gts[vid]) for vid in ids]
        overall, per = meteor.compute_score(gts, res)
        yield stats, overall, per, meteor
    finally:
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()


@pytest.mark.slow
def test_three_processes_give_the_statistics_and_scores_of_one(real, single):
    ids, gts, res = real
    stats, overall, per, meteor = single
    assert len(ids) > 150 and all(len(gts[v]) == 19 for v in ids)
    groups = {"even": list(range(0, len(ids), 2)), "first ten": list(range(10))}
    with MeteorPool(3) as pool:
        assert len(pool.procs) == 3
        assert pool.statistics([MeteorPool.score_line(res[v][0], gts[v]) for v in ids]) == stats
        got_overall, got_per, by_group = MeteorJob(pool, gts, res, ids, groups).result()
        procs = list(pool.procs)
    assert got_overall == overall and got_per == list(per)  # exactly: the same Java arithmetic
    assert 0.1 < overall < 0.5
    for name, members in groups.items():
        sub = [ids[i] for i in members]
        want = meteor.compute_score({v: gts[v] for v in sub}, {v: res[v] for v in sub})[0]
        assert by_group[name] == want
    assert all(proc.poll() is not None for proc in procs)  # every process stopped on leaving the block


@pytest.mark.slow
def test_more_processes_than_ids_and_no_ids(real, single):
    ids, gts, res = real
    stats = single[0]
    with MeteorPool(2) as pool:
        assert pool.statistics([MeteorPool.score_line(res[ids[0]][0], gts[ids[0]])]) == stats[:1]
        assert pool.statistics([]) == []


@pytest.mark.slow
def test_a_dead_process_is_a_java_error(real):
    ids, gts, res = real
    pool = MeteorPool(2)
    try:
        pool.procs[1].kill()
        pool.procs[1].wait()
        with pytest.raises(java.JavaError, match="METEOR .*failed"):
            MeteorJob(pool, gts, res, ids, {}).result()
    finally:
        pool.close()
    assert pool.procs == []


def test_process_count_follows_ids_and_cores():
    assert meteor_processes(1, cores=8) == 1
    assert meteor_processes(2990, cores=1) == 1
    assert meteor_processes(2990, cores=2) == 1  # a JVM keeps ~1.5 cores busy: a second one only slows
    assert meteor_processes(2990, cores=5) == 2
    assert meteor_processes(2990, cores=64) == MAX_PROCESSES
    assert meteor_processes(501, cores=8) == 2
    with pytest.raises(UsageError, match="positive integer"):
        MeteorPool(0)


@pytest.mark.slow
def test_a_pool_started_early_at_low_priority_scores_the_same_and_stays_the_callers(real, single):
    from vidcap.metrics.coco import evaluate

    ids, gts, res = real
    meteor = single[3]
    some = ids[:40]
    want = meteor.compute_score({v: gts[v] for v in some}, {v: res[v] for v in some})[0]
    with MeteorPool(1, nice=19) as pool:
        ev = evaluate({v: gts[v] for v in some}, {v: res[v] for v in some}, tokenizer="none", spice="off",
                      meteor=pool)
        # the JVM that answered runs at the priority asked for (checked once it has answered: right after
        # the start `nice` may not have set it yet)
        assert os.getpriority(os.PRIO_PROCESS, pool.procs[0].pid) == 19
        assert ev.overall["METEOR"] == want
        assert pool.procs and pool.procs[0].poll() is None  # still the caller's to use and close
        again = evaluate({v: gts[v] for v in some}, {v: res[v] for v in some}, tokenizer="none", spice="off",
                         meteor=pool)
        assert again.overall == ev.overall
    for bad in (-1, 20, True, 1.5):
        with pytest.raises(UsageError, match="nice must be a whole number from 0 to 19"):
            MeteorPool(1, nice=bad)
