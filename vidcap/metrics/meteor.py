"""METEOR 1.5 (pycocoevalcap's jar) in one or several Java processes: statistics on shards, one evaluation.

pycocoevalcap scores METEOR in one process: a ``SCORE`` line per id (aligning the caption with its
references: nearly all of the work) answers that id's sufficient statistics, then one ``EVAL`` line
with all of them answers each id's score and the corpus score, computed from the statistics alone. An
id's statistics do not depend on the other ids, so :class:`MeteorPool` sends the ``SCORE`` lines of
contiguous shards of the ids to its processes at once, and the ``EVAL`` line with every statistic, in
the original order, to one of them: the scores are those of a single process (tested on real MSR-VTT
references). A group's score is one more ``EVAL`` line over the group's statistics (no re-scoring).

Every process loads METEOR's paraphrase table when it starts (seconds of one core), so more processes
pay off only when there are enough ids to score and cores to score them on: :func:`meteor_processes`.

Example:
    >>> with MeteorPool(2) as pool:                                                  # doctest: +SKIP
    ...     job = MeteorJob(pool, {"v1": ["a man sings"]}, {"v1": ["a man is singing"]}, ["v1"], {})
    ...     overall, per_id, by_group = job.result()
"""
from __future__ import annotations

import math
import os
import subprocess
import threading
from typing import Hashable, Mapping, Sequence

import numpy as np

from vidcap.errors import UsageError
from vidcap.metrics.java import JavaError, pycocoevalcap_dir

# pycocoevalcap's invocation of the jar (meteor.py): English, normalised, statistics over stdin/stdout.
METEOR_ARGS = ("-", "-", "-stdio", "-l", "en", "-norm")
# Ids per extra process: below this, a process's start-up costs more than its share of the scoring saves
# (see docs/benchmarks.md, `tools/benchmark.py cider`).
IDS_PER_PROCESS = 500
MAX_PROCESSES = 4
# One METEOR JVM keeps about one and a half cores busy (its JIT compiler and garbage collector run beside
# the scoring), so a second process on two cores only adds its own start-up (docs/benchmarks.md, "Metrics"
# and "Figures the code's comments rely on").
CORES_PER_PROCESS = 2


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def meteor_processes(ids: int, cores: int | None = None) -> int:
    """How many METEOR processes to score ``ids`` ids with: one per ``IDS_PER_PROCESS`` ids, at most one
    per ``CORES_PER_PROCESS`` cores and ``MAX_PROCESSES``, at least one.

    Example:
        >>> meteor_processes(5, cores=8), meteor_processes(2990, cores=2), meteor_processes(2990, cores=16)
        (1, 1, 4)
    """
    cores = available_cores() if cores is None else cores
    return max(1, min(cores // CORES_PER_PROCESS, MAX_PROCESSES, math.ceil(ids / IDS_PER_PROCESS)))


def _start(nice: int) -> subprocess.Popen:
    jar = pycocoevalcap_dir() / "meteor" / "meteor-1.5.jar"
    if not jar.is_file():
        raise JavaError(f"{jar}: pycocoevalcap's METEOR jar is missing (reinstall pycocoevalcap)")
    # `nice` (POSIX) rather than os.nice in a preexec_fn, which is unsafe once the caller has threads;
    # the JVM's own threads inherit the priority.
    cmd = [*(["nice", "-n", str(nice)] if nice else []), "java", "-Xmx2G", "-jar", jar.name, *METEOR_ARGS]
    try:
        return subprocess.Popen(cmd, cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError as err:
        raise JavaError(f"cannot start METEOR ({' '.join(cmd[:3])} {jar}): {err}") from None


def _stop(proc: subprocess.Popen) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:  # the process may already be gone; closing is all that matters
            pass
    proc.kill()
    proc.wait()


class MeteorPool:
    """``processes`` METEOR Java processes, started at once (their start-ups overlap whatever the caller
    does next) and all stopped on :meth:`close` or leaving the ``with`` block.

    ``nice`` > 0 runs them at that lower CPU priority (1-19): a pool started well before scoring then
    loads its paraphrase tables on the CPU time the caller's work leaves idle, instead of taking turns
    with it (``vidcap demo`` starts one before training; the scores are the same).

    Example:
        >>> with MeteorPool(1, nice=19) as pool:                                       # doctest: +SKIP
        ...     model = train(cfg)          # the JVM loads meanwhile, at the lowest priority
        ...     scores = evaluate(gts, res, meteor=pool)
    """

    def __init__(self, processes: int = 1, *, nice: int = 0):
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise UsageError(f"METEOR processes must be a positive integer, got {processes!r}")
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
            raise UsageError(f"METEOR nice must be a whole number from 0 to 19, got {nice!r}")
        self.procs: list[subprocess.Popen] = []
        try:
            for _ in range(processes):
                self.procs.append(_start(nice))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "MeteorPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self.procs:
            _stop(self.procs.pop())

    def fail(self, reason: BaseException) -> JavaError:
        """A :class:`JavaError` for ``reason``, with what the processes said on stderr; stops them."""
        tails = []
        for proc in self.procs:
            proc.kill()
            if proc.stderr:
                tail = proc.stderr.read().decode("utf-8", "replace").strip()[-300:]
                if tail:
                    tails.append(tail)
        return JavaError(f"METEOR (pycocoevalcap meteor-1.5.jar) failed: {reason}"
                         f"{'; java said: ' + ' | '.join(tails) if tails else ''}")

    @staticmethod
    def _readline(proc: subprocess.Popen) -> str:
        line = proc.stdout.readline()
        if not line:
            raise OSError("a METEOR process ended unexpectedly")
        return line.decode().strip()

    @staticmethod
    def score_line(hypothesis: str, references: Sequence[str]) -> bytes:
        """The ``SCORE`` line pycocoevalcap's ``Meteor._stat`` sends: "|||" dropped from the hypothesis,
        double spaces halved."""
        hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
        return ("SCORE ||| " + " ||| ".join(references) + " ||| " + hypothesis + "\n").encode()

    def _shard_stats(self, proc: subprocess.Popen, lines: list[bytes], out: list, at: int) -> None:
        """Statistics of ``lines`` from ``proc`` into ``out[at:]``. The lines are written by a second
        thread while this one reads the answers (pipelined, not one round trip per line): a round trip
        needs the GIL, which the caller's thread holds while it computes the other metrics."""
        def feed() -> None:
            try:
                proc.stdin.write(b"".join(lines))
                proc.stdin.flush()
            except OSError:  # the process died; the reader below reports it
                pass

        writer = threading.Thread(target=feed, name="vidcap-meteor-feed", daemon=True)
        writer.start()
        try:
            for i in range(len(lines)):
                out[at + i] = self._readline(proc)
        except OSError as err:
            out[at] = err
        writer.join()

    def statistics(self, lines: Sequence[bytes]) -> list[str]:
        """The statistics answering each ``SCORE`` line, in order; the lines are split into contiguous
        shards, one per process, scored at the same time."""
        out: list = [None] * len(lines)
        size = math.ceil(len(lines) / len(self.procs)) if lines else 0
        shards = [(proc, start) for proc, start in zip(self.procs, range(0, len(lines), max(size, 1)))]
        threads = [threading.Thread(target=self._shard_stats, args=(proc, list(lines[start:start + size]), out, start),
                                    name="vidcap-meteor", daemon=True) for proc, start in shards]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for proc, start in shards:
            if isinstance(out[start], BaseException):
                raise out[start]
        return out

    def evaluate(self, stats: Sequence[str]) -> tuple[float, list[float]]:
        """The corpus score and each statistic's score, from one ``EVAL`` line in the first process."""
        proc = self.procs[0]
        proc.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode())
        proc.stdin.flush()
        per = [float(self._readline(proc)) for _ in stats]
        return float(self._readline(proc)), per


class MeteorJob:
    """Scores METEOR in a background thread: overall, per id and per group (``groups``: name →
    positions in ``ids``), with the ``SCORE`` lines sharded over ``pool``'s processes."""

    def __init__(self, pool: MeteorPool, gts: Mapping[Hashable, Sequence[str]], res: Mapping[Hashable, Sequence[str]],
                 ids: Sequence[Hashable], groups: Mapping[str, Sequence[int]]) -> None:
        self._pool, self._groups = pool, groups
        self._lines = [MeteorPool.score_line(res[vid][0], gts[vid]) for vid in ids]
        self._outcome: tuple | BaseException | None = None
        self._stats: list[str] = []
        self._thread = threading.Thread(target=self._run, name="vidcap-meteor-job", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            stats = self._stats = self._pool.statistics(self._lines)
            overall, per = self._pool.evaluate(stats)
            by_group = {name: self._pool.evaluate([stats[i] for i in members])[0]
                        for name, members in self._groups.items()}
            self._outcome = (overall, per, by_group)
        except (OSError, ValueError) as err:  # a dead process: broken pipe, no answer or a garbled one
            self._outcome = err

    def result(self) -> tuple[float, list[float], dict[str, float]]:
        """(overall, per-id scores in ``ids`` order, group → score); raises :class:`JavaError` on failure."""
        self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._pool.fail(self._outcome)
        return self._outcome

    def statistics_array(self) -> np.ndarray:
        """(N, 23) the jar's statistics per id, in ``ids`` order (after :meth:`result`)."""
        self.result()
        return parse_statistics(self._stats)


# METEOR 1.5's scoring of English with pycocoevalcap's flags ("-l en -norm", the default task): alpha,
# beta, gamma, delta and the exact/stem/synonym/paraphrase module weights. Checked, not assumed: with
# these, :func:`meteor_from_statistics` gives the jar's own per-segment and corpus scores (tests).
METEOR_PARAMETERS = (0.85, 0.20, 0.60, 0.75)
METEOR_MODULE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)
STATISTICS_LENGTH = 23  # the jar's line: 4 lengths, 4 modules x 4 match counts, chunks, 2 word matches


def parse_statistics(lines: Sequence[str]) -> np.ndarray:
    """The jar's statistics lines (``SCORE`` answers) as an (N, 23) array.

    Example:
        >>> parse_statistics(["3.0 3.0 1.0 1.0 2.0 2.0 1.0 1.0" + " 0.0" * 12 + " 1.0 3.0 3.0"]).shape
        (1, 23)
    """
    rows = [line.split() for line in lines]
    bad = [i for i, row in enumerate(rows) if len(row) != STATISTICS_LENGTH]
    if bad:
        raise JavaError(f"METEOR statistics line {bad[0]} has {len(rows[bad[0]])} fields, expected "
                        f"{STATISTICS_LENGTH}: {lines[bad[0]]!r:.120}")
    return np.asarray(rows, dtype=np.float64).reshape(-1, STATISTICS_LENGTH)


def _perfect(stats: np.ndarray) -> np.ndarray:
    """Segments the jar treats as a perfect match: every word matched on both sides, in one chunk."""
    modules = stats[..., 4:20]
    return ((modules[..., 0::2].sum(-1) == stats[..., 0]) & (modules[..., 1::2].sum(-1) == stats[..., 1])
            & (stats[..., 20] == 1))


def summable_statistics(stats: np.ndarray) -> np.ndarray:
    """Per-segment statistics whose column sums are the jar's aggregate (``MeteorStats.addStats``), which
    leaves out the chunk of a perfectly matched segment: that chunk set to 0."""
    out = np.array(stats, dtype=np.float64, copy=True)
    out[_perfect(out), 20] = 0.0
    return out


def meteor_from_statistics(stats: np.ndarray) -> np.ndarray:
    """METEOR of statistics rows (..., 23) → (...), computed as the jar's ``computeMetrics`` does: of one
    segment's line, or of the column sums of :func:`summable_statistics` (the corpus score).

    Example:
        >>> line = parse_statistics(["3.0 3.0 1.0 1.0 2.0 2.0 1.0 1.0" + " 0.0" * 12 + " 1.0 3.0 3.0"])
        >>> meteor_from_statistics(line).round(4).tolist()
        [1.0]
    """
    alpha, beta, gamma, delta = METEOR_PARAMETERS
    weights = np.asarray(METEOR_MODULE_WEIGHTS)
    stats = np.asarray(stats, dtype=np.float64)
    test_len, ref_len, test_fn, ref_fn = (stats[..., k] for k in range(4))
    modules = stats[..., 4:20].reshape(stats.shape[:-1] + (4, 4))  # module x (test/ref content, test/ref function)
    chunks, word_matches = stats[..., 20], stats[..., 21] + stats[..., 22]
    test_weighted = delta * (test_len - test_fn) + (1 - delta) * test_fn
    ref_weighted = delta * (ref_len - ref_fn) + (1 - delta) * ref_fn
    test_matches = (modules[..., 0] * weights * delta).sum(-1) + (modules[..., 2] * weights * (1 - delta)).sum(-1)
    ref_matches = (modules[..., 1] * weights * delta).sum(-1) + (modules[..., 3] * weights * (1 - delta)).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = test_matches / test_weighted, ref_matches / ref_weighted
        fmean = 1.0 / ((1 - alpha) / precision + alpha / recall)
        frag = np.where(_perfect(stats), 0.0, chunks / (word_matches / 2))
        score = fmean * (1.0 - gamma * frag ** beta)
    # The jar: NaN (a division by zero) is 0, and a score is never negative.
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))
