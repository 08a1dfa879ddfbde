"""Datasets over feature stores, collation, length bucketing (vidcap/data/dataset.py, streams.py)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vidcap.data import (Annotations, Batch, BucketBatchSampler, CaptionDataset, EvalDataset, FeatureNormalizer,
                         VideoRecord, build_vocabulary, collate, tokenize)
from vidcap.data.vocab import BOS, EOS, PAD
from vidcap.errors import InputError, UsageError
from vidcap.features.spec import FeatureSpec
from vidcap.features.store import StoreWriter

FRAMES = {"v0": 8, "v1": 3, "v2": 5, "v3": 8, "v4": 6, "v5": 4, "v6": 7, "v7": 2, "v8": 5}
SPLIT = {**dict.fromkeys(["v0", "v1", "v2", "v3", "v4", "v5"], "train"), "v6": "validate", "v7": "validate",
         "v8": "test"}
WORDS = ["a", "man", "woman", "dog", "is", "playing", "cooking", "running", "in", "the", "park", "kitchen"]


def _captions(rng: np.random.Generator, vid: str) -> list[str]:
    n = int(rng.integers(2, 5))
    return [" ".join(rng.choice(WORDS, int(rng.integers(2, 12)))).capitalize() + "." for _ in range(n)]


def _write_store(path: Path, backbone: str, dims: dict, make, int_streams=()) -> dict[str, dict[str, np.ndarray]]:
    spec = FeatureSpec.external(backbone, {k: "int16" if k in int_streams else "float16" for k in dims}, frames=8)
    writer = StoreWriter(path, spec, dims)
    written = {}
    for i, (vid, t) in enumerate(FRAMES.items()):
        streams = make(np.random.default_rng(i), t)
        writer.write(vid, streams, indices=np.arange(t), timestamps=np.arange(t) / 10, info={"fps": 10.0})
        # What the store holds: float16 features, int16 classes.
        written[vid] = {k: v.astype(np.int16 if k in int_streams else np.float16) for k, v in streams.items()}
    return written


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("stores")
    rng = np.random.default_rng(0)
    ann = Annotations({v: VideoRecord(v, s) for v, s in SPLIT.items()}, {v: _captions(rng, v) for v in SPLIT})
    resnet = _write_store(root / "resnet", "resnet18", {"frame": [6]},
                          lambda r, t: {"frame": r.standard_normal((t, 6)) * 3 + 1})

    def yolo(r, t):
        classes = r.integers(-1, 5, (t, 3))
        classes[0] = -1  # a frame without detections
        return {"frame": r.standard_normal((t, 4)), "objects": r.standard_normal((t, 3, 4)) * (classes[..., None] >= 0),
                "object_classes": classes, "object_boxes": r.random((t, 3, 4)), "object_scores": r.random((t, 3))}

    yolo_written = _write_store(root / "yolo", "yolov8n", {"frame": [4], "objects": [3, 4], "object_classes": [3],
                                                           "object_boxes": [3, 4], "object_scores": [3]},
                                yolo, int_streams=["object_classes"])
    vocab = build_vocabulary(ann, split="train")
    return {"ann": ann, "vocab": vocab, "resnet": root / "resnet", "yolo": root / "yolo",
            "resnet_data": resnet, "yolo_data": yolo_written}


def _train(world, **kwargs) -> CaptionDataset:
    return CaptionDataset(kwargs.pop("features", world["resnet"]), world["ann"], world["vocab"], **kwargs)


def test_one_item_per_reference_with_encoded_caption_and_stored_features(world):
    ds = _train(world)
    refs = world["ann"].references(world["ann"].ids("train"))
    assert ds.video_ids == ["v0", "v1", "v2", "v3", "v4", "v5"]
    assert len(ds) == sum(len(c) for c in refs.values())
    seen = []
    for i in range(len(ds)):
        item = ds[i]
        text = ds.caption_text(i)
        seen.append((item["id"], text))
        caption = item["caption"].tolist()
        assert caption[0] == BOS and caption[-1] == EOS
        assert world["vocab"].decode(caption) == " ".join(tokenize(text))
        stored = world["resnet_data"][item["id"]]["frame"]
        np.testing.assert_array_equal(item["feats"]["frame"], stored.astype(np.float32))
        assert item["feats"]["frame"].dtype == np.float32 and item["masks"]["frame"].all()
    assert seen == [(v, c) for v, caps in refs.items() for c in caps]
    assert ds.input_dims == {"frame": 6}
    np.testing.assert_array_equal(ds.lengths, [len(ds[i]["caption"]) for i in range(len(ds))])


def test_captions_are_cut_to_max_len_words(world):
    ds = _train(world, max_len=3)
    assert max(len(ds[i]["caption"]) for i in range(len(ds))) == 5
    for i in range(len(ds)):
        words = tokenize(ds.caption_text(i))[:3]
        assert world["vocab"].decode(ds[i]["caption"]) == " ".join(words)


def test_collate_pads_frames_and_captions_with_masks(world):
    ds = _train(world)
    items = [ds[0], ds[len(ds) - 1]]  # v0 (8 frames) and v5 (4 frames)
    batch = collate(items)
    assert isinstance(batch, Batch) and batch.ids == ["v0", "v5"]
    assert batch.feats["frame"].shape == (2, 8, 6) and batch.feats["frame"].dtype == torch.float32
    assert batch.masks["frame"].tolist() == [[True] * 8, [True] * 4 + [False] * 4]
    assert (batch.feats["frame"][1, 4:] == 0).all()
    lengths = [len(it["caption"]) for it in items]
    assert batch.captions.shape == (2, max(lengths)) and batch.captions.dtype == torch.int64
    for row, item in zip(batch.captions.tolist(), items):
        assert row[:len(item["caption"])] == item["caption"].tolist()
        assert set(row[len(item["caption"]):]) <= {PAD}
    assert len(batch) == 2 and batch.references is None


def test_object_streams_have_region_masks_from_the_detections(world):
    ds = _train(world, features=world["yolo"], streams=["frame", "objects"])
    assert ds.input_dims == {"frame": 4, "objects": (3, 4)}
    batch = collate([ds[0], ds[len(ds) - 1]])
    assert batch.feats["objects"].shape == (2, 8, 3, 4) and batch.masks["objects"].shape == (2, 8, 3)
    for row, vid in enumerate(batch.ids):
        classes = world["yolo_data"][vid]["object_classes"]
        t = len(classes)
        assert batch.masks["objects"][row, :t].numpy().tolist() == (classes >= 0).tolist()
        assert not batch.masks["objects"][row, t:].any()
        assert not batch.masks["objects"][row, 0].any()  # the frame without detections


def test_several_stores_get_backbone_prefixes(world):
    ds = _train(world, features=[world["resnet"], world["yolo"]], streams=["frame", "objects"])
    assert ds.input_dims == {"resnet18/frame": 6, "yolov8n/frame": 4, "yolov8n/objects": (3, 4)}
    ds = _train(world, features=[world["resnet"], world["yolo"]], streams=["resnet18/frame", "yolov8n/objects"])
    assert ds.input_dims == {"resnet18/frame": 6, "yolov8n/objects": (3, 4)}
    assert _train(world, streams=["resnet18/frame"]).input_dims == {"frame": 6}  # one store: plain names
    item = ds[0]
    np.testing.assert_array_equal(item["feats"]["yolov8n/objects"],
                                  world["yolo_data"][item["id"]]["objects"].astype(np.float32))
    np.testing.assert_array_equal(item["feats"]["resnet18/frame"],
                                  world["resnet_data"][item["id"]]["frame"].astype(np.float32))


def test_feature_spec_rebuilds_the_selection_for_captioning(world, tmp_path):
    from vidcap.data.streams import Stream, select
    from vidcap.trained.checkpoint import load_checkpoint, save_checkpoint

    ds = _train(world, features=[world["resnet"], world["yolo"]], streams=["frame", "objects"], frames=4)
    ds.normalizer = FeatureNormalizer.fit(ds.features(), deltas=True)
    state = {"stores": ds.store_metas, "streams": [s.to_dict() for s in ds.streams], "frames": 4}
    save_checkpoint(tmp_path / "c.pt", {"features": state, "normalizer": ds.normalizer.state_dict()})
    ckpt = load_checkpoint(tmp_path / "c.pt")  # the store metas are plain data
    spec = ckpt["features"]
    assert [s["spec"]["backbone"] for s in spec["stores"]] == ["resnet18", "yolov8n"] and spec["frames"] == 4
    # What a captioner does with a backbone's outputs for one video: the same inputs as in training.
    streams = [Stream.from_dict(d) for d in spec["streams"]]
    raw = [world["resnet_data"]["v3"], world["yolo_data"]["v3"]]
    feats, masks = select(streams, raw, frames=spec["frames"])
    feats = FeatureNormalizer.from_state_dict(ckpt["normalizer"])(feats, masks)
    item = ds[int(np.flatnonzero(ds.groups == ds.video_ids.index("v3"))[0])]
    assert item["id"] == "v3"
    for name in feats:
        np.testing.assert_array_equal(feats[name], item["feats"][name])
        np.testing.assert_array_equal(masks[name], item["masks"][name])


@pytest.mark.parametrize("streams, match", [(["grid"], "no feature stream 'grid'.*available: frame"),
                                            (["resnet18/frame"], "no feature stream 'resnet18/frame'"),
                                            (["object_classes"], "no feature stream 'object_classes'"),
                                            ([], "at least one")])
def test_bad_stream_choices(world, streams, match):
    with pytest.raises(UsageError, match=match):
        _train(world, features=world["yolo"], streams=streams)


def test_two_stores_of_one_backbone_are_refused(world):
    with pytest.raises(UsageError, match="same backbone"):
        _train(world, features=[world["resnet"], world["resnet"]])


def test_frames_are_subsampled_uniformly(world):
    ds = _train(world, frames=3)
    item = ds[0]  # v0 has 8 stored frames: 0, 3.5 → 4, 7
    np.testing.assert_array_equal(item["feats"]["frame"], world["resnet_data"]["v0"]["frame"][[0, 4, 7]])
    assert _train(world, frames=5)[len(ds) - 1]["feats"]["frame"].shape == (4, 6)  # v5: 4 frames, all kept
    with pytest.raises(UsageError, match="frames=0: must be a positive integer"):
        _train(world, frames=0)


def test_missing_features_are_an_error_unless_allowed(world):
    ann = world["ann"]
    extended = Annotations({**ann.videos, "v99": VideoRecord("v99", "train")}, {**ann.captions, "v99": ["a dog"]})
    with pytest.raises(InputError, match="v99"):
        CaptionDataset(world["resnet"], extended, world["vocab"])
    ds = CaptionDataset(world["resnet"], extended, world["vocab"], allow_missing=True)
    assert "v99" not in ds.video_ids and len(ds.video_ids) == 6


def test_normalizer_fit_on_the_training_features(world):
    ds = _train(world)
    ds.normalizer = FeatureNormalizer.fit(ds.features(), deltas=True)
    frames = np.concatenate([world["resnet_data"][v]["frame"].astype(np.float64) for v in ds.video_ids])
    np.testing.assert_allclose(ds.normalizer.mean["frame"], frames.mean(0), rtol=1e-5)
    assert ds.input_dims == {"frame": 12}
    batch = collate([ds[i] for i in range(4)])
    assert batch.feats["frame"].shape[-1] == 12
    evals = EvalDataset(world["resnet"], world["ann"], split="train", normalizer=ds.normalizer)
    np.testing.assert_array_equal(evals[0]["feats"]["frame"], ds[0]["feats"]["frame"])


def test_eval_dataset_serves_each_video_once_with_references(world):
    ds = EvalDataset(world["resnet"], world["ann"], split="validate")
    assert len(ds) == 2 and [ds[i]["id"] for i in range(2)] == ["v6", "v7"]
    batch = collate([ds[0], ds[1]])
    assert batch.captions is None and batch.references == [world["ann"].captions["v6"], world["ann"].captions["v7"]]
    bare = EvalDataset([world["yolo"]], ids=["v8"], streams=["objects"])
    assert "references" not in bare[0] and bare.input_dims == {"objects": (3, 4)}


def test_cache_serves_the_same_features_read_only_within_its_byte_budget(world):
    plain = _train(world, features=[world["resnet"], world["yolo"]], streams=["frame", "objects"])
    norm = FeatureNormalizer.fit(plain.features(), deltas=True)
    plain.normalizer = norm
    per_video = sum(a.nbytes for a in (*plain[0]["feats"].values(), *plain[0]["masks"].values()))
    cached = _train(world, features=[world["resnet"], world["yolo"]], streams=["frame", "objects"],
                    cache_bytes=2 * per_video)
    cached.normalizer = norm
    for i in [*range(len(cached)), *range(len(cached))]:  # every item twice: hits and evictions
        a, b = plain[i], cached[i]
        for name in a["feats"]:
            np.testing.assert_array_equal(a["feats"][name], b["feats"][name])
            np.testing.assert_array_equal(a["masks"][name], b["masks"][name])
    reader = cached.reader
    assert 0 < reader.cached_bytes <= 2 * per_video and 0 < sum(map(reader.cached, cached.video_ids)) <= 2
    item = cached[0]
    name = next(iter(item["feats"]))
    with pytest.raises(ValueError, match="read-only"):
        item["feats"][name][0, 0] = 1.0  # what the next item gets cannot be altered
    item["feats"][name] = None  # nor by replacing a stream in the item
    assert cached[0]["feats"][name] is not None
    cached.normalizer = None  # features normalised by the old normaliser are dropped
    assert reader.cached_bytes == 0 and not any(map(reader.cached, cached.video_ids))
    raw = _train(world, features=[world["resnet"], world["yolo"]], streams=["frame", "objects"])
    np.testing.assert_array_equal(cached[0]["feats"][name], raw[0]["feats"][name])
    assert reader.cached_bytes > 0  # holds the item just read, so the copy below has something to drop
    copy = pickle.loads(pickle.dumps(cached)).reader
    assert copy.cached_bytes == 0 and not any(map(copy.cached, cached.video_ids))  # workers start empty
    with pytest.raises(UsageError, match="cache size -1"):
        _train(world, cache_bytes=-1)


def test_workers_read_the_same_batches_and_get_no_open_stores(world):
    ds = _train(world, features=[world["resnet"], world["yolo"]], streams=["frame", "objects"])
    ds[0]  # opens the stores in this process
    assert ds.reader.opened and not pickle.loads(pickle.dumps(ds)).reader.opened
    sampler = ds.batch_sampler(4, seed=3)

    def batches(workers):
        loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=workers)
        return list(loader)

    inline, parallel = batches(0), batches(2)
    assert [b.ids for b in inline] == [b.ids for b in parallel]
    for a, b in zip(inline, parallel):
        assert torch.equal(a.captions, b.captions)
        for name in a.feats:
            assert torch.equal(a.feats[name], b.feats[name]) and torch.equal(a.masks[name], b.masks[name])


def test_batch_to_moves_every_tensor(world):
    ds = _train(world, features=world["yolo"], streams=["frame", "objects"])
    moved = collate([ds[0], ds[1]]).to("meta")
    assert moved.captions.device.type == "meta"
    assert all(t.device.type == "meta" for t in [*moved.feats.values(), *moved.masks.values()])


def test_msrvtt_references_are_served_in_full(world, msrvtt_dir, tmp_path):
    ann = Annotations.load(msrvtt_dir / "train_val_videodatainfo.json")
    ids = ann.ids("train")[:3]
    writer = StoreWriter(tmp_path, FeatureSpec.external("resnet18", {"frame": "float16"}, frames=4), {"frame": [2]})
    for vid in ids:
        writer.write(vid, {"frame": np.ones((4, 2))}, indices=np.arange(4), timestamps=np.arange(4.0), info={})
    vocab = build_vocabulary(ann, split="validate")
    ds = CaptionDataset(tmp_path, ann, vocab, ids=ids)
    assert len(ds) == 60 and all(len(ds.references[v]) == 20 for v in ids)
    texts = [ds.caption_text(i) for i in range(len(ds))]
    assert texts == [c for v in ids for c in ann.captions[v]] and all(t == t.strip() for t in texts)
    sample = ds.batch_sampler(2, references="sample", seed=0)
    assert sorted(ds.groups[i] for b in sample for i in b) == [0, 1, 2]


# ----------------------------------------------------------------------------------- the batch sampler
def _padding(batches, lengths):
    return sum(int(max(lengths[b]) * len(b) - lengths[b].sum()) for b in batches)


def test_sampler_is_deterministic_and_covers_every_item_once():
    lengths = np.random.default_rng(0).integers(5, 25, 203)
    s = BucketBatchSampler(lengths, 8, seed=1)
    epoch0 = list(s)
    assert epoch0 == list(BucketBatchSampler(lengths, 8, seed=1))
    assert sorted(i for b in epoch0 for i in b) == list(range(203))
    assert len(epoch0) == len(s) == 26 and sorted(len(b) for b in epoch0)[0] == 203 % 8
    s.set_epoch(1)
    assert list(s) != epoch0
    s.set_epoch(0)
    assert list(s) == epoch0
    assert list(BucketBatchSampler(lengths, 8, seed=2)) != epoch0


def test_bucketing_cuts_padding():
    lengths = np.random.default_rng(1).integers(4, 30, 2000)
    bucketed = list(BucketBatchSampler(lengths, 16, seed=0, bucket=50))
    unsorted = list(BucketBatchSampler(lengths, 16, seed=0, bucket=1))  # sorting within a batch only
    assert _padding(bucketed, lengths) < 0.2 * _padding(unsorted, lengths)


def test_drop_last():
    s = BucketBatchSampler(np.arange(10), 4, drop_last=True, seed=0)
    batches = list(s)
    assert len(batches) == len(s) == 2 and all(len(b) == 4 for b in batches)


def test_one_item_per_group_drawn_anew_every_epoch():
    groups = np.repeat(np.arange(50), 20)
    s = BucketBatchSampler(np.ones(1000), 8, groups=groups, seed=0)
    picks = []
    for epoch in range(3):
        s.set_epoch(epoch)
        chosen = [i for b in s for i in b]
        assert len(s) == 7 and sorted(groups[chosen].tolist()) == list(range(50))
        picks.append(sorted(chosen))
    assert picks[0] != picks[1] != picks[2]


def test_replicas_split_each_global_batch():
    lengths = np.random.default_rng(2).integers(3, 20, 49)
    whole = list(BucketBatchSampler(lengths, 12, seed=5))
    ranks = [list(BucketBatchSampler(lengths, 12, seed=5, num_replicas=3, rank=r)) for r in range(3)]
    assert all(len(r) == len(whole) for r in ranks)
    for step, batch in enumerate(whole):
        parts = [r[step] for r in ranks]
        assert all(parts)  # every rank gets work, even from the last, smaller batch
        assert set(i for p in parts for i in p) == set(batch)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"batch_size": 2, "num_replicas": 3},
                                    {"batch_size": 4, "num_replicas": 2, "rank": 2}, {"batch_size": 4, "groups": [1]}])
def test_sampler_rejects_bad_options(kwargs):
    with pytest.raises(UsageError):
        BucketBatchSampler(np.ones(5), **kwargs)


def test_batch_sampler_option_is_checked(world):
    with pytest.raises(UsageError, match="references"):
        _train(world).batch_sampler(4, references="some")
