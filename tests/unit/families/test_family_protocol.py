"""Every registered family implements the Family protocol the pipeline relies on."""

from __future__ import annotations

import pytest
from retrain.families import get_family, known_families
from retrain.families.base import Family


@pytest.mark.parametrize("name", known_families())
def test_each_family_implements_the_protocol(name):
    family = get_family(name)
    assert isinstance(family, Family)
    assert family.task in ("binary", "regression")


def test_an_incomplete_family_is_not_a_family():
    class NoScore:
        task = "binary"

        def feature_columns(self, cfg):
            return []

    assert not isinstance(NoScore(), Family)
