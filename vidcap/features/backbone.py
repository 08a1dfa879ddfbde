"""The backbone interface and registry: ``get_backbone(name)``, ``list_backbones()``.

A backbone turns RGB frames into named feature streams (first axis = frames). It carries its own
preprocessing, split in two so the extraction pipeline can run the cheap, CPU-bound half in its
decoding workers: ``transform`` (picklable; uint8 NHWC frames → uint8 NCHW at the model's input size,
done with OpenCV) and ``normalize`` (uint8 batch on the device → float model input). ``preprocess``
chains both, ``features`` runs the whole thing on one clip.

Example:
    >>> bb = get_backbone("resnet18", weights="none")          # random weights must be asked for
    >>> out = bb.features(np.zeros((4, 240, 320, 3), np.uint8))
    >>> out["frame"].shape, bb.streams["frame"]
    ((4, 512), (512,))
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from vidcap import precision
from vidcap.device import resolve_device
from vidcap.errors import InputError, UsageError
from vidcap.features.spec import FeatureSpec
from vidcap.registry import Registry, closest
from vidcap.video import Sampling
from vidcap.video.clip_windows import ClipWindows

BACKBONES: Registry[Callable[..., "Backbone"]] = Registry("backbone")

# Random weights come from this seed unless told otherwise, so that every process (resumed runs,
# shards, torchrun ranks) builds the same network and their features agree bitwise.
DEFAULT_SEED = 0

Transform = Callable[[np.ndarray], np.ndarray]


class Backbone(torch.nn.Module):
    """A frame-feature extractor; subclasses set the attributes below and implement ``forward``.

    Attributes:
        name: registry name, e.g. ``"resnet50"``.
        weights: the weights as asked for and needed to rebuild: ``"imagenet"``, ``"none"``, a file path …
        weights_id: identity of those weights for the feature spec (``ResNet18_Weights.IMAGENET1K_V1``,
            ``none(seed=0)``, ``sha256:<hex>``): equal for equal weights, whatever path they came from.
        preprocessing: how a frame becomes the model input (recorded in the feature spec).
        options: every builder option, defaults included (set by ``get_backbone``).
        streams: per-frame shape of each output stream, e.g. ``{"frame": (2048,)}``.
        int_streams: names of the streams holding integers (stored as int16, not float16).
        transform: picklable uint8 NHWC → uint8 NCHW resize/crop/letterbox to the input size.
        windows: for clip (video) backbones, the window of frames read around each sampled frame
            (:class:`vidcap.video.clip_windows.ClipWindows`); their batches are windows (B, L, 3, S, S).

    A subclass's builder options are its ``__init__``'s keyword-only parameters (their names, types and
    defaults are what ``get_backbone`` checks and records); each one's meaning is a line of an
    ``Options:`` section in the class docstring, searched up the class hierarchy, so the options every
    family shares are described here once (``vidcap list backbones --options NAME`` prints them).

    Options:
        dtype: autocast precision of the forward pass: fp32, bf16 or fp16 (unset or auto: bf16 on CUDA, fp32
            on CPU; vidcap.precision).
        seed: random seed of the weights when weights=none, so every process builds the same network.
    """

    name: str
    weights: str
    weights_id: str
    preprocessing: dict[str, Any]
    options: dict[str, Any]
    streams: dict[str, tuple[int, ...]]
    int_streams: frozenset[str] = frozenset()
    transform: Transform
    # What ``weights=None`` means for this family: the pretrained weights it is usually run with.
    default_weights: str = "imagenet"
    windows: ClipWindows | None = None  # image backbones read single frames
    batch_sizes: dict[str, int] | None = None  # per device type, when extract's frame defaults don't fit

    def __init__(self, *, device: torch.device, dtype: str | None,
                 mean: tuple[float, ...] = (0.0, 0.0, 0.0), std: tuple[float, ...] = (1.0, 1.0, 1.0)):
        super().__init__()
        self.device = device
        self.dtype = precision.name(dtype, device, key="dtype")  # as resolved: the spec records it
        # Pixel statistics in 0..255 units, so normalisation is one fused op on the uint8 batch.
        self.register_buffer("_mean", torch.tensor(mean).view(1, -1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("_std", torch.tensor(std).view(1, -1, 1, 1) * 255.0, persistent=False)

    # ----------------------------------------------------------------------------- preprocessing
    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW batch (any device) → float model input on the backbone's device."""
        x = batch.to(self.device, non_blocking=True).float()
        x = (x - self._mean) / self._std
        return x.contiguous(memory_format=torch.channels_last)  # see _place

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 NHWC RGB frames → model input (resize/crop or letterbox, then normalisation)."""
        return self.normalize(torch.from_numpy(self.transform(frames)))

    # --------------------------------------------------------------------------------- inference
    def run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Transformed uint8 batch → outputs on the CPU (floats as float32), in inference mode + autocast."""
        with torch.inference_mode(), self._autocast():
            out = self(self.normalize(batch))
        return {k: (v.float() if v.is_floating_point() else v).cpu() for k, v in out.items()}

    def finalize(self, outputs: dict[str, np.ndarray], frame_size: tuple[int, int]) -> dict[str, np.ndarray]:
        """Per-video post-processing of one video's outputs; ``frame_size`` is the source (H, W).

        The default does nothing; YOLO maps boxes from the letterboxed input back to the frame.
        """
        return outputs

    def features(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 NHWC RGB frames of one video → dict of float32/int numpy streams.

        Example:
            >>> get_backbone("resnet18", weights="none").features(frames)["frame"].shape  # doctest: +SKIP
            (28, 512)
        """
        out = self.run(torch.from_numpy(self.transform(frames)))
        return self.finalize({k: v.numpy() for k, v in out.items()}, frames.shape[1:3])

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        return precision.autocast(self.device, precision.PRECISIONS[self.dtype])

    def _place(self) -> None:
        """Move to the device, eval mode, channels-last: faster convolutions on CUDA and on the CPU too
        (oneDNN; outputs equal to 1e-4; figures in docs/benchmarks.md, "Figures the code's comments rely on")."""
        self.eval().requires_grad_(False).to(self.device).to(memory_format=torch.channels_last)

    def spec(self, sampling: Sampling) -> FeatureSpec:
        """The feature spec of this backbone's features under ``sampling`` (stored dtypes included).

        Example:
            >>> get_backbone("resnet18", weights="none", input_size=64).spec(Sampling(frames=8)).weights
            'none(seed=0)'
        """
        return FeatureSpec(backbone=self.name, weights=self.weights_id, options=self.options,
                           preprocessing=self.preprocessing, sampling=sampling.to_dict(),
                           dtypes=self.stored_dtypes)

    @property
    def stored_dtypes(self) -> dict[str, str]:
        """How a store keeps each stream: float16 features, int16 integer streams (class ids)."""
        return {k: "int16" if k in self.int_streams else "float16" for k in self.streams}

    # ------------------------------------------------------------------- weights by identity
    @classmethod
    def weights_named(cls, name: str, identity: str) -> str | None:
        """The ``weights`` value that builds the weights ``identity`` names without a file a model names:
        ``none`` for seeded random weights, a release name the family fetches from its fixed, official
        location, a file in the family's documented cache checked against the identity; None when only a
        file the user names can provide them (``sha256:`` of a file of their own). Families override it.

        Example:
            >>> Backbone.weights_named("resnet18", "none(seed=3)"), Backbone.weights_named("resnet18", "sha256:ab")
            ('none', None)
        """
        return "none" if _RANDOM.fullmatch(identity) else None

    @classmethod
    def identity_of_file(cls, name: str, file: Path) -> str:
        """The identity a weights file would have, from its bytes alone (nothing is loaded):
        ``sha256:<hex>``; families that name copies of their releases after the release override it."""
        return f"sha256:{file_digest(file)}"

    def meta(self) -> dict[str, Any]:
        """What a feature store records about the backbone (JSON-serialisable, deterministic)."""
        return {"backbone": self.name, "weights": self.weights, "dtype": self.dtype,
                "streams": {k: list(v) for k, v in self.streams.items()},
                "int_streams": sorted(self.int_streams)}


def get_backbone(name: str, *, weights: str | None = None, device: str | torch.device | None = None,
                 **options: Any) -> Backbone:
    """Build a registered backbone in eval mode on ``device`` (default: CUDA when available).

    ``weights``: None for the family's usual pretrained weights (``imagenet`` for classifiers, ``coco``
    for YOLO; downloaded where the internet is reachable, else loaded from the library's cache), a
    release name the family knows (``IMAGENET1K_V1`` …), ``"none"`` (random, seeded by ``seed=0``), or
    a file. Unknown names raise ``UsageError`` listing the choices.

    Example:
        >>> get_backbone("resnet18", weights="none", grid=2).streams
        {'frame': (512,), 'grid': (4, 512)}
    """
    known = backbone_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        close = [c for c in (closest(u, known) for u in unknown) if c]
        raise UsageError(f"backbone {name} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(known)}"
                         + (f". Did you mean {' or '.join(map(repr, close))}?" if close else "")
                         + f" (`vidcap list backbones --options {name}` describes each)")
    builder = BACKBONES.get(name)
    if weights is None:
        weights = getattr(builder, "default_weights", Backbone.default_weights)
    model = builder(name, weights=str(weights), device=resolve_device(device), **options)
    defaults = {p.name: p.default for p in inspect.signature(builder).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.name not in ("weights", "device")}
    model.options = {k: _plain(v) for k, v in {**defaults, **options}.items()}
    if "dtype" in model.options:  # as resolved for the device (bf16 on CUDA): it changes the numbers
        model.options["dtype"] = model.dtype
    return model


# What a weights identity may look like: names, ``none(seed=N)``, ``sha256:<hex>``, ``pkg==1.0``. No
# path separator, no scheme: a model's record of its weights never points at a file or a URL.
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=:()-]{0,199}")
_RANDOM = re.compile(r"none\(seed=-?\d+\)")


def check_identity(identity: Any, where: str) -> str:
    """``identity`` when it has the form of a weights identity, else InputError naming ``where``: a path or
    URL is never one.

    Example:
        >>> check_identity("sha256:ab12", "x")
        'sha256:ab12'
        >>> check_identity("http://h/yolov8n.pt", "best.pt: stores[0].spec.weights")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: best.pt: stores[0].spec.weights = 'http://h/yolov8n.pt' is not a weights identity (a release name, none(seed=N) or sha256:<hex>); a model never names a weights file or URL, and vidcap never opens, fetches or unpickles one a model names
    """
    if not isinstance(identity, str) or not _IDENTITY.fullmatch(identity):
        raise InputError(f"{where} = {identity!r} is not a weights identity (a release name, none(seed=N) or "
                         "sha256:<hex>); a model never names a weights file or URL, and vidcap never opens, "
                         "fetches or unpickles one a model names")
    return identity


def rebuild_backbone(spec: FeatureSpec, *, source: str, key: str, file: str | None = None,
                     device: str | torch.device | None = None) -> Backbone:
    """The backbone of ``spec``, a spec read from an untrusted model (``source``; ``key`` where in it).

    The model only names its weights' identity (``spec.weights``). They come from names (``none``, a
    release the family fetches from its own fixed location, a file in its documented cache whose SHA-256
    matches), or from ``file``, the weights the *user* gave (a file, or a release name they chose). A
    user's file is identified from its bytes before anything loads it, and must be the identity the
    model records. Whatever path or URL a model holds is never opened, fetched or unpickled. The rebuilt
    backbone's spec must equal ``spec``. Every refusal is an InputError naming ``source`` and ``key``.

    Example:
        >>> spec = get_backbone("resnet18", weights="none", input_size=64).spec(Sampling(frames=4))
        >>> rebuild_backbone(spec, source="model m", key="stores[0].spec", device="cpu").weights_id
        'none(seed=0)'
        >>> rebuild_backbone(spec.replace(weights="/tmp/evil.pt"), source="model m", key="stores[0].spec")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: model m: stores[0].spec.weights = '/tmp/evil.pt' is not a weights identity (a release name, none(seed=N) or sha256:<hex>); a model never names a weights file or URL, and vidcap never opens, fetches or unpickles one a model names
    """
    where = f"{source}: {key}"
    try:
        builder = BACKBONES.get(spec.backbone)
    except UsageError as err:
        raise InputError(f"{where}.backbone: {err}") from None
    check_identity(spec.weights, f"{where}.weights")
    try:
        sampling = Sampling.from_dict(spec.sampling)
        weights = _rebuild_weights(builder, spec, file, source, key)
        built = get_backbone(spec.backbone, weights=weights, device=device, **spec.options)
    except InputError:
        raise
    except (UsageError, TypeError, ValueError) as err:  # options of the wrong names, types or values
        raise InputError(f"{where}: cannot rebuild backbone {spec.backbone}: {err}") from None
    built.spec(sampling).require(
        spec, f"backbone {spec.backbone} with weights {weights}", source)
    return built


def _rebuild_weights(builder: Any, spec: FeatureSpec, file: str | None, source: str, key: str) -> str:
    """What ``get_backbone(weights=)`` gets in :func:`rebuild_backbone`."""
    identity = spec.weights
    if file is not None and Path(file).expanduser().is_file():
        path = weights_file(file)
        found = builder.identity_of_file(spec.backbone, path)  # from the bytes: nothing unpickled yet
        if found != identity:
            raise InputError(f"weights file {file} is {found}, but {source} was made with {identity} "
                             f"({key}.weights): pass the file of those weights")
        return str(path)
    if file is not None:  # a release name the user chose, e.g. --weights resnet18=IMAGENET1K_V1
        return file
    weights = builder.weights_named(spec.backbone, identity)
    if weights is None and not identity.startswith("sha256:"):
        raise InputError(f"{source}: {key}.weights = {identity!r} is not a weights identity {spec.backbone} "
                         "knows (a release name, none(seed=N) or sha256:<hex>)")
    if weights is None:
        raise InputError(
            f"{source}: {key}.weights = {identity}: {spec.backbone} weights that come from a file, which no "
            f"model file can provide. Pass the file you trust: --weights {spec.backbone}=FILE (its identity "
            f"must be {identity}; see docs/security.md)")
    return weights


def _plain(value: Any) -> Any:
    """Options as JSON data (numpy scalars and tuples as Python numbers and lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def backbone_options(name: str) -> list[str]:
    """The options ``get_backbone(name, ...)`` accepts besides ``weights`` and ``device``, in order.

    Example:
        >>> backbone_options("resnet18")
        ['grid', 'input_size', 'fit', 'stage', 'pyramid', 'second_order', 'dtype', 'seed']
    """
    params = inspect.signature(BACKBONES.get(name)).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in ("weights", "device")]


def backbone_summary(name: str) -> str:
    """One line about a backbone for ``vidcap list backbones`` where its family gives one ('' otherwise).

    Example:
        >>> backbone_summary("r3d_18").split(";")[0], backbone_summary("resnet18")
        ('motion 512-d per 16-frame window at 112 px', '')
    """
    summary = getattr(BACKBONES.get(name), "summary", None)
    return summary(name) if summary else ""
@dataclass(frozen=True)
class BackboneOption:
    """One option of a backbone: its name, type and default (from the builder's signature, which
    ``get_backbone`` checks options against) and its meaning (the builder's ``Options:`` docstring)."""

    name: str
    type: str
    default: Any
    help: str


def describe_options(name: str) -> list[BackboneOption]:
    """Every option ``get_backbone(name, ...)`` accepts, with type, default and meaning, in order.

    Example:
        >>> opt = describe_options("resnet18")[2]
        >>> opt.name, opt.type, opt.default, opt.help.split(":")[0]
        ('fit', 'str', 'crop', 'how a frame becomes the square input')
    """
    builder = BACKBONES.get(name)
    params = inspect.signature(builder).parameters
    meanings = _option_meanings(builder)
    return [BackboneOption(key, _type_name(params[key].annotation), params[key].default, meanings.get(key, ""))
            for key in backbone_options(name)]


def _type_name(annotation: Any) -> str:
    """Annotations are strings here (postponed evaluation); a class is shown by its name."""
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))


def _option_meanings(builder: Any) -> dict[str, str]:
    """``name → meaning`` from the ``Options:`` sections of the builder's docstrings, the most derived
    class first (a subclass may describe an option anew)."""
    meanings: dict[str, str] = {}
    for cls in getattr(builder, "__mro__", (builder,)):
        for key, text in _options_section(cls.__dict__.get("__doc__") if isinstance(cls, type)
                                          else getattr(cls, "__doc__", None)).items():
            meanings.setdefault(key, text)
    return meanings


def _options_section(doc: str | None) -> dict[str, str]:
    """The ``name: meaning`` entries under ``Options:`` (continuation lines indented further)."""
    entries: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    if "Options:" not in lines:
        return entries
    key = None
    for line in lines[lines.index("Options:") + 1:]:
        if not line.strip():
            break
        if line.startswith("    ") and not line.startswith("     ") and ":" in line:
            key, _, text = line.strip().partition(":")
            entries[key] = text.strip()
        elif key and line.startswith("     "):
            entries[key] += " " + line.strip()
        else:
            break
    return entries


def list_backbones() -> list[str]:
    """Names accepted by ``get_backbone``, sorted.

    Example:
        >>> "resnet50" in list_backbones() and "yolov8n" in list_backbones()
        True
    """
    return BACKBONES.names()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with a fixed torch seed without disturbing the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def weights_file(path: str) -> Path:
    """The weights file a user named, or InputError saying it is missing."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"weights file {path}: no such file (use 'imagenet', 'none' or an existing file)")
    return file.resolve()


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of a weights file: its identity in the feature spec, so stores made with different
    files never mix and copies of one file agree."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
