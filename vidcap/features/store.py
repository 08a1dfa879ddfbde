"""The on-disk feature store: one small file per video, so a kill can never corrupt what is written.

Layout of a store folder ``DIR``::

    DIR/meta.json                      the feature spec (vidcap.features.spec), stream dims, vidcap version
    DIR/videos/<quoted id>.npz         one uncompressed npz per video: the streams (float16; integer
                                       streams int16), ``_indices``, ``_timestamps``, ``_info`` (JSON)
    DIR/failures.json                  [{"video_id", "path", "reason"}] of the last unsharded run
    DIR/failures-<i>-of-<n>.json       the same, per shard

Every file is written to a temporary name in its own folder (``*.tmp``), flushed, fsynced and
``os.replace``d into place: a reader sees a whole entry or none. An entry damaged afterwards (a partial
copy, a bad disk) is named with its video id when read, and ``vidcap extract`` finds it and extracts
that video again: :meth:`FeatureStore.problem` is a cheap check (the zip directory at the end of the
file and the member list), ``problem(..., full=True)`` reads and CRC-checks every byte. Ids are ``urllib.parse.quote``d
(``safe=""``), so any id maps to one flat file name. Reading opens one entry per item and nothing else,
and the object holds no open files: safe to use from DataLoader workers.

Example:
    >>> store = FeatureStore("feats/")                               # doctest: +SKIP
    >>> store.spec.backbone, len(store)                              # doctest: +SKIP
    ('resnet18', 10000)
    >>> store["video0"]["frame"].shape, store.info("video0")["fps"]  # doctest: +SKIP
    ((28, 512), 29.97)
"""
from __future__ import annotations

import json
import os
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vidcap.checks import check_finite, finite_problem
from vidcap.errors import InputError, UsageError
from vidcap.features.spec import FORMAT, FeatureSpec
from vidcap.files import read_json, temp_owner, write_atomic, write_json

META = "meta.json"
VIDEOS = "videos"
ENTRY_SUFFIX = ".npz"
RESERVED = ("_indices", "_timestamps", "_info")  # non-stream members of an entry
UNCHECKED_META = ("vidcap_version",)  # may differ between runs that add to the same store
# What can go wrong reading a damaged npz: a zip without its directory, a short member, bad CRC or array header.
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError)
# A stream's values per frame (the product of its dims): the largest real one, 100 YOLO boxes of 2048
# numbers, is 204,800. meta.json is untrusted: larger dims are refused before anything is allocated.
MAX_STREAM_VALUES = 1 << 22
STORED_DTYPES = ("float16", "float32", "int16", "int32")  # what a stream may be stored as


def quote_id(video_id: str) -> str:
    """Video id → file stem (reversible, no path separators)."""
    return urllib.parse.quote(video_id, safe="")


def failures_name(shard: tuple[int, int] | None) -> str:
    """``failures.json``, or ``failures-<i>-of-<n>.json`` for a shard."""
    return "failures.json" if shard is None else f"failures-{shard[0]}-of-{shard[1]}.json"


def check_dims(dims: Mapping[str, Any], spec: FeatureSpec, source: object) -> dict[str, tuple[int, ...]]:
    """meta.json's ``dims`` as tuples, checked: the spec's streams, each a list of one or two positive
    integers of at most ``MAX_STREAM_VALUES`` values per frame, stored in one of ``STORED_DTYPES``.

    Example:
        >>> spec = FeatureSpec(backbone="resnet18", weights="none(seed=0)", options={}, preprocessing={},
        ...                    sampling={"frames": 4}, dtypes={"frame": "float16"})
        >>> check_dims({"frame": [512]}, spec, "meta.json")
        {'frame': (512,)}
        >>> check_dims({"frame": [1 << 40]}, spec, "meta.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: meta.json: stream frame has dims [1099511627776]: ... at most 4194304 ...
    """
    if set(dims) != set(spec.dtypes):
        raise InputError(f"{source}: dims name streams {sorted(dims)}, the spec's dtypes {sorted(spec.dtypes)}")
    out = {}
    for name, shape in dims.items():
        ok = (isinstance(shape, list) and 1 <= len(shape) <= 2
              and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape))
        if not ok:
            raise InputError(f"{source}: stream {name} has dims {json.dumps(shape)[:60]}; expected a list of "
                             "one or two positive integers")
        if int(np.prod(shape, dtype=object)) > MAX_STREAM_VALUES:
            raise InputError(f"{source}: stream {name} has dims {shape}: {int(np.prod(shape, dtype=object)):,} "
                             f"values per frame, and a store holds at most {MAX_STREAM_VALUES} (refused before "
                             "allocating anything)")
        if spec.dtypes[name] not in STORED_DTYPES:
            raise InputError(f"{source}: stream {name} is stored as {spec.dtypes[name]!r}; a store holds "
                             f"{', '.join(STORED_DTYPES)}")
        out[name] = tuple(shape)
    return out


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, links resolved, lies inside ``folder`` (links resolved too)."""
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


class FeatureStore(Mapping[str, dict[str, np.ndarray]]):
    """Read-only mapping video id → {stream name: array (frames first)}; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        meta_file = self.path / META
        if not meta_file.exists() and not meta_file.is_symlink():
            raise InputError(f"{self.path}: not a feature store (no {META}; make one with `vidcap extract`)")
        self.meta: dict[str, Any] = read_json(meta_file, "feature store metadata")
        if not isinstance(self.meta, dict) or not isinstance(self.meta.get("dims"), dict):
            raise InputError(f"{meta_file}: not vidcap store metadata (no stream dims)")
        self.spec = FeatureSpec.from_dict(self.meta.get("spec"), source=f"feature store {self.path}")
        self.dims: dict[str, tuple[int, ...]] = check_dims(self.meta["dims"], self.spec, meta_file)
        self.streams: tuple[str, ...] = tuple(self.meta["dims"])
        self._ids: list[str] | None = None  # listed once, on first use

    def _file(self, video_id: str) -> Path:
        return self.path / VIDEOS / f"{quote_id(video_id)}{ENTRY_SUFFIX}"

    def _damaged(self, video_id: str, reason: str) -> InputError:
        return InputError(f"feature store {self.path}: the entry of video {video_id!r} ({self._file(video_id)}) "
                          f"is damaged ({reason}). Re-run the `vidcap extract` command that made the store: "
                          "it finds damaged entries and extracts those videos again")

    def _load(self, video_id: str, names: Iterable[str]) -> dict[str, np.ndarray]:
        """The named members of one entry, each checked against meta.json before and after reading."""
        file = self._file(video_id)
        if file.is_symlink() and not _inside(file, self.path / VIDEOS):
            raise InputError(f"feature store {self.path}: the entry of video {video_id!r} ({file}) is a link to "
                             f"{os.path.realpath(file)}, outside the store; a store's entries are its own files")
        try:
            with zipfile.ZipFile(file) as zf:
                arrays = {name: self._member(zf, video_id, name) for name in names}
        except FileNotFoundError:
            raise KeyError(video_id) from None
        except InputError:  # said precisely already (an InputError is also a ValueError, one of _DAMAGE)
            raise
        except _DAMAGE as err:
            raise self._damaged(video_id, f"{type(err).__name__}: {err}") from None
        for name, array in arrays.items():
            if name in self.dims:
                check_finite(array, f"feature store {self.path}: video {video_id!r}, stream {name}")
        return arrays

    def _member(self, zf: zipfile.ZipFile, video_id: str, name: str) -> np.ndarray:
        """One array of an entry. Its npy header is read first: an object (pickled) array, a size larger
        than the member's bytes, or a dtype/shape other than meta.json's is refused before allocating."""
        info = zf.getinfo(f"{name}.npy")
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            shape, _fortran, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(fh))
            if dtype.hasobject:
                raise self._damaged(video_id, f"member {name} is an object array (pickled Python objects), "
                                              "which a store never holds and vidcap never unpickles")
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if info.compress_type != zipfile.ZIP_STORED:  # its stated size could be a decompression bomb's
                raise self._damaged(video_id, f"member {name} is compressed; vidcap writes entries uncompressed")
            if nbytes > info.file_size:
                raise self._damaged(video_id, f"member {name} claims {shape} {dtype} ({nbytes:,} bytes) in "
                                              f"{info.compress_size:,} stored bytes")
            problem = self._shape_problem(name, shape, dtype)
            if problem:
                raise InputError(f"feature store {self.path}: video {video_id!r}, {problem} "
                                 f"({self._file(video_id)})")
        with zf.open(info) as fh:  # read_array reads the header again itself
            return np.lib.format.read_array(fh, allow_pickle=False)

    def _shape_problem(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        if name in self.dims:
            want = self.spec.dtypes.get(name)
            if str(dtype) != want or len(shape) != 1 + len(self.dims[name]) or shape[1:] != self.dims[name] \
                    or shape[0] < 1:
                return (f"stream {name} is {shape} {dtype}; {META} says (frames >= 1, "
                        f"{', '.join(map(str, self.dims[name]))}) {want}")
        elif name in ("_indices", "_timestamps") and len(shape) != 1:
            return f"{name} has shape {shape}; expected one value per frame"
        elif name == "_info" and (shape != () or dtype.kind != "U"):
            return f"_info is {shape} {dtype}; expected a JSON string"
        return None

    def problem(self, video_id: str, *, full: bool = False) -> str | None:
        """Why the entry of ``video_id`` cannot be read, or None when it can (also None when absent).

        The cheap check reads the zip directory at the end of the file and the member list, which any
        truncation breaks; ``full`` reads every member and checks its CRC.

        Example:
            >>> FeatureStore("feats/").problem("video0")     # doctest: +SKIP
            'BadZipFile: File is not a zip file'
        """
        file = self._file(video_id)
        try:
            with zipfile.ZipFile(file) as zf:
                names = {n.removesuffix(".npy") for n in zf.namelist()}
                missing = sorted((set(self.streams) | set(RESERVED)) - names)
                if missing:
                    return f"members missing: {', '.join(missing)}"
                size = file.stat().st_size
                if any(i.header_offset + i.compress_size > size for i in zf.infolist()):
                    return "a member runs past the end of the file"
                if full:
                    bad = zf.testzip()
                    if bad is not None:
                        return f"CRC mismatch in {bad}"
            if full:
                self._load(video_id, (*self.streams, *RESERVED))
        except FileNotFoundError:
            return None
        except InputError as err:
            return str(err)
        except _DAMAGE as err:
            return f"{type(err).__name__}: {err}"
        return None

    def __getitem__(self, video_id: str) -> dict[str, np.ndarray]:
        return self._load(video_id, self.streams)

    def info(self, video_id: str) -> dict[str, Any]:
        """Sampling record of one video: ``indices``, ``timestamps`` (s), ``fps``, ``duration``, ``path`` …

        Example:
            >>> FeatureStore("feats/").info("video0")["timestamps"][:2]   # doctest: +SKIP
            array([0.267, 0.8  ])
        """
        entry = self._load(video_id, RESERVED)
        try:
            info = json.loads(str(entry["_info"]))
        except (ValueError, RecursionError) as err:
            raise self._damaged(video_id, f"_info is not JSON ({err})") from None
        if not isinstance(info, dict):
            raise self._damaged(video_id, "_info is not a JSON object")
        check_finite(entry["_timestamps"], f"feature store {self.path}: video {video_id!r}, _timestamps")
        return {**info, "indices": entry["_indices"], "timestamps": entry["_timestamps"]}

    def __contains__(self, video_id: object) -> bool:
        return isinstance(video_id, str) and self._file(video_id).is_file()

    def ids(self) -> list[str]:
        """Sorted ids of the stored videos (listed once per FeatureStore object)."""
        if self._ids is None:
            folder = self.path / VIDEOS
            names = os.listdir(folder) if folder.is_dir() else []
            self._ids = sorted(urllib.parse.unquote(n[: -len(ENTRY_SUFFIX)])
                               for n in names if n.endswith(ENTRY_SUFFIX))
        return self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())

    def __len__(self) -> int:
        return len(self.ids())

    def failures(self) -> list[dict[str, str]]:
        """Failed videos of every run and shard that wrote here, minus those since extracted."""
        found: dict[str, dict[str, str]] = {}
        for file in sorted(self.path.glob("failures*.json")):
            records = read_json(file, "failures list")
            if not isinstance(records, list) or not all(
                    isinstance(r, dict) and isinstance(r.get("video_id"), str) for r in records):
                raise InputError(f"{file}: not a failures list ([{{\"video_id\", \"path\", \"reason\"}}])")
            found.update((r["video_id"], r) for r in records if r["video_id"] not in self)
        return [found[k] for k in sorted(found)]

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r}, backbone={self.spec.backbone!r})"


def store_meta(spec: FeatureSpec, dims: Mapping[str, Iterable[int]], extra: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """The ``meta.json`` of a store: ``format``, ``backbone``, ``spec``, ``dims``, ``extra`` (information
    that is not part of the spec, e.g. class names) and the vidcap version.

    Example:
        >>> spec = FeatureSpec(backbone="resnet18", weights="none(seed=0)", options={}, preprocessing={},
        ...                    sampling={"frames": 4}, dtypes={"frame": "float16"})
        >>> sorted(store_meta(spec, {"frame": (512,)}))
        ['backbone', 'dims', 'extra', 'format', 'spec', 'vidcap_version']
    """
    from vidcap.version import __version__

    if set(dims) != set(spec.dtypes):
        raise ValueError(f"stream dims {sorted(dims)} and spec dtypes {sorted(spec.dtypes)} name other streams")
    return json.loads(json.dumps({
        "format": FORMAT, "backbone": spec.backbone, "spec": spec.to_dict(),
        "dims": {k: [int(d) for d in v] for k, v in dims.items()}, "extra": dict(extra or {}),
        "vidcap_version": __version__}))


def to_stored(streams: Mapping[str, np.ndarray], dtypes: Mapping[str, str], where: str) -> dict[str, np.ndarray]:
    """Arrays as a store holds them (``dtypes`` per stream: float16, int16): what the writer writes and
    what captioning a raw file feeds the model, so the two agree bit for bit. A stream that is not finite in
    its stored dtype (NaN, or a value beyond float16's ±65504, which the cast makes infinite) is an
    InputError naming ``where``, the stream and the dtype: neither a store nor a caption is made from it.

    Example:
        >>> to_stored({"frame": np.array([0.1])}, {"frame": "float16"}, "video v1")["frame"].dtype
        dtype('float16')
        >>> to_stored({"frame": np.array([1e5])}, {"frame": "float16"}, "video v1")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: video v1, stream frame (float16): 1 non-finite value (NaN or infinity) of 1, first at index (0,)
    """
    with np.errstate(over="ignore"):  # the overflow is reported below, with the names numpy does not know
        arrays = {k: np.ascontiguousarray(v, dtypes[k]) for k, v in streams.items()}
    for name, array in arrays.items():
        problem = finite_problem(array)
        if problem is not None:
            raise InputError(f"{where}, stream {name} ({array.dtype}): {problem}")
    return arrays


class StoreWriter:
    """Creates or resumes a store folder; used by ``extract`` (one writer per process/shard)."""

    def __init__(self, path: str | os.PathLike[str], spec: FeatureSpec, dims: Mapping[str, Iterable[int]],
                 extra: Mapping[str, Any] | None = None):
        self.path = Path(path)
        self.videos = self.path / VIDEOS
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"feature store {self.path}: exists and is not a folder")
        self.videos.mkdir(parents=True, exist_ok=True)
        self.spec = spec
        self.meta = store_meta(spec, dims, extra)
        self._check_or_write_meta()

    def _check_or_write_meta(self) -> None:
        file = self.path / META
        if not file.exists():
            write_json(file, self.meta)  # every shard writes the same bytes, so racing writers agree
            return
        old = read_json(file, "feature store metadata")
        stored = old.get("spec") if isinstance(old, dict) else None
        try:
            diff = FeatureSpec.from_dict(stored, source=str(file)).differences(self.spec)
        except InputError as err:
            raise UsageError(f"feature store {self.path}: {err}; write the store to another folder") from None
        keys = sorted((set(old) | set(self.meta)) - set(UNCHECKED_META) - {"spec"})
        diff += [f"{k}: {json.dumps(old.get(k))} vs {json.dumps(self.meta.get(k))}"
                 for k in keys if old.get(k) != self.meta.get(k)]
        if diff:
            raise UsageError(f"feature store {self.path} holds features made differently, and stores never mix "
                             "(stored vs now): " + "; ".join(diff) + ". Write to another folder, or use the stored settings.")

    def done(self, video_id: str) -> bool:
        """Whether ``video_id`` has an entry (damaged or not: see :meth:`FeatureStore.problem`)."""
        return (self.videos / f"{quote_id(video_id)}{ENTRY_SUFFIX}").is_file()

    def remove_temps(self, video_ids: Iterable[str] | None, failures: str) -> int:
        """Delete temporary leftovers of killed runs: of these videos and this failures file, or of
        everything when ``video_ids`` is None (only safe when no other process writes here)."""
        stems = None if video_ids is None else {f"{quote_id(v)}{ENTRY_SUFFIX}" for v in video_ids}
        removed = 0
        for folder, allowed in ((self.videos, stems), (self.path, None if stems is None else {failures})):
            for name in os.listdir(folder):
                owner = temp_owner(name)
                if owner is not None and (allowed is None or owner in allowed):
                    (folder / name).unlink(missing_ok=True)
                    removed += 1
        return removed

    def write(self, video_id: str, streams: dict[str, np.ndarray], *, indices: np.ndarray,
              timestamps: np.ndarray, info: dict[str, Any]) -> None:
        """Write one video's entry atomically, each stream in the spec's stored dtype; InputError (and
        nothing written) when a stream holds a NaN or infinity, e.g. a value beyond float16's range."""
        if set(streams) != set(self.spec.dtypes):
            raise ValueError(f"video {video_id!r}: streams {sorted(streams)}, the store has {sorted(self.spec.dtypes)}")
        arrays = to_stored(streams, self.spec.dtypes, f"feature store {self.path}: video {video_id!r} not written")
        arrays.update(_indices=np.asarray(indices, np.int64), _timestamps=np.asarray(timestamps, np.float64),
                      _info=np.array(json.dumps(info, sort_keys=True)))
        write_atomic(self.videos / f"{quote_id(video_id)}{ENTRY_SUFFIX}", lambda f: np.savez(f, **arrays))

    def write_failures(self, name: str, failures: list[dict[str, str]]) -> None:
        write_json(self.path / name, sorted(failures, key=lambda r: r["video_id"]))
