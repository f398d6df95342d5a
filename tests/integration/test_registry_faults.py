"""The registry under faults: a kill at every S3 call, real SIGKILLs, racing promoters, lost responses.

The property checked everywhere: after a crash at any point and a re-run of the same
publish+promote, the registry is byte-identical to the one an uninterrupted run leaves (the
audit clock is pinned so bytes can be compared), and the audit log never claims a change that
the slots do not show.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from retrain import registry
from retrain.errors import ConflictError, TransientStorageError
from retrain.keys import Keys, version_id
from retrain.registry import audit as registry_audit
from retrain.registry import dag_run_actor, history, promote, publish_version, read_slots, verify_version
from retrain.storage import PreconditionFailed

pytestmark = pytest.mark.integration

MODEL = "churn"
W1, W2, W3 = dt.date(2026, 1, 5), dt.date(2026, 1, 12), dt.date(2026, 1, 19)
FIXED_AT = "2026-01-13T03:00:00.000+00:00"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """Audit timestamps are wall-clock facts; pin them so whole registries compare byte for byte."""
    monkeypatch.setattr(registry_audit, "now_iso", lambda: FIXED_AT)
    monkeypatch.setattr(registry, "now_iso", lambda: FIXED_AT)


def run_id_for(week: dt.date, tag: str = "") -> str:
    return f"scheduled__{week.isoformat()}T02:00:00+00:00{tag}"


def files_for(week: dt.date, tag: str = "") -> dict[str, bytes]:
    # Opaque to the registry; two files keep the number of crash points (and the runtime) small.
    return {"model.joblib": b"\x80\x04model-" + week.isoformat().encode() + tag.encode(), "gate.json": b'{"passed": true}'}


def publish_and_promote(store, keys, week: dt.date, tag: str = ""):
    run_id = run_id_for(week, tag)
    version = version_id(week, run_id)
    publish_version(store, keys, version, files_for(week, tag), {"week": week.isoformat(), "run_id": run_id})
    return promote(store, keys, version, week, run_id, "weekly retrain passed the gate",
                   dag_run_actor("retrain_churn", run_id, "scheduler"))


class Killed(BaseException):
    """A simulated kill: a BaseException, so no `except Exception` in the code under test can swallow it."""


class FaultStore:
    """Delegates the registry's S3 calls, counting them; dies before call `kill_at` if set."""

    def __init__(self, inner, kill_at: int | None = None):
        self.inner, self.kill_at, self.calls = inner, kill_at, []

    def _do(self, op: str, key: str, *args, **kwargs):
        self.calls.append((op, key, "if_match" in kwargs and kwargs["if_match"] is not None))
        if len(self.calls) == self.kill_at:
            raise Killed(f"killed before call {self.kill_at}: {op} {key}")
        return getattr(self.inner, op)(key, *args, **kwargs)

    def get_with_etag(self, key):
        return self._do("get_with_etag", key)

    def head(self, key):
        return self._do("head", key)

    def put_bytes(self, key, data, **kwargs):
        return self._do("put_bytes", key, data, **kwargs)

    def list_keys(self, prefix):
        return self._do("list_keys", prefix)

    def __getattr__(self, name):  # the registry must use only the calls above (so all are counted)
        raise AttributeError(f"registry used an uncounted store method: {name}")


def registry_state(store, keys) -> dict[str, str]:
    """{key relative to the registry prefix: ETag} in ONE listing call (ETag = MD5 of the bytes)."""
    prefix = keys.registry_prefix()
    resp = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return {o["Key"][len(prefix):]: o["ETag"] for o in resp.get("Contents", [])}


def assert_same_registry(store, keys, ref_keys) -> None:
    got, want = registry_state(store, keys), registry_state(store, ref_keys)
    if got != want:  # show the differing objects, not just ETags
        diff = {k: (store.get_bytes(keys.registry_prefix() + k) if k in got else None,
                    store.get_bytes(ref_keys.registry_prefix() + k) if k in want else None)
                for k in set(got) | set(want) if got.get(k) != want.get(k)}
        pytest.fail(f"registry differs from an uninterrupted run: {diff}")


def assert_audit_truthful(store, keys) -> None:
    """Every applied audit record is backed by the slots chain; the current change is recorded or pending."""
    slots, _ = read_slots(store, keys)
    entries = history(store, keys)
    applied = [e for e in entries if e["outcome"] == "applied"]
    generation = slots.generation if slots else 0
    assert [e["generation_after"] for e in applied] == list(range(1, generation + 1))
    if slots is not None:
        assert applied[-1]["to_version"] == slots.champion.version
        assert applied[-1]["event"] == slots.updated_by["event"]


def assert_final(store, keys, champion: str, previous: str | None, n_promotions: int) -> None:
    slots, _ = read_slots(store, keys)
    assert slots.champion.version == champion
    assert (slots.previous.version if slots.previous else None) == previous
    for v in filter(None, (champion, previous)):
        verify_version(store, keys, v)
    entries = history(store, keys)
    assert [e["action"] for e in entries] == ["promote"] * n_promotions
    assert all(e.get("recorded", True) for e in entries)


# -- crash at every S3 call ---------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["first_promotion", "second_promotion"])
def test_kill_at_every_s3_call_then_rerun(store, scenario):
    """A kill before call k, for every k (before call k == after call k-1: a write that landed but
    whose caller died), plus after the last call; then the same task re-runs with a healthy store."""
    setup_weeks = [] if scenario == "first_promotion" else [W1]

    ref = Keys(MODEL, prefix=f"{scenario}-ref")
    for w in setup_weeks:
        publish_and_promote(store, ref, w)
    counter = FaultStore(store)
    assert publish_and_promote(counter, ref, W2).status == "promoted"
    n_calls = len(counter.calls)
    puts = [c for c in counter.calls if c[0] == "put_bytes"]
    assert len(puts) == 5  # 2 files, manifest, slots, audit
    assert any(c[1] == ref.slots() and c[2] == (scenario == "second_promotion") for c in puts)  # If-Match path

    champion = version_id(W2, run_id_for(W2))
    previous = version_id(W1, run_id_for(W1)) if setup_weeks else None
    for k in range(1, n_calls + 2):  # k = n_calls + 1: dies right after the last call
        keys = Keys(MODEL, prefix=f"{scenario}-k{k:02d}")
        for w in setup_weeks:
            publish_and_promote(store, keys, w)
        crashing = FaultStore(store, kill_at=k)
        if k <= n_calls:
            with pytest.raises(Killed):
                publish_and_promote(crashing, keys, W2)
        else:
            publish_and_promote(crashing, keys, W2)  # completed; the process dies before reporting
        assert_audit_truthful(store, keys)  # even in the crashed state: no unbacked claim

        rerun = publish_and_promote(store, keys, W2)
        slots_written = any(c[0] == "put_bytes" and c[1] == keys.slots() for c in crashing.calls[: k - 1])
        assert rerun.status == ("already_promoted" if slots_written else "promoted"), k
        assert_same_registry(store, keys, ref)
    assert_final(store, ref, champion, previous, len(setup_weeks) + 1)


# -- real SIGKILL -------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    import boto3
    from retrain import registry
    from retrain.registry import audit as registry_audit
    from retrain.config import Settings
    from retrain.keys import Keys, version_id
    from retrain.registry import dag_run_actor, promote, publish_version
    from retrain.storage import S3Store

    FIXED_AT = os.environ["FIXED_AT"]
    registry_audit.now_iso = registry.now_iso = lambda: FIXED_AT
    kill_at, mode = int(os.environ["KILL_AT"]), os.environ["KILL_MODE"]
    store = S3Store(Settings(bucket=os.environ["BUCKET"]))
    store.__dict__["client"] = boto3.client(  # plain boto3: no Airflow import in the child
        "s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing")

    class KillingStore:
        n = 0
        def _do(self, op, key, *args, **kwargs):
            KillingStore.n += 1
            print(f"call {KillingStore.n} {op} {key}", flush=True)
            if KillingStore.n == kill_at and mode == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            try:
                return getattr(store, op)(key, *args, **kwargs)
            finally:
                if KillingStore.n == kill_at and mode == "after":
                    os.kill(os.getpid(), signal.SIGKILL)
        def get_with_etag(self, key): return self._do("get_with_etag", key)
        def head(self, key): return self._do("head", key)
        def put_bytes(self, key, data, **kw): return self._do("put_bytes", key, data, **kw)
        def list_keys(self, prefix): return self._do("list_keys", prefix)

    week, run_id, prefix, tag = dt.date.fromisoformat(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    keys, s = Keys("churn", prefix=prefix), KillingStore()
    files = {"model.joblib": b"\\x80\\x04model-" + week.isoformat().encode() + tag.encode(),
             "gate.json": b'{"passed": true}'}
    version = version_id(week, run_id)
    publish_version(s, keys, version, files, {"week": week.isoformat(), "run_id": run_id})
    result = promote(s, keys, version, week, run_id, "weekly retrain passed the gate",
                     dag_run_actor("retrain_churn", run_id, "scheduler"))
    print("RESULT", result.status, flush=True)
    """
)


def test_sigkill_during_publish_and_promote_then_rerun(store, moto_server, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ref = Keys(MODEL, prefix="sigkill-ref")
    publish_and_promote(store, ref, W1)
    counter = FaultStore(store)
    publish_and_promote(counter, ref, W2)
    calls = counter.calls
    put_at = {i + 1 for i, c in enumerate(calls) if c[0] == "put_bytes"}
    slots_put = next(i + 1 for i, c in enumerate(calls) if c[0] == "put_bytes" and c[1] == ref.slots())
    # (Dying before call k is dying after call k-1: three points cover the distinct states.)
    points = [
        (min(put_at), "after"),  # one file of the version written, no manifest
        (slots_put, "before"),  # published and verified, killed right before the conditional write
        (slots_put, "after"),  # slots written, audit record not yet
    ]
    assert max(put_at) == slots_put + 1  # the audit record is the last write
    env = {**os.environ, "BUCKET": store.bucket, "ENDPOINT": moto_server.endpoint_url, "FIXED_AT": FIXED_AT}
    for k, mode in points:
        keys = Keys(MODEL, prefix=f"sigkill-{mode}-{k:02d}")
        publish_and_promote(store, keys, W1)
        proc = subprocess.run(
            [sys.executable, str(script), W2.isoformat(), run_id_for(W2), keys.prefix, ""],
            env={**env, "KILL_AT": str(k), "KILL_MODE": mode},
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == -signal.SIGKILL, (k, mode, proc.stdout, proc.stderr)
        printed = [line for line in proc.stdout.splitlines() if line.startswith("call ")]
        assert len(printed) == k and "RESULT" not in proc.stdout
        assert printed[-1].split()[2:] == [calls[k - 1][0], calls[k - 1][1].replace("sigkill-ref", keys.prefix)]
        assert_audit_truthful(store, keys)

        rerun = publish_and_promote(store, keys, W2)
        slots_written = k > slots_put or (k == slots_put and mode == "after")
        assert rerun.status == ("already_promoted" if slots_written else "promoted")
        assert_same_registry(store, keys, ref)
        assert_final(store, keys, version_id(W2, run_id_for(W2)), version_id(W1, run_id_for(W1)), 2)


# -- races --------------------------------------------------------------------------------------
class RacingStore(FaultStore):
    """Both racers read the slots, meet at a barrier right before the conditional write, then write in
    a fixed order (moto does not lock between its precondition check and the write)."""

    def __init__(self, inner, slots_key, barrier, wait_for=None, done=None):
        super().__init__(inner)
        self.slots_key, self.barrier, self.wait_for, self.done = slots_key, barrier, wait_for, done

    def put_bytes(self, key, data, **kwargs):
        if key != self.slots_key:
            return super().put_bytes(key, data, **kwargs)
        self.barrier.wait(timeout=30)
        if self.wait_for is not None:
            assert self.wait_for.wait(timeout=30)
        try:
            return super().put_bytes(key, data, **kwargs)
        finally:
            if self.done is not None:
                self.done.set()


def race(store, keys, first: tuple[dt.date, str], second: tuple[dt.date, str]):
    barrier, first_done = threading.Barrier(2), threading.Event()
    racers = [RacingStore(store, keys.slots(), barrier, done=first_done),
              RacingStore(store, keys.slots(), barrier, wait_for=first_done)]
    outcomes: list = [None, None]

    def run(i, week, tag):
        try:
            outcomes[i] = publish_and_promote(racers[i], keys, week, tag)
        except Exception as exc:  # collected and asserted by the test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, *spec)) for i, spec in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.mark.parametrize(
    ("start", "loser_week", "loser_outcome"),
    [
        ("empty", W2, "superseded"),  # If-None-Match race: same data week, another run
        ("champion", W2, "superseded"),  # If-Match race: same data week, another run
        ("champion", W3, "conflict"),  # the loser is newer: refused with ConflictError, never blind-retried
    ],
)
def test_two_promotions_race_exactly_one_wins(store, start, loser_week, loser_outcome):
    store.client  # noqa: B018 - build the (thread-safe) client once, before the threads
    keys = Keys(MODEL)
    setup = 0
    if start == "champion":
        publish_and_promote(store, keys, W1)
        setup = 1
    winner, loser = race(store, keys, (W2, "-a"), (loser_week, "-b"))
    assert not isinstance(winner, BaseException), winner
    assert winner.status == "promoted"
    if loser_outcome == "conflict":
        assert isinstance(loser, ConflictError), loser
        assert "conflict" in str(loser) and "re-run" in str(loser)
    else:
        assert not isinstance(loser, BaseException), loser
        assert loser.status == "superseded"

    slots, _ = read_slots(store, keys)
    winner_version = version_id(W2, run_id_for(W2, "-a"))
    assert slots.champion.version == winner_version and slots.generation == setup + 1
    assert (slots.previous.version if slots.previous else None) == (
        version_id(W1, run_id_for(W1)) if setup else None
    )
    verify_version(store, keys, winner_version)
    entries = history(store, keys)
    refusal = "promote_conflict" if loser_outcome == "conflict" else "promote_superseded"
    assert [e["action"] for e in entries] == ["promote"] * (setup + 1) + [refusal]
    assert entries[-1]["to_version"] == version_id(loser_week, run_id_for(loser_week, "-b"))
    assert entries[-1]["generation_after"] == setup + 1  # sorted after the generation it saw
    assert_audit_truthful(store, keys)

    # the loser's task is retried: a newer loser now promotes cleanly; a same-week loser stays refused
    retry = publish_and_promote(store, keys, loser_week, "-b")
    assert retry.status == ("promoted" if loser_outcome == "conflict" else "superseded")
    assert [e["action"] for e in history(store, keys)][-1] == (
        "promote" if loser_outcome == "conflict" else refusal
    )
    assert len(history(store, keys)) == setup + 2 + (loser_outcome == "conflict")


# -- lost responses and late repairs ------------------------------------------------------------
class LostResponseStore(FaultStore):
    """The write lands, but the caller sees an error (a retried PUT answered 412, or a timeout)."""

    def __init__(self, inner, key, error):
        super().__init__(inner)
        self.key, self.error = key, error

    def put_bytes(self, key, data, **kwargs):
        result = super().put_bytes(key, data, **kwargs)
        if key == self.key:
            self.key = None
            raise self.error
        return result


def test_lost_slots_response_reports_already_promoted(store):
    keys = Keys(MODEL)
    publish_and_promote(store, keys, W1)
    lost = LostResponseStore(store, keys.slots(), PreconditionFailed("retried PUT: 412"))
    result = publish_and_promote(lost, keys, W2)
    assert result.status == "already_promoted"
    assert_final(store, keys, version_id(W2, run_id_for(W2)), version_id(W1, run_id_for(W1)), 2)


def test_lost_audit_write_is_repaired_by_the_rerun(store):
    keys = Keys(MODEL)
    publish_and_promote(store, keys, W1)
    audit_key = keys.audit_event(registry_audit.change_event_id(2, "promote", run_id_for(W2)))
    lost = LostResponseStore(store, audit_key, TransientStorageError("put: timeout"))
    with pytest.raises(TransientStorageError):
        publish_and_promote(lost, keys, W2)
    assert publish_and_promote(store, keys, W2).status == "already_promoted"
    assert_final(store, keys, version_id(W2, run_id_for(W2)), version_id(W1, run_id_for(W1)), 2)


def test_missing_audit_is_repaired_by_the_next_change(store):
    """Week 2 dies between its slots write and its audit write and is never re-run; week 3's
    promotion writes week 2's record first, so the log still has one entry per change, in order."""
    keys = Keys(MODEL)
    publish_and_promote(store, keys, W1)

    class DieBeforeAudit(FaultStore):
        def put_bytes(self, key, data, **kwargs):
            if key.startswith(keys.audit_prefix()):
                raise Killed("killed before the audit write")
            return super().put_bytes(key, data, **kwargs)

    with pytest.raises(Killed):
        publish_and_promote(DieBeforeAudit(store), keys, W2)
    pending = history(store, keys)
    assert [e.get("recorded", True) for e in pending] == [True, False]  # shown, marked not yet recorded
    publish_and_promote(store, keys, W3)
    entries = history(store, keys)
    assert [(e["action"], e["to_version"]) for e in entries] == [
        ("promote", version_id(w, run_id_for(w))) for w in (W1, W2, W3)
    ]
    assert_final(store, keys, version_id(W3, run_id_for(W3)), version_id(W2, run_id_for(W2)), 3)
    assert json.loads(store.get_bytes(keys.audit_event(entries[1]["event"])))["at"] == FIXED_AT
