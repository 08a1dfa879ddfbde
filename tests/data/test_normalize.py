"""FeatureNormalizer (vidcap/data/normalize.py): training-set statistics and temporal differences."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcap.data.normalize import FeatureNormalizer
from vidcap.errors import InputError, UsageError


def _videos(seed=0, n=6, d=5):
    rng = np.random.default_rng(seed)
    scale = np.array([0.1, 1.0, 10.0, 100.0, 3.0])[:d]
    return [{"frame": (rng.standard_normal((rng.integers(2, 9), d)) * scale + 50).astype(np.float32)}
            for _ in range(n)]


def test_statistics_equal_numpy_over_all_frames():
    videos = _videos()
    norm = FeatureNormalizer.fit((v, {}) for v in videos)
    allframes = np.concatenate([v["frame"] for v in videos]).astype(np.float64)
    np.testing.assert_allclose(norm.mean["frame"], allframes.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.std["frame"], allframes.std(0), rtol=1e-5)
    z = np.concatenate([norm(v, {})["frame"] for v in videos])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    assert z.dtype == np.float32


def test_stable_with_a_large_offset():
    # Naive sum/sum-of-squares in float32 would lose the unit variance under a 1e6 offset.
    rng = np.random.default_rng(1)
    videos = [{"frame": rng.standard_normal((100, 3)) + 1e6} for _ in range(20)]
    norm = FeatureNormalizer.fit((v, {}) for v in videos)
    expected = np.concatenate([v["frame"] for v in videos]).std(0)
    np.testing.assert_allclose(norm.std["frame"], expected, rtol=1e-4)


def test_masked_regions_are_ignored_and_zeroed():
    rng = np.random.default_rng(2)
    objects = rng.standard_normal((4, 3, 2)).astype(np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]], bool)
    objects[~mask] = 1000.0  # padding that must not count
    norm = FeatureNormalizer.fit([({"objects": objects}, {"objects": mask})])
    np.testing.assert_allclose(norm.mean["objects"], objects[mask].mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.std["objects"], objects[mask].std(0), rtol=1e-5)
    out = norm({"objects": objects}, {"objects": mask})["objects"]
    assert out.shape == (4, 3, 2) and (out[~mask] == 0).all()


def test_deltas_are_differences_of_standardised_frames():
    videos = _videos(d=4)
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), deltas=True)
    plain = FeatureNormalizer.fit(((v, {}) for v in videos), deltas=False)
    out = norm(videos[0], {})["frame"]
    z = plain(videos[0], {})["frame"]
    assert out.shape == (len(z), 8)
    np.testing.assert_allclose(out[:, :4], z)
    np.testing.assert_allclose(out[0, 4:], 0)
    np.testing.assert_allclose(out[1:, 4:], z[1:] - z[:-1], atol=1e-6)
    assert norm.output_dims({"frame": 4, "objects": (10, 4)}) == {"frame": 8, "objects": (10, 4)}
    assert plain.output_dims({"frame": 4}) == {"frame": 4}


def test_object_streams_get_no_deltas():
    objects = np.random.default_rng(3).standard_normal((5, 2, 3)).astype(np.float32)
    norm = FeatureNormalizer.fit([({"objects": objects}, {})], deltas=True)
    assert norm({"objects": objects}, {})["objects"].shape == (5, 2, 3)


def test_constant_dimensions_are_only_centred():
    feats = {"frame": np.array([[1.0, 7.0], [3.0, 7.0]], np.float32)}
    norm = FeatureNormalizer.fit([(feats, {})])
    assert norm.std["frame"].tolist() == [1.0, 1.0]
    assert norm(feats, {})["frame"].tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_state_dict_is_plain_and_round_trips(tmp_path):
    videos = _videos()
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), deltas=True)
    torch.save(norm.state_dict(), tmp_path / "n.pt")
    again = FeatureNormalizer.from_state_dict(torch.load(tmp_path / "n.pt", weights_only=True))
    assert again.deltas is True
    np.testing.assert_array_equal(again(videos[1], {})["frame"], norm(videos[1], {})["frame"])


@pytest.mark.parametrize("state", [None, {"format": "other"},
                                   {"format": "vidcap-normalizer/1", "deltas": False, "mean": {}},
                                   {"format": "vidcap-normalizer/1", "deltas": False,
                                    "mean": {"frame": torch.zeros(2)}, "std": {"frame": torch.zeros(2)}}])
def test_bad_states_are_input_errors(state):
    with pytest.raises(InputError, match="normalizer state"):
        FeatureNormalizer.from_state_dict(state)


def test_errors_name_the_stream():
    norm = FeatureNormalizer.fit([({"frame": np.ones((2, 3))}, {})])
    with pytest.raises(UsageError, match="objects"):
        norm({"objects": np.ones((2, 1, 3))}, {})
    with pytest.raises(InputError, match="frame.*size 4"):
        norm({"frame": np.ones((2, 4))}, {})
    with pytest.raises(InputError, match="frame"):
        FeatureNormalizer.fit([({"frame": np.ones((2, 3))}, {}), ({"frame": np.ones((2, 4))}, {})])
    with pytest.raises(UsageError, match="no videos"):
        FeatureNormalizer.fit([])
    with pytest.raises(InputError, match="no valid"):
        FeatureNormalizer.fit([({"objects": np.ones((2, 1, 3))}, {"objects": np.zeros((2, 1), bool)})])


def _correlated(seed=0, n=40, d=8, rank=None):
    """Frames whose dimensions are mixed (correlated) and on very different scales."""
    rng = np.random.default_rng(seed)
    rank = d if rank is None else rank
    mix = rng.standard_normal((rank, d)) * np.logspace(0, 3, d)
    return [{"frame": (rng.standard_normal((int(rng.integers(3, 9)), rank)) @ mix + 7).astype(np.float32)}
            for _ in range(n)]


def test_whitening_decorrelates_training_frames_onto_their_principal_components():
    videos = _correlated()
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), whiten=3)
    out = np.concatenate([norm(v, {})["frame"] for v in videos])
    assert out.shape[1] == 3
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(np.cov(out, rowvar=False, bias=True), np.eye(3), atol=1e-3)
    # The same subspace as an SVD of the standardised frames (components agree up to sign).
    raw = np.concatenate([v["frame"] for v in videos]).astype(np.float64)
    z = (raw - raw.mean(0)) / raw.std(0)
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    expected = z @ vt[:3].T / (s[:3] / np.sqrt(len(z)))
    np.testing.assert_allclose(np.abs(out), np.abs(expected), atol=2e-3)
    np.testing.assert_allclose(np.sign(out[0]) * np.sign(expected[0]) * out, expected, atol=2e-3)


@pytest.mark.parametrize("rows_per_video", [1, 7, 4095, 10**6])
def test_statistics_do_not_depend_on_how_rows_are_grouped_into_videos(rows_per_video):
    # 10,000 rows: several of fit's blocks (4,096 rows or more, each ending wherever a video ends), so the
    # blocks are merged, at other boundaries for each grouping; one video of them all is one block.
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((8, 8)) * np.logspace(0, 3, 8)
    frames = (rng.standard_normal((10_000, 8)) @ mix + 7 + 1e4).astype(np.float32)  # an offset, as raw features have
    videos = [{"frame": frames[i:i + rows_per_video]} for i in range(0, len(frames), rows_per_video)]
    whole = frames.astype(np.float64)
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), whiten=3)
    np.testing.assert_allclose(norm.mean["frame"], whole.mean(0), rtol=1e-7)  # stored as float32
    np.testing.assert_allclose(norm.std["frame"], whole.std(0), rtol=1e-6)
    z = (whole - whole.mean(0)) / whole.std(0)
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    expected = vt[:3].T / (s[:3] / np.sqrt(len(z)))
    np.testing.assert_allclose(np.abs(norm.projection["frame"]), np.abs(expected), rtol=1e-4, atol=1e-5)


def test_whitening_leaves_small_streams_and_applies_before_deltas():
    videos = _correlated(d=8)
    for v in videos:
        v["small"] = v["frame"][:, :2].copy()
        v["objects"] = np.stack([v["frame"], v["frame"][::-1]], axis=1)  # (T, 2, 8)
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), whiten=4, deltas=True)
    plain = FeatureNormalizer.fit(((v, {}) for v in videos), deltas=True)
    assert sorted(norm.projection) == ["frame", "objects"]
    assert norm.output_dims({"frame": 8, "small": 2, "objects": (2, 8)}) == {"frame": 8, "small": 4,
                                                                              "objects": (2, 4)}
    out = norm(videos[0], {})
    np.testing.assert_array_equal(out["small"], plain(videos[0], {})["small"])
    assert out["objects"].shape == (len(videos[0]["frame"]), 2, 4)
    np.testing.assert_allclose(out["frame"][1:, 4:], out["frame"][1:, :4] - out["frame"][:-1, :4], atol=1e-6)
    assert not out["frame"][0, 4:].any()


def test_whitening_zeroes_masked_regions():
    videos = _correlated()
    masks = [{"frame": np.arange(len(v["frame"])) % 2 == 0} for v in videos]
    norm = FeatureNormalizer.fit(zip(videos, masks), whiten=2)
    out = norm(videos[0], masks[0])["frame"]
    assert not out[1::2].any() and out[::2].any()


def test_whitening_more_directions_than_the_data_has_is_an_input_error():
    videos = _correlated(rank=3)
    with pytest.raises(InputError, match=r"'frame' has only 3 informative directions.*whiten <= 3"):
        FeatureNormalizer.fit(((v, {}) for v in videos), whiten=5)
    with pytest.raises(UsageError, match="whiten"):
        FeatureNormalizer.fit(((v, {}) for v in videos), whiten=-1)


def test_whitened_state_round_trips_and_version_1_states_still_load(tmp_path):
    videos = _correlated()
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), whiten=3, deltas=True)
    torch.save(norm.state_dict(), tmp_path / "n.pt")
    again = FeatureNormalizer.from_state_dict(torch.load(tmp_path / "n.pt", weights_only=True))
    np.testing.assert_array_equal(again(videos[1], {})["frame"], norm(videos[1], {})["frame"])
    old = {"format": "vidcap-normalizer/1", "deltas": False, "mean": {"frame": torch.zeros(2)},
           "std": {"frame": torch.ones(2)}}
    assert FeatureNormalizer.from_state_dict(old).projection == {}
    bad = {**norm.state_dict(), "projection": {"frame": torch.zeros(5, 3)}}
    with pytest.raises(InputError, match="projection must be"):
        FeatureNormalizer.from_state_dict(bad)


def test_whiten_streams_picks_the_streams_to_whiten():
    videos = _correlated(d=8)
    for v in videos:
        v["wide"] = np.concatenate([v["frame"], v["frame"] ** 2], axis=1)  # 16 values
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), whiten=4, whiten_streams=["wide"])
    assert sorted(norm.projection) == ["wide"]  # "frame" (8 > 4) is left as it is because it is not named
    assert norm.output_dims({"frame": 8, "wide": 16}) == {"frame": 8, "wide": 4}
    with pytest.raises(UsageError, match="'frame' has only 8 values"):
        FeatureNormalizer.fit(((v, {}) for v in videos), whiten=8, whiten_streams=["frame"])
    with pytest.raises(UsageError, match="whiten_streams names grid, not among the streams: frame, wide"):
        FeatureNormalizer.fit(((v, {}) for v in videos), whiten=4, whiten_streams=["grid"])
    with pytest.raises(UsageError, match="whiten is 0"):
        FeatureNormalizer.fit(((v, {}) for v in videos), whiten_streams=["wide"])


def test_delta_streams_limits_the_differences_to_the_streams_named():
    videos = _correlated(d=8)
    for v in videos:
        v["still"] = v["frame"][:, :3].copy()
    norm = FeatureNormalizer.fit(((v, {}) for v in videos), deltas=True, delta_streams=["frame"])
    assert norm.output_dims({"frame": 8, "still": 3}) == {"frame": 16, "still": 3}
    out = norm(videos[0], {})
    assert out["frame"].shape[1] == 16 and out["still"].shape[1] == 3
    again = FeatureNormalizer.from_state_dict(norm.state_dict())
    assert again.delta_streams == ("frame",) and again(videos[0], {})["still"].shape[1] == 3
    with pytest.raises(UsageError, match="delta_streams names grid, not among the streams"):
        FeatureNormalizer.fit(((v, {}) for v in videos), deltas=True, delta_streams=["grid"])
    with pytest.raises(UsageError, match="deltas is off"):
        FeatureNormalizer.fit(((v, {}) for v in videos), delta_streams=["frame"])
