"""Hostile feature stores: meta.json and entries written by an attacker (vidcap/features/store.py).

Every case opens a store that `vidcap extract` could have written and then tampers with one file; reading
it must end in a vidcap error that names the store (and the video id and stream where there is one),
allocate nothing the files do not justify, unpickle nothing, and change nothing in the store. Stores are
read in-process: starting `vidcap train` per case would cost seconds each (the training module has the
end-to-end case).
"""
from __future__ import annotations

import json
import os
import pathlib
import zipfile

import numpy as np
import pytest
from hostilekit import Case, raised, snapshot, unchanged

from vidcap.errors import InputError
from vidcap.features import FeatureStore
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter, quote_id

SPEC = FeatureSpec(backbone="resnet18", weights="none(seed=0)", options={}, preprocessing={},
                   sampling={"frames": 4}, dtypes={"frame": "float16"})
DIMS = {"frame": [3]}
GOOD = {"frame": (np.arange(12).reshape(4, 3) / 10).astype(np.float16)}
RESERVED = {"_indices": np.arange(4, dtype=np.int64), "_timestamps": np.arange(4) / 10.0,
            "_info": np.array(json.dumps({"fps": 10.0}))}


def _store(tmp: pathlib.Path) -> pathlib.Path:
    writer = StoreWriter(tmp / "feats", SPEC, DIMS)
    for vid in ("v1", "v2"):
        writer.write(vid, GOOD, indices=np.arange(4), timestamps=np.arange(4) / 10, info={"fps": 10.0})
    return tmp / "feats"


def _entry(store: pathlib.Path, vid: str = "v1", **members: np.ndarray) -> None:
    """Replace the entry of ``vid`` with the good members updated by ``members`` (np.savez, as vidcap)."""
    np.savez(store / "videos" / f"{quote_id(vid)}.npz", **{**GOOD, **RESERVED, **members})


def _meta(store: pathlib.Path, edit) -> None:
    meta = json.loads((store / "meta.json").read_text())
    (store / "meta.json").write_text(json.dumps(edit(meta)) if callable(edit) else edit)


def _read_v1(store: pathlib.Path) -> None:
    FeatureStore(store)["v1"]


class _Touch:
    """A pickled object whose unpickling creates a file: proof that nothing was unpickled."""

    def __init__(self, path: pathlib.Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _pickled(store: pathlib.Path) -> None:
    _entry(store, frame=np.array([_Touch(store.parent / "UNPICKLED")], dtype=object))


def _huge_header(store: pathlib.Path) -> None:
    """An entry whose frame header claims 2**40 frames over a few stored bytes."""
    file = store / "videos" / "v1.npz"
    with zipfile.ZipFile(file, "w") as zf:
        for name, array in RESERVED.items():
            with zf.open(f"{name}.npy", "w") as fh:
                np.lib.format.write_array(fh, array)
        with zf.open("frame.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f2", "fortran_order": False, "shape": (1 << 40, 3)})
            fh.write(b"\0" * 24)


def _compressed(store: pathlib.Path) -> None:
    np.savez_compressed(store / "videos" / "v1.npz", **GOOD, **RESERVED)


def _link_out(store: pathlib.Path) -> None:
    outside = store.parent / "elsewhere.npz"
    np.savez(outside, **GOOD, **RESERVED)
    (store / "videos" / "v1.npz").unlink()
    os.symlink(outside, store / "videos" / "v1.npz")


def _sparse_meta(store: pathlib.Path) -> None:
    with open(store / "meta.json", "r+b") as fh:
        fh.truncate(300 << 20)  # sparse: no disk space used, but larger than any JSON vidcap reads


def _info(store: pathlib.Path) -> None:
    FeatureStore(store).info("v1")


def _failures(store: pathlib.Path) -> None:
    FeatureStore(store).failures()


# (name, tamper(store), read(store), strings the message names besides the store)
CASES = [
    Case("meta-invalid-json", (lambda s: _meta(s, '{"dims": {"frame": [3]'), _read_v1), ("meta.json", "line 1")),
    Case("meta-deep-nesting", (lambda s: _meta(s, "[" * 5000 + "]" * 5000), _read_v1),
         ("meta.json", "nests deeper than")),
    Case("meta-not-utf8", (lambda s: (s / "meta.json").write_bytes(b'{\n"dims": "\xff"}'), _read_v1),
         ("meta.json", "line 2", "not UTF-8")),
    Case("meta-nan-literal", (lambda s: _meta(s, (s / "meta.json").read_text().rstrip()[:-1] + ', "x": NaN}'),
                              _read_v1), ("meta.json", "NaN", "not JSON")),
    Case("meta-300MB", (_sparse_meta, _read_v1), ("meta.json", "bytes, more than")),
    Case("meta-top-level-list", (lambda s: _meta(s, "[]"), _read_v1), ("meta.json", "no stream dims")),
    Case("meta-dims-huge", (lambda s: _meta(s, lambda m: {**m, "dims": {"frame": [1 << 20, 1 << 20]}}), _read_v1),
         ("meta.json", "frame", "before allocating")),
    Case("meta-dims-string", (lambda s: _meta(s, lambda m: {**m, "dims": {"frame": "512"}}), _read_v1),
         ("meta.json", "frame", "positive integers")),
    Case("meta-dims-zero", (lambda s: _meta(s, lambda m: {**m, "dims": {"frame": [0]}}), _read_v1),
         ("meta.json", "frame", "positive integers")),
    Case("meta-dims-bool", (lambda s: _meta(s, lambda m: {**m, "dims": {"frame": [True]}}), _read_v1),
         ("meta.json", "frame", "positive integers")),
    Case("meta-dims-other-streams", (lambda s: _meta(s, lambda m: {**m, "dims": {"objects": [3]}}), _read_v1),
         ("meta.json", "objects")),
    Case("meta-spec-not-object", (lambda s: _meta(s, lambda m: {**m, "spec": [1, 2]}), _read_v1), ("feats",)),
    Case("entry-nan", (lambda s: _entry(s, frame=np.full((4, 3), np.nan, np.float16)), _read_v1),
         ("'v1'", "stream frame", "12 non-finite values")),
    Case("entry-inf", (lambda s: _entry(s, frame=np.array([[0, 0, 0]] * 3 + [[0, np.inf, 0]], np.float16)),
                       _read_v1), ("'v1'", "stream frame", "first at index (3, 1)")),
    Case("entry-pickled-object-array", (_pickled, _read_v1), ("'v1'", "object array", "never unpickles")),
    Case("entry-wrong-dtype", (lambda s: _entry(s, frame=GOOD["frame"].astype(np.float32)), _read_v1),
         ("'v1'", "stream frame", "float32", "float16")),
    Case("entry-wrong-shape", (lambda s: _entry(s, frame=np.zeros((4, 5), np.float16)), _read_v1),
         ("'v1'", "stream frame", "(4, 5)")),
    Case("entry-no-frames", (lambda s: _entry(s, frame=np.zeros((0, 3), np.float16)), _read_v1),
         ("'v1'", "stream frame", "frames >= 1")),
    Case("entry-huge-header", (_huge_header, _read_v1), ("'v1'", "claims (1099511627776, 3)")),
    Case("entry-compressed", (_compressed, _read_v1), ("'v1'", "member frame is compressed")),
    Case("entry-missing-member", (lambda s: np.savez(s / "videos" / "v1.npz", **RESERVED), _read_v1),
         ("'v1'", "damaged")),
    Case("entry-not-a-zip", (lambda s: (s / "videos" / "v1.npz").write_text("hello"), _read_v1),
         ("'v1'", "damaged")),
    Case("entry-symlink-out-of-store", (_link_out, _read_v1), ("'v1'", "outside the store", "elsewhere.npz")),
    Case("entry-info-not-json", (lambda s: _entry(s, _info=np.array("{oops")), _info), ("'v1'", "_info")),
    Case("entry-info-not-object", (lambda s: _entry(s, _info=np.array("[1]")), _info), ("'v1'", "_info")),
    Case("entry-timestamps-nan", (lambda s: _entry(s, _timestamps=np.array([0, np.nan, 0.2, 0.3])), _info),
         ("'v1'", "_timestamps", "non-finite")),
    Case("entry-indices-2d", (lambda s: _entry(s, _indices=np.zeros((2, 2), np.int64)), _info),
         ("'v1'", "_indices")),
    Case("failures-not-a-list", (lambda s: (s / "failures.json").write_text('{"video_id": 1}'), _failures),
         ("failures.json",)),
    Case("failures-deep", (lambda s: (s / "failures.json").write_text("[" * 3000 + "]" * 3000), _failures),
         ("failures.json", "nests deeper")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_hostile_store_is_refused_naming_it_and_left_unchanged(tmp_path, case):
    store = _store(tmp_path)
    tamper, read = case.make
    tamper(store)
    before = snapshot(tmp_path)
    raised(lambda: read(store), names=(str(store), *case.names), error=InputError)
    unchanged(before, tmp_path)
    assert not (tmp_path / "UNPICKLED").exists()


def test_ids_that_look_like_paths_stay_inside_the_store(tmp_path):
    """Ids are quoted into one flat file name: `../x` reads videos/..%2Fx.npz, never the file at ../x."""
    store = _store(tmp_path)
    np.savez(store / "x.npz", **GOOD, **RESERVED)         # where videos/../x.npz would lead
    np.savez(tmp_path / "y.npz", **GOOD, **RESERVED)
    for vid in ("../x", "../../y", str(tmp_path / "y"), "/etc/passwd"):
        with pytest.raises(KeyError):
            FeatureStore(store)[vid]
        assert vid not in FeatureStore(store)


WRITES = [
    Case("write-nan", {"frame": np.full((4, 3), np.nan, np.float32)}, ("'v3'", "stream frame", "non-finite")),
    Case("write-beyond-float16", {"frame": np.full((4, 3), 1e5, np.float32)},
         ("'v3'", "stream frame", "float16", "12 non-finite values")),
]


@pytest.mark.parametrize("case", WRITES, ids=lambda c: c.name)
def test_non_finite_features_are_refused_at_extraction_and_nothing_is_written(tmp_path, case):
    store = _store(tmp_path)
    before = snapshot(tmp_path)
    writer = StoreWriter(store, SPEC, DIMS)
    raised(lambda: writer.write("v3", case.make, indices=np.arange(4), timestamps=np.arange(4) / 10, info={}),
           names=(str(store), *case.names), error=InputError)
    unchanged(before, tmp_path)
