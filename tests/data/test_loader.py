"""vidcap.data.loader: batches from the main process's cache, workers only for the videos it lacks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcap.data import Annotations, CaptionDataset, FeatureNormalizer, VideoRecord, build_vocabulary, collate
from vidcap.data.loader import CachedLoader
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter

VIDEOS = 12
WORDS = "a man woman dog is playing cooking running in the park kitchen".split()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader")
    rng = np.random.default_rng(0)
    ids = [f"video{i}" for i in range(VIDEOS)]
    writer = StoreWriter(root / "store", FeatureSpec.external("resnet18", {"frame": "float16"}, frames=6),
                         {"frame": [5]})
    for vid in ids:
        t = int(rng.integers(2, 7))  # videos of different lengths: padding in every batch
        writer.write(vid, {"frame": rng.standard_normal((t, 5))}, indices=np.arange(t), timestamps=np.arange(t) / 2,
                     info={"fps": 2.0})
    ann = Annotations({v: VideoRecord(v, "train") for v in ids},
                      {v: [" ".join(rng.choice(WORDS, int(rng.integers(2, 9)))) for _ in range(4)] for v in ids})
    return root / "store", ann, build_vocabulary(ann)


def _dataset(world, cache_bytes: int) -> CaptionDataset:
    store, ann, vocab = world
    ds = CaptionDataset(store, ann, vocab, cache_bytes=cache_bytes)
    ds.normalizer = FeatureNormalizer.fit(ds.features(), deltas=True)
    return ds


def _epochs(loader, sampler, epochs=(0, 1)):
    out = []
    for epoch in epochs:
        sampler.set_epoch(epoch)
        out.append(list(loader))
    return out


def _same(a, b) -> None:
    assert a.ids == b.ids and torch.equal(a.captions, b.captions)
    for name in a.feats:
        assert torch.equal(a.feats[name], b.feats[name]) and torch.equal(a.masks[name], b.masks[name])


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("cache_bytes", [2**30, 500, 0])  # all of it, two or three videos, none
def test_batches_equal_reading_every_item_in_the_main_process(world, workers, cache_bytes):
    plain = _dataset(world, 0)
    sampler = plain.batch_sampler(5, seed=3)
    reference = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        reference.append([collate([plain[i] for i in idx]) for idx in sampler])
    ds = _dataset(world, cache_bytes)
    sampler = ds.batch_sampler(5, seed=3)
    got = _epochs(CachedLoader(ds, sampler, workers=workers), sampler)
    assert [len(e) for e in got] == [len(e) for e in reference]
    for epoch_got, epoch_ref in zip(got, reference):
        for a, b in zip(epoch_got, epoch_ref):
            _same(a, b)


def test_workers_read_each_missing_video_once_and_a_warm_epoch_starts_none(world):
    ds = _dataset(world, 2**30)
    sampler = ds.batch_sampler(5, seed=0)
    loader = CachedLoader(ds, sampler, workers=2)
    sampler.set_epoch(0)
    first = list(loader)
    assert loader.last_epoch_reads == VIDEOS  # every video once, by the workers
    assert all(ds.reader.cached(f"video{i}") for i in range(VIDEOS))
    sampler.set_epoch(1)
    second = list(loader)
    assert loader.last_epoch_reads == 0 and len(second) == len(first) == len(loader)


def test_references_sample_epochs_and_a_small_cache(world):
    ds = _dataset(world, 500)  # two or three videos fit: the others are read again when needed
    sampler = ds.batch_sampler(3, references="sample", seed=1)
    loader = CachedLoader(ds, sampler, workers=2)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = list(loader)
        assert sorted(v for b in batches for v in b.ids) == sorted(f"video{i}" for i in range(VIDEOS))
        assert loader.last_epoch_reads > 0  # the cache cannot keep them: workers read again


def test_the_global_random_stream_is_untouched(world):
    ds = _dataset(world, 2**30)
    sampler = ds.batch_sampler(4, seed=0)
    state = torch.get_rng_state()
    for loader in (CachedLoader(ds, sampler, workers=2), CachedLoader(_dataset(world, 0), sampler, workers=2)):
        _epochs(loader, sampler)
    assert torch.equal(torch.get_rng_state(), state)


def test_bad_workers_value():
    with pytest.raises(ValueError, match="workers"):
        CachedLoader(None, [], workers=-1)
