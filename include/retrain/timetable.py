"""The weekly retraining schedule: one run per ISO week, over the previous local week.

    data interval   Monday 00:00 local  ->  next Monday 00:00 local   (168 h; 167/169 h across DST)
    run_after       the following <weekday> at <hour>:<minute> local  (default Monday 02:00)
    logical_date    == data_interval.start  (the local Monday 00:00 the data week begins)

Why logical_date is the interval *start*: Airflow 3.3 derives it, not the timetable -
``DagRunInfo.logical_date`` is hard-wired to ``data_interval.start`` and the scheduler stores
``DagModel.next_dagrun = info.logical_date``. Using the start also gives every data week exactly
one, stable logical date (the unique key of a scheduled run), the same convention as Airflow's
own data-interval timetables, so backfills (``iter_dagrun_infos_between`` filters on
logical_date) select weeks by the week they cover. Note that *manual* runs get whatever logical
date the trigger supplies (or none at all): tasks must read ``data_interval_start`` (or fall back
to :func:`week_interval_for` on ``dag_run.run_after``), never derive the week from logical_date.

Airflow 3 split: DAG authors normally import timetables from ``airflow.sdk``, but the SDK side has
no extension point for new timetable *logic* - the serializer only accepts SDK built-ins, core
``airflow.timetables.*`` classes, or core ``Timetable`` subclasses registered by a plugin
(``find_registered_custom_timetable``). So this class subclasses the core
``airflow.timetables.base.Timetable`` and is registered by ``plugins/retrain_timetables.py``;
the DAG processor, scheduler and API server must all load that plugin. It is serialized as
``{"__type": "retrain.timetable.WeeklyTimetable", "__var": self.serialize()}``.

All local-time arithmetic happens on calendar dates and is turned into instants with pendulum in
the schedule's time zone, never as "UTC + 7 days", so DST weeks come out 167 h / 169 h.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.exceptions import AirflowTimetableInvalid
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import DateTime
from pendulum.tz.timezone import FixedTimezone, Timezone

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_TIMEZONE = "Europe/Berlin"
UTC = pendulum.UTC

TzLike = str | Timezone | FixedTimezone


def _as_tz(tz: TzLike) -> Timezone | FixedTimezone:
    if isinstance(tz, (Timezone, FixedTimezone)):
        return tz
    try:
        return pendulum.timezone(str(tz))
    except ValueError as exc:  # pendulum.tz.exceptions.InvalidTimezone
        raise AirflowTimetableInvalid(f"unknown time zone {tz!r}") from exc


def _tz_name(tz: Timezone | FixedTimezone) -> str | int:
    # Named zones round-trip by name; fixed offsets by their offset in seconds (as Airflow does).
    if isinstance(tz, FixedTimezone):
        return tz.offset
    return tz.name


def _local_midnight(day: dt.date, tz: Timezone | FixedTimezone) -> DateTime:
    """00:00 local on `day` (pendulum moves a non-existent midnight forward to the first valid time)."""
    return pendulum.datetime(day.year, day.month, day.day, tz=tz)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _to_local(value: dt.datetime, tz: Timezone | FixedTimezone) -> DateTime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value!r}: pass a time-zone aware datetime")
    return pendulum.instance(value).in_timezone(tz)


def data_week(instant: dt.datetime | dt.date, tz: TzLike = DEFAULT_TIMEZONE) -> dt.date:
    """The local Monday (a date) of the ISO week that *contains* `instant`.

    Use this on ``data_interval_start`` to get the week for ``retrain.keys`` - do not call
    ``keys.week_start(data_interval_start)`` on the UTC value: Monday 00:00 Europe/Berlin is
    Sunday 23:00 (22:00 in summer) UTC, which would name the week before.
    """
    if isinstance(instant, dt.datetime):
        return _monday(_to_local(instant, _as_tz(tz)).date())
    return _monday(instant)


def week_interval_for(
    run_after_or_date: dt.datetime | dt.date, tz: TzLike = DEFAULT_TIMEZONE
) -> tuple[DateTime, DateTime]:
    """The last *complete* local week ending at or before `run_after_or_date`: (start, end).

    ``start`` is Monday 00:00 local and ``end`` the next Monday 00:00 local, both aware pendulum
    DateTimes in `tz`. A date is read as 00:00 local on that date. Examples (Europe/Berlin):
    Wednesday 2024-01-10 -> [Mon 01-01, Mon 01-08); Monday 2024-01-08 00:00 -> the same week
    (it has just completed); Monday 01:00 -> the same week. Never a zero-length interval.

    This is exactly what the timetable gives a manually triggered run, so tasks can use it
    when a DagRun has no data interval (Airflow 3 manual runs with logical_date=None): pass
    ``dag_run.run_after``. It is NOT "the week containing" the argument - see :func:`data_week`.
    """
    zone = _as_tz(tz)
    if isinstance(run_after_or_date, dt.datetime):
        point_day = _to_local(run_after_or_date, zone).date()
    else:
        point_day = run_after_or_date
    end_day = _monday(point_day)
    return _local_midnight(end_day - dt.timedelta(days=7), zone), _local_midnight(end_day, zone)


class WeeklyTimetable(Timetable):
    """One run per ISO week over the previous local week, at <weekday> <hh:mm> local after it.

    :param weekday: day of the run in the week *after* the data week ("monday" ... "sunday", or 0-6).
    :param hour: local hour of the run.
    :param minute: local minute of the run.
    :param timezone: IANA name (default Europe/Berlin) or a pendulum time zone.

    Scheduling (what the scheduler gets from ``next_dagrun_info``):

    * catchup=True: the first week starting at or after ``start_date`` (give the DAG a start_date
      in the schedule's time zone, e.g. ``pendulum.datetime(2024, 1, 1, tz="Europe/Berlin")``),
      then every following week in order.
    * catchup=False: only the latest week whose run time has passed (or the next one), never
      the missed ones in between.
    * no start_date: behaves like catchup=False.
    """

    periodic = True
    can_be_scheduled = True
    run_ordering = ("data_interval_end", "logical_date")

    def __init__(
        self,
        weekday: str | int = "monday",
        hour: int = 2,
        minute: int = 0,
        timezone: TzLike = DEFAULT_TIMEZONE,
    ) -> None:
        if isinstance(weekday, int) and not isinstance(weekday, bool):
            if not 0 <= weekday <= 6:
                raise AirflowTimetableInvalid(f"weekday must be 0 (Monday) .. 6 (Sunday), not {weekday}")
            weekday = WEEKDAYS[weekday]
        if not isinstance(weekday, str) or weekday.lower() not in WEEKDAYS:
            raise AirflowTimetableInvalid(f"weekday must be one of {WEEKDAYS}, not {weekday!r}")
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            raise AirflowTimetableInvalid(f"hour must be an int 0..23, not {hour!r}")
        if isinstance(minute, bool) or not isinstance(minute, int) or not 0 <= minute <= 59:
            raise AirflowTimetableInvalid(f"minute must be an int 0..59, not {minute!r}")
        self.weekday = weekday.lower()
        self.hour = hour
        self.minute = minute
        self._timezone = _as_tz(timezone)
        self.description = (
            f"Weekly on {self.weekday.capitalize()} at {hour:02d}:{minute:02d} "
            f"{self.timezone_name} (data: previous week)"
        )

    # construction / identity ----------------------------------------------------------------
    @classmethod
    def from_schedule(cls, schedule: Any) -> WeeklyTimetable:
        """Build from a ``retrain.config.ScheduleConfig`` (its ``catchup`` belongs to the DAG)."""
        return cls(
            weekday=schedule.weekday, hour=schedule.hour, minute=schedule.minute, timezone=schedule.timezone
        )

    @property
    def timezone(self) -> Timezone | FixedTimezone:
        return self._timezone

    @property
    def timezone_name(self) -> str:
        return str(self._timezone.name)

    @property
    def weekday_index(self) -> int:
        return WEEKDAYS.index(self.weekday)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeeklyTimetable):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.weekday, self.hour, self.minute, _tz_name(self._timezone)))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(weekday={self.weekday!r}, hour={self.hour}, "
            f"minute={self.minute}, timezone={self.timezone_name!r})"
        )

    # Airflow hooks ----------------------------------------------------------------------------
    @property
    def summary(self) -> str:
        return self.description

    def serialize(self) -> dict[str, Any]:
        return {
            "weekday": self.weekday,
            "hour": self.hour,
            "minute": self.minute,
            "timezone": _tz_name(self._timezone),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        tz = data.get("timezone", DEFAULT_TIMEZONE)
        if isinstance(tz, int):
            tz = pendulum.timezone(tz)
        return cls(
            weekday=data.get("weekday", "monday"),
            hour=int(data.get("hour", 2)),
            minute=int(data.get("minute", 0)),
            timezone=tz,
        )

    def validate(self) -> None:
        # Everything is checked in __init__; a weekday/hour/minute set later is re-checked here.
        type(self)(self.weekday, self.hour, self.minute, self._timezone)

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        start, end = week_interval_for(run_after, self._timezone)
        return DataInterval(start=start.in_timezone(UTC), end=end.in_timezone(UTC))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        candidates: list[dt.date] = []  # local Mondays on which the next data week may start
        if last_automated_data_interval is not None:
            nxt = self._first_monday_at_or_after(last_automated_data_interval.end)
            # Always advance past the previous run's logical date (unique per DAG), even if the
            # previous interval was not one of ours (e.g. after a schedule change).
            if self._start_of(nxt) <= last_automated_data_interval.start:
                nxt = self._first_monday_at_or_after(last_automated_data_interval.start)
                if self._start_of(nxt) <= last_automated_data_interval.start:
                    nxt += dt.timedelta(days=7)
            candidates.append(nxt)
        if restriction.earliest is not None:
            candidates.append(self._first_monday_at_or_after(restriction.earliest))
        if not restriction.catchup or not candidates:
            candidates.append(self._latest_due_monday(self._now()))
        info = self._info_for(max(candidates))
        if restriction.latest is not None and info.data_interval.start > restriction.latest:
            return None
        return info

    # helpers ----------------------------------------------------------------------------------
    def _now(self) -> DateTime:
        """The current time; a method so tests can pin it."""
        return pendulum.now(UTC)  # wall-clock ok: the scheduler asks which week is due now (catchup off)

    def _start_of(self, monday: dt.date) -> DateTime:
        return _local_midnight(monday, self._timezone)

    def _run_after_for(self, week_end: dt.date) -> DateTime:
        day = week_end + dt.timedelta(days=self.weekday_index)
        return pendulum.datetime(day.year, day.month, day.day, self.hour, self.minute, tz=self._timezone)

    def _info_for(self, monday: dt.date) -> DagRunInfo:
        """The run for the data week starting on local `monday`."""
        week_end = monday + dt.timedelta(days=7)
        return DagRunInfo(
            run_after=self._run_after_for(week_end).in_timezone(UTC),
            data_interval=DataInterval(
                start=self._start_of(monday).in_timezone(UTC),
                end=self._start_of(week_end).in_timezone(UTC),
            ),
        )

    def _first_monday_at_or_after(self, instant: dt.datetime) -> dt.date:
        """The first local Monday whose 00:00 is at or after `instant`."""
        monday = _monday(_to_local(instant, self._timezone).date())
        if self._start_of(monday) < instant:
            monday += dt.timedelta(days=7)
        return monday

    def _latest_due_monday(self, now: dt.datetime) -> dt.date:
        """Start of the newest data week whose run time is not after `now`."""
        this_monday = _monday(_to_local(now, self._timezone).date())
        if self._run_after_for(this_monday) <= now:
            return this_monday - dt.timedelta(days=7)
        return this_monday - dt.timedelta(days=14)
