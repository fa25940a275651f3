"""The UI journey in a real browser (`make test-ui`): the services on loopback with authentication
(PostgreSQL behind Prefect), then through the pages only: a login to each UI (a stranger and a wrong
password refused), the sweep deployment's custom-run form filled and submitted (a flow run that
tries to choose the workers' command is refused first), a training run failing through the fault
file, Retry pressed on it in the Prefect UI, the sweep retried there to its report, the runs browsed
in the MLflow UI, and no secret anywhere. Screenshots of each step land in the test's folder (or
$UI_SCREENSHOTS). Waiting for a flow run to end reads the API (Prefect's client); every action is a
click."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as BrowserError
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from tests.services.stack import (
    children,
    flow_runs_cannot_choose_what_a_worker_executes,
    leaked,
    planned_keys,
    prefect_db_on,
    start_stack,
    sweep_params,
)
from tests.ui.browser import Shots, browser_page, fill
from transfer_laws.tasks.services import auth, servers

pytestmark = pytest.mark.ui
RUN_NAME = "ui-micro-sweep"


def state_of(run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state.type.value


def wait_final(page, run_id: str) -> str:
    """The flow run's final state, read from the API (the sweep's own poll) with the browser on a
    blank page meanwhile: a Prefect page left open redraws its live run graph and logs, which took
    40 % of both cores here (measured with top) and slowed the runs it watched."""
    from transfer_laws.tasks.sweep.fanout import _wait

    page.goto("about:blank")
    return _wait(run_id).state.type.value


def wait_named_run(name: str, timeout: float = 60) -> str | None:
    """The id of the flow run called `name`, once the server has it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
            if runs:
                return str(runs[0].id)
            time.sleep(0.5)
    return None


def log_in_to_prefect(page, ui: str, auth_string: str, shots: Shots) -> None:
    """The Prefect UI sends a stranger to its login page; a wrong auth string stays there, the
    right one opens the dashboard (the UI keeps it for the session)."""
    page.goto(f"{ui}/dashboard")
    page.wait_for_url(re.compile(r"/login"))
    password = page.locator("input[type=password]")
    password.wait_for()
    shots(page, "prefect-login")
    password.fill(auth_string + "-wrong")
    page.keyboard.press("Enter")
    page.get_by_text("Authentication failed.").first.wait_for()
    assert "/login" in page.url
    password.fill(auth_string)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/dashboard"))
    # the signed-in navigation: the dashboard's first render waits on the server's first API calls
    # after start-up, which took over 30 s twice in ~20 clean-clone runs on 2 loaded cores
    page.get_by_text("Work Pools", exact=True).first.wait_for(timeout=90_000)


def mlflow_refuses_strangers(mlflow_url: str, username: str, password: str) -> None:
    """MLflow's basic-auth app challenges the browser: no credentials and wrong ones are refused."""
    for credentials in (None, {"username": username, "password": password + "-wrong", "origin": mlflow_url}):
        with browser_page(http_credentials=credentials) as page:
            try:  # Chromium shows the 401 page, or gives up on credentials it was given
                status = page.goto(mlflow_url).status
            except BrowserError as refused:
                assert "ERR_INVALID_AUTH_CREDENTIALS" in str(refused), refused
                status = 401
            assert status == 401, (credentials, status)


def submit_sweep_from_form(page, ui: str, params: dict, shots: Shots) -> str:
    """Deployments -> sweep -> Run -> Custom run; every SweepConfig field it needs typed in, group
    by group (the form draws experiment, optimiser, execution, tracking and fit as sections)."""
    page.goto(f"{ui}/deployments")
    page.get_by_role("link", name="sweep", exact=True).click()
    page.get_by_text("transfer-laws-control").first.wait_for()
    shots(page, "prefect-deployment")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    page.get_by_text("the D_F grid: target tokens per fine-tune").wait_for()  # fields carry their docs
    for doc in ("MLflow experiment name", "target non-embedding parameter counts N",
                "seeds per scratch and fine-tune point"):
        assert page.get_by_text(doc).first.is_visible(), doc
    shots(page, "prefect-custom-run-form")
    for settings in params["config"].values():  # field names are unique across the groups
        for key, value in settings.items():
            if value is not None:
                fill(page, key, value)
    fill(page, "bootstrap", params["bootstrap"], label="bootstrap")
    run_name = page.locator(".flow-run-name-input input")
    run_name.fill(RUN_NAME)  # last: the form draws a random name of its own when it opens
    assert run_name.input_value() == RUN_NAME
    shots(page, "prefect-form-filled", full_page=True)
    page.get_by_role("button", name="Submit").click()
    run_id = wait_named_run(RUN_NAME)
    if run_id is None:
        shots(page, "prefect-after-submit")
        raise AssertionError(f"no flow run named {RUN_NAME} 60 s after Submit (see the screenshot)")
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    page.get_by_text(RUN_NAME).first.wait_for()
    return run_id


def retry_in_ui(page, ui: str, run_id: str) -> None:
    """Retry on the flow run's page, confirmed in its dialog; returns once the run has left its
    final state (the click only asks the server to reschedule it)."""
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    before = state_of(run_id)
    page.get_by_role("button", name="Retry", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Retry", exact=True).click()
    deadline = time.monotonic() + 30
    while state_of(run_id) == before:
        assert time.monotonic() < deadline, f"flow run {run_id} still {before} 30 s after Retry"
        time.sleep(0.2)


def see_state(page, ui: str, run_id: str, state: str) -> None:
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    page.get_by_text(state, exact=True).first.wait_for()


def browse_mlflow(page, mlflow_url: str, labels: list[str], shots: Shots) -> None:
    """MLflow home -> Model training -> the experiment -> its parent run and children -> artifacts."""
    page.goto(mlflow_url)
    page.get_by_text("Model training", exact=True).first.click()
    page.get_by_role("link", name="micro", exact=True).first.click()
    page.get_by_text("config hash").first.wait_for()  # the experiment's description
    parent = page.get_by_role("link", name=re.compile(r"^sweep-[0-9a-f]{12}$"))
    parent.first.wait_for()
    shots(page, "mlflow-experiment")
    view = page.get_by_role("link", name="transfer-laws view").first  # in the description
    page.goto(mlflow_url + view.get_attribute("href"))  # it opens in a new tab; here in this one
    page.get_by_text("You're viewing a shared view").wait_for()
    for column in ("kind", "params_non_embedding", "dataset_tokens", "best_test_loss"):
        page.get_by_text(column, exact=True).first.wait_for()  # a column, with no column picking
    for label in labels:  # run names say kind, N, D and source too
        page.get_by_role("link", name=label, exact=True).first.wait_for()
    shots(page, "mlflow-runs-by-best-loss")
    page.get_by_role("link", name=labels[0], exact=True).first.click()
    page.get_by_text("best_test_loss").first.wait_for()
    page.get_by_text("params_non_embedding").first.wait_for()
    shots(page, "mlflow-child-run")
    page.go_back()
    page.get_by_role("link", name=re.compile(r"^sweep-[0-9a-f]{12}$")).first.click()
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("report", exact=True).first.click()
    page.get_by_text("report.md").first.wait_for()
    page.get_by_text("fig1_effective_data.png").first.click()  # the paper's figure 1, previewed
    page.locator("img[alt='report/fig1_effective_data.png']").wait_for()
    shots(page, "mlflow-parent-artifacts")


def test_log_in_schedule_fail_retry_and_browse_through_the_pages(tmp_path, stack, monkeypatch):
    home = tmp_path / "home"
    fault = tmp_path / "faults.txt"
    credentials, _ = auth.init(home)
    for key, value in credentials.client_env().items():  # the test reads MLflow as a client too
        monkeypatch.setenv(key, value)
    pg, _ = servers.start_postgres()  # Prefect on SQLite answered the UI's Submit with "database is
    stack.append(pg)                  # locked" (measured: 1 run in 3), as its docs warn under load
    api, mlflow_url = start_stack(stack, home, prefect_db=prefect_db_on(pg),
                                  worker_env={"TRANSFER_LAWS_FAULT_FILE": str(fault)}, credentials=credentials,
                                  limit=2)  # two runs a worker: a micro run mostly waits on process starts
    ui = api.removesuffix("/api")
    params = sweep_params(tmp_path, home, mlflow_url)
    params["config"]["execution"]["slots"] = 4  # typed into the form like every field (zero_shot: a switch)
    flow_runs_cannot_choose_what_a_worker_executes(api, credentials, params, tmp_path / "pwned")
    keys = planned_keys(params)
    bad = next(k for k, label in keys.items() if label.startswith("scratch") and "D=8.0e3" in label)
    fault.write_text(bad)  # this run fails until the file is gone
    shots = Shots(tmp_path / "screenshots")

    mlflow_refuses_strangers(mlflow_url, credentials.mlflow_username, credentials.mlflow_password)
    login = {"username": credentials.mlflow_username, "password": credentials.mlflow_password,
             "origin": mlflow_url}  # typed into the browser's dialog for MLflow only
    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: credentials.prefect_auth_string}), \
            browser_page(http_credentials=login) as page:
        log_in_to_prefect(page, ui, credentials.prefect_auth_string, shots)
        sweep_id = submit_sweep_from_form(page, ui, params, shots)
        assert wait_final(page, sweep_id) == "FAILED"
        see_state(page, ui, sweep_id, "Failed")
        page.get_by_text("Subflow Runs", exact=True).click()  # the sweep's train-one-run flow runs
        page.get_by_role("link", name=keys[bad], exact=True).click()
        page.wait_for_url(lambda url: sweep_id not in url)
        page.get_by_text("Failed", exact=True).first.wait_for()
        failed_id = page.url.rsplit("/", 1)[-1]
        shots(page, "prefect-failed-run")

        fault.unlink()
        retry_in_ui(page, ui, failed_id)
        assert wait_final(page, failed_id) == "COMPLETED"
        see_state(page, ui, failed_id, "Completed")
        shots(page, "prefect-retried-run")
        assert [r.info.status for r in children(mlflow_url) if r.data.tags["run_key"] == bad] == ["FINISHED"]

        retry_in_ui(page, ui, sweep_id)  # the sweep again, from its page: every run done, the report
        assert wait_final(page, sweep_id) == "COMPLETED"
        see_state(page, ui, sweep_id, "Completed")
        shots(page, "prefect-sweep-completed")

        runs = children(mlflow_url)
        assert sorted(r.data.tags["run_key"] for r in runs) == sorted(keys)  # one per run_key
        assert all(r.info.status == "FINISHED" for r in runs)
        assert {r.data.tags.get("worker") for r in runs} <= {"cpu-0", "cpu-1"}  # trained by the workers
        assert (home / "reports" / "micro" / "latest" / "report.md").exists()
        browse_mlflow(page, mlflow_url, sorted(keys.values())[:3], shots)
    assert leaked(credentials, home, api, runs, [], stack) == []
