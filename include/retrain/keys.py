"""The layout of every S3 key the bundle reads or writes, in one place.

    {prefix}/landing/{model}/week=YYYY-MM-DD/{input}.{ext}     one partition per ISO week (Monday)
    {prefix}/runs/{model}/week=YYYY-MM-DD/run={run}/...         one folder per DAG run, per data week
    {prefix}/registry/{model}/slots.json                        champion/previous pointers (one object)
    {prefix}/registry/{model}/versions/{version}/...            immutable model versions
    {prefix}/registry/{model}/audit/{event}.json                one object per registry event
    {prefix}/runs/{model}/week=YYYY-MM-DD/validated/{input}-{sha256}.json   raw-batch validation of one
                                                                content of a landing partition (any run)
    {prefix}/predictions/{model}/week=YYYY-MM-DD/version={v}/... scores of a landed week by one version

Keys derive from the run's data week and run id only (never the wall clock), so a cleared
or backfilled run reads and writes exactly the same keys again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]")
VERSION_RE = re.compile(r"^\d{4}-W\d{2}-[0-9a-f]{8}$")


def week_start(day: dt.date) -> dt.date:
    """Monday of the ISO week containing `day`."""
    if isinstance(day, dt.datetime):
        day = day.date()
    return day - dt.timedelta(days=day.weekday())


def week_label(monday: dt.date) -> str:
    """ISO week label, e.g. 2026-W02."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def run_slug(run_id: str) -> str:
    """A run id made safe for an S3 key segment (same run id -> same slug)."""
    return _UNSAFE.sub("_", run_id)


def version_id(week: dt.date, run_id: str) -> str:
    """Deterministic model version id: the data week plus a short hash of the run id."""
    return f"{week_label(week)}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def validate_key(key: str) -> str:
    """Refuse keys that could escape a prefix once turned into a local path."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"unsafe object key: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"unsafe object key: {key!r}")
    return key


@dataclass(frozen=True)
class Keys:
    model: str
    prefix: str = ""

    def _k(self, *parts: str) -> str:
        base = [self.prefix] if self.prefix else []
        return validate_key("/".join(base + list(parts)))

    # landing zone -------------------------------------------------------------------------
    def landing_prefix(self) -> str:
        return self._k("landing", self.model) + "/"

    def landing_partition(self, week: dt.date) -> str:
        return self._k("landing", self.model, f"week={week_start(week).isoformat()}") + "/"

    def landing(self, week: dt.date, fmt: str, name: str = "batch") -> str:
        return self._k("landing", self.model, f"week={week_start(week).isoformat()}", f"{name}.{fmt}")

    # validation records of landing partitions, one per content ----------------------------
    def partition_validation(self, week: dt.date, name: str, sha256: str) -> str:
        """The raw-batch validation record of one landing partition's exact bytes."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self._k("runs", self.model, f"week={week_start(week).isoformat()}", "validated", f"{name}-{sha256}.json")

    # per-run artifacts -------------------------------------------------------------------
    def run_prefix(self, week: dt.date, run_id: str) -> str:
        return self._k("runs", self.model, f"week={week_start(week).isoformat()}", f"run={run_slug(run_id)}") + "/"

    def run_artifact(self, week: dt.date, run_id: str, name: str) -> str:
        return validate_key(self.run_prefix(week, run_id) + name)

    # registry ----------------------------------------------------------------------------
    def registry_prefix(self) -> str:
        return self._k("registry", self.model) + "/"

    def slots(self) -> str:
        return self._k("registry", self.model, "slots.json")

    def version_prefix(self, version: str) -> str:
        if not VERSION_RE.match(version):
            raise ValueError(f"not a model version id: {version!r}")
        return self._k("registry", self.model, "versions", version) + "/"

    def version_file(self, version: str, name: str) -> str:
        return validate_key(self.version_prefix(version) + name)

    def audit_prefix(self) -> str:
        return self._k("registry", self.model, "audit") + "/"

    def audit_event(self, event_id: str) -> str:
        return self._k("registry", self.model, "audit", f"{run_slug(event_id)}.json")

    # predictions (the score_<model> consumer) ----------------------------------------------
    def predictions(self, week: dt.date, version: str, name: str) -> str:
        if not VERSION_RE.match(version):
            raise ValueError(f"not a model version id: {version!r}")
        return self._k("predictions", self.model, f"week={week_start(week).isoformat()}", f"version={version}", name)
