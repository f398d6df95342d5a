"""`retrain` command line: registry inspection, reports, real-data import; and, where the dev tooling
(`retrain_dev`, tools/) is installed, synthetic data, the demo and a local stack.

    retrain data import --model rossmann --sales train.parquet --stores store.csv [--from D --to D]
    retrain registry show --model fraud [--json]
    retrain registry history --model fraud [--json]
    retrain report --model fraud --out report.html

Dev tooling only (imported when the command runs; "dev tooling not installed" in the image):

    retrain data generate --model fraud --start 2026-01-05 --weeks 12 --scenario drift_from_week_8
    retrain demo --model fraud --start 2026-01-05 --weeks 12 --scenario demo
    retrain dev up | down
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import sys

DEV_MISSING = "dev tooling not installed: `retrain {command}` needs the retrain_dev package (tools/; `make install`)"


def _dev_module(module: str):
    """A module of the dev tooling (retrain_dev, tools/), or None where it is not installed (the image)."""
    try:
        return importlib.import_module(f"retrain_dev.{module}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("retrain_dev", f"retrain_dev.{module}"):
            raise
        return None


def _dev(module: str, command: str):
    """The dev tooling a dev command runs, imported only then; a clear exit without it."""
    found = _dev_module(module)
    if found is None:
        raise SystemExit(DEV_MISSING.format(command=command))
    return found


def _date(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {value!r}") from None
    return day


def _store():
    from retrain.storage import S3Store

    devstack = _dev_module("devstack")  # None in production: no local stack to fall back to
    if devstack is not None and devstack.use_stack_if_unconfigured():  # no S3 connection: `make up`'s
        print(f"(using the local stack's S3 from {devstack.STACK_ENV_FILE})", file=sys.stderr)
    return S3Store.from_env()


@contextlib.contextmanager
def _logs_to_stderr():
    """Airflow (imported for the S3 connection) logs to stdout; a command's stdout is its output
    (`--json` is parsed by machines), so log lines go to stderr while the command works."""
    import logging

    import airflow  # noqa: F401  (configures Airflow's logging now, on the real stdout)

    moved = [h for h in logging.getLogger().handlers
             if isinstance(h, logging.StreamHandler) and h.stream is sys.stdout]
    for handler in moved:
        handler.setStream(sys.stderr)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # structlog loggers write to sys.stdout
            yield
    finally:
        for handler in moved:
            handler.setStream(sys.stdout)


def cmd_data_generate(args) -> int:
    from retrain.config import load_model_config

    land_weeks = _dev("datagen.landing", "data generate").land_weeks

    cfg = load_model_config(args.model)
    store = _store()
    if args.create_bucket:
        store.ensure_bucket()
    written = land_weeks(store, cfg, start=args.start, weeks=args.weeks, scenario=args.scenario,
                         rows=args.rows, seed=args.seed, history_weeks=args.history_weeks, stores=args.stores)
    for item in written:
        print(f"{item['week']}  {item['rows']:>8} rows  {item['note']:<60}  s3://{store.bucket}/{item['key']}")
    return 0


def cmd_data_import(args) -> int:
    from retrain.config import load_model_config
    from retrain.importers import rossmann as imp

    cfg = load_model_config(args.model)
    plan = imp.plan_import(imp.read_table(args.sales), start=args.date_from, end=args.date_to)
    for text in plan.warnings():
        print(f"warning: {text}", file=sys.stderr)
    store = _store()
    if args.create_bucket:
        store.ensure_bucket()
    for item in imp.land_import(store, cfg, plan, imp.read_table(args.stores)):
        print(f"{item['week']}  {item['rows']:>8} rows  {item['stores']:>5} stores  {item['note']:<50}  "
              f"s3://{store.bucket}/{item['key']}")
    return 0


def cmd_registry(args) -> int:
    from retrain import registry
    from retrain.config import Settings, load_model_config
    from retrain.keys import Keys
    from retrain.registry.report import format_history, format_slots

    with _logs_to_stderr():
        cfg = load_model_config(args.model)
        store = _store()
        keys = Keys(cfg.name, Settings.from_env().prefix)
        if args.action == "show":
            slots, _ = registry.read_slots(store, keys)
            if args.json:
                text = json.dumps(slots.to_dict() if slots else None, indent=2, sort_keys=True)
            else:
                text = format_slots(slots)
        else:
            entries = registry.history(store, keys)
            text = json.dumps(entries, indent=2, sort_keys=True) if args.json else format_history(entries)
    print(text)
    return 0


def cmd_report(args) -> int:
    from retrain.monitoring.report import write_report

    with _logs_to_stderr():
        path = write_report(args.model, args.out, _store(), airflow_url=args.airflow_url)
    print(f"wrote {path}")
    return 0


def cmd_demo(args) -> int:
    return _dev("demo", "demo").run_demo(model=args.model, start=args.start, weeks=args.weeks, scenario=args.scenario,
                    rows=args.rows, history_weeks=args.history_weeks, real=args.real, stores=args.stores)


def cmd_dev(args) -> int:
    devstack = _dev("devstack", "dev")
    return devstack.up() if args.action == "up" else devstack.down()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="synthetic landing data").add_subparsers(dest="action", required=True)
    gen = data.add_parser("generate", help="generate weekly batches into the landing zone")
    gen.add_argument("--model", required=True)
    gen.add_argument("--start", type=_date, required=True, help="Monday of the first scenario week")
    gen.add_argument("--weeks", type=int, required=True)
    gen.add_argument("--scenario", default="stable", help="stable, demo, drift_from_week_N, ...")
    gen.add_argument("--rows", type=int, default=None, help="rows per week (fraud)")
    gen.add_argument("--stores", type=int, default=None, help="number of stores (rossmann)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--history-weeks", type=int, default=1,
                     help="stable weeks landed before --start, so the first run has a training window")
    gen.add_argument("--create-bucket", action="store_true", help="create the bucket if missing (local S3)")
    gen.set_defaults(func=cmd_data_generate)
    imp = data.add_parser("import", help="land real Rossmann-format extracts as weekly partitions")
    imp.add_argument("--model", required=True)
    imp.add_argument("--sales", required=True, help="daily sales (parquet or CSV, the train.csv columns)")
    imp.add_argument("--stores", required=True, help="the store table (CSV or parquet)")
    imp.add_argument("--from", dest="date_from", type=_date, default=None, help="first day to land")
    imp.add_argument("--to", dest="date_to", type=_date, default=None, help="last day to land")
    imp.add_argument("--create-bucket", action="store_true", help="create the bucket if missing (local S3)")
    imp.set_defaults(func=cmd_data_import)

    reg = sub.add_parser("registry", help="inspect the model registry")
    reg.add_argument("action", choices=["show", "history"])
    reg.add_argument("--model", required=True)
    reg.add_argument("--json", action="store_true", help="machine-readable output")
    reg.set_defaults(func=cmd_registry)

    rep = sub.add_parser("report", help="a self-contained HTML report of a model's retraining history")
    rep.add_argument("--model", required=True)
    rep.add_argument("--out", required=True, help="HTML file to write")
    rep.add_argument("--airflow-url", default="", help="Airflow UI base URL for the DAG run links")
    rep.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="run the weekly DAG over synthetic weeks against a local S3")
    demo.add_argument("--model", default="fraud")
    demo.add_argument("--start", type=_date, default=dt.date(2026, 1, 5))
    demo.add_argument("--weeks", type=int, default=12)
    demo.add_argument("--scenario", default="demo")
    demo.add_argument("--rows", type=int, default=None)
    demo.add_argument("--history-weeks", type=int, default=1)
    demo.add_argument("--real", action="store_true",
                      help="rossmann: the last --weeks real weeks of ../shared/reference (all of it is landed)")
    demo.add_argument("--stores", type=int, default=None, help="with --real: only stores 1..N (a quicker run)")
    demo.set_defaults(func=cmd_demo)

    dev = sub.add_parser("dev", help="local Airflow UI against a local S3")
    dev.add_argument("action", choices=["up", "down"])
    dev.set_defaults(func=cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from retrain.errors import RetrainError

    try:
        return args.func(args)
    except (RetrainError, ValueError, KeyError) as exc:  # user errors: a message, not a traceback; exit 1, nothing decided (a person re-runs)
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
