"""The model file's schema: one frozen pydantic dataclass per section, ModelConfig on top.

Strict scalar types (no "five" for an int, no "0.6" for a float) and unknown keys refused, so a
typo in a YAML file is an error, not a silently ignored key; retrain.config.loading turns every
problem into one ConfigError naming the file and the field path. Only pydantic is imported
here (the DAG files validate every model file at parse time).

Adding a field: add it to its section class with a default, typed with the aliases below
(`Int`, `Float`, `Str`, `Bool`); cross-field rules go in that class's `_check` validator.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, Strict, model_validator
from pydantic.dataclasses import dataclass

from retrain.families import known_families

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Strict scalars: YAML gives real ints/floats/bools/strings; a quoted number is an error, not a coercion.
# (A YAML int is accepted where a float is expected; a bool is never a number.)
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
Section = ConfigDict(extra="forbid")  # every section: unknown keys refused (and frozen=True on each class)


@dataclass(frozen=True, config=Section)
class ScheduleConfig:
    weekday: Literal[WEEKDAYS] = "monday"
    hour: Annotated[Int, Field(ge=0, le=23)] = 2
    minute: Annotated[Int, Field(ge=0, le=59)] = 0
    timezone: Str = "Europe/Berlin"
    catchup: Bool = False
    start_date: Str = "2024-01-01"  # first data week a catchup/backfill may cover
    # local HH:MM the weekly run must be finished by (None: no deadline alert); an int is accepted only to
    # say what went wrong: YAML reads an unquoted 06:00 as the number 360
    deadline: Str | Int | None = "06:00"

    @model_validator(mode="after")
    def _check(self):
        if self.deadline is not None and not (
            isinstance(self.deadline, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.deadline)
        ):
            raise ValueError(f"deadline must be HH:MM (local time) or null, not {self.deadline!r} (quote it: '06:00')")
        return self


@dataclass(frozen=True, config=Section)
class WindowChecks:
    min_rows: Int = 500
    min_positive_rate: Float | None = None
    max_positive_rate: Float | None = None
    max_null_rate: Float = 0.10


@dataclass(frozen=True, config=Section)
class InputSpec:
    """A second landing object of each weekly partition (e.g. the Rossmann store table)."""

    name: Str
    format: Literal["parquet", "csv"] | None = None  # default: data.format


# data keys only some families read; `DataConfig.extra` hands them over as a plain dict
FAMILY_DATA_KEYS = ("history_weeks", "forecast_horizon_days", "stores_input", "store_table_suite", "processed_suite",
                    "features_suite")


@dataclass(frozen=True, config=Section)
class DataConfig:
    label: Str
    numeric_features: tuple[Str, ...]
    binary_features: tuple[Str, ...] = ()
    categorical_features: tuple[Str, ...] = ()
    format: Literal["parquet", "csv"] = "parquet"
    id_column: Str | None = None
    timestamp_column: Str | None = None
    window_weeks: Annotated[Int, Field(ge=1)] = 8
    expectation_suite: Str | None = None
    window_checks: WindowChecks = field(default_factory=WindowChecks)
    # bounded inputs: refused before download (HEAD) / before decoding (parquet footer)
    max_batch_bytes: Annotated[Int, Field(ge=1)] = 256 * 1024 * 1024
    max_batch_rows: Annotated[Int, Field(ge=1)] = 5_000_000
    max_batch_uncompressed_bytes: Annotated[Int, Field(ge=1)] = 1024 * 1024 * 1024
    # family-specific (sales_forecast): lag history, the store table and the later-stage suites
    history_weeks: Annotated[Int, Field(ge=0)] | None = None
    forecast_horizon_days: Annotated[Int, Field(ge=1, le=28)] | None = None  # no feature younger than this
    stores_input: InputSpec | None = None
    store_table_suite: Str | None = None
    processed_suite: Str | None = None
    features_suite: Str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric_features + self.binary_features + self.categorical_features

    @property
    def extra(self) -> dict[str, Any]:
        """The family-specific keys that are set, as plain values (what families read)."""
        out: dict[str, Any] = {}
        for key in FAMILY_DATA_KEYS:
            value = getattr(self, key)
            if isinstance(value, InputSpec):
                value = {k: v for k, v in (("name", value.name), ("format", value.format)) if v is not None}
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, config=Section)
class TriggerConfig:
    psi_features: tuple[Str, ...]
    psi_warn: Float = 0.10
    psi_action: Float = 0.25
    psi_bins: Int = 10
    psi_noise_quantile: Float = 0.99
    psi_noise_bootstrap: Int = 200
    ks_action: Float = 0.20
    performance: dict[Str, Float] = field(default_factory=dict)  # "min_<metric>" / "max_<metric>"
    max_model_age_days: Int = 28

    @model_validator(mode="after")
    def _check(self):
        if not self.psi_warn <= self.psi_action:
            raise ValueError("psi_warn must not exceed psi_action")
        bad = [k for k in self.performance if not k.startswith(("min_", "max_"))]
        if bad:
            raise ValueError(f"performance keys {bad} must start with min_ or max_")
        return self


@dataclass(frozen=True, config=Section)
class AveragedFit:
    """One fit of an averaged candidate: the candidate's params with `params` on top, its rows
    weighted by the family's `sample_weight` scheme when one is named."""

    params: dict[Str, Any] = field(default_factory=dict)
    sample_weight: Literal["relative_error"] | None = None  # a family's weighting (Family.sample_weight)


@dataclass(frozen=True, config=Section)
class Candidate:
    name: Str
    estimator: Str  # dotted path, must live under sklearn.
    params: dict[Str, Any] = field(default_factory=dict)
    # Several fits of the estimator whose predictions are averaged (retrain.core.averaging): a
    # flexible booster's fit moves with small changes of its rows, the average keeps what fits share.
    average: tuple[AveragedFit, ...] = ()

    @model_validator(mode="after")
    def _check(self):
        if not self.estimator.startswith("sklearn."):
            raise ValueError(f"candidate {self.name!r}: only sklearn estimators are allowed, not {self.estimator!r}")
        if self.average:
            if len(self.average) < 2:
                raise ValueError(f"candidate {self.name!r}: average needs at least two fits")
            if len(set(map(repr, self.average))) != len(self.average):
                raise ValueError(f"candidate {self.name!r}: average lists the same fit twice")
        return self


@dataclass(frozen=True, config=Section)
class TrainingConfig:
    selection_metric: Str
    candidates: tuple[Candidate, ...]
    cv_folds: Annotated[Int, Field(ge=2)] = 5
    cv_max_rows: Annotated[Int, Field(ge=1)] = 200_000
    random_state: Int = 42
    holdout_weeks: Annotated[Int, Field(ge=1)] = 1
    threads: Annotated[Int, Field(ge=1)] = 1  # OpenMP/BLAS threads per fit: oversubscribed threads stall

    @model_validator(mode="after")
    def _check(self):
        if not self.candidates:
            raise ValueError("candidates is empty")
        names = [c.name for c in self.candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must be unique: {names}")
        return self


@dataclass(frozen=True, config=Section)
class GateConfig:
    """Thresholds only; whether they are complete enough to bless anything is checked per model
    (`ModelConfig._check`), so the gate's own fail-closed paths stay testable with partial configs."""

    minimums: dict[Str, Float] = field(default_factory=dict)
    maximums: dict[Str, Float] = field(default_factory=dict)
    max_relative_regression: dict[Str, Float] = field(default_factory=dict)
    # vs the champion: paired bootstrap on the same holdout; every compared metric needs a tolerance
    compare: tuple[Str, ...] = ()
    tolerance: dict[Str, Annotated[Float, Field(ge=0)]] = field(default_factory=dict)  # metric units
    confidence: Annotated[Float, Field(ge=0.5, lt=1.0)] = 0.95
    bootstrap_resamples: Annotated[Int, Field(ge=1)] = 1000
    bootstrap_seed: Int = 0


@dataclass(frozen=True, config=Section)
class RegistryConfig:
    reference_sample_rows: Int = 5000
    canary_rows: Int = 200
    smoke_tolerance: Float = 1e-9
    health_url: Str | None = None


@dataclass(frozen=True, config=Section)
class PromotionConfig:
    approval: Literal["none", "required"] = "none"  # required: a human approves (Airflow HITL) between gate and promote
    approval_timeout_hours: Annotated[Float, Field(gt=0)] = 24.0  # no answer by then counts as a rejection


@dataclass(frozen=True, config=Section)
class ModelConfig:
    name: Str
    family: Str
    data: DataConfig
    triggers: TriggerConfig
    training: TrainingConfig
    gate: GateConfig
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    metrics: dict[Str, Any] = field(default_factory=dict)
    alerts: dict[Str, Any] = field(default_factory=dict)
    monitoring: dict[Str, Any] = field(default_factory=dict)  # retrain.monitoring.gate_rate.MonitoringConfig
    description: Str = ""
    owner: Str = "ml-platform"
    tags: tuple[Str, ...] = ()
    source_path: Str = ""  # set by the loader, not in YAML

    @property
    def retrain_dag_id(self) -> str:
        return f"retrain_{self.name}"

    @property
    def rollback_dag_id(self) -> str:
        return f"rollback_{self.name}"

    @property
    def scoring_dag_id(self) -> str:
        return f"score_{self.name}"

    @model_validator(mode="after")
    def _check(self):
        problems = []  # "field: message", all of them at once
        if not self.name.replace("_", "").isalnum() or not self.name.islower():
            problems.append(f"name: {self.name!r} must be lower-case letters, digits and '_'")
        if self.family not in known_families():
            problems.append(f"family: unknown model family {self.family!r}; known: {known_families()}")
        gate = self.gate
        if not (gate.minimums or gate.maximums):
            # Fail closed: no thresholds means nothing could ever be blessed.
            problems.append("gate: needs at least one absolute minimum or maximum")
        untolerated = [m for m in gate.compare if m not in gate.tolerance]
        if untolerated:  # fail closed: a compared metric without a tolerance could never be decided
            problems.append(f"gate.tolerance: no value for compared metric(s) {untolerated}")
        stray = [m for m in gate.tolerance if m not in gate.compare]
        if stray:
            problems.append(f"gate.tolerance: names {stray}, which gate.compare does not list")
        if gate.compare and gate.bootstrap_resamples < 100:
            problems.append("gate.bootstrap_resamples: at least 100 when gate.compare is set")
        if problems:
            raise ValueError("\n".join(problems))
        return self
