"""The forecast horizon as config, time-ordered CV with a gap >= horizon, and the schedule's range."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from retrain.config import load_model_config, parse_model_config
from retrain.core.schedule_range import OutsideSchedule, require_scheduled_week
from retrain.errors import ConfigError
from retrain.families import get_family
from retrain.families import sales as S

CFG = load_model_config("rossmann")
RAW = yaml.safe_load(Path(CFG.source_path).read_text())


def with_data(**data):
    """The shipped rossmann config with `data` keys changed, through the real config loader."""
    raw = copy.deepcopy(RAW)
    raw["data"].update(data)
    return parse_model_config(raw, Path(CFG.source_path))


def test_the_shipped_horizon_is_a_week_and_no_configured_lag_is_newer():
    assert S.forecast_horizon(CFG) == 7
    assert all((S.lag_of(f) or 7) >= 7 for f in CFG.data.features)


@pytest.mark.parametrize("value", [0, 29, "7", 2.5, True])
def test_a_horizon_outside_1_to_28_days_is_a_config_error(value):
    with pytest.raises(ConfigError, match="forecast_horizon_days"):
        S.forecast_horizon(with_data(forecast_horizon_days=value))


def test_a_lag_newer_than_the_horizon_is_a_config_error():
    numeric = [*RAW["data"]["numeric_features"], "sales_lag_1"]
    with pytest.raises(ConfigError, match=r"\['sales_lag_1'\] read sales less than forecast_horizon_days=7"):
        S.forecast_horizon(with_data(numeric_features=numeric))
    assert S.forecast_horizon(with_data(numeric_features=numeric, forecast_horizon_days=1)) == 1


def test_cv_folds_are_time_ordered_with_a_gap_of_at_least_the_horizon():
    family = get_family("sales_forecast")
    weeks = [(dt.date(2015, 1, 5) + dt.timedelta(weeks=i)).isoformat() for i in range(8)]
    frame = pd.DataFrame({"_week": np.repeat(weeks, 3)})
    folds = family.cv_splits(frame, np.zeros(len(frame)), CFG)
    assert len(folds) == CFG.training.cv_folds
    for train_idx, val_idx in folds:
        val_week = dt.date.fromisoformat(frame["_week"].iloc[val_idx].unique().item())
        newest_train = dt.date.fromisoformat(frame["_week"].iloc[train_idx].max())
        # the newest training label (a Sunday) is >= 7 days before the first validated day
        assert (val_week - (newest_train + dt.timedelta(days=6))).days >= 7 + 1
    day_ahead = family.cv_splits(frame, np.zeros(len(frame)), with_data(forecast_horizon_days=1))
    assert frame["_week"].iloc[day_ahead[-1][0]].max() == weeks[-2], "horizon 1: the week right before"
    assert "time-ordered CV" in family.cv_scheme(CFG) and "1 week(s) left out" in family.cv_scheme(CFG)


def test_a_week_before_the_schedule_fails_loudly():
    require_scheduled_week(CFG, dt.date(2012, 12, 31))  # the week of the data's first day
    with pytest.raises(OutsideSchedule, match="before the first week of the rossmann schedule"):
        require_scheduled_week(CFG, dt.date(2012, 12, 24))
