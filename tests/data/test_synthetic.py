"""vidcap/demo/synthetic.py: real video files, MSR-VTT-schema annotations, determinism, attribute scoring."""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from vidcap.data.annotations import Annotations
from vidcap.demo.synthetic import (COLOURS, MOTIONS, SHAPES, SyntheticDataset, attribute_accuracy,
                                   caption_attributes, generate, load_attributes, render)
from vidcap.errors import InputError, UsageError
from vidcap.video import probe


def test_generated_clips_are_real_videos_with_matching_annotations(tmp_path):
    ds = generate(tmp_path / "synth", n_videos=10, seed=2, captions_per_video=3)
    ann = Annotations.load(ds.annotations)
    assert sorted(ann.videos) == sorted(ds.attributes) and len(ds.attributes) == 10
    assert collections.Counter(a["split"] for a in ds.attributes.values()) == {"train": 7, "validate": 1,
                                                                                "test": 2}
    assert load_attributes(ds.attributes_file) == ds.attributes
    assert SyntheticDataset.open(tmp_path / "synth") == ds
    for vid, attrs in ds.attributes.items():
        info = probe(ds.video_dir / attrs["file"])
        assert (info.width, info.height) == (attrs["width"], attrs["height"])
        assert info.frame_count == attrs["frames"] and info.fps == pytest.approx(attrs["fps"], rel=0.01)
        captions = ann.captions[vid]
        assert len(set(captions)) == 3  # distinct paraphrases, each naming exactly the clip's attributes
        for caption in captions:
            assert caption_attributes(caption) == {a: {attrs[a]} for a in ("colour", "shape", "motion")}


def test_every_combination_appears_before_any_repeats(tmp_path):
    n = len(COLOURS) * len(SHAPES) * len(MOTIONS)
    ds = generate(tmp_path / "synth", n_videos=n + 3, seed=0, captions_per_video=1)
    combos = [(a["colour"], a["shape"], a["motion"]) for _, a in sorted(ds.attributes.items())]
    assert len(set(combos[:n])) == n


def test_same_seed_same_files_whatever_the_number_of_worker_processes(tmp_path):
    one = generate(tmp_path / "one", n_videos=9, seed=5, captions_per_video=2)
    two = generate(tmp_path / "two", n_videos=9, seed=5, captions_per_video=2, workers=2)
    other = generate(tmp_path / "other", n_videos=9, seed=6, captions_per_video=2)
    assert one.annotations.read_text() == two.annotations.read_text()
    assert one.attributes == two.attributes
    for attrs in one.attributes.values():
        assert (one.video_dir / attrs["file"]).read_bytes() == (two.video_dir / attrs["file"]).read_bytes()
    assert one.annotations.read_text() != other.annotations.read_text()


def test_render_draws_the_shape_moving_the_right_way():
    frames = render(np.random.default_rng(0), "red", "square", "right", 160, 120, 12)
    assert frames.shape == (12, 120, 160, 3) and frames.dtype == np.uint8
    # The red object's centre (pixels far redder than green and blue) moves right, not up or down.
    centres = []
    for frame in frames.astype(int):
        ys, xs = np.nonzero((frame[..., 0] > 150) & (frame[..., 1] < 90) & (frame[..., 2] < 90))
        centres.append((xs.mean(), ys.mean()))
    (x0, y0), (x1, y1) = centres[0], centres[-1]
    assert x1 - x0 > 40 and abs(y1 - y0) < 3


def test_every_frame_has_fresh_gaussian_sensor_noise_of_six_grey_levels():
    frames = render(np.random.default_rng(1), "blue", "circle", "up", 160, 120, 6).astype(float)
    for a, b in zip(frames, frames[1:]):
        diff = (b - a).ravel()  # the background is the same in every frame: what differs is the noise
        # robust standard deviation (the moving shape's pixels are outliers): 1.4826 x median |diff|;
        # the difference of two draws of sigma 6, each rounded to whole grey levels: sqrt(2 (36 + 1/12))
        sigma = 1.4826 * np.median(np.abs(diff - np.median(diff)))
        assert 8.0 < sigma < 9.0, sigma
        assert abs(np.median(diff)) <= 1  # no drift between frames


@pytest.mark.parametrize("kwargs, named", [({"n_videos": 2}, "n_videos=2"),
                                           ({"fractions": (0.5, 0.5, 0.5)}, "fractions="),
                                           ({"captions_per_video": 0}, "captions_per_video=0"),
                                           ({"captions_per_video": 13}, "captions_per_video=13"),
                                           ({"workers": -1}, "workers=-1")])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, named):
    with pytest.raises(UsageError, match=named):
        generate(tmp_path / "synth", **{"n_videos": 6, **kwargs})
    assert not (tmp_path / "synth").exists()


def test_attribute_accuracy_needs_exactly_the_true_value():
    truth = {"a": {"colour": "red", "shape": "circle", "motion": "left"},
             "b": {"colour": "blue", "shape": "triangle", "motion": "up"}}
    results = [{"video_id": "a", "caption": "the red disc slides to the left"},  # synonyms count
               {"video_id": "b", "caption": "a blue square triangle rises"}]     # two shapes: wrong
    assert attribute_accuracy(results, truth) == {"all": 0.5, "colour": 1.0, "shape": 0.5, "motion": 1.0, "n": 2}
    with pytest.raises(InputError, match="'c'"):
        attribute_accuracy([{"video_id": "c", "caption": "a red ball"}], truth)


def test_attributes_file_that_is_not_ours_is_refused(tmp_path):
    path = tmp_path / "attributes.json"
    path.write_text(json.dumps({"x": {"colour": "red"}}))
    with pytest.raises(InputError, match="attributes.json"):
        load_attributes(path)


def test_open_refuses_a_folder_generate_did_not_finish(tmp_path):
    ds = generate(tmp_path / "synth", n_videos=3, seed=0, captions_per_video=1)
    ds.annotations.unlink()
    with pytest.raises(InputError, match="annotations.json: missing"):
        SyntheticDataset.open(tmp_path / "synth")
