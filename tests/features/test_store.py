"""The on-disk FeatureStore and its writer (vidcap/features/store.py)."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from vidcap.errors import InputError, UsageError
from vidcap.features import FeatureStore
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter

SPEC = FeatureSpec(backbone="resnet18", weights="none(seed=0)", options={"input_size": 64},
                   preprocessing={"fit": "crop"}, sampling={"frames": 4},
                   dtypes={"frame": "float16", "cls": "int16"})
DIMS = {"frame": [3], "cls": [2]}


def _entry(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"frame": rng.standard_normal((4, 3)).astype(np.float32), "cls": rng.integers(-1, 80, (4, 2))}


def _write(writer: StoreWriter, vid: str, seed: int) -> dict[str, np.ndarray]:
    streams = _entry(seed)
    writer.write(vid, streams, indices=np.array([0, 5, 10, 15]), timestamps=np.array([0.0, 0.2, 0.4, 0.6]),
                 info={"fps": 25.0, "duration": 0.8, "path": f"/videos/{seed}.mp4"})
    return streams


def test_round_trip_with_odd_ids(tmp_path):
    writer = StoreWriter(tmp_path / "s", SPEC, DIMS)
    ids = ["video7", "a/b c?", "ünï.cödé", ".hidden"]
    written = {vid: _write(writer, vid, i) for i, vid in enumerate(ids)}
    store = FeatureStore(tmp_path / "s")
    assert store.spec == SPEC and store.meta["dims"] == DIMS and sorted(store) == sorted(ids) and len(store) == 4
    for vid, streams in written.items():
        got = store[vid]
        assert set(got) == {"frame", "cls"}
        assert got["frame"].dtype == np.float16 and got["cls"].dtype == np.int16
        np.testing.assert_array_equal(got["frame"], streams["frame"].astype(np.float16))
        np.testing.assert_array_equal(got["cls"], streams["cls"])
    info = store.info("video7")
    assert info["fps"] == 25.0 and info["path"] == "/videos/0.mp4"
    assert info["indices"].tolist() == [0, 5, 10, 15] and info["timestamps"].tolist() == [0.0, 0.2, 0.4, 0.6]
    assert "video7" in store and "nope" not in store and 3 not in store
    with pytest.raises(KeyError):
        store["nope"]
    # no path separators in file names: one flat folder of entries
    assert all(p.parent.name == "videos" for p in (tmp_path / "s").rglob("*.npz"))


def test_store_pickles_for_dataloader_workers(tmp_path):
    writer = StoreWriter(tmp_path, SPEC, DIMS)
    streams = _write(writer, "v", 1)
    store = FeatureStore(tmp_path)
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone["v"]["frame"], streams["frame"].astype(np.float16))


def test_temp_leftovers_are_ignored_and_cleaned(tmp_path):
    writer = StoreWriter(tmp_path, SPEC, DIMS)
    _write(writer, "done", 1)
    (tmp_path / "videos" / "killed.npz.123-abcd.tmp").write_bytes(b"PK half")
    (tmp_path / "videos" / "other.npz.9-ffff.tmp").write_bytes(b"PK half")
    (tmp_path / "failures.json.5-0000.tmp").write_text("[")
    assert list(FeatureStore(tmp_path)) == ["done"]
    assert writer.remove_temps(["killed"], "failures.json") == 2  # only this run's videos and failures file
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["done.npz", "other.npz.9-ffff.tmp"]
    assert writer.remove_temps(None, "failures.json") == 1
    assert [p.name for p in (tmp_path / "videos").iterdir()] == ["done.npz"]


def test_reopening_with_another_setup_is_refused(tmp_path):
    StoreWriter(tmp_path, SPEC, DIMS)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["vidcap_version"] = "9.9"  # a newer vidcap may add to the store
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    StoreWriter(tmp_path, SPEC, DIMS)
    with pytest.raises(UsageError, match=r'backbone: "resnet18" vs "resnet50".*weights: "none\(seed=0\)" vs "sha256:ab"'):
        StoreWriter(tmp_path, SPEC.replace(backbone="resnet50", weights="sha256:ab"), DIMS)
    with pytest.raises(UsageError, match="sampling.frames: 4 vs 8"):
        StoreWriter(tmp_path, SPEC.replace(sampling={"frames": 8}), DIMS)
    with pytest.raises(UsageError, match="preprocessing.fit"):
        StoreWriter(tmp_path, SPEC.replace(preprocessing={"fit": "letterbox"}), DIMS)


def test_a_store_without_a_spec_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"format": "vidcap-features/1", "backbone": "resnet18",
                                                    "dims": {"frame": [3]}}))
    with pytest.raises(InputError, match=f"feature store {tmp_path}: not a vidcap feature spec.*re-extract"):
        FeatureStore(tmp_path)
    with pytest.raises(UsageError, match="not a vidcap feature spec.*another folder"):
        StoreWriter(tmp_path, SPEC, DIMS)


def test_failures_of_all_shards_merge_and_drop_later_successes(tmp_path):
    writer = StoreWriter(tmp_path, SPEC, DIMS)
    rec = lambda vid: {"video_id": vid, "path": f"{vid}.mp4", "reason": "broken"}  # noqa: E731
    writer.write_failures("failures-0-of-2.json", [rec("b"), rec("a")])
    writer.write_failures("failures-1-of-2.json", [rec("c")])
    assert json.loads((tmp_path / "failures-0-of-2.json").read_text())[0]["video_id"] == "a"  # sorted
    _write(writer, "b", 0)  # b was extracted by a later run
    assert [r["video_id"] for r in FeatureStore(tmp_path).failures()] == ["a", "c"]


def test_opening_something_that_is_not_a_store(tmp_path):
    with pytest.raises(InputError, match="not a feature store"):
        FeatureStore(tmp_path)
    (tmp_path / "meta.json").write_text("{")
    with pytest.raises(InputError, match="meta.json: line 1: invalid JSON"):
        FeatureStore(tmp_path)


def test_damaged_entry_is_an_input_error(tmp_path):
    StoreWriter(tmp_path, SPEC, DIMS)
    (tmp_path / "videos" / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"the entry of video 'bad' \(.*bad.npz\) is damaged.*vidcap extract"):
        FeatureStore(tmp_path)["bad"]


def test_truncated_and_corrupted_entries_are_found(tmp_path):
    writer = StoreWriter(tmp_path, SPEC, DIMS)
    for i, vid in enumerate(["whole", "cut", "flipped"]):
        _write(writer, vid, i)
    store = FeatureStore(tmp_path)
    cut = tmp_path / "videos" / "cut.npz"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # a partial copy
    flipped = tmp_path / "videos" / "flipped.npz"
    data = bytearray(flipped.read_bytes())
    data[200] ^= 0xFF  # one bad byte inside the first member's data
    flipped.write_bytes(bytes(data))
    assert store.problem("whole") is None and store.problem("whole", full=True) is None
    assert store.problem("absent") is None
    assert "BadZipFile" in store.problem("cut")
    assert store.problem("flipped") is None  # the cheap check reads the directory only
    assert "CRC" in store.problem("flipped", full=True) or "damaged" in store.problem("flipped", full=True)
    with pytest.raises(InputError, match=r"video 'cut'.*BadZipFile.*Re-run the `vidcap extract`"):
        store["cut"]
    np.testing.assert_array_equal(store["whole"]["frame"], _entry(0)["frame"].astype(np.float16))


def test_writer_refuses_streams_the_spec_does_not_name(tmp_path):
    writer = StoreWriter(tmp_path, SPEC, DIMS)
    with pytest.raises(ValueError, match="streams"):
        writer.write("v", {"frame": np.zeros((4, 3))}, indices=np.arange(4), timestamps=np.zeros(4), info={})
