"""One week of synthetic card transactions for the `fraud` model, with controllable failures.

The demo and the tests need weekly batches whose drift, label problems and schema breaks are
known in advance, so every pipeline decision (retrain, reject, warn, fail) can be asserted.
Everything here is pure: no I/O, and the same (week_start, spec, seed) always gives the same
DataFrame. All random draws happen in a fixed order whatever the spec, so two specs for the
same week differ only by what the spec changes (e.g. the shifted feature), not by noise.

Fraud is spread over many weak signals (amount, velocities, distance, the match flags, card
not present, night hours, merchant mix) so no single column gives it away. Concept drift
replaces part of that fraud by a second pattern (skimmed cards used in person at fuel
stations and ATMs, mostly at weekends) that looks legitimate on the old signals: a model
trained before the drift loses ranking power, one retrained on drifted weeks learns it again.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COLUMNS = (
    "transaction_id",
    "event_time",
    "amount",
    "velocity_1h",
    "velocity_24h",
    "distance_from_home_km",
    "merchant_category",
    "device_match",
    "cvv_match",
    "address_match",
    "country_match",
    "card_present",
    "hour",
    "day_of_week",
    "is_fraud",
)

MERCHANT_CATEGORIES = (
    "grocery",
    "fuel",
    "online_retail",
    "travel",
    "electronics",
    "restaurants",
    "entertainment",
    "cash_withdrawal",
)
_ONLINE = MERCHANT_CATEGORIES.index("online_retail")

# Largest amount a normal transaction can have; anything above IMPLAUSIBLE_AMOUNT is an outlier.
MAX_PLAUSIBLE_AMOUNT = 20_000.0
IMPLAUSIBLE_AMOUNT = 50_000.0

# Covariate shift: feature -> how far strength 1.0 moves it (log units of the value or of the
# Poisson rate). Sized so PSI (10 quantile bins) lands around 0.4-0.6 at strength 1.0.
SHIFT_SCALE = {
    "amount": 0.75,
    "distance_from_home_km": 0.9,
    "velocity_1h": 1.2,
    "velocity_24h": 0.4,
}

# Row groups: 0 legitimate, 1 fraud (original pattern), 2 fraud (pattern after concept drift).
_LEGIT, _FRAUD, _DRIFTED = 0, 1, 2

# Per-group parameters, indexed by group.
_AMOUNT_LOG_MEAN = np.array([math.log(40.0), math.log(40.0) + 0.6, math.log(40.0) - 0.1])
_AMOUNT_LOG_SD = np.array([0.85, 1.0, 0.85])
_MERCHANT_AMOUNT_OFFSET = np.array([0.0, 0.0, 0.2, 1.2, 1.0, -0.3, 0.0, 0.5])
_VELOCITY_1H = np.array([0.25, 0.9, 0.3])
_VELOCITY_23H = np.array([3.5, 5.0, 3.6])  # transactions in the other 23 hours of the day
_DISTANCE_LOG_MEAN = np.array([math.log(6.0), math.log(25.0), math.log(7.0)])
_DISTANCE_LOG_SD = np.array([1.1, 1.4, 1.1])
_P_DEVICE_MATCH = np.array([0.92, 0.55, 0.90])
_P_CVV_MATCH = np.array([0.985, 0.80, 0.985])
_P_ADDRESS_MATCH = np.array([0.95, 0.72, 0.95])
_P_COUNTRY_MATCH = np.array([0.97, 0.80, 0.97])
_P_CARD_PRESENT = np.array([0.80, 0.40, 0.97])  # outside online_retail (never card present)

_MERCHANT_WEIGHTS = np.array(
    [
        [0.22, 0.12, 0.18, 0.05, 0.06, 0.17, 0.10, 0.10],
        [0.05, 0.06, 0.30, 0.13, 0.20, 0.04, 0.08, 0.14],
        [0.10, 0.40, 0.02, 0.02, 0.02, 0.02, 0.02, 0.40],
    ]
)
_LEGIT_HOURS = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4, 4.5, 5, 5.5, 5, 4.5, 4.5, 5, 5.5, 6, 5.5, 4.5, 3.5, 2.5, 1.6]  # fmt: skip
_FRAUD_HOURS = [4, 4, 4, 3.5, 3, 2] + [w / 2 for w in _LEGIT_HOURS[6:]]
_HOUR_WEIGHTS = np.array([_LEGIT_HOURS, _FRAUD_HOURS, _LEGIT_HOURS])
_DAY_WEIGHTS = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 1.1, 1.2, 1.0],
        [1.0, 1.0, 1.0, 1.0, 1.1, 1.2, 1.0],
        [0.3, 0.3, 0.3, 0.5, 1.2, 2.5, 2.2],
    ]
)


@dataclass(frozen=True)
class WeekSpec:
    """What one week of data looks like; the defaults give the stable reference distribution."""

    rows: int = 5000
    covariate_shift: dict[str, float] = field(default_factory=dict)  # feature -> strength
    label_rate: float = 0.06  # share of fraud
    concept_drift: float = 0.0  # 0..1 share of fraud that follows the new, legit-looking pattern
    label_noise: float = 0.0  # 0..1 share of labels shuffled among themselves (broken label feed)
    drop_columns: tuple[str, ...] = ()  # schema break
    outliers: int = 0  # rows whose amount is set above IMPLAUSIBLE_AMOUNT
    note: str = ""  # human description shown by the demo

    def __post_init__(self):
        # Copy the mapping so a caller mutating its dict cannot change a frozen spec.
        object.__setattr__(
            self, "covariate_shift", {str(k): float(v) for k, v in self.covariate_shift.items()}
        )
        object.__setattr__(self, "drop_columns", tuple(self.drop_columns))
        if self.rows < 1:
            raise ValueError(f"rows must be >= 1, not {self.rows}")
        if not 0.0 < self.label_rate < 1.0:
            raise ValueError(f"label_rate must be in (0, 1), not {self.label_rate}")
        for name in ("concept_drift", "label_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], not {getattr(self, name)}")
        unknown = sorted(set(self.covariate_shift) - set(SHIFT_SCALE))
        if unknown:
            raise ValueError(f"covariate_shift on {unknown} is not supported; use {sorted(SHIFT_SCALE)}")
        if not all(math.isfinite(v) for v in self.covariate_shift.values()):
            raise ValueError("covariate_shift strengths must be finite")
        missing = sorted(set(self.drop_columns) - set(COLUMNS))
        if missing:
            raise ValueError(f"drop_columns {missing} are not columns of the fraud data")
        if not 0 <= self.outliers <= self.rows:
            raise ValueError(f"outliers must be in [0, rows], not {self.outliers}")


def _pick(rng: np.random.Generator, weights: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category index per row from the row's group's weights (vectorised)."""
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(group.size)
    return (u[:, None] >= cdf[group, :-1]).sum(axis=1)


def _shift(spec: WeekSpec, feature: str) -> float:
    return SHIFT_SCALE[feature] * spec.covariate_shift.get(feature, 0.0)


def generate_week(week_start: dt.date, spec: WeekSpec, seed: int = 42) -> pd.DataFrame:
    """One week of transactions starting at `week_start` 00:00 UTC, sorted by event time.

    Deterministic in (week_start, spec, seed); different weeks get different draws.
    """
    if isinstance(week_start, dt.datetime):
        week_start = week_start.date()
    n = spec.rows
    rng = np.random.default_rng([seed, week_start.toordinal()])

    # Labels first; the features are drawn from each row's true group.
    is_fraud = rng.random(n) < spec.label_rate
    drifted = rng.random(n) < spec.concept_drift
    group = np.where(is_fraud, np.where(drifted, _DRIFTED, _FRAUD), _LEGIT)

    merchant = _pick(rng, _MERCHANT_WEIGHTS, group)
    hour = _pick(rng, _HOUR_WEIGHTS, group)
    day = _pick(rng, _DAY_WEIGHTS, group)
    second = rng.integers(0, 3600, n)

    log_amount = (
        _AMOUNT_LOG_MEAN[group]
        + _MERCHANT_AMOUNT_OFFSET[merchant]
        + _AMOUNT_LOG_SD[group] * rng.standard_normal(n)
        + _shift(spec, "amount")
    )
    amount = np.round(np.clip(np.exp(log_amount), 0.5, MAX_PLAUSIBLE_AMOUNT), 2)

    velocity_1h = rng.poisson(_VELOCITY_1H[group] * math.exp(_shift(spec, "velocity_1h")))
    velocity_24h = velocity_1h + rng.poisson(_VELOCITY_23H[group] * math.exp(_shift(spec, "velocity_24h")))

    log_distance = (
        _DISTANCE_LOG_MEAN[group]
        + _DISTANCE_LOG_SD[group] * rng.standard_normal(n)
        + _shift(spec, "distance_from_home_km")
    )
    distance = np.round(np.exp(log_distance), 2)

    device_match = rng.random(n) < _P_DEVICE_MATCH[group]
    cvv_match = rng.random(n) < _P_CVV_MATCH[group]
    address_match = rng.random(n) < _P_ADDRESS_MATCH[group]
    country_match = rng.random(n) < _P_COUNTRY_MATCH[group]
    card_present = (rng.random(n) < _P_CARD_PRESENT[group]) & (merchant != _ONLINE)

    # A broken label feed: a share of labels shuffled among themselves, so the positive rate
    # is unchanged but those labels no longer relate to the features.
    noisy = np.flatnonzero(rng.random(n) < spec.label_noise)
    labels = is_fraud.copy()
    labels[noisy] = labels[noisy][rng.permutation(noisy.size)]

    if spec.outliers:
        rows = rng.choice(n, size=spec.outliers, replace=False)
        amount[rows] = np.round(rng.uniform(IMPLAUSIBLE_AMOUNT + 10_000, 250_000.0, spec.outliers), 2)

    offset_s = day * 86_400 + hour * 3_600 + second
    order = np.argsort(offset_s, kind="stable")
    start = np.datetime64(week_start.isoformat(), "s")
    event_time = pd.DatetimeIndex((start + offset_s[order].astype("timedelta64[s]")).astype("datetime64[us]"))

    prefix = f"{week_start:%Y%m%d}-"
    ids = pd.Series(np.arange(n)).astype(str).str.zfill(7)
    frame = pd.DataFrame(
        {
            "transaction_id": prefix + ids,
            "event_time": event_time.tz_localize("UTC"),
            "amount": amount[order],
            "velocity_1h": velocity_1h[order].astype(np.int64),
            "velocity_24h": velocity_24h[order].astype(np.int64),
            "distance_from_home_km": distance[order],
            "merchant_category": pd.Categorical.from_codes(merchant[order], MERCHANT_CATEGORIES).astype(str),
            "device_match": device_match[order].astype(np.int64),
            "cvv_match": cvv_match[order].astype(np.int64),
            "address_match": address_match[order].astype(np.int64),
            "country_match": country_match[order].astype(np.int64),
            "card_present": card_present[order].astype(np.int64),
            "hour": hour[order].astype(np.int64),
            "day_of_week": ((week_start.weekday() + day[order]) % 7).astype(np.int64),
            "is_fraud": labels[order].astype(np.int64),
        },
        columns=list(COLUMNS),
    )
    return frame.drop(columns=list(spec.drop_columns))


# Scenarios ---------------------------------------------------------------------------------

_DEMO_SHIFT = {"amount": 1.0, "distance_from_home_km": 1.0, "velocity_24h": 1.0}

SCENARIOS: dict[str, str] = {
    "stable": "every week drawn from the same distribution (no drift, no data problems)",
    "drift_from_week_N": "covariate shift (strength 1.0) on amount, distance_from_home_km and "
    "velocity_24h from week N on, staying shifted",
    "label_shift_from_week_N": "fraud rate rises from 6% to 12% from week N on",
    "concept_drift_from_week_N": "from week N on fraud follows a new pattern that looks legitimate "
    "on the old signals: models trained before lose recall and ROC-AUC",
    "demo": "12-week product demo: w1-4 stable, covariate shift from w5, broken label feed in w8, "
    "3 implausible amounts in w10, schema break (merchant_category missing) in w12",
}

_FROM_WEEK = re.compile(r"^(drift|label_shift|concept_drift)_from_week_(\d+)$")


def _demo_week(week: int) -> WeekSpec:
    """Week `week` (1-based) of the demo story; weeks after 12 repeat the last stable state."""
    if week <= 4:
        return WeekSpec(note="stable")
    shifted = {"covariate_shift": dict(_DEMO_SHIFT)}
    if week == 5:
        return WeekSpec(**shifted, note="covariate shift starts on amount, distance, velocity_24h")
    if week == 8:
        return WeekSpec(
            **shifted, label_noise=1.0, note="broken label feed: a challenger trained now must be rejected"
        )
    if week == 10:
        return WeekSpec(**shifted, outliers=3, note="3 implausible amounts: validation warns, run continues")
    if week == 12:
        return WeekSpec(
            **shifted, drop_columns=("merchant_category",), note="schema break: required column missing"
        )
    return WeekSpec(**shifted, note="covariate shift persists on amount, distance, velocity_24h")


def scenario(name: str, weeks: int) -> list[WeekSpec]:
    """The specs of weeks 1..`weeks` of a named scenario (see SCENARIOS)."""
    if weeks < 0:
        raise ValueError(f"weeks must be >= 0, not {weeks}")
    if name == "stable":
        return [WeekSpec(note="stable") for _ in range(weeks)]
    if name == "demo":
        return [_demo_week(w) for w in range(1, weeks + 1)]
    match = _FROM_WEEK.match(name)
    if match is None or int(match.group(2)) < 1:
        raise ValueError(
            f"unknown scenario {name!r}; valid: {', '.join(SCENARIOS)} (N is a week number >= 1)"
        )
    kind, start = match.group(1), int(match.group(2))
    specs = []
    for week in range(1, weeks + 1):
        if week < start:
            specs.append(WeekSpec(note="stable"))
        elif kind == "drift":
            note = "covariate shift " + ("starts" if week == start else "persists")
            specs.append(
                WeekSpec(covariate_shift=dict(_DEMO_SHIFT), note=f"{note} on amount, distance, velocity_24h")
            )
        elif kind == "label_shift":
            specs.append(WeekSpec(label_rate=0.12, note="label shift: fraud rate 12%"))
        else:
            specs.append(
                WeekSpec(concept_drift=1.0, note="concept drift: fraud looks legitimate on the old signals")
            )
    return specs
