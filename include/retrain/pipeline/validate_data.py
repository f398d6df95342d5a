"""validate_data: the GX suite on the newest raw batch, every older partition of the window,
and the family's stages; or, for an earlier data version, that run's validation record.
"""

from __future__ import annotations

import logging

from retrain.errors import MissingInputError
from retrain.pipeline.run import Run
from retrain.storage import ObjectNotFound

log = logging.getLogger(__name__)


class ValidateData(Run):
    def validate(self, data_version: str | None = None) -> dict:
        """GX suite on the newest raw batch + checks over the training window; raises on critical.

        With `data_version` the run trains on an earlier run's inputs: that run's validation
        record is the check (it must have passed), this week's landing data is not read.
        """
        from retrain.core.features import assemble_window, window_weeks
        from retrain.validation import (
            STAGE,
            ValidationReport,
            raise_if_failed,
            run_window_checks,
            suite_path_for,
        )
        from retrain.validation import partitions as part

        if data_version:
            return self._validated_data_version(data_version)
        ctx, cfg = self.ctx, self.ctx.cfg
        loader = self.loader()
        records, suite = part.PartitionRecords(self.store, ctx.keys), suite_path_for(cfg.data)
        # the newest batch's record (written by evaluate_triggers) is reused while its bytes are unchanged;
        # a batch that never landed -> MissingInputError (fails closed)
        batch_report, _ = part.validate_partition(loader, cfg, ctx.week, suite, records, run=ctx.describe())
        family_stages = getattr(self.family, "validation_stages", None)
        if family_stages is None:
            if part.decoded(batch_report):
                window = assemble_window(loader.batches(window_weeks(ctx.week, cfg.data.window_weeks),
                                                        required=ctx.week))
                stages = [ValidationReport.combine(STAGE, batch_report, run_window_checks(window, cfg.data))]
            else:
                stages = [batch_report]
        else:
            # A family with its own stages (e.g. processed data, features) replaces the generic
            # window checks; the weekly-batch suite still runs first, and the family sees its
            # report so it can stop at the first failed stage (later stages listed as not run).
            stages = [batch_report, *family_stages(loader, cfg, ctx.week, batch_report)]
        if batch_report.passed:  # every older partition read: validated for its exact bytes
            partitions = part.window_partitions_stage(loader, cfg, suite, records, ctx.week, run=ctx.describe())
            if partitions.results:
                stages.insert(1, partitions)
        report = stages[0] if len(stages) == 1 else ValidationReport.combine(
            " + ".join(s.stage for s in stages), *stages)
        key = ctx.artifact("validation.json")
        summary = [stage_summary(i, s) for i, s in enumerate(stages, start=1)]
        self.store.put_json(key, {**ctx.describe(), **report.to_dict(), "stages": summary, "inputs": loader.lineage,
                                  "partitions": loader.partitions})  # inputs: what later tasks must read
        text = report.format_text()
        if len(stages) > 1:
            for s, line in zip(stages, summary, strict=True):
                if report.passed:  # a failure's full text is the task's failure message: logged once
                    log.info("stage %s\n%s", line["line"], s.format_text() if not line.get("not_run") else "")
            text = "\n".join(["Stages:", *(f"  {line['line']}" for line in summary), text])
        if report.passed:
            log.info("%s\nreport: s3://%s/%s", text, self.store.bucket, key)
        uri = f"s3://{self.store.bucket}/{key}"
        if not report.passed and len(stages) > 1:  # the stage list belongs in the failure text too
            from retrain.errors import DataValidationError

            raise DataValidationError(f"{text}\nFull report: {uri}", report={**report.to_dict(), "report_uri": uri})
        raise_if_failed(report, report_uri=uri)
        return {
            "passed": report.passed,
            "warnings": len(report.warnings),
            "failed": report.failed,
            "total": report.total,
            "report_key": key,
        }

    def _validated_data_version(self, data_version: str) -> dict:
        from retrain.errors import DataValidationError

        ctx = self.ctx
        src = self.data_version_source(data_version)
        source_key = self.source_artifact(src, "validation.json")
        try:
            earlier = self.store.get_json(source_key)
        except ObjectNotFound as exc:
            raise MissingInputError(f"data version {data_version!r}: its run left no validation record "
                                    f"(s3://{self.store.bucket}/{source_key})") from exc
        keep = {k: v for k, v in earlier.items() if k not in ctx.describe()}
        key = ctx.artifact("validation.json")
        self.store.put_json(key, {**ctx.describe(), **keep, "data_version": src,
                                  "validated_in": f"s3://{self.store.bucket}/{source_key}"})
        log.info("data version %s (run %s, week %s): validated in that run: %s", src["content_hash"][:12],
                 src["run_id"], src["week"], earlier.get("status"))
        if not earlier.get("passed"):
            raise DataValidationError(f"data version {data_version!r} failed validation in its run "
                                      f"({source_key}); it cannot be trained on")
        return {"passed": True, "warnings": len(earlier.get("warnings") or []), "failed": earlier.get("failed"),
                "total": earlier.get("total"), "report_key": key, "data_version": src["content_hash"]}


def stage_summary(step: int, report) -> dict:
    """One validation stage as listed in validation.json and the log: counts, or why it did not run."""
    not_run = (report.meta or {}).get("not_run")
    status = "NOT RUN" if not_run else report.status
    line = f"{step}. {report.stage}: {status}"
    line += f" ({not_run})" if not_run else f" ({report.successful}/{report.total} passed, {report.failed} failed)"
    return {
        "step": step,
        "stage": report.stage,
        "status": status,
        "not_run": not_run,
        "total": report.total,
        "successful": report.successful,
        "failed": report.failed,
        "critical_failures": [r.label for r in report.critical_failures],
        "warnings": [r.label for r in report.warnings],
        "line": line,
    }
