"""Great Expectations 1.x suites stored as JSON, run on one DataFrame with an ephemeral context.

The suite file is GX's own suite JSON (name, expectations: [{type, kwargs, meta}], meta); each
expectation must carry `meta.severity` ("critical" fails the run, "warning" is reported only).
GX is imported inside the functions: importing this module stays cheap (DAG parsing imports
it), and GX is never optional: if it cannot be imported, the ImportError propagates.

Every expectation of the suite ends up in the report. An expectation GX could not compute
(e.g. its column is missing) is a failed result whose observed value is GX's error message
(GX's results are read in retrain.validation.gx_results).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import ConfigError
from retrain.validation.gx_results import check_result, explain_type_error
from retrain.validation.report import SEVERITIES, ValidationReport

if TYPE_CHECKING:
    import pandas as pd

# SUMMARY keeps GX from materialising full unexpected lists / index lists on 80k-row batches;
# `partial_unexpected_list` still gives enough values for MAX_EXAMPLES distinct examples.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 50}

_DATASOURCE = "retrain_pandas"
_ASSET = "batch"
_BATCH_DEFINITION = "whole_dataframe"


def quiet_gx() -> None:
    """Before GX is first imported: no usage statistics, and no INFO chatter in task logs
    (GX logs ~200 INFO lines while importing). Only sets levels nobody configured."""
    # GX 1.24 no longer ships usage statistics; the variable is kept for releases that read it,
    # and ephemeral_context() also disables analytics in the project config.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)


# ---------------------------------------------------------------------------- suite file
def load_suite_json(suite_path: Path | str) -> dict[str, Any]:
    """Read and check a suite file; every problem is a ConfigError naming the file."""
    path = Path(suite_path)
    if not path.is_file():
        raise ConfigError(f"no expectation suite at {path}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ConfigError(f"{path}: a suite is a JSON object with a non-empty 'name'")
    expectations = raw.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise ConfigError(f"{path}: 'expectations' must be a non-empty list")
    for i, exp in enumerate(expectations):
        where = f"{path}: expectations[{i}]"
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise ConfigError(f"{where}: needs a 'type'")
        if not isinstance(exp.get("kwargs", {}), dict):
            raise ConfigError(f"{where} ({exp['type']}): 'kwargs' must be an object")
        meta = exp.get("meta")
        severity = meta.get("severity") if isinstance(meta, dict) else None
        if severity not in SEVERITIES:
            # Fail closed: an expectation without a severity would be neither fatal nor ignorable.
            raise ConfigError(
                f"{where} ({exp['type']}): meta.severity must be one of {SEVERITIES}, not {severity!r}"
            )
        top = exp.get("severity")
        if top is not None and top != severity:
            raise ConfigError(
                f"{where} ({exp['type']}): severity {top!r} contradicts meta.severity {severity!r}"
            )
    return raw


def build_gx_suite(spec: dict[str, Any]):
    """A gx.ExpectationSuite with one Expectation per spec entry, in order.

    Each expectation is built explicitly: ExpectationSuite(expectations=[dicts]) only logs and
    drops an invalid one, which would silently shrink the suite.
    """
    quiet_gx()
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectations = []
    for i, exp in enumerate(spec["expectations"]):
        severity = exp["meta"]["severity"]
        try:
            config = ExpectationConfiguration(
                type=exp["type"],
                kwargs=dict(exp.get("kwargs") or {}),
                meta=dict(exp["meta"]),
                severity=severity,
            )
            expectations.append(config.to_domain_obj())
        except Exception as exc:  # broad ok: builds a suite from JSON in memory (no storage): GX raises various types
            raise ConfigError(
                f"suite {spec['name']!r}: expectations[{i}] ({exp['type']}) is invalid: {exc}"
            ) from exc
    suite = gx.ExpectationSuite(name=spec["name"], expectations=expectations, meta=spec.get("meta"))
    if len(suite.expectations) != len(expectations):
        raise ConfigError(
            f"suite {spec['name']!r}: GX kept {len(suite.expectations)} of {len(expectations)} expectations"
        )
    return suite


# ---------------------------------------------------------------------------- GX context
def ephemeral_context():
    """A quiet in-memory GX context: no usage statistics, no progress bars, nothing on disk."""
    quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


# ---------------------------------------------------------------------------- running
def run_suite(df: pd.DataFrame, suite_path: Path | str, stage: str = "raw batch") -> ValidationReport:
    """Evaluate every expectation of the suite at `suite_path` on `df`."""
    spec = load_suite_json(suite_path)
    context = ephemeral_context()
    # Adding the suite to the context gives every expectation an id, which is how results
    # (which GX returns in its own order) are matched back to the suite's entries.
    suite = context.suites.add(build_gx_suite(spec))
    batch = (
        context.data_sources.add_pandas(_DATASOURCE)
        .add_dataframe_asset(_ASSET)
        .add_batch_definition_whole_dataframe(_BATCH_DEFINITION)
        .get_batch(batch_parameters={"dataframe": df})
    )
    outcome = batch.validate(suite, result_format=RESULT_FORMAT)
    by_id = {r.expectation_config.id: r for r in outcome.results}

    results = []
    for exp, gx_exp in zip(spec["expectations"], suite.expectations, strict=True):
        gx_result = by_id.get(gx_exp.id)
        results.append(check_result(exp, gx_result))
    for check in results:
        explain_type_error(check, df)
    meta = {
        "suite": spec["name"],
        "suite_path": str(suite_path),
        "rows": int(len(df)),
        "columns": [str(c) for c in df.columns],
    }
    return ValidationReport(stage=stage, results=results, meta=meta)
