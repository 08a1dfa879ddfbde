"""Every published number vidcap compares itself with, in one table: the scores, where exactly they are
printed (repository + file + commit, or paper + table), and the protocol that produced them.

A score is only comparable with another made the same way. Each :class:`Published` row carries its
:class:`Protocol` (split, vocabulary, reference processing, features, decoding, runs averaged, checkpoint
selection, precision) in the same words vidcap uses for its own runs, so :func:`differences` can list
field by field where a reproduction differs from the row, and :func:`verdict` says whether the two are
like-for-like. ``results.md`` prints that verdict beside every row; README's published tables are
generated from :data:`ROWS` by :func:`readme_table` (a test keeps them equal: after changing a row, run
``python tools/published_tables.py``).

Rows replaced at their source are kept as history (``replaced_by``), labelled with the commits where
they were printed; they are never a comparison target.

Example:
    >>> row = ROWS["xmodaler-mplstm-msrvtt"]
    >>> row.scores, row.commit[:7]
    ((38.6, 26.0, 58.3, 41.1), '28f71e3')
    >>> [r.key for r in rows_for("sa_lstm_msrvtt")]
    ['hobincar-salstm-resnet152-msrvtt', 'xmodaler-ta-msrvtt', 'recnet-salstm-inceptionv4-msrvtt']
    >>> verdict(differences(row.protocol, row.protocol))
    'like-for-like'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields

__all__ = ["FEATURES", "Protocol", "Published", "ROWS", "SPLITS", "UNCOMPARED", "decoding", "differences", "history",
           "readme_block", "readme_table", "rows_for", "runs", "update_readme", "verdict", "vocabulary"]

# The split sizes (train / validate / test videos) the rows were measured on.
SPLITS = {
    "msrvtt": "MSR-VTT official 6,513 / 497 / 2,990 (train_val_videodatainfo.json, test_videodatainfo.json)",
    "msrvtt-hobincar-2019": ("5,175 / 398 / 2,354 (hobincar/SA-LSTM data/MSR-VTT/metadata/*.list at e4c26fb; "
                             "its validation list holds official-train videos; official lists only from 96dc55f)"),
    "msvd": "MSVD 1,200 / 100 / 670 (vid1-1200 / 1201-1300 / 1301-1970)",
}

# How features were made, in the words of vidcap.reproduce.plan's extractions (the two that vidcap can
# make are named by their extraction key there, so a row and a run compare equal when they share it).
FEATURES = {
    "resnet152": ("ResNet-152 IMAGENET1K_V1 pooled 2048-d; 28 frames, the midpoints of 28 equal segments of the "
                  "whole clip; shorter side to 256, centre 224 crop"),
    "resnet152-hobincar": ("ResNet-152 IMAGENET1K_V1 pooled 2048-d; every 5th frame from frame 8 to the 8th "
                           "from the end, the first 60 of those, 28 spread over them (np.linspace, int); "
                           "shorter side to 224, centre 224 crop"),
    "xmodaler-resnet152": ("ResNet-152 pooled 2048-d from X-modaler's released feature files (extraction code "
                           "not published); at most 50 frames per clip (train.sh DATALOADER.MAX_FEAT_NUM 50)"),
    "inception-v4": "Inception-V4 ImageNet features (RecNet paper; frame sampling as the paper describes)",
    "clip-vit-b32": "CLIP ViT-B/32 frame features (CLIP4Caption paper)",
}

PTB = "raw references, PTB tokenizer (pycocoevalcap)"
UNKNOWN = "not stated by the source"


@dataclass(frozen=True)
class Protocol:
    """How a score was produced. vidcap's runs fill the same fields (vidcap.reproduce.report)."""

    split: str
    vocabulary: str
    references: str
    features: str
    decoding: str
    runs: str
    selection: str
    precision: str


@dataclass(frozen=True)
class Published:
    """A published test result (×100, METRICS order: BLEU-4, METEOR, ROUGE-L, CIDEr) and its source.

    ``config`` is the vidcap paper config it is compared with (None: shown for reference only);
    ``commit`` the full commit at which ``source`` prints these numbers (empty for a paper);
    ``checked`` says how the number was read (the source file at that commit, or a quotation);
    ``replaced_by`` marks a row its source has since replaced (history, not a target)."""

    key: str
    dataset: str
    config: str | None
    model: str
    scores: tuple[float, float, float, float]
    source: str
    commit: str
    checked: str
    protocol: Protocol
    notes: str = ""
    replaced_by: str | None = None


def runs(n: int) -> str:
    """The runs field: how many trained models the scores average.

    Example:
        >>> runs(1), runs(5)
        ('1 run', 'mean of 5 runs')
    """
    return "1 run" if n == 1 else f"mean of {n} runs"


def decoding(beam: int, length_penalty: float, max_len: int) -> str:
    """The decoding field of a protocol, as vidcap writes its own runs'.

    Example:
        >>> decoding(5, 0.0, 30)
        'beam 5, no length penalty, at most 30 words'
    """
    penalty = "no length penalty" if not length_penalty else f"length penalty {length_penalty:g}"
    return f"beam {beam}, {penalty}, at most {max_len} words"


def vocabulary(min_count: int, source: str = "training captions") -> str:
    """The vocabulary field: which captions it counts and the least count a word needs.

    Example:
        >>> vocabulary(6)
        'training captions, words seen at least 6 times'
    """
    return f"{source}, words seen at least {min_count} times"



_XMOD = "YehLi/xmodaler"
_XMOD_NOW = "28f71e3b600147cc7113f035d3deb2224925883a"  # 2021-08-09, unchanged to HEAD ed1f559 (2023-02-28)
_XMOD_TRANSFORMER = "01764e19590d6303c32605a57bb05527cdc0bdd7"  # 2021-08-19, Transformer's MSR-VTT row
_XMOD_OLD = "27de1c0266ced2e8adbb04bb598d55ab7bcc3772"  # docs/notes/benchmarks.md, 2021-07-19
_HOB = "hobincar/SA-LSTM"
_HOB_MSRVTT = "ce437389bea8b72cefb3d17dddeac656388bebd8"  # 2019-05-22: the ResNet-152 MSR-VTT row appears
_HOB_MSVD = "a26be0ae0517489862b1a16141087685c8ff4be2"  # 2019-05-27: MSVD row rounded to one decimal

_XMOD_PROTOCOL = dict(
    vocabulary=vocabulary(6), references="COCOEvaler (pycocoevalcap) on captions_test.json; its tokenization "
    "not checked", features=FEATURES["xmodaler-resnet152"], decoding=decoding(5, 0.0, 20), runs=runs(1),
    selection=UNKNOWN + " (it evaluates every epoch: SOLVER.EVAL_PERIOD 1)", precision="fp32")
_HOB_PROTOCOL = dict(
    vocabulary=vocabulary(1, "all splits' captions"),
    references=("rebuilt from its own training tokens: lower case, punctuation removed, cut to 30 words; no PTB "
                "tokenizer (utils.py score / build_refs, loader/transform.py)"),
    features=FEATURES["resnet152-hobincar"], decoding=decoding(5, 0.0, 30), runs=runs(5),
    selection="best validation CIDEr", precision="fp32")
_PAPER = dict(vocabulary=UNKNOWN, references=UNKNOWN, decoding=UNKNOWN, runs=UNKNOWN, selection=UNKNOWN,
              precision=UNKNOWN)

_BENCH_RST = "docs/notes/benchmarks.rst"


def _rows() -> dict[str, Published]:
    rows = [
        # ------------------------------------------------------------------------------- MSR-VTT
        Published("xmodaler-mplstm-msrvtt", "msrvtt", "mp_lstm_msrvtt", "MP-LSTM, X-modaler, ResNet-152",
                  (38.6, 26.0, 58.3, 41.1), f"{_XMOD} {_BENCH_RST}, 'Video Captioning on MSR-VTT', row MP-LSTM",
                  _XMOD_NOW, "the file at the commit (same numbers at HEAD ed1f559)",
                  Protocol(split=SPLITS["msrvtt"], **_XMOD_PROTOCOL),
                  "config: configs/video_caption/msrvtt/mplstm/ (mplstm.yaml, train.sh) and base_caption.yaml"),
        Published("hobincar-salstm-resnet152-msrvtt", "msrvtt", "sa_lstm_msrvtt",
                  "SA-LSTM, hobincar, ResNet-152, mean of 5 runs", (36.4, 25.5, 57.6, 41.3),
                  f"{_HOB} README.md, 'Performances', MSR-VTT, row 'Ours, ResNet-152' (printed BLEU4 / CIDEr / "
                  "METEOR / ROUGE_L)", _HOB_MSRVTT,
                  "the file at the commit (36.4 / 41.32 / 25.51 / 57.57 there, rounded since; same at HEAD 646bcd8)",
                  Protocol(split=SPLITS["msrvtt-hobincar-2019"], **_HOB_PROTOCOL),
                  "code of the time: e4c26fb config.py (lr 2e-4, 30 epochs, batch 200); its learning-rate decay "
                  "from epoch 20 passed ReduceLROnPlateau.step the loss dict instead of a number (fixed in 74ebfcc, "
                  "2019-10-11), so what the runs did after epoch 20 is not recoverable; the row was not "
                  "re-measured after the official split (96dc55f) or the fix. Its features predate the extractor's "
                  "public code (first commit a9ee76f, 2019-05-23); the protocol's features are those of 0e75aa1 "
                  "(2019-05-24: stride 5 from frame 8, /255 normalisation); since a63229c (2021-03-31) that "
                  "extractor stretches frames to 224x224 instead of cropping"),
        Published("xmodaler-ta-msrvtt", "msrvtt", "sa_lstm_msrvtt", "TA (temporal attention), X-modaler, ResNet-152",
                  (39.9, 26.4, 59.4, 42.9), f"{_XMOD} {_BENCH_RST}, 'Video Captioning on MSR-VTT', row TA",
                  _XMOD_NOW, "the file at the commit (same numbers at HEAD ed1f559)",
                  Protocol(split=SPLITS["msrvtt"], **_XMOD_PROTOCOL),
                  "config: configs/video_caption/msrvtt/salstm/ (a recurrent encoder, hidden 1024)"),
        Published("recnet-salstm-inceptionv4-msrvtt", "msrvtt", "sa_lstm_msrvtt",
                  "SA-LSTM, Inception-V4 (RecNet paper)",
                  (36.3, 25.5, 58.3, 39.9), "Wang et al., Reconstruction Network for Video Captioning, CVPR 2018, "
                  "as quoted in hobincar/SA-LSTM README.md (row 'SA-LSTM [3]')", "",
                  "quoted at hobincar/SA-LSTM 646bcd8; the paper itself not opened",
                  Protocol(split=SPLITS["msrvtt"], features=FEATURES["inception-v4"], **_PAPER)),
        Published("xmodaler-transformer-msrvtt", "msrvtt", None, "Transformer, X-modaler, ResNet-152",
                  (39.2, 26.5, 58.7, 44.0), f"{_XMOD} {_BENCH_RST}, 'Video Captioning on MSR-VTT', row Transformer",
                  _XMOD_TRANSFORMER, "the file at the commit (same numbers at HEAD ed1f559)",
                  Protocol(split=SPLITS["msrvtt"], **_XMOD_PROTOCOL), "no vidcap config: for reference"),
        Published("recnet-local-inceptionv4-msrvtt", "msrvtt", None, "RecNet (local), Inception-V4",
                  (39.1, 26.6, 59.3, 42.7), "Wang et al., CVPR 2018, as quoted in hobincar/RecNet README.md", "",
                  "quoted; the paper itself not opened",
                  Protocol(split=SPLITS["msrvtt"], features=FEATURES["inception-v4"], **_PAPER),
                  "no vidcap config: for reference"),
        Published("clip4caption-msrvtt", "msrvtt", None, "CLIP4Caption (Transformer decoder, CLIP ViT-B/32)",
                  (46.1, 30.7, 63.7, 57.7), "Tang et al., ACM MM 2021, as quoted ('original results from the "
                  "paper') by liupeng0606/clip4caption README.md", "",
                  "quoted; the paper itself not opened (that reproduction got 46.63 / 30.73 / 63.86 / 58.46)",
                  Protocol(split=SPLITS["msrvtt"], features=FEATURES["clip-vit-b32"], **_PAPER),
                  "a reference above configs/topdown_clip_msrvtt.yaml, not its target"),
        # ---------------------------------------------------------------------------------- MSVD
        Published("xmodaler-mplstm-msvd", "msvd", "mp_lstm_msvd", "MP-LSTM, X-modaler, ResNet-152",
                  (48.1, 32.4, 68.1, 73.1), f"{_XMOD} {_BENCH_RST}, 'Video Captioning on MSVD', row MP-LSTM",
                  _XMOD_NOW, "the file at the commit (same numbers at HEAD ed1f559)",
                  Protocol(split=SPLITS["msvd"], **{**_XMOD_PROTOCOL, "vocabulary": vocabulary(4)}),
                  "config: configs/video_caption/msvd/mplstm/; tools/msvd_preprocess.py word_count_threshold 3"),
        Published("xmodaler-ta-msvd", "msvd", "sa_lstm_msvd", "TA (temporal attention), X-modaler, ResNet-152",
                  (51.0, 33.5, 70.0, 77.2), f"{_XMOD} {_BENCH_RST}, 'Video Captioning on MSVD', row TA",
                  _XMOD_NOW, "the file at the commit (same numbers at HEAD ed1f559)",
                  Protocol(split=SPLITS["msvd"], **{**_XMOD_PROTOCOL, "vocabulary": vocabulary(4)}),
                  "config: configs/video_caption/msvd/salstm/"),
        Published("hobincar-salstm-resnet152-msvd", "msvd", "sa_lstm_msvd",
                  "SA-LSTM, hobincar, ResNet-152, mean of 5 runs",
                  (50.8, 33.3, 69.8, 79.5), f"{_HOB} README.md, 'Performances', MSVD, row 'Ours, ResNet-152' "
                  "(printed BLEU4 / CIDEr / METEOR / ROUGE_L)", _HOB_MSVD,
                  "the file at the commit (50.84 / 79.47 / 33.25 / 69.81 at ce43738; same at HEAD 646bcd8)",
                  Protocol(split=SPLITS["msvd"], **_HOB_PROTOCOL),
                  "code of the time: e4c26fb config.py (lr 5e-5, 50 epochs, batch 200)"),
        Published("recnet-salstm-inceptionv4-msvd", "msvd", "sa_lstm_msvd", "SA-LSTM, Inception-V4 (RecNet paper)",
                  (45.3, 31.9, 64.2, 76.2), "Wang et al., CVPR 2018, as quoted in hobincar/SA-LSTM README.md "
                  "(row 'SA-LSTM [3]')", "", "quoted at hobincar/SA-LSTM 646bcd8; the paper itself not opened",
                  Protocol(split=SPLITS["msvd"], features=FEATURES["inception-v4"], **_PAPER)),
        Published("xmodaler-transformer-msvd", "msvd", None, "Transformer, X-modaler, ResNet-152",
                  (49.4, 33.3, 68.7, 80.3), f"{_XMOD} {_BENCH_RST}, 'Video Captioning on MSVD', row Transformer",
                  _XMOD_NOW, "the file at the commit (same numbers at HEAD ed1f559)",
                  Protocol(split=SPLITS["msvd"], **{**_XMOD_PROTOCOL, "vocabulary": vocabulary(4)}),
                  "no vidcap config: for reference"),
        # --------------------------------------------------------------------------------- VATEX
        Published("orgtrl-vatex", "vatex", None, "ORG-TRL (Zhang et al., CVPR 2020)", (32.1, 22.2, 48.9, 49.7),
                  "Papers with Code's entry for the paper", "", "quoted; the paper's table not opened",
                  Protocol(split="VATEX public test (6,000 clips)", features=UNKNOWN, **_PAPER),
                  "no checked figure for configs/sa_lstm_vatex.yaml; for reference"),
        # ------------------------------------------------------- history: replaced at their source
        Published("xmodaler-mplstm-msrvtt-2021-07", "msrvtt", "mp_lstm_msrvtt", "MP-LSTM, X-modaler (July 2021)",
                  (38.6, 25.8, 58.3, 40.1), f"{_XMOD} docs/notes/benchmarks.md (b9e7a4b..27de1c0), then "
                  f"{_BENCH_RST} (a54e3ae..72e533d)", _XMOD_OLD, "the file at the commit",
                  Protocol(split=SPLITS["msrvtt"], **_XMOD_PROTOCOL), replaced_by="xmodaler-mplstm-msrvtt"),
        Published("xmodaler-ta-msrvtt-2021-07", "msrvtt", "sa_lstm_msrvtt", "TA, X-modaler (July 2021)",
                  (39.3, 25.8, 58.8, 41.5), f"{_XMOD} docs/notes/benchmarks.md (b9e7a4b..27de1c0), then "
                  f"{_BENCH_RST} (a54e3ae..72e533d)", _XMOD_OLD, "the file at the commit",
                  Protocol(split=SPLITS["msrvtt"], **_XMOD_PROTOCOL), replaced_by="xmodaler-ta-msrvtt"),
        Published("xmodaler-mplstm-msvd-2021-07", "msvd", "mp_lstm_msvd", "MP-LSTM, X-modaler (July 2021)",
                  (45.9, 31.6, 67.0, 70.8), f"{_XMOD} docs/notes/benchmarks.md (b9e7a4b..27de1c0), then "
                  f"{_BENCH_RST} (a54e3ae..72e533d)", _XMOD_OLD, "the file at the commit",
                  Protocol(split=SPLITS["msvd"], **{**_XMOD_PROTOCOL, "vocabulary": vocabulary(4)}),
                  replaced_by="xmodaler-mplstm-msvd"),
        Published("xmodaler-ta-msvd-2021-07", "msvd", "sa_lstm_msvd", "TA, X-modaler (July 2021)",
                  (48.2, 32.0, 68.0, 74.4), f"{_XMOD} docs/notes/benchmarks.md (b9e7a4b..27de1c0), then "
                  f"{_BENCH_RST} (a54e3ae..72e533d)", _XMOD_OLD, "the file at the commit",
                  Protocol(split=SPLITS["msvd"], **{**_XMOD_PROTOCOL, "vocabulary": vocabulary(4)}),
                  replaced_by="xmodaler-ta-msvd"),
    ]
    return {r.key: r for r in rows}


ROWS: dict[str, Published] = _rows()

# Configs with no published row, and why (shown in README's tables so that none is silently missing).
UNCOMPARED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "msrvtt": (
        ("s2vt_msrvtt", "S2VT (Venugopalan et al., ICCV 2015)",
         "no four-metric MSR-VTT figure found in the sources read (the authors' code targets MSVD)"),
        ("sa_lstm_scst_msrvtt", "SA-LSTM + SCST", "no published figure for this pair found"),
        ("sa_lstm_yolo_msrvtt", "SA-LSTM + YOLOv8x object stream", "vidcap's own; compare with sa_lstm_msrvtt.yaml"),
        ("topdown_clip_msrvtt", "Up-Down on CLIP ViT-B/32 frames + YOLOv8x objects", "vidcap's own"),
        ("topdown_clip_scst_msrvtt", "the same, fine-tuned with SCST", "vidcap's own"),
    ),
    "msvd": (("s2vt_msvd", "S2VT (Venugopalan et al., ICCV 2015)", "no four-metric figure checked"),),
    "vatex": (("sa_lstm_vatex", "SA-LSTM", "no published figure found"),),
}


def rows_for(config: str) -> list[Published]:
    """The current (not replaced) rows a paper config is compared with, in table order."""
    return [r for r in ROWS.values() if r.config == config and r.replaced_by is None]


def history(dataset: str) -> list[Published]:
    """Rows of ``dataset`` that their source has replaced, kept with their commits."""
    return [r for r in ROWS.values() if r.dataset == dataset and r.replaced_by is not None]


def differences(published: Protocol, run: Protocol) -> list[str]:
    """Where ``run`` was not made as ``published`` was, one line per field.

    Example:
        >>> a = ROWS["xmodaler-ta-msrvtt"].protocol
        >>> differences(a, Protocol(**{**a.__dict__, "runs": "mean of 5 runs"}))
        ['runs: published 1 run; vidcap mean of 5 runs']
    """
    return [f"{f.name}: published {getattr(published, f.name)}; vidcap {getattr(run, f.name)}"
            for f in fields(Protocol) if getattr(published, f.name) != getattr(run, f.name)]


def verdict(diffs: list[str]) -> str:
    """``like-for-like`` when nothing differs, else how many fields do."""
    return "like-for-like" if not diffs else f"not like-for-like ({len(diffs)} of {len(fields(Protocol))} differ)"


# ---------------------------------------------------------------------------------------- README
def _source(row: Published) -> str:
    return row.source + (f" @ `{row.commit[:7]}`" if row.commit else "") + f"; {row.checked}"


def readme_table(dataset: str) -> str:
    """The markdown table README shows for ``dataset``: current rows, then replaced ones as history.

    Example:
        >>> readme_table("msvd").splitlines()[0]
        '| config | model | B4 | METEOR | ROUGE-L | CIDEr | source (commit; how checked) |'
    """
    lines = ["| config | model | B4 | METEOR | ROUGE-L | CIDEr | source (commit; how checked) |",
             "|---|---|---|---|---|---|---|"]
    current = [r for r in ROWS.values() if r.dataset == dataset and r.replaced_by is None]
    def add(row: Published) -> None:
        config = f"`{row.config}.yaml`" if row.config else "(reference)"
        if row.replaced_by:
            config = f"history, replaced by `{row.replaced_by}`"
        lines.append(f"| {config} | {row.model} | " + " | ".join(f"{s:.1f}" for s in row.scores)
                     + f" | {_source(row)} |")

    for row in current:
        add(row)
    for config, model, why in UNCOMPARED.get(dataset, ()):
        if config not in {r.config for r in current}:
            lines.append(f"| `{config}.yaml` | {model} | — | — | — | — | {why} |")
    for row in history(dataset):
        add(row)
    return "\n".join(lines)


_BLOCK = "<!-- published:{dataset} (generated by vidcap.reproduce.published; do not edit) -->"
_END = "<!-- /published:{dataset} -->"


def readme_block(dataset: str) -> str:
    """The README block (markers included) that holds ``dataset``'s generated table."""
    return f"{_BLOCK.format(dataset=dataset)}\n{readme_table(dataset)}\n{_END.format(dataset=dataset)}"


def update_readme(text: str) -> str:
    """``text`` with every published block regenerated (a README without blocks is returned unchanged)."""
    for dataset in sorted({r.dataset for r in ROWS.values()}):
        start, end = _BLOCK.format(dataset=dataset), _END.format(dataset=dataset)
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        block = readme_block(dataset)
        text = pattern.sub(lambda _, block=block: block, text)
    return text
