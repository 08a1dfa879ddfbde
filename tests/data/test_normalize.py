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
