"""The synthetic Rossmann data must look like the real data where the pipeline and the model rely on it:
the store table's columns, dtypes and NaN pattern, the full-size row count, and the sales structure
(weekdays, promotions, holidays, closed days, Christmas, competition), deterministically."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from retrain.config import expectations_dir, load_model_config
from retrain.core.frames import from_bytes
from retrain.validation import run_suite
from retrain_dev.datagen import rossmann as R

REAL_STORE_TABLE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "rossmann_store.csv"
MONDAY = dt.date(2015, 6, 1)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return R.generate_store_table()


@pytest.fixture(scope="module")
def year_2014(table) -> pd.DataFrame:
    return R.generate_days(dt.date(2014, 1, 1), dt.date(2014, 12, 31), table)


def real_table() -> pd.DataFrame:
    if not REAL_STORE_TABLE.is_file():
        pytest.skip(f"the real store table is not at {REAL_STORE_TABLE}")
    return pd.read_csv(REAL_STORE_TABLE)


# ---------------------------------------------------------------------------- store table
def test_store_table_has_the_real_tables_columns_and_nan_pattern(table):
    assert list(table.columns) == list(R.STORE_COLUMNS)
    assert len(table) == R.N_STORES and table["Store"].tolist() == list(range(1, R.N_STORES + 1))
    assert table["CompetitionDistance"].isna().sum() == 3
    off = table["Promo2"] == 0
    for col in ("Promo2SinceWeek", "Promo2SinceYear", "PromoInterval"):
        assert table.loc[off, col].isna().all() and table.loc[~off, col].notna().all(), col
    assert table["CompetitionOpenSinceMonth"].isna().equals(table["CompetitionOpenSinceYear"].isna())
    assert 0.25 < table["CompetitionOpenSinceYear"].isna().mean() < 0.40  # real: 354 of 1,115
    assert set(table["PromoInterval"].dropna()) == set(R.PROMO_INTERVALS)
    shares = table["StoreType"].value_counts(normalize=True)
    assert shares["a"] > shares["d"] > shares["c"] > shares["b"]  # real: 602 / 348 / 148 / 17


def test_store_table_dtypes_match_the_real_table_read_from_csv(table):
    real = real_table()
    assert list(real.columns) == list(table.columns)
    assert real.dtypes.to_dict() == table.dtypes.to_dict()
    # and survives the landing round trip as CSV unchanged
    from retrain.core.frames import to_bytes

    assert from_bytes(to_bytes(table, "csv"), "csv").dtypes.to_dict() == real.dtypes.to_dict()


def test_synthetic_and_real_store_tables_pass_the_store_table_suite(table):
    suite = expectations_dir() / load_model_config("rossmann").data.extra["store_table_suite"]
    assert run_suite(table, suite).passed
    report = run_suite(real_table(), suite)
    assert report.passed and report.failed == 0, report.format_text()


def test_a_small_store_table_is_a_prefix_of_the_full_one(table):
    assert R.generate_store_table(40).equals(table.head(40))
    with pytest.raises(ValueError):
        R.generate_store_table(0)


# ---------------------------------------------------------------------------- sales rows
def test_full_size_range_has_about_1017000_rows_like_the_real_data():
    frame = R.generate_days(R.FULL_START, R.FULL_END)
    days = (R.FULL_END - R.FULL_START).days + 1
    refurbished_days = (R.REFURBISHMENT[1] - R.REFURBISHMENT[0]).days + 1
    assert len(frame) == R.N_STORES * days - 180 * refurbished_days == 1_017_210
    assert list(frame.columns) == list(R.SALES_COLUMNS)
    assert frame["Date"].min() == "2013-01-01" and frame["Date"].max() == "2015-07-31"
    assert not frame.duplicated(["Store", "Date"]).any()


def test_generation_is_deterministic_and_a_week_equals_the_same_week_of_a_range(table):
    week = R.generate_week(MONDAY, stores=table.head(30))
    assert week.equals(R.generate_week(MONDAY, stores=table.head(30)))
    assert not week.equals(R.generate_week(MONDAY, stores=table.head(30), seed=7))
    cut = R.generate_days(MONDAY - dt.timedelta(days=3), MONDAY + dt.timedelta(days=9), table.head(30))
    cut = cut[(cut["Date"] >= MONDAY.isoformat()) & (cut["Date"] <= (MONDAY + dt.timedelta(days=6)).isoformat())]
    assert week.equals(cut.reset_index(drop=True))
    assert len(week) == 30 * 7 and week["Date"].nunique() == 7


def test_batch_dtypes_are_those_of_the_sales_extract(table):
    week = R.generate_week(MONDAY, stores=table.head(5))
    for col in ("Store", "DayOfWeek", "Sales", "Customers", "Open", "Promo", "SchoolHoliday"):
        assert week[col].dtype == np.int64, col
    assert week["DayOfWeek"].tolist() == [d.isoweekday() for d in pd.to_datetime(week["Date"])]
    assert set(week["StateHoliday"]) <= {"0", "a", "b", "c"}


def test_sales_structure_closed_days_weekdays_promo_and_season(year_2014):
    df = year_2014
    closed = df[df["Open"] == 0]
    assert (closed["Sales"] == 0).all() and (closed["Customers"] == 0).all()
    open_ = df[df["Open"] == 1]
    assert (open_["Sales"] > 0).all()
    assert 0.78 < df["Open"].mean() < 0.88  # real: 0.83
    sunday = df[df["DayOfWeek"] == 7]
    assert sunday["Open"].mean() < 0.06  # a few stores open on Sundays
    by_day = open_.groupby("DayOfWeek")["Sales"].mean()
    assert by_day[1] == by_day.max() and by_day[6] < by_day[3]
    lift = open_.groupby("Promo")["Sales"].mean()
    assert 1.2 < lift[1] / lift[0] < 1.6  # real: ~1.39
    month = open_.groupby(open_["Date"].str[5:7])["Sales"].mean()
    assert month["12"] == month.max() and month["01"] < month["06"]
    december = open_[open_["Date"].str[5:7] == "12"]
    run_up = december[december["Date"].str[8:10].astype(int).between(14, 23)]["Sales"].mean()
    assert run_up > 1.2 * december[december["Date"].str[8:10].astype(int) < 14]["Sales"].mean()
    assert 6000 < open_["Sales"].mean() < 8500  # real: 6,955
    assert open_["Sales"].max() < R.MAX_PLAUSIBLE_SALES


def test_holidays_close_stores_and_vary_by_state(year_2014):
    df = year_2014
    holiday = df[df["StateHoliday"] != "0"]
    assert set(holiday["StateHoliday"]) == {"a", "b", "c"}
    assert holiday["Open"].mean() < 0.1
    christmas = df[df["Date"] == "2014-12-25"]
    assert (christmas["StateHoliday"] == "c").all()
    corpus_christi = df[df["Date"] == (R.easter(2014) + dt.timedelta(days=60)).isoformat()]
    assert 0 < (corpus_christi["StateHoliday"] == "a").mean() < 1, "a regional holiday"
    assert 0.1 < df["SchoolHoliday"].mean() < 0.35  # real: 0.18
    assert R.easter(2015) == dt.date(2015, 4, 5) and R.easter(2014) == dt.date(2014, 4, 20)


def test_store_type_b_sells_most_and_refurbished_stores_have_no_rows(table, year_2014):
    df = year_2014.merge(table[["Store", "StoreType"]], on="Store")
    by_type = df[df["Open"] == 1].groupby("StoreType")["Sales"].mean()
    assert by_type.idxmax() == "b"
    july = df[df["Date"] == "2014-07-15"]
    assert R.N_STORES - july["Store"].nunique() == 180


def test_a_nearby_competitor_lowers_sales(table):
    stores = table.head(50).copy()
    stores["CompetitionOpenSinceYear"] = np.nan
    stores["CompetitionOpenSinceMonth"] = np.nan
    far = stores.assign(CompetitionDistance=np.nan)
    near = stores.assign(CompetitionDistance=100.0)
    s_far = R.generate_week(MONDAY, stores=far)["Sales"]
    s_near = R.generate_week(MONDAY, stores=near)["Sales"]
    assert s_near.sum() < 0.93 * s_far.sum()


# ---------------------------------------------------------------------------- scenarios
def test_dataops_scenario_injects_the_seed_problems(table):
    specs = R.scenario("dataops", 6)
    assert [bool(s.outliers) for s in specs] == [False, False, True, False, False, False]
    outliers = R.generate_week(MONDAY, specs[2], stores=table.head(40))
    assert sorted(outliers["Sales"].nlargest(3).tolist()) == [1_100_000, 1_250_000, 1_500_000]
    text = R.generate_week(MONDAY, specs[3], stores=table.head(40))
    assert not pd.api.types.is_numeric_dtype(text["Sales"])
    assert text["Sales"].str.fullmatch(r"\d{1,3}(\.\d{3})*,\d{2}").all()
    assert "Store" not in R.generate_week(MONDAY, specs[4], stores=table.head(40)).columns
    assert R.german_number_text(pd.Series([5263, 0, 1250000])).tolist() == ["5.263,00", "0,00", "1.250.000,00"]


def test_named_week_scenarios_and_errors():
    specs = R.scenario("missing_store_week_2", 3)
    assert [s.drop_columns for s in specs] == [(), ("Store",), ()]
    assert R.scenario("sales_as_text_week_1", 1)[0].sales_as_text
    with pytest.raises(ValueError, match="unknown scenario"):
        R.scenario("nope", 3)
    with pytest.raises(ValueError):
        R.WeekSpec(drop_columns=("NotAColumn",))
    with pytest.raises(ValueError, match="Monday"):
        R.generate_week(dt.date(2015, 6, 2))


class DictStore:
    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key, data, **kwargs):
        self.objects[key] = data


def test_land_weeks_lands_batch_and_store_table_per_week_with_enough_history(monkeypatch):
    monkeypatch.delenv("RETRAIN_PREFIX", raising=False)
    cfg = load_model_config("rossmann")
    store = DictStore()
    written = R.land_weeks(store, cfg, start=MONDAY, weeks=2, scenario="stable", stores=12, history_weeks=1)
    history = R.required_history_weeks(cfg)
    assert history == cfg.data.window_weeks - 1 + cfg.data.extra["history_weeks"]
    assert len(written) == history + 2 and [w["scenario_week"] for w in written][-2:] == [1, 2]
    assert written[0]["week"] == (MONDAY - dt.timedelta(weeks=history)).isoformat()
    key = f"landing/rossmann/week={MONDAY.isoformat()}"
    batch = from_bytes(store.objects[f"{key}/batch.csv"], "csv")
    stores = from_bytes(store.objects[f"{key}/stores.csv"], "csv")
    assert len(batch) == 12 * 7 and list(batch.columns) == list(R.SALES_COLUMNS)
    pd.testing.assert_frame_equal(stores, R.generate_store_table(12))
    with pytest.raises(ValueError, match="Monday"):
        R.land_weeks(store, cfg, start=MONDAY + dt.timedelta(days=1), weeks=1)
