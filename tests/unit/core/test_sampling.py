"""The race's stratified samples: exact size, each class in its share, reproducible, no row twice."""

from __future__ import annotations

import numpy as np
import pytest
from retrain.core.sampling import stratified_positions


def labels(n: int = 50_000, rate: float = 0.02, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < rate).astype(np.int64)


@pytest.mark.parametrize("size", [1, 7, 3_205, 28_846, 49_999, 50_000])
def test_the_sample_has_the_size_asked_for_and_each_class_its_share(size):
    y = labels()
    idx = stratified_positions(y, size, seed=42)
    assert len(idx) == size and len(np.unique(idx)) == size
    assert (np.diff(idx) > 0).all() and idx[0] >= 0 and idx[-1] < len(y)
    for label in (0, 1):
        share = (y == label).sum() * size / len(y)
        assert abs((y[idx] == label).sum() - share) < 1, (label, share)


def test_the_same_labels_and_seed_give_the_same_rows_and_another_seed_others():
    y = labels()
    a, b = stratified_positions(y, 3_000, seed=1), stratified_positions(y, 3_000, seed=1)
    assert (a == b).all()
    assert not np.array_equal(a, stratified_positions(y, 3_000, seed=2))


def test_rows_are_drawn_across_the_whole_frame():
    y = labels(100_000)
    idx = stratified_positions(y, 10_000, seed=3)
    # a uniform draw within each class: every tenth of the frame holds about a tenth of the sample
    per_tenth = np.bincount(idx // 10_000, minlength=10)
    assert per_tenth.min() > 850 and per_tenth.max() < 1_150, per_tenth


def test_more_than_two_classes_and_string_labels():
    y = np.array(["a"] * 600 + ["b"] * 300 + ["c"] * 100)
    idx = stratified_positions(y, 100, seed=0)
    assert [int((y[idx] == c).sum()) for c in "abc"] == [60, 30, 10]


@pytest.mark.parametrize("size", [0, 1_001])
def test_a_sample_larger_than_the_rows_or_empty_is_refused(size):
    with pytest.raises(ValueError, match="a sample of"):
        stratified_positions(np.zeros(1_000, dtype=int), size, seed=0)
