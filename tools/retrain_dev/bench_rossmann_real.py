"""Real Rossmann benchmark: walk-forward RMSPE over the last real weeks, at horizon 1 and 7.

    python -m retrain_dev.bench_rossmann_real                  # 1,115 stores, last 12 weeks, horizons 1 and 7
    python -m retrain_dev.bench_rossmann_real --stores 200 --horizons 7 --weeks 4   # a quick look

Each real week W is scored by the champion in place before it: the model the run for week
W-1 trained, with the shipped config (window, features, candidates, time-ordered CV
selection), i.e. fitted on the weeks up to W-2 (W-1 is that run's holdout). The gate is
assumed to pass every week (a walk-forward of the retrained models, not of gate decisions).
Pooled RMSPE is over every open day with Sales > 0 of the scored weeks. The seed document
reports 0.098. Timings and peak memory are measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import resource
import sys
import time

import numpy as np

SEED_RMSPE = 0.098


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def model_rows_up_to(processed, last_week: dt.date, horizon: int):
    """Model rows built from the weeks landed up to `last_week`, as that week's run builds them
    (a feature looking ahead, e.g. closed_tomorrow on the Sunday, sees no later week)."""
    import pandas as pd
    from retrain.families import sales as S

    upto = processed[processed["Date"] < pd.Timestamp(last_week + dt.timedelta(weeks=1))].reset_index(drop=True)
    featured = S.engineer_features(upto, horizon)
    return featured[(featured["Open"] == 1) & (featured["Sales"] > 0)].reset_index(drop=True)


def walk_forward(horizon: int, weeks: int = 12, stores: int | None = None, log=print,
                 threads: int | None = None) -> dict:
    import pandas as pd
    from retrain.config import load_model_config
    from retrain.core.metrics import rmspe
    from retrain.core.training import train_candidates
    from retrain.families import get_family
    from retrain.families import sales as S
    from retrain.importers import rossmann as imp

    sales_path, stores_path = imp.reference_files()
    cfg = load_model_config("rossmann")
    features = tuple(f for f in cfg.data.numeric_features if (S.lag_of(f) or horizon) >= horizon)
    if horizon == 1:
        features = (*features, "sales_lag_1")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, numeric_features=features, forecast_horizon_days=horizon))
    if threads:  # a quiet machine may give the fits every core (the shipped config: training.threads)
        cfg = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, threads=threads))
    family = get_family(cfg.family)
    raw = pd.read_parquet(sales_path)
    if stores:
        raw = raw[raw["Store"] <= stores]
    started = time.perf_counter()
    plan = imp.plan_import(raw)
    processed = S.process(plan.weeks, imp.read_table(stores_path)).require_typed()

    feature_seconds = time.perf_counter() - started
    all_weeks = sorted(plan.weeks)
    scored, table = [], []
    built: dict[dt.date, pd.DataFrame] = {}  # week W's rows are week W+1's training rows: built once

    def rows_up_to(last_week: dt.date) -> pd.DataFrame:
        if last_week not in built:
            built.clear()
            built[last_week] = model_rows_up_to(processed, last_week, S.forecast_horizon(cfg))
        return built[last_week]

    for week in all_weeks[-weeks:]:
        t0 = time.perf_counter()
        holdout_week = week - dt.timedelta(weeks=1)  # the champion's run: week W-1
        rows = rows_up_to(holdout_week)
        first = holdout_week - dt.timedelta(weeks=cfg.data.window_weeks - 1)
        in_window = (rows[S.WEEK_COLUMN] >= first.isoformat()) & (rows[S.WEEK_COLUMN] <= holdout_week.isoformat())
        window = rows[in_window]
        train = window[window[S.WEEK_COLUMN] < holdout_week.isoformat()].reset_index(drop=True)
        holdout = window[window[S.WEEK_COLUMN] == holdout_week.isoformat()].reset_index(drop=True)
        feats = family.feature_columns(cfg)
        pre = family.build_preprocessor(cfg).fit(train[feats])
        result = train_candidates(train, holdout, cfg, family, pre)
        scoring_rows = rows_up_to(week)  # the trigger's performance check on week W's batch
        target = scoring_rows[scoring_rows[S.WEEK_COLUMN] == week.isoformat()]
        y, pred = family.target(target, cfg), family.score(result.model, target[feats])
        scored.append((y, pred))
        table.append({"week": week.isoformat(), "rows": len(target), "rmspe": rmspe(y, pred),
                      "winner": result.winner, "train_rows": len(train),
                      "seconds": time.perf_counter() - t0})
        log(f"  h={horizon} week {week}: RMSPE {table[-1]['rmspe']:.4f} ({result.winner}, "
            f"{len(train):,} training rows, {table[-1]['seconds']:.0f} s)")
    y = np.concatenate([s[0] for s in scored])
    pred = np.concatenate([s[1] for s in scored])
    return {"horizon": horizon, "weeks": table, "pooled_rmspe": rmspe(y, pred), "feature_seconds": feature_seconds,
            "cv_scheme": family.cv_scheme(cfg), "peak_mib": _peak_mib(), "stores": int(processed["Store"].nunique())}


def format_report(results: list[dict]) -> str:
    lines = ["", "real Rossmann: walk-forward RMSPE (each week scored by the champion trained before it)"]
    weeks = [w["week"] for w in results[0]["weeks"]]
    head = "  week        " + "".join(f"  h={r['horizon']:<6}" for r in results)
    lines.append(head)
    for i, week in enumerate(weeks):
        lines.append(f"  {week}  " + "".join(f"  {r['weeks'][i]['rmspe']:.4f}  " for r in results))
    lines.append("  pooled      " + "".join(f"  {r['pooled_rmspe']:.4f}  " for r in results)
                 + f"   (seed document: {SEED_RMSPE})")
    for r in results:
        per_week = [w["seconds"] for w in r["weeks"]]
        verdict = "PASS" if r["pooled_rmspe"] <= SEED_RMSPE else "ABOVE"
        lines.append(f"  h={r['horizon']}: {r['stores']} stores, {verdict} vs {SEED_RMSPE}; training per week "
                     f"{np.mean(per_week):.0f} s (max {max(per_week):.0f} s); reading + processing {r['feature_seconds']:.0f} s (features built per week, in its time); "
                     f"peak memory {r['peak_mib']:.0f} MiB")
    lines.append(f"  model selection: {results[-1]['cv_scheme']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--stores", type=int, default=None, help="only stores 1..N (quick runs)")
    parser.add_argument("--horizons", default="1,7")
    parser.add_argument("--threads", type=int, default=None, help="OpenMP threads per fit (default: the config's)")
    args = parser.parse_args(argv)
    from retrain.errors import MissingInputError

    try:
        results = [walk_forward(int(h), args.weeks, args.stores, threads=args.threads)
                   for h in args.horizons.split(",")]
    except MissingInputError as exc:
        print(f"real Rossmann: skipped: {exc}", file=sys.stderr)
        return 0
    print(format_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
