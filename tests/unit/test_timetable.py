"""WeeklyTimetable: driven the way the scheduler drives it, checked with zoneinfo (not pendulum)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pendulum
import pytest
from airflow.exceptions import AirflowTimetableInvalid
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from retrain.config import ScheduleConfig
from retrain.timetable import WeeklyTimetable, data_week, week_interval_for

ZONES = ["Europe/Berlin", "America/New_York"]
HOUR = dt.timedelta(hours=1)


def local(tz: str, *args: int) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz=tz)


def as_local(value: dt.datetime, tz: str) -> dt.datetime:
    """Independent of pendulum: the stdlib's view of the instant in `tz`."""
    return value.astimezone(ZoneInfo(tz))


def assert_local_monday_midnight(value: dt.datetime, tz: str) -> None:
    loc = as_local(value, tz)
    assert (loc.weekday(), loc.hour, loc.minute, loc.second) == (0, 0, 0, 0), loc


def pin_now(monkeypatch, timetable: WeeklyTimetable, now: dt.datetime) -> None:
    monkeypatch.setattr(timetable, "_now", lambda: pendulum.instance(now).in_timezone("UTC"))


def schedule(
    timetable: WeeklyTimetable,
    *,
    earliest: dt.datetime | None,
    catchup: bool,
    now: dt.datetime,
    latest: dt.datetime | None = None,
    last: DagRunInfo | None = None,
) -> list[DagRunInfo]:
    """What the scheduler creates up to `now`: ask for the next run, create it once its run_after
    has passed, then ask again with that run as the reference (DagModel.calculate_dagrun_date_fields)."""
    restriction = TimeRestriction(
        earliest=pendulum.instance(earliest) if earliest else None,
        latest=pendulum.instance(latest) if latest else None,
        catchup=catchup,
    )
    created: list[DagRunInfo] = []
    while True:
        info = timetable.next_dagrun_info_v2(last_dagrun_info=last, restriction=restriction)
        if info is None or info.run_after > now:
            return created
        created.append(info)
        last = info
        assert len(created) < 1000, "runaway schedule"


# catchup: every ISO week, in order, local bounds ------------------------------------------------
@pytest.mark.parametrize("tz", ZONES)
def test_catchup_creates_every_iso_week_2024_to_2027(tz, monkeypatch):
    timetable = WeeklyTimetable(timezone=tz)
    pin_now(monkeypatch, timetable, local(tz, 2020, 1, 1))  # catchup must not look at the clock
    runs = schedule(
        timetable,
        earliest=local(tz, 2024, 1, 1),
        latest=local(tz, 2027, 12, 31, 23, 59),
        catchup=True,
        now=local(tz, 2099, 1, 1),
    )

    weeks = [as_local(r.data_interval.start, tz).isocalendar()[:2] for r in runs]
    expected = sorted(
        {(y, w) for y in range(2024, 2028) for w in range(1, dt.date(y, 12, 28).isocalendar()[1] + 1)}
    )
    assert weeks == expected  # one run per ISO week, in order, none missing
    assert len(runs) == 52 + 52 + 53 + 52

    hours: dict[int, int] = {}
    for prev, run in zip([None, *runs], runs, strict=False):
        start, end = run.data_interval
        assert_local_monday_midnight(start, tz)
        assert_local_monday_midnight(end, tz)
        assert (as_local(end, tz).date() - as_local(start, tz).date()).days == 7
        ra = as_local(run.run_after, tz)
        assert (ra.weekday(), ra.hour, ra.minute) == (0, 2, 0)
        assert ra.date() == as_local(end, tz).date()  # run_after = interval end + 2 h local
        assert run.logical_date == start  # logical date is the data interval start
        if prev is not None:
            assert start == prev.data_interval.end  # contiguous, no gap, no overlap
            assert run.run_after > prev.run_after
        span = round((end - start).total_seconds() / 3600)
        hours[span] = hours.get(span, 0) + 1
        # Independent DST check: 168 h minus the change of UTC offset over the week.
        shift = as_local(end, tz).utcoffset() - as_local(start, tz).utcoffset()
        assert span == 168 - round(shift.total_seconds() / 3600)
    assert hours == {167: 4, 168: len(runs) - 8, 169: 4}


@pytest.mark.parametrize(
    ("tz", "spring_monday", "autumn_monday"),
    [
        ("Europe/Berlin", (2024, 3, 25), (2024, 10, 21)),  # DST on Sun 31 Mar / Sun 27 Oct 2024
        ("America/New_York", (2024, 3, 4), (2024, 10, 28)),  # DST on Sun 10 Mar / Sun 3 Nov 2024
    ],
)
def test_dst_weeks_are_167_and_169_hours(tz, spring_monday, autumn_monday):
    timetable = WeeklyTimetable(timezone=tz)
    restriction = TimeRestriction(earliest=local(tz, *spring_monday), latest=None, catchup=True)
    spring = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert as_local(spring.data_interval.start, tz).date() == dt.date(*spring_monday)
    assert spring.data_interval.end - spring.data_interval.start == 167 * HOUR

    restriction = TimeRestriction(earliest=local(tz, *autumn_monday), latest=None, catchup=True)
    autumn = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert as_local(autumn.data_interval.start, tz).date() == dt.date(*autumn_monday)
    assert autumn.data_interval.end - autumn.data_interval.start == 169 * HOUR
    # Monday 02:00 local is still 02:00 local after the change, i.e. not UTC + 7 days.
    assert as_local(autumn.run_after, tz).hour == 2


def test_berlin_first_week_in_utc():
    timetable = WeeklyTimetable()
    restriction = TimeRestriction(earliest=local("Europe/Berlin", 2024, 1, 1), latest=None, catchup=True)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info.data_interval == DataInterval(
        pendulum.datetime(2023, 12, 31, 23, tz="UTC"), pendulum.datetime(2024, 1, 7, 23, tz="UTC")
    )
    assert info.run_after == pendulum.datetime(2024, 1, 8, 1, tz="UTC")  # Mon 02:00 CET


def test_start_date_inside_a_week_starts_at_the_next_full_week():
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable(timezone=tz)
    # Naive midnight UTC on Monday 1 Jan 2024 is 01:00 Berlin: that week is not complete after it.
    for earliest, first in [
        (local(tz, 2024, 1, 3, 12), dt.date(2024, 1, 8)),
        (pendulum.datetime(2024, 1, 1, tz="UTC"), dt.date(2024, 1, 8)),
        (local(tz, 2024, 1, 1), dt.date(2024, 1, 1)),
    ]:
        restriction = TimeRestriction(earliest=earliest, latest=None, catchup=True)
        info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        assert as_local(info.data_interval.start, tz).date() == first


def test_end_date_stops_the_schedule():
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable(timezone=tz)
    runs = schedule(
        timetable,
        earliest=local(tz, 2024, 1, 1),
        latest=local(tz, 2024, 1, 29),
        catchup=True,
        now=local(tz, 2030, 1, 1),
    )
    assert [as_local(r.data_interval.start, tz).day for r in runs] == [1, 8, 15, 22, 29]


# no catchup: only the latest ---------------------------------------------------------------------
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(
    ("now_args", "expected_start"),
    [
        ((2025, 6, 11, 10, 0), dt.date(2025, 6, 2)),  # Wednesday: last week ran on Monday
        ((2025, 6, 9, 1, 59), dt.date(2025, 5, 26)),  # Monday before 02:00: last week not due yet
        ((2025, 6, 9, 2, 0), dt.date(2025, 6, 2)),  # Monday exactly 02:00: it is due
    ],
)
def test_no_catchup_creates_only_the_latest(tz, now_args, expected_start, monkeypatch):
    timetable = WeeklyTimetable(timezone=tz)
    now = local(tz, *now_args)
    pin_now(monkeypatch, timetable, now)
    runs = schedule(timetable, earliest=local(tz, 2024, 1, 1), catchup=False, now=now)
    assert len(runs) == 1
    (run,) = runs
    assert as_local(run.data_interval.start, tz).date() == expected_start
    assert run.data_interval.end - run.data_interval.start in (167 * HOUR, 168 * HOUR, 169 * HOUR)
    assert run.run_after <= now

    # The next one the scheduler is told about is the following week, at its own Monday 02:00.
    restriction = TimeRestriction(earliest=local(tz, 2024, 1, 1), latest=None, catchup=False)
    nxt = timetable.next_dagrun_info_v2(last_dagrun_info=run, restriction=restriction)
    assert nxt.data_interval.start == run.data_interval.end
    assert nxt.run_after > now


def test_no_catchup_after_a_pause_skips_the_missed_weeks(monkeypatch):
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable(timezone=tz)
    now = local(tz, 2025, 6, 11, 10)
    pin_now(monkeypatch, timetable, now)
    old = timetable.infer_manual_data_interval(run_after=local(tz, 2025, 1, 8))  # last run in January
    last = DagRunInfo.interval(old.start, old.end)
    runs = schedule(timetable, earliest=local(tz, 2024, 1, 1), catchup=False, now=now, last=last)
    assert [as_local(r.data_interval.start, tz).date() for r in runs] == [dt.date(2025, 6, 2)]


def test_catchup_after_a_pause_fills_every_missed_week(monkeypatch):
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable(timezone=tz)
    now = local(tz, 2025, 3, 5, 10)
    pin_now(monkeypatch, timetable, now)
    old = timetable.infer_manual_data_interval(run_after=local(tz, 2025, 1, 8))
    last = DagRunInfo.interval(old.start, old.end)
    runs = schedule(timetable, earliest=local(tz, 2024, 1, 1), catchup=True, now=now, last=last)
    assert [as_local(r.data_interval.start, tz).date() for r in runs] == [
        dt.date(2025, 1, 6) + dt.timedelta(weeks=i) for i in range(8)
    ]


def test_no_start_date_behaves_like_no_catchup(monkeypatch):
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable(timezone=tz)
    now = local(tz, 2025, 6, 11, 10)
    pin_now(monkeypatch, timetable, now)
    for catchup in (True, False):
        runs = schedule(timetable, earliest=None, catchup=catchup, now=now)
        assert [as_local(r.data_interval.start, tz).date() for r in runs] == [dt.date(2025, 6, 2)]


def test_future_start_date_waits_for_its_first_week(monkeypatch):
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable(timezone=tz)
    pin_now(monkeypatch, timetable, local(tz, 2025, 6, 11, 10))
    restriction = TimeRestriction(earliest=local(tz, 2025, 9, 1), latest=None, catchup=False)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert as_local(info.data_interval.start, tz).date() == dt.date(2025, 9, 1)


def test_foreign_previous_interval_is_realigned_and_never_repeats_a_logical_date():
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable(timezone=tz)
    restriction = TimeRestriction(earliest=local(tz, 2024, 1, 1), latest=None, catchup=True)
    # e.g. left over from a daily schedule: Wednesday -> Thursday
    last = DataInterval(local(tz, 2024, 1, 10), local(tz, 2024, 1, 11))
    info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
    assert as_local(info.data_interval.start, tz).date() == dt.date(2024, 1, 15)
    # a zero-length interval exactly on a Monday midnight must still advance
    last = DataInterval.exact(local(tz, 2024, 1, 15))
    info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
    assert as_local(info.data_interval.start, tz).date() == dt.date(2024, 1, 22)


# manual runs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(
    ("run_after_args", "expected_start"),
    [
        ((2024, 1, 8, 1, 0), dt.date(2024, 1, 1)),  # Monday 01:00, before the scheduled run
        ((2024, 1, 8, 0, 0), dt.date(2024, 1, 1)),  # exactly Monday 00:00: that week just completed
        ((2024, 1, 10, 15, 30), dt.date(2024, 1, 1)),  # Wednesday
        ((2024, 1, 7, 23, 59), dt.date(2023, 12, 25)),  # Sunday night: current week incomplete
        ((2024, 4, 3, 12, 0), dt.date(2024, 3, 25)),  # spans the Berlin spring DST change
    ],
)
def test_manual_run_gets_last_complete_week(tz, run_after_args, expected_start):
    timetable = WeeklyTimetable(timezone=tz)
    run_after = local(tz, *run_after_args)
    interval = timetable.infer_manual_data_interval(run_after=run_after)
    assert as_local(interval.start, tz).date() == expected_start
    assert_local_monday_midnight(interval.start, tz)
    assert_local_monday_midnight(interval.end, tz)
    assert (as_local(interval.end, tz).date() - expected_start).days == 7
    assert interval.end <= run_after
    assert interval.end - interval.start >= 167 * HOUR  # never zero-length
    # the pure helper gives the same week, for tasks whose DagRun has no data interval
    assert week_interval_for(run_after, tz) == (interval.start, interval.end)
    assert week_interval_for(pendulum.instance(run_after).in_timezone("UTC"), tz) == tuple(interval)


def test_manual_interval_in_utc_from_a_utc_run_after():
    timetable = WeeklyTimetable()
    # Sunday 2024-03-24 23:30 UTC is already Monday 00:30 in Berlin: the week of 18 Mar is complete.
    interval = timetable.infer_manual_data_interval(
        run_after=pendulum.datetime(2024, 3, 24, 23, 30, tz="UTC")
    )
    assert interval == DataInterval(
        pendulum.datetime(2024, 3, 17, 23, tz="UTC"), pendulum.datetime(2024, 3, 24, 23, tz="UTC")
    )


def test_week_interval_for_dates_and_naive_values():
    start, end = week_interval_for(dt.date(2024, 1, 10), "Europe/Berlin")
    assert (start.date(), end.date()) == (dt.date(2024, 1, 1), dt.date(2024, 1, 8))
    assert start.timezone_name == "Europe/Berlin"
    assert week_interval_for(dt.date(2024, 1, 8), "Europe/Berlin")[0].date() == dt.date(2024, 1, 1)
    with pytest.raises(ValueError, match="naive"):
        week_interval_for(dt.datetime(2024, 1, 10), "Europe/Berlin")


def test_data_week_names_the_local_monday_not_the_utc_sunday():
    start = pendulum.datetime(2024, 3, 31, 22, tz="UTC")  # Monday 1 Apr 00:00 CEST
    assert start.date() == dt.date(2024, 3, 31)  # what a naive .date() would give
    assert data_week(start, "Europe/Berlin") == dt.date(2024, 4, 1)
    assert data_week(dt.date(2024, 4, 3)) == dt.date(2024, 4, 1)


# configuration --------------------------------------------------------------------------------------
def test_weekday_and_time_from_config_are_honoured():
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable.from_schedule(
        ScheduleConfig(weekday="tuesday", hour=6, minute=30, timezone=tz, catchup=True)
    )
    assert timetable.summary == "Weekly on Tuesday at 06:30 Europe/Berlin (data: previous week)"
    runs = schedule(
        timetable,
        earliest=local(tz, 2024, 3, 18),
        latest=local(tz, 2024, 4, 30),
        catchup=True,
        now=local(tz, 2030, 1, 1),
    )
    assert len(runs) == 7
    for run in runs:
        assert_local_monday_midnight(run.data_interval.start, tz)
        assert_local_monday_midnight(run.data_interval.end, tz)
        ra = as_local(run.run_after, tz)
        assert (ra.weekday(), ra.hour, ra.minute) == (1, 6, 30)
        assert ra.date() == as_local(run.data_interval.end, tz).date() + dt.timedelta(days=1)


def test_no_catchup_with_a_tuesday_run(monkeypatch):
    tz = "Europe/Berlin"
    timetable = WeeklyTimetable("tuesday", 6, 30, tz)
    now = local(tz, 2025, 6, 9, 10)  # Monday: last week's run is only due tomorrow 06:30
    pin_now(monkeypatch, timetable, now)
    runs = schedule(timetable, earliest=local(tz, 2024, 1, 1), catchup=False, now=now)
    assert [as_local(r.data_interval.start, tz).date() for r in runs] == [dt.date(2025, 5, 26)]


def test_defaults_match_schedule_config():
    assert WeeklyTimetable() == WeeklyTimetable.from_schedule(ScheduleConfig())
    assert WeeklyTimetable().description == "Weekly on Monday at 02:00 Europe/Berlin (data: previous week)"
    assert WeeklyTimetable(weekday=1) == WeeklyTimetable(weekday="Tuesday")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weekday": "funday"},
        {"weekday": 7},
        {"hour": 24},
        {"minute": -1},
        {"hour": "2"},
        {"timezone": "Mars/Olympus_Mons"},
    ],
)
def test_invalid_configuration_is_rejected(kwargs):
    with pytest.raises(AirflowTimetableInvalid):
        WeeklyTimetable(**kwargs)


@pytest.mark.parametrize(
    "timetable",
    [
        WeeklyTimetable(),
        WeeklyTimetable("sunday", 23, 45, "America/New_York"),
        WeeklyTimetable(timezone=pendulum.timezone(3600)),
    ],
)
def test_serialize_round_trip(timetable):
    data = timetable.serialize()
    clone = WeeklyTimetable.deserialize(json.loads(json.dumps(data)))
    assert clone == timetable
    assert clone.summary == timetable.summary
    restriction = TimeRestriction(earliest=pendulum.datetime(2024, 1, 1, tz="UTC"), latest=None, catchup=True)
    assert clone.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction
    ) == timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)


def test_type_name_is_the_import_path_used_for_registration():
    assert WeeklyTimetable().type_name == "retrain.timetable.WeeklyTimetable"
