"""The "Model retraining" page in a real browser, inside a real Airflow API server.

The demo's 12 fraud weeks run through the real weekly DAG (dag.test on the session's SQLite
metadata DB, moto S3 over HTTP); week 12's batch also carries a column named like a script tag,
so a value from the data reaches the validation report. Then `airflow api-server` (SimpleAuthManager,
throwaway secrets, a free loopback port, the same SQLite DB) serves the UI, and headless Chromium
(Debian's `chromium`, driven by Playwright) logs in through the form, opens Browse -> "Model
retraining: fraud", and checks what a person would check. Screenshots go to .run/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from retrain.config import Settings, load_model_config
from retrain.keys import Keys

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".run"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START = dt.date(2026, 1, 5)
WEEKS = [START + dt.timedelta(weeks=i) for i in range(12)]
HOSTILE = "<script>window.__injected=1</script>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def story(moto_server, airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from retrain.core.frames import from_bytes, to_bytes
    from retrain.storage import S3Store
    from retrain_dev.datagen.landing import land_weeks
    from retrain_dev.demo import run_weeks

    bucket = f"retrain-ui-{uuid.uuid4().hex[:8]}"
    saved = os.environ.get("RETRAIN_BUCKET")
    os.environ["RETRAIN_BUCKET"] = bucket
    try:
        cfg = load_model_config("fraud")
        store = S3Store(Settings(bucket=bucket))
        store.ensure_bucket()
        keys = Keys("fraud", "")
        land_weeks(store, cfg, start=START, weeks=12, scenario="demo", rows=2500, history_weeks=1)
        last = keys.landing(WEEKS[-1], cfg.data.format)
        batch = from_bytes(store.get_bytes(last), cfg.data.format)
        batch[HOSTILE] = 1  # an unexpected column: its name is data the report must show as text
        store.put_bytes(last, to_bytes(batch, cfg.data.format))
        dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["retrain_fraud"]
        outcomes = [run_weeks(dag, cfg, store, [w])[0] for w in WEEKS]
        yield {"outcomes": outcomes, "store": store, "keys": keys, "bucket": bucket}
    finally:
        if saved is None:
            os.environ.pop("RETRAIN_BUCKET", None)
        else:
            os.environ["RETRAIN_BUCKET"] = saved


@pytest.fixture(scope="module")
def api_server(story, tmp_path_factory):
    """`airflow api-server` on a free loopback port, same metadata DB and S3 as the story."""
    import requests

    home = tmp_path_factory.mktemp("api-server")
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    port = _free_port()
    env = {**os.environ, "RETRAIN_BUCKET": story["bucket"],
           "AIRFLOW__CORE__AUTH_MANAGER":
               "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
           "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
           "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           "AIRFLOW__API__WORKERS": "1"}
    log_path = home / "api-server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "api-server", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"api-server did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield {"url": url, "password": password, "log": log_path}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_unauthenticated_requests_are_refused(api_server, story):
    import requests

    url = api_server["url"]
    for path in ("/retrain-ui/", "/retrain-ui/models/fraud", "/retrain-ui/api/models/fraud"):
        resp = requests.get(url + path, timeout=30)
        assert resp.status_code == 401, (path, resp.status_code, resp.text[:200])
        assert "Model retraining" not in resp.text and "2026-W" not in resp.text
        forged = requests.get(url + path, cookies={"_token": "not-a-jwt"}, timeout=30)
        assert forged.status_code in (401, 403), (path, forged.status_code)
        bearer = requests.get(url + path, headers={"Authorization": "Bearer forged"}, timeout=30)
        assert bearer.status_code in (401, 403), (path, bearer.status_code)
    token = requests.post(f"{url}/auth/token", json={"username": "admin", "password": api_server["password"]},
                          timeout=30).json()["access_token"]
    w5 = next(o for o in story["outcomes"] if o["trigger"] == "drift")
    day = w5["logical_date"][:10]
    resp = requests.get(url + f"/retrain-ui/api/models/fraud?on={day}", headers={"Authorization": f"Bearer {token}"},
                        timeout=60)
    assert resp.status_code == 200 and resp.json()["model"] == "fraud"
    assert resp.json()["in_production_on"]["change"]["version"] == w5["challenger_version"]


def test_the_page_shows_what_happened_in_the_demo(api_server, story):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium (.ci/run does)")
    outcomes = story["outcomes"]
    promoted = [o for o in outcomes if o["outcome"] == "promoted"]
    gated = [o for o in outcomes if (o.get("gate") or {}).get("passed") is not None]
    rejected = [o for o in gated if not o["gate"]["passed"]]
    # the demo's story: week 10's age retrain is not provably as good as the champion (the paired gate)
    assert [o["trigger"] for o in promoted] == ["first_deployment", "drift"]
    RUN_DIR.mkdir(exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(api_server["url"] + "/")
            page.locator("input[name=username]").fill("admin")
            page.locator("input[name=password]").fill(api_server["password"])
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Browse").click(timeout=60_000)
            page.get_by_role("menuitem", name="Model retraining: fraud").click()
            frame = page.frame_locator("iframe").first
            frame.locator("#promotions").wait_for(timeout=60_000)
            page.screenshot(path=str(RUN_DIR / "retraining-page-in-airflow.png"))

            # the trend: one point (and one table row) per promotion, with its trigger
            assert frame.locator("g.point").count() == len(promoted) * 3  # three metric charts
            rows = frame.locator("#promotions tr.promotion")
            assert rows.count() == len(promoted)
            assert [rows.nth(i).locator("td.trigger").inner_text() for i in range(rows.count())] == \
                [o["trigger"] for o in promoted]
            for i, o in enumerate(promoted):
                assert o["challenger_version"] in rows.nth(i).inner_text()
                href = rows.nth(i).locator("a").get_attribute("href")
                assert href == f"/dags/retrain_fraud/runs/{o['run_id'].replace(':', '%3A').replace('+', '%2B')}"

            # the gate failure rate from the outcomes
            rate = frame.locator("#gate-rate")
            assert float(rate.get_attribute("data-rate")) == pytest.approx(len(rejected) / len(gated))
            assert f"{len(rejected)} of {len(gated)} gated runs rejected" in rate.inner_text()
            assert "ABOVE THE LIMIT" in rate.inner_text()  # 3 of 5 > 20%
            assert rejected[0]["week"] in frame.locator("#rejections").inner_text()

            # what was in production on date X: the week-5 promotion took effect when its run ran
            w5_run_day = dt.date.fromisoformat(promoted[1]["logical_date"][:10])
            asof = frame.locator("#asof")
            asof.fill(w5_run_day.isoformat())
            assert promoted[1]["challenger_version"] in frame.locator("#asof-answer").inner_text()
            asof.fill((w5_run_day - dt.timedelta(days=1)).isoformat())
            assert promoted[0]["challenger_version"] in frame.locator("#asof-answer").inner_text()
            asof.fill("2025-12-01")
            assert "no model was in production" in frame.locator("#asof-answer").inner_text()

            # a value from the data is text, never markup
            report = frame.locator(f".validation[data-week='{WEEKS[-1].isoformat()}']")
            assert HOSTILE in report.inner_text()
            frame_handle = next(f for f in page.frames if "/retrain-ui/" in f.url)
            assert frame_handle.evaluate("typeof window.__injected") == "undefined"
            assert page.evaluate("typeof window.__injected") == "undefined"

            inner = browser.new_page(viewport={"width": 1100, "height": 1000})
            inner.context.add_cookies(page.context.cookies())
            inner.goto(api_server["url"] + "/retrain-ui/models/fraud")
            inner.screenshot(path=str(RUN_DIR / "retraining-page.png"), full_page=True)
        finally:
            browser.close()


def test_static_report_is_self_contained(story, tmp_path):
    from retrain.cli import main

    out = tmp_path / "report.html"
    assert main(["report", "--model", "fraud", "--out", str(out)]) == 0
    html = out.read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<link" not in html and "src=" not in html
    assert HOSTILE not in html and "&lt;script&gt;window.__injected=1&lt;/script&gt;" in html
    RUN_DIR.mkdir(exist_ok=True)
    shutil.copy(out, RUN_DIR / "retraining-report.html")
