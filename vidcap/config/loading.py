"""Training configuration: the schema's defaults (:mod:`vidcap.config.schema`), a YAML file, dotted overrides.

:func:`load_config` merges, in order, the schema's defaults, the user's YAML file and ``key=value``
overrides (values parsed as YAML: ``train.lr=1e-4``, ``data.features=[a,b]``, ``train.init=null``), then
resolves OmegaConf interpolations (``${model.name}``) and checks every value against the schema.

A config file may build on others: ``_base_: other.yaml`` (or a list, merged left to right; paths are
relative to the file that names them) is read first, its own ``_base_`` before it, and the file's keys
are merged on top, as detectron2's and mmengine's ``_base_`` do. A cycle, a missing base or a chain
deeper than :data:`MAX_BASE_DEPTH` is an :class:`~vidcap.errors.InputError` naming the files.

A key set to ``null`` (in a file, or ``key=null`` on the command line), or an override ``~key``, is
*unset*: back to the schema's default and no longer set by anyone, so a model option that the chosen
model does not take is simply not passed to it (``model.name=topdown ~model.encoder`` turns an SA-LSTM
config into an Up-Down one). ``~section`` unsets every key of the section. Every key that may be null
defaults to null, so ``key=null`` and ``~key`` mean the same.

The merged values are checked as a whole:

* a key that is not in the schema is a :class:`~vidcap.errors.UsageError` listing the valid keys of
  its section (and the closest match);
* a value must have the key's type, choice or range (:meth:`~vidcap.config.schema.KeySpec.check`); the
  error names the key, the value and where it was set;
* the ``model`` section holds the options of every model; a file or override may set only those the
  chosen ``model.name`` takes (its constructor's parameters): setting another model's option is an error,
  never silently ignored.

The result is a struct-mode ``DictConfig`` typed by the schema (``OmegaConf.structured``): reading or
setting a key that does not exist fails loudly. ``OmegaConf.to_container(cfg)`` gives plain data, e.g. to
store in a checkpoint. :func:`describe` prints every key with its type, value and meaning
(``vidcap config show``).

Example:
    >>> cfg = load_config(None, ["train.epochs=3", "model.cell=gru"])
    >>> cfg.train.epochs, cfg.model.cell, cfg.data.streams
    (3, 'gru', ['frame'])
"""
from __future__ import annotations

import copy
import io
import os
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vidcap.config.schema import Config, KeySpec, section_docs, specs
from vidcap.errors import InputError, UsageError, shown
from vidcap.files import read_text
from vidcap.registry import closest

__all__ = ["BASE_KEY", "MAX_BASE_DEPTH", "MAX_CONFIG_FILES", "config_files", "defaults", "describe",
           "keys", "load_config", "parse_override"]

BASE_KEY = "_base_"
MAX_BASE_DEPTH = 10  # a longer chain of bases is a mistake (or a generated attack), not a config
MAX_CONFIG_FILES = 100  # files read for one config: bases naming a base twice would otherwise multiply


def defaults() -> dict[str, Any]:
    """The schema's defaults as plain data (a fresh copy).

    Example:
        >>> defaults()["train"]["amp"]
        'auto'
    """
    return OmegaConf.to_container(OmegaConf.structured(Config))


def keys(tree: Mapping[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Every dotted leaf key of ``tree`` (the defaults when None).

    Example:
        >>> "train.scheduled_sampling.max_prob" in keys()
        True
    """
    tree = defaults() if tree is None else tree
    out = []
    for k, v in tree.items():
        out.extend(keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])
    return out


def _unknown(key: str, section: Mapping[str, Any], prefix: str, source: str) -> UsageError:
    valid = [f"{prefix}{k}" for k in section]
    close = closest(key, valid)
    hint = f" Did you mean {close}?" if close else ""
    where = prefix.rstrip(".") or "the top level"
    return UsageError(f"unknown config key {key!r} ({source}).{hint} Valid keys in {where}: {', '.join(valid)}")


def _unset(base: dict[str, Any], fresh: Mapping[str, Any], k: str, key: str, origins: dict[str, str]) -> None:
    """``base[k]`` (dotted ``key``, a leaf or a section) back to its default ``fresh[k]``: set by nobody."""
    base[k] = copy.deepcopy(fresh[k])
    for name in [name for name in origins if name == key or name.startswith(f"{key}.")]:
        del origins[name]


def _merge(base: dict[str, Any], new: Any, source: str, origins: dict[str, str], prefix: str = "",
           fresh: Mapping[str, Any] | None = None) -> None:
    """Merge ``new`` into ``base`` in place; keys must exist in ``base`` (values are checked later).
    ``origins`` records where each leaf key was set; a null value unsets its key (back to ``fresh``,
    the defaults)."""
    fresh = defaults() if fresh is None else fresh
    if not isinstance(new, Mapping):
        raise UsageError(f"{prefix.rstrip('.') or 'config'} ({source}): expected a section of keys, got {new!r:.80}")
    for k, v in new.items():
        key = f"{prefix}{k}"
        if k not in base:
            raise _unknown(key, base, prefix, source)
        if v is None:
            _unset(base, fresh, k, key, origins)
        elif isinstance(base[k], dict):
            if not isinstance(v, Mapping):
                raise UsageError(f"{key}={v!r:.80} ({source}): expected a section with keys {', '.join(base[k])}")
            _merge(base[k], v, source, origins, f"{key}.", fresh[k])
        else:
            base[k] = v
            origins[key] = source


def _unset_override(base: dict[str, Any], fresh: Mapping[str, Any], item: str, origins: dict[str, str]) -> None:
    """Override ``~a.b``: key or section ``a.b`` back to its default."""
    key, source = item[1:].strip(), f"override {item!r:.80}"
    if "=" in key or not key or any(not part for part in key.split(".")):
        raise UsageError(f"{source}: expected ~key (unset it: back to its default), e.g. ~model.encoder")
    parts, prefix = key.split("."), ""
    for i, part in enumerate(parts):
        if not isinstance(base, dict):
            raise UsageError(f"{source}: {prefix.rstrip('.')} is a key, not a section")
        if part not in base:
            raise _unknown(f"{prefix}{part}", base, prefix, source)
        if i == len(parts) - 1:
            _unset(base, fresh, part, key, origins)
        else:
            base, fresh, prefix = base[part], fresh[part], f"{prefix}{part}."


def _get(tree: Mapping[str, Any], key: str) -> Any:
    for part in key.split("."):
        tree = tree[part]
    return tree


def _put(tree: dict[str, Any], key: str, value: Any) -> None:
    *path, last = key.split(".")
    for part in path:
        tree = tree[part]
    tree[last] = value


def _check_values(tree: dict[str, Any], origins: Mapping[str, str]) -> None:
    for key, spec in specs().items():
        value = _get(tree, key)
        try:
            _put(tree, key, spec.check(value))
        except UsageError as err:
            where = f" ({origins[key]})" if key in origins else ""
            raise UsageError(f"{key}={shown(value)}{where}: {err}") from None


def _check_model_options(tree: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """A config sets only options that the chosen model takes (the others belong to other models)."""
    from vidcap.models import list_models, model_options

    name = tree["model"]["name"]
    options = model_options(name)
    for key, source in origins.items():
        option = key.removeprefix("model.")
        if key.startswith("model.") and option != "name" and option not in options:
            takers = [m for m in list_models() if option in model_options(m)]
            raise UsageError(
                f"{key}={shown(tree['model'][option])} ({source}): model {name} does not take {option} "
                f"(an option of {', '.join(takers)}); its options: {', '.join(options)}. "
                f"Unset it with the override ~{key} (or {key}=null), remove it from the config, or choose a model "
                "that takes it")


def parse_override(item: str) -> dict[str, Any]:
    """``"a.b=value"`` → ``{"a": {"b": value}}`` with the value parsed as YAML.

    Example:
        >>> parse_override("train.lr=1e-4")
        {'train': {'lr': 0.0001}}
    """
    key, sep, value = item.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise UsageError(f"override {item!r:.80}: expected key=value, e.g. train.epochs=30")
    if not value.strip():  # an empty shell variable, most likely: not a request to unset the key
        raise UsageError(f"override {item!r:.80}: no value; to unset {key.strip()} (back to its default) "
                         f"write {key.strip()}=null or ~{key.strip()}")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist([item.strip()]))
    except (OmegaConfBaseException, yaml.YAMLError) as err:
        raise UsageError(f"override {item!r:.80}: cannot parse it ({err})") from None


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config file's mapping; InputError naming the file and line for anything that is not UTF-8 YAML
    (control characters, nesting deeper than PyYAML allows, alias expansion beyond OmegaConf's limit)."""
    text = read_text(path, "config file")
    try:
        loaded = OmegaConf.load(io.StringIO(text))
    except yaml.reader.ReaderError as err:  # carries an offset, not a line
        line = text[: err.position].count("\n") + 1
        char = err.character if isinstance(err.character, int) else ord(err.character)
        raise InputError(f"{path}: line {line}: invalid YAML ({err.reason}: U+{char:04X})") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = " ".join(str(x) for x in (err.context, err.problem) if x)
        raise InputError(f"{path}: {where}invalid YAML ({problem})") from None
    except (yaml.YAMLError, OmegaConfBaseException, RecursionError) as err:
        raise InputError(f"{path}: invalid YAML ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
                         ) from None
    if not isinstance(loaded, DictConfig):
        raise InputError(f"{path}: a config file must be a mapping of sections (data:, model:, train:, ...)")
    return OmegaConf.to_container(loaded)


def _bases(path: Path, loaded: dict[str, Any]) -> list[Path]:
    """The files that ``path``'s ``_base_`` names (removed from ``loaded``), relative to ``path``."""
    value = loaded.pop(BASE_KEY, None)
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise InputError(f"{path}: {BASE_KEY} must be a config file name or a list of them (relative to "
                         f"{path.name}), got {shown(value)}")
    bases = [path.parent / name for name in names]
    for name, base in zip(names, bases):
        if not base.is_file():
            raise InputError(f"{path}: {BASE_KEY} {name!r}: {base} is not a file")
    return bases


def _merge_file(merged: dict[str, Any], fresh: Mapping[str, Any], path: Path, origins: dict[str, str],
                files: list[Path], chain: tuple[Path, ...] = ()) -> None:
    """Merge config file ``path`` into ``merged``: its bases first (left to right), then its own keys."""
    here = path.resolve()
    if here in chain:  # includes a file naming itself
        names = " -> ".join(str(p) for p in (*chain[chain.index(here):], here))
        raise InputError(f"{path}: config files name each other as {BASE_KEY} in a cycle ({names}); "
                         "remove one of the links")
    if len(files) >= MAX_CONFIG_FILES:
        raise InputError(f"{path}: the config's {BASE_KEY} files name more than {MAX_CONFIG_FILES} files in all "
                         f"(a base named several times counts each time); name each base once")
    if len(chain) > MAX_BASE_DEPTH:
        raise InputError(f"{path}: more than {MAX_BASE_DEPTH} levels of {BASE_KEY} ({' -> '.join(map(str, chain))} "
                         f"-> ...); flatten the chain")
    loaded = _read_yaml(path)
    for base in _bases(path, loaded):
        _merge_file(merged, fresh, base, origins, files, (*chain, here))
    files.append(path)
    _merge(merged, loaded, str(path), origins, fresh=fresh)


def config_files(path: str | os.PathLike[str]) -> list[Path]:
    """Config file ``path`` and every file it builds on (``_base_``), in the order they are merged.

    Example:
        >>> [p.name for p in config_files("configs/sa_lstm_scst_msrvtt.yaml")]
        ['sa_lstm_msrvtt.yaml', 'sa_lstm_scst_msrvtt.yaml']
    """
    files: list[Path] = []
    fresh = defaults()
    _merge_file(defaults(), fresh, Path(path), {}, files)
    return files


def load_config(path: str | os.PathLike[str] | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """Defaults ← YAML file ``path`` (None: defaults only; its ``_base_`` files first) ← ``overrides``
    (``key=value`` or ``~key``); checked (module docstring).

    Example:
        >>> load_config(None, ["train.amp=off", "data.features=feats/"]).data.features
        ['feats/']
        >>> load_config(None, ["model.name=s2vt", "model.attention_size=64"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: model.attention_size=64 (override ...): model s2vt does not take attention_size ...
        >>> load_config("configs/demo.yaml", ["model.name=topdown", "~model.encoder"]).model.name
        'topdown'
    """
    fresh = defaults()
    merged, origins = defaults(), {}
    if path is not None:
        _merge_file(merged, fresh, Path(path), origins, [])
    if isinstance(overrides, str):
        overrides = [overrides]
    for item in overrides:
        if item.lstrip().startswith("~"):
            _unset_override(merged, fresh, item.strip(), origins)
        else:
            _merge(merged, parse_override(item), f"override {item!r:.80}", origins, fresh=fresh)
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(merged), resolve=True)
    except OmegaConfBaseException as err:
        raise UsageError(f"config interpolation failed: {err}") from None
    _check_values(resolved, origins)
    _check_model_options(resolved, origins)
    cfg = OmegaConf.merge(OmegaConf.structured(Config), resolved)
    OmegaConf.set_struct(cfg, True)
    return cfg


# ---------------------------------------------------------------------------------------------- describe
_COMMENT_AT = 32
_WIDTH = 116


def _flow(value: Any) -> str:
    """``value`` as one would write it in a config file (YAML flow style)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("...\n").strip()


def _comment(indent: str, text: str, lead: str) -> list[str]:
    lines = textwrap.wrap(text, _WIDTH - _COMMENT_AT - 2) or [""]
    first = f"{lead:<{_COMMENT_AT}}# {lines[0]}" if len(lead) < _COMMENT_AT else f"{lead}  # {lines[0]}"
    return [first, *(f"{indent:<{_COMMENT_AT}}# {line}" for line in lines[1:])]


def _key_lines(spec: KeySpec, value: Any, depth: int, model_note: str | None, taken: bool) -> list[str]:
    """``name: value  # type; default; which models take it -- meaning``, commented out when not ``taken``."""
    indent = "  " * depth
    notes = [spec.type_text()]
    if value != spec.default:
        notes.append(f"default {_flow(spec.default)}")
    if model_note:
        notes.append(model_note)
    lead = f"{indent}{'' if taken else '# '}{spec.key.rsplit('.', 1)[-1]}: {_flow(value)}"
    return _comment(indent, f"{'; '.join(notes)} -- {spec.doc}", lead)


def _model_notes(model: str) -> dict[str, tuple[str | None, bool]]:
    """``model.<option>`` → (which models take it, unless all do; whether ``model`` takes it)."""
    from vidcap.models import list_models, model_options

    names, takers = list_models(), {}
    for name in names:
        for option in model_options(name):
            takers.setdefault(f"model.{option}", []).append(name)
    notes = {}
    for key, takes in takers.items():
        note = None if len(takes) == len(names) else f"taken by {', '.join(takes)}"
        notes[key] = (note if model in takes else f"{model} does not take it; {note}", model in takes)
    return notes


def describe(cfg: DictConfig | None = None) -> str:
    """Every key of the schema as a commented YAML config: its value in ``cfg`` (the defaults when None),
    its type, allowed values, default and meaning. Options that ``cfg``'s model does not take are
    commented out, so the text loads as a config.

    Example:
        >>> text = describe(load_config(None, ["model.name=mp-lstm", "train.epochs=3"]))
        >>> print([line for line in text.splitlines() if "epochs:" in line][0])  # doctest: +NORMALIZE_WHITESPACE
          epochs: 3                     # int >= 1; default 30 -- passes over the training items
        >>> [line.split("#")[1].strip() for line in text.splitlines() if "attention_size:" in line]
        ['attention_size: 256']
    """
    cfg = load_config(None) if cfg is None else cfg
    tree = OmegaConf.to_container(cfg, resolve=True)
    notes, sections = _model_notes(tree["model"]["name"]), section_docs()
    lines = ["# vidcap training config: every key with its value, type, allowed values, default and meaning.",
             "# A config file sets some of these; `vidcap train CONFIG key=value ...` overrides them again."]
    opened: set[str] = set()
    for key, spec in specs().items():
        parts = key.split(".")
        for depth in range(len(parts) - 1):
            name = ".".join(parts[:depth + 1])
            if name not in opened:
                opened.add(name)
                lines += _comment("  " * depth, sections[name], f"{'  ' * depth}{parts[depth]}:")
        lines += _key_lines(spec, _get(tree, key), len(parts) - 1, *notes.get(key, (None, True)))
    return "\n".join(lines) + "\n"
