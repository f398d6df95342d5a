"""Lands synthetic weekly batches in S3 under the landing layout of retrain.keys.

Generation is deterministic from the seed, so landing the same weeks again rewrites
identical objects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from importlib import import_module

from retrain.config import ModelConfig, Settings
from retrain.core.frames import to_bytes
from retrain.keys import Keys, week_start

GENERATORS = {"fraud": "retrain_dev.datagen.fraud", "rossmann": "retrain_dev.datagen.rossmann"}


def generator_for(model: str):
    try:
        return import_module(GENERATORS[model])
    except KeyError:
        raise KeyError(f"no synthetic data generator for model {model!r}; known: {sorted(GENERATORS)}") from None


def land_weeks(store, cfg: ModelConfig, start: dt.date, weeks: int, scenario: str = "stable",
               rows: int | None = None, seed: int = 42, history_weeks: int = 0,
               stores: int | None = None) -> list[dict]:
    """Generate and upload `history_weeks` stable weeks before `start`, then the scenario's weeks."""
    gen = generator_for(cfg.name)
    if hasattr(gen, "land_weeks"):  # generators with several inputs per week land themselves
        return gen.land_weeks(store, cfg, start=start, weeks=weeks, scenario=scenario, seed=seed,
                              history_weeks=history_weeks, stores=stores)
    first = week_start(start)
    if first != start:
        raise ValueError(f"--start must be a Monday (ISO week start); {start} is not, use {first}")
    specs = [gen.WeekSpec(note="history (stable)")] * history_weeks + gen.scenario(scenario, weeks)
    keys = Keys(cfg.name, Settings.from_env().prefix)
    written = []
    for i, spec in enumerate(specs):
        week = first + dt.timedelta(weeks=i - history_weeks)
        if rows:
            spec = dataclasses.replace(spec, rows=rows)
        frame = gen.generate_week(week, spec, seed=seed)
        key = keys.landing(week, cfg.data.format)
        store.put_bytes(key, to_bytes(frame, cfg.data.format))
        written.append({"week": week.isoformat(), "rows": len(frame), "note": spec.note, "key": key,
                        "scenario_week": i - history_weeks + 1})
    return written
