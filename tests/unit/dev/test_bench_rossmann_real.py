"""The real walk-forward builds each week's rows only from the weeks landed by then (bookkeeping; no figure)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from retrain.families import sales as S
from retrain.importers import rossmann as imp
from retrain_dev.bench_rossmann_real import model_rows_up_to

if not imp.REFERENCE_SALES.is_file() or not imp.REFERENCE_STORES.is_file():
    pytest.skip(f"the real Rossmann reference data is not in {imp.REFERENCE_DIR}", allow_module_level=True)

SUNDAY_STORES = [85, 262]  # open on Sundays in the real data: their Sunday is a model row
LAST_WEEK = dt.date(2015, 5, 4)


def test_the_last_weeks_rows_see_no_later_week():
    raw = pd.read_parquet(imp.REFERENCE_SALES, filters=[
        ("Store", "in", SUNDAY_STORES), ("Date", ">=", pd.Timestamp("2015-03-02")),
        ("Date", "<=", pd.Timestamp("2015-05-31"))])
    processed = S.process(imp.plan_import(raw).weeks, imp.read_table(imp.REFERENCE_STORES)).require_typed()
    cut = model_rows_up_to(processed, LAST_WEEK, 7)
    assert cut["Date"].max() == pd.Timestamp(LAST_WEEK + dt.timedelta(days=6))
    sunday = pd.Timestamp(LAST_WEEK + dt.timedelta(days=6))
    featured = S.engineer_features(processed, 7)
    everything = featured[(featured["Open"] == 1) & (featured["Sales"] > 0)]
    assert everything.loc[everything["Date"] == sunday, "closed_tomorrow"].notna().all()  # reads Monday
    cut_sunday = cut[cut["Date"] == sunday]
    assert len(cut_sunday) == len(SUNDAY_STORES) and cut_sunday["closed_tomorrow"].isna().all()
    # history features (backward-looking) are the same either way
    key = ["Store", "Date"]
    both = cut.merge(everything, on=key, suffixes=("", "_all"))
    assert np.allclose(both["sales_roll_mean_28"], both["sales_roll_mean_28_all"], equal_nan=True)
