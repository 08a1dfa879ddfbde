"""A trained model: the one type every loader returns and every writer takes.

A trained captioning model is more than its network: the vocabulary its tokens index, the feature
normaliser its inputs went through, the spec of every feature store it was trained on (so that its
inputs can be made again, from stores or raw video), the input streams in the order it reads them, the
number of frames it reads, its decoding settings (:class:`EvalSettings`: the ones its validation used)
and, when known, how it was trained (``record``). :class:`TrainedModel` holds all of that, checked.

It comes from a training checkpoint (``best.pt``), a model folder (``vidcap export``) or the Hugging Face
Hub — :meth:`TrainedModel.load` takes any of them — and goes to a checkpoint (the trainer writes its
checkpoints through :meth:`TrainedModel.checkpoint_payload`) or a model folder
(:meth:`TrainedModel.save_folder`, through :func:`vidcap.trained.folder.write_model_folder`). Every
file is read as untrusted input (docs/security.md): the network is built on the meta device and
compared with the stored tensors before anything is allocated
(:func:`vidcap.trained.folder.build_model`), NaN/Inf are refused, and the decoding settings, store
specs, samplings and streams are checked before anything is decoded. The on-disk formats are those of
:mod:`vidcap.trained.checkpoint` and :mod:`vidcap.trained.folder`.

Example:
    >>> trained = TrainedModel.load("runs/sa/best.pt")                     # doctest: +SKIP
    >>> trained.eval.beam_size, trained.streams                            # doctest: +SKIP
    (5, ['frame'])
    >>> trained.save_folder("models/sa")                                   # doctest: +SKIP
    PosixPath('models/sa')
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidcap.data import FeatureNormalizer, Vocabulary, resolve_streams
from vidcap.data.streams import Stream
from vidcap.data.vocab import MAX_LEN
from vidcap.errors import InputError, UsageError
from vidcap.models import CaptionModel
from vidcap.trained.checkpoint import check_finite, load_checkpoint, save_checkpoint
from vidcap.video import Sampling

__all__ = ["EVAL_LIMITS", "EvalSettings", "TrainedModel", "check_stores", "export_model"]

PathLike = str | os.PathLike[str]

# What a model file may set for decoding: a caption longer than 1000 words, a beam wider than 100 or
# batches larger than 4096 videos would only make a hostile file cost hours or all memory. The config
# schema's eval.* bounds are these too, so a run never writes a model its own captioner refuses.
EVAL_LIMITS = {"beam_size": (1, 100), "max_len": (1, 1000), "batch_size": (1, 4096)}


@dataclass(frozen=True)
class EvalSettings:
    """How captions are decoded: the model's defaults for ``vidcap caption``, ``eval``, ``serve`` and the
    reproduction, and, as the config's ``eval`` section (whose defaults are these fields' defaults), what
    validation decodes with.

    Example:
        >>> EvalSettings().beam_size
        5
        >>> EvalSettings.from_dict({"beam_size": 3, "max_len": 12}, "best.pt").decoding(beam_size=1)["beam_size"]
        1
        >>> EvalSettings.from_dict({"max_len": 10**9}, "model folder m")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: model folder m: eval.max_len = 1000000000: expected a whole number from 1 to 1000
    """

    beam_size: int = 5
    max_len: int = MAX_LEN
    length_penalty: float = 0.0
    block_trigrams: bool = False
    allow_unk: bool = False
    batch_size: int = 64

    @classmethod
    def from_dict(cls, values: Any, source: str) -> EvalSettings:
        """The settings a checkpoint's or folder's ``eval`` section (or a run config's) gives, checked as
        untrusted values: InputError naming ``source`` and the key. A key it lacks (files written before
        the key existed) takes its default; keys it has beyond these are not decoding settings and are
        left out."""
        if not isinstance(values, Mapping):
            raise InputError(f"{source}: 'eval' must be an object of decoding settings")
        given = {f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values}
        for key, (low, high) in EVAL_LIMITS.items():
            value = given.get(key, low)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InputError(f"{source}: eval.{key} = {value!r}: expected a whole number from {low} to {high}")
        penalty = given.get("length_penalty", 0.0)
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not 0 <= penalty < float("inf"):
            raise InputError(f"{source}: eval.length_penalty = {penalty!r}: expected a finite number >= 0")
        for key in ("block_trigrams", "allow_unk"):
            if not isinstance(given.get(key, False), bool):
                raise InputError(f"{source}: eval.{key} = {given[key]!r}: expected true or false")
        if "length_penalty" in given:
            given["length_penalty"] = float(penalty)
        return cls(**given)

    def to_dict(self) -> dict[str, Any]:
        """The ``eval`` section as files store it."""
        return dataclasses.asdict(self)

    def decoding(self, beam_size: int | None = None) -> dict[str, Any]:
        """The keyword arguments of :func:`vidcap.inference.generate.generate_captions`: these settings, with
        ``beam_size`` (a caller's ``--beam-size``) overriding the model's when given."""
        beam = self.beam_size if beam_size is None else beam_size
        if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
            raise UsageError(f"beam size {beam!r}: must be a whole number >= 1")
        return {**self.to_dict(), "beam_size": beam}


def check_stores(paths: Sequence[Any], metas: Sequence[Mapping[str, Any]], trained: Sequence[Mapping[str, Any]],
                 *, against: str) -> None:
    """InputError unless the stores at ``paths`` (their ``metas``) hold features made exactly like the
    ones a model was trained on (``trained``: its store metas), store by store.

    Example:
        >>> check_stores(["feats/"], [FeatureStore("feats/").meta], trained_model.stores,
        ...              against="checkpoint best.pt")                                    # doctest: +SKIP
    """
    from vidcap.features.spec import (
                                      FeatureSpec,  # the features package is heavy; the config schema imports this
                                      )

    if len(metas) != len(trained):
        raise InputError(f"{against} was trained on {len(trained)} feature store(s) "
                         f"({', '.join(FeatureSpec.from_dict(m.get('spec'), source=against).backbone for m in trained)}); "
                         f"{len(metas)} given ({', '.join(map(str, paths))}): give them in the same order")
    for path, meta, old in zip(paths, metas, trained):
        spec = FeatureSpec.from_dict(meta.get("spec"), source=f"feature store {path}")
        spec.require(FeatureSpec.from_dict(old.get("spec"), source=against), f"feature store {path}", against)


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A trained captioning model and everything needed to feed it and decode with it (see the module
    docstring). Built by the loaders below, or by the trainer from its run; checked when built.

    ``stores``: each training store's ``meta.json`` (its feature spec); ``streams``: the input streams as
    the run named them (resolved against the stores into :attr:`inputs`); ``frames``: how many frames
    the model reads (``data.frames``, None = all); ``record``: how it was trained (epoch, metrics, data
    file names, train settings), None when unknown; ``source`` names it in messages.
    """

    model: CaptionModel
    vocab: Vocabulary
    normalizer: FeatureNormalizer | None
    stores: list[dict[str, Any]]
    streams: list[str]
    frames: int | None
    eval: EvalSettings = EvalSettings()
    record: dict[str, Any] | None = None
    source: str = "the model"
    specs: list[Any] = field(init=False, repr=False, compare=False)
    inputs: list[Stream] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from vidcap.features.spec import FeatureSpec  # heavy package, see check_stores

        src = self.source
        if not isinstance(self.eval, EvalSettings):
            raise UsageError(f"{src}: eval must be EvalSettings, got a {type(self.eval).__name__}")
        if not isinstance(self.stores, list) or not all(isinstance(m, Mapping) for m in self.stores):
            raise InputError(f"{src}: 'stores' must hold one feature store description per store")
        specs = [FeatureSpec.from_dict(m.get("spec"), source=src) for m in self.stores]
        # what the model file says about its features is checked here, before anything is decoded
        for i, spec in enumerate(specs):
            try:
                Sampling.from_dict(spec.sampling)
            except (UsageError, TypeError, ValueError, KeyError) as err:
                raise InputError(f"{src}: stores[{i}].spec.sampling: {err}") from None
        try:
            inputs = resolve_streams(self.stores, list(self.streams))
        except (UsageError, TypeError, ValueError, KeyError) as err:
            raise InputError(f"{src}: streams: {err}") from None
        if len(self.vocab) != self.model.vocab_size:
            raise InputError(f"{src}: the vocabulary has {len(self.vocab)} words, the model {self.model.vocab_size}")
        object.__setattr__(self, "specs", specs)
        object.__setattr__(self, "inputs", inputs)

    # ------------------------------------------------------------------------------------ facts
    @property
    def config(self) -> dict[str, Any]:
        """The network's ``get_model`` keyword arguments (name, vocab_size, input_dims, options)."""
        return dict(self.model.config)

    @property
    def input_dims(self) -> dict[str, Any]:
        """Per-frame size of each input stream, in the order the model concatenates them."""
        return dict(self.model.config["input_dims"])

    def check_stores(self, paths: Sequence[Any], metas: Sequence[Mapping[str, Any]]) -> None:
        """InputError unless the feature stores at ``paths`` (their ``meta.json`` contents) were made
        exactly like this model's training stores (:func:`check_stores`)."""
        check_stores(paths, metas, self.stores, against=self.source)

    # ---------------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, source: PathLike, *, revision: str | None = None,
             cache_dir: PathLike | None = None) -> TrainedModel:
        """Load ``source``: an existing file is a checkpoint, an existing folder a model folder,
        ``"hf:org/name[@revision]"`` or a plain ``"org/name"`` that is not a local path a Hub model
        (``revision``: a branch, tag or commit; a local path has none). Anything else is an InputError
        naming ``source``.

        Example:
            >>> TrainedModel.load("runs/a/best.pt")
            Traceback (most recent call last):
            ...
            vidcap.errors.InputError: runs/a/best.pt: checkpoint not found, nor a model folder or a Hub model (org/name or hf:org/name[@revision])
        """
        text = str(source)
        for _kind, matches, loader in _SOURCES:
            if matches(text):
                return loader(cls, text, revision, cache_dir)
        raise InputError(f"{text}: checkpoint not found, nor a model folder or a Hub model (org/name or "
                         "hf:org/name[@revision])")

    @classmethod
    def from_checkpoint(cls, path: PathLike) -> TrainedModel:
        """The model of a checkpoint written by ``vidcap train`` (``best.pt``, ``last.pt``).

        Example:
            >>> TrainedModel.from_checkpoint("runs/sa/best.pt").record["epoch"]   # doctest: +SKIP
            12
        """
        return cls.from_payload(load_checkpoint(path), path)

    @classmethod
    def from_payload(cls, ckpt: Mapping[str, Any], path: PathLike) -> TrainedModel:
        """The model of checkpoint data already read with :func:`~vidcap.trained.checkpoint.load_checkpoint`
        from ``path`` (the trainer reads ``last.pt`` once for the model and its training state)."""
        where = f"checkpoint {path}"
        try:
            data, cfg, model = ckpt["data"], ckpt["config"], ckpt["model"]
            record = _record(ckpt, cfg, Path(path).name)
            parts = {"vocab": data["vocab"], "normalizer": data["normalizer"], "stores": list(data["stores"]),
                     "streams": list(data["streams"]), "frames": cfg["data"]["frames"], "eval": cfg["eval"]}
            state = model["state"]
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{where}: not a complete vidcap model checkpoint ({type(err).__name__}: "
                             f"{_first_line(err)})") from None
        return cls._assemble(model.get("config"), state, parts, record, where, path)

    @classmethod
    def from_folder(cls, folder: PathLike, *, source: str | None = None) -> TrainedModel:
        """The model of a model folder (``vidcap export``, :meth:`save_folder`), read as untrusted
        (:func:`vidcap.trained.folder.read_model_folder`); ``source`` names it in messages.

        Example:
            >>> TrainedModel.from_folder("models/sa").eval.beam_size               # doctest: +SKIP
            5
        """
        from vidcap.trained.folder import read_model_folder

        parts = read_model_folder(folder)
        where = source or f"model folder {folder}"
        return cls(model=parts["model"], vocab=parts["vocab"], normalizer=parts["normalizer"],
                   stores=parts["stores"], streams=parts["streams"], frames=parts["frames"],
                   eval=EvalSettings.from_dict(parts["eval"], where), record=parts["trained"], source=where)

    @classmethod
    def from_hub(cls, repo: str, *, revision: str | None = None,
                 cache_dir: PathLike | None = None) -> TrainedModel:
        """The model of Hub repository ``repo`` (``"org/name"`` or ``"hf:org/name[@revision]"``), through
        the Hugging Face cache (``HF_HUB_OFFLINE=1``: the cache only); ``revision`` as ``@revision``.

        Example:
            >>> TrainedModel.from_hub("vidcap/sa-lstm-msrvtt", revision="v1.0")    # doctest: +SKIP
        """
        from vidcap.trained.hub import PREFIX, download, is_hub_id

        text = str(repo)
        folder = download(text if is_hub_id(text) else PREFIX + text, revision=revision, cache_dir=cache_dir)
        return cls.from_folder(folder, source=f"model {text}")

    @classmethod
    def _assemble(cls, config: Any, state: Any, parts: Mapping[str, Any], record: dict[str, Any] | None,
                  where: str, path: PathLike) -> TrainedModel:
        """A checkpoint's parts as a checked TrainedModel (the network built on the meta device first)."""
        from vidcap.trained.folder import build_model

        try:
            model = build_model(config, state, where, f"{where}: model.config")
            norm = parts["normalizer"]
            if isinstance(norm, dict):
                check_finite({f"data/normalizer/{k}/{s}": t for k, v in norm.items() if isinstance(v, dict)
                              for s, t in v.items()}, where)
            return cls(model=model, vocab=Vocabulary.from_state_dict(parts["vocab"]),
                       normalizer=None if norm is None else FeatureNormalizer.from_state_dict(norm),
                       stores=parts["stores"], streams=parts["streams"], frames=parts["frames"],
                       eval=EvalSettings.from_dict(parts["eval"], where), record=record, source=where)
        except (KeyError, TypeError, RuntimeError) as err:
            raise InputError(f"{path}: not a complete vidcap model checkpoint ({type(err).__name__}: "
                             f"{_first_line(err)})") from None

    # ----------------------------------------------------------------------------------- saving
    def checkpoint_payload(self, run_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The model part of the checkpoint format: ``config``, ``data``, ``model``, ``epoch``, ``metrics``
        (plain data). ``run_config`` is the run's whole config (the trainer's); without it the config holds
        what this model knows of its run (frames, eval settings, its training record). The trainer adds
        its training state (``training``) on top for ``last.pt``.

        Example:
            >>> sorted(TrainedModel.load("best.pt").checkpoint_payload())          # doctest: +SKIP
            ['config', 'data', 'epoch', 'metrics', 'model']
        """
        record = self.record if isinstance(self.record, Mapping) else {}
        if run_config is None:
            run_config = {"data": {"frames": self.frames}, "eval": self.eval.to_dict()}
            if self.record is not None:  # a config without "train" says: saved without a training record
                run_config["data"].update({key: _names(record.get(key)) for key in ("annotations", "features")},
                                          **{key: record[key] for key in ("train_split", "val_split")
                                             if isinstance(record.get(key), str)})
                run_config["train"] = dict(record["train"]) if isinstance(record.get("train"), Mapping) else {}
        epoch = record.get("epoch")
        return {"config": dict(run_config),
                "data": {"vocab": self.vocab.state_dict(),
                         "normalizer": None if self.normalizer is None else self.normalizer.state_dict(),
                         "stores": list(self.stores), "streams": list(self.streams)},
                "model": {"config": self.config, "state": self.model.state_dict()},
                "epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
                "metrics": dict(record["metrics"]) if isinstance(record.get("metrics"), Mapping) else {}}

    def save_checkpoint(self, path: PathLike) -> Path:
        """Write this model as a checkpoint (atomically; :meth:`checkpoint_payload`), which
        :meth:`from_checkpoint` and ``vidcap caption --model`` read.

        Example:
            >>> TrainedModel.load("models/sa").save_checkpoint("sa.pt")            # doctest: +SKIP
            PosixPath('sa.pt')
        """
        save_checkpoint(path, self.checkpoint_payload())
        return Path(path)

    def save_folder(self, folder: PathLike, *, scores: Mapping[str, Any] | None = None,
                    history: Sequence[Mapping[str, Any]] | None = None) -> Path:
        """Write this model as a model folder (``model.safetensors`` + ``config.json`` + ``README.md``)
        through :func:`vidcap.trained.folder.write_model_folder`, the one writer; ``scores``
        (``vidcap eval --json``) and ``history`` (the run's ``metrics.json``) go into the model card.

        Example:
            >>> TrainedModel.load("runs/sa/best.pt").save_folder("models/sa")      # doctest: +SKIP
            PosixPath('models/sa')
        """
        from vidcap.trained.folder import write_model_folder

        contents = {"model": self.config, "state": self.model.state_dict(), "vocab": self.vocab.state_dict(),
                    "normalizer": None if self.normalizer is None else self.normalizer.state_dict(),
                    "stores": self.stores, "streams": list(self.streams), "frames": self.frames,
                    "eval": self.eval.to_dict(), "trained": self.record}
        return write_model_folder(contents, folder, where=self.source, scores=scores, history=history)


def export_model(checkpoint: PathLike, out: PathLike, *, scores: Mapping[str, Any] | None = None,
                 history: list[Mapping[str, Any]] | None = None) -> Path:
    """``vidcap export``: the model of ``checkpoint`` as a model folder at ``out`` (created; existing files
    replaced). ``history`` (the run's ``metrics.json``) is read from the checkpoint's folder when not given.

    Example:
        >>> export_model("runs/sa/best.pt", "models/sa")                   # doctest: +SKIP
        PosixPath('models/sa')
    """
    from vidcap.files import read_json

    checkpoint = Path(checkpoint)
    trained = TrainedModel.from_checkpoint(checkpoint)
    if history is None and (checkpoint.parent / "metrics.json").is_file():
        history = read_json(checkpoint.parent / "metrics.json", "run metrics")
    return trained.save_folder(out, scores=scores, history=history)


# ------------------------------------------------------------------------------------ helpers
def _record(ckpt: Mapping[str, Any], cfg: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """How a checkpoint's model was trained, from its run config; None for one saved without a record
    (:meth:`TrainedModel.checkpoint_payload` of a model whose training is unknown: no ``train`` section)."""
    if "train" not in cfg:
        return None
    data = cfg["data"]
    return {"epoch": ckpt.get("epoch"), "metrics": ckpt.get("metrics") or {},
            "annotations": [Path(p).name for p in data["annotations"]],
            "features": [Path(p).name for p in data["features"]],
            "train_split": data.get("train_split", "train"), "val_split": data.get("val_split", "validate"),
            "train": dict(cfg["train"]), "vidcap_version": ckpt.get("vidcap_version"), "checkpoint": name}


def _names(value: Any) -> list[str]:
    """A record's file names as a checkpoint's config may hold them (a folder's record is untrusted JSON)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _first_line(err: BaseException) -> str:
    text = str(err).splitlines()
    return text[0] if text else ""


def _local(loader: Callable[..., TrainedModel]) -> Callable[..., TrainedModel]:
    """A loader of local paths, which have no revisions."""
    def load(cls: type[TrainedModel], text: str, revision: str | None, cache_dir: Any) -> TrainedModel:
        if revision is not None:
            raise UsageError(f"{text}: a local path, which has no revisions; leave out revision={revision!r}")
        return loader(cls, text)
    return load


def _is_hub_prefixed(text: str) -> bool:
    from vidcap.trained.hub import is_hub_id

    return is_hub_id(text)


def _is_repo_id(text: str) -> bool:
    """``org/name`` as the Hub writes repository ids (a missing local path of that shape is asked of the Hub)."""
    from vidcap.trained.hub import PREFIX, parse_hub_id

    try:
        parse_hub_id(PREFIX + text)
    except UsageError:
        return False
    return True


def _from_plain_hub(cls: type[TrainedModel], text: str, revision: str | None, cache_dir: Any) -> TrainedModel:
    """A plain ``org/name`` that is not a local path: the Hub, and if not there, an error saying both."""
    try:
        return cls.from_hub(text, revision=revision, cache_dir=cache_dir)
    except InputError as err:
        raise InputError(f"{text}: no such checkpoint or model folder; as a Hub model: {err}") from None


# What a model source is, in the order asked: the first kind whose test passes loads it
# (TrainedModel.load). A plain org/name that exists here is the local path, as in transformers.
_SOURCES: tuple[tuple[str, Callable[[str], bool], Callable[..., TrainedModel]], ...] = (
    ("Hub model hf:org/name[@revision]", _is_hub_prefixed,
     lambda cls, text, revision, cache_dir: cls.from_hub(text, revision=revision, cache_dir=cache_dir)),
    ("model folder", lambda text: Path(text).is_dir(), _local(lambda cls, text: cls.from_folder(text))),
    ("checkpoint", lambda text: Path(text).exists(), _local(lambda cls, text: cls.from_checkpoint(text))),
    ("Hub model org/name", _is_repo_id, _from_plain_hub),
)
