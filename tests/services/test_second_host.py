"""A second host for real: the only training worker runs in its own network namespace, joined to
this one by a veth pair with addresses of the test's making, and reaches the authenticated Prefect
and MLflow servers by IP, as a worker on another box would. Without the credentials it is refused,
and the sweep whose runs nobody takes says so. Every process is stopped by PID, the namespace and
the veth pair are deleted, pass or fail."""
from __future__ import annotations

import copy
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services.stack import children, planned_keys, run_sweep, sweep_params
from transfer_laws.tasks.common.process import child_env, python_module
from transfer_laws.tasks.services import auth, servers

CREDENTIAL_VARS = (auth.PREFECT_CLIENT, auth.MLFLOW_USER, auth.MLFLOW_PASSWORD)
UNCLAIMED_POOL = "transfer-laws-unclaimed"  # polled only by the worker without credentials
SLOTS = 6  # runs the second host trains at once (the micro runs mostly wait on process starts)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def second_host():
    """(namespace, host-side IP, IP inside): a network namespace linked to this one by a veth pair
    on a /30 of 10.231.0.0/16 that no interface or route here uses yet; deleted afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a network namespace needs root and iproute2's `ip`")
    subnet = next((s for s in ipaddress.ip_network("10.231.0.0/16").subnets(new_prefix=30)
                   if s.network_address.packed[2] >= os.getpid() % 200 and not _in_use(s)), None)
    if subnet is None:
        pytest.skip("no free /30 in 10.231.0.0/16 for the veth pair")
    tag = f"{os.getpid() % 100000}"
    ns, host_if, ns_if = f"tl2nd{tag}", f"tlh{tag}", f"tln{tag}"
    host_ip, ns_ip = (str(a) for a in subnet.hosts())
    made = _ip("netns", "add", ns, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
    try:
        for args in (("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns),
                     ("addr", "add", f"{host_ip}/30", "dev", host_if), ("link", "set", host_if, "up"),
                     ("-n", ns, "addr", "add", f"{ns_ip}/30", "dev", ns_if), ("-n", ns, "link", "set", ns_if, "up"),
                     ("-n", ns, "link", "set", "lo", "up")):
            _ip(*args)
        yield ns, host_ip, ns_ip
    finally:
        _ip("link", "del", host_if, check=False)  # its peer goes with it
        _ip("netns", "del", ns, check=False)


def _in_use(subnet) -> bool:
    """Whether an address or route of this host overlaps `subnet`."""
    words = (_ip("-4", "-o", "addr").stdout + _ip("-4", "route").stdout).split()
    nets = [ipaddress.ip_network(w, strict=False) for w in words if w[0].isdigit() and w.count(".") == 3]
    return any(net.overlaps(subnet) for net in nets)


def start_worker_in(ns: str, home: Path, api: str, name: str, pool: str, env: dict[str, str],
                    credentials: auth.Credentials | None, limit: int = 2) -> servers.Service:
    """`transfer-laws worker` inside the namespace, as docs/scale-out.md runs one on each box (`ip netns
    exec` execs it: same PID, own process group, so the stack fixture stops it). The credentials reach
    it only by environment; without them none of ours leaks in from this process's environment."""
    cmd = ["ip", "netns", "exec", ns, *python_module(
        "transfer_laws.flows.cli", "worker", "--pool", pool, "--name", name, "--limit", str(limit))]
    base = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    full = {**servers.prefect_env(api), **env, **(credentials.client_env() if credentials else {})}
    log = home / "services" / f"worker-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=child_env(full, base=base), start_new_session=True)
    return servers.Service(f"worker-{name}", proc.pid, "", str(log))


def reaches(port: int, ns: str | None = None, host: str = "127.0.0.1") -> bool:
    """Whether a TCP connection to host:port opens, from here or from inside namespace `ns`."""
    if ns is None:
        try:
            socket.create_connection((host, port), timeout=3).close()
            return True
        except OSError:
            return False
    probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=3).close()"
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe],
                          capture_output=True).returncode == 0


def test_a_worker_on_a_second_host_trains_a_sweep_by_ip_and_is_refused_without_credentials(
        tmp_path, second_host, stack, monkeypatch):  # the stack stops before the namespace goes
    """Both halves at once (the suite's time is short): the sweep the second host trains, and a sweep
    whose train deployment is on a pool only a worker without credentials polls."""
    ns, host_ip, _ = second_host
    home = tmp_path / "home"
    credentials, _ = auth.init(home)
    for key, value in credentials.client_env().items():  # this test reads MLflow as a client
        monkeypatch.setenv(key, value)
    prefect = servers.start_prefect_server(home, host=host_ip, credentials=credentials, wait=False)
    stack.append(prefect)
    mlflow = servers.start_mlflow_server(home, host=host_ip, credentials=credentials, wait=False)
    stack.append(mlflow)
    servers.wait_http(prefect, "/api/health")
    api, port = prefect.url + "/api", int(prefect.url.rsplit(":", 1)[1])
    env = {"TRANSFER_LAWS_CACHE_DIR": os.environ["TRANSFER_LAWS_CACHE_DIR"]}
    servers.ensure_pools(api, credentials)
    _make_pool(api, credentials, UNCLAIMED_POOL)
    inside = start_worker_in(ns, home, api, "second-host", servers.WORK_POOL, env, credentials, limit=SLOTS)
    refused = start_worker_in(ns, home, api, "no-credentials", UNCLAIMED_POOL, env, None)
    stack += [inside, refused]
    stack.append(servers.start_worker(home, api, "control", pool=servers.CONTROL_POOL, limit=None,
                                      env=env, credentials=credentials))  # sweeps only: no training worker here
    servers.deploy(api, home, credentials=credentials)
    unclaimed = _copy_deployment(api, credentials, "train-one-run/train-one-run", "unclaimed", UNCLAIMED_POOL)
    servers.wait_http(mlflow, "/health")

    params = sweep_params(tmp_path, home, mlflow.url)
    params["config"]["execution"]["slots"] = SLOTS
    params["config"]["experiment"]["scratch_tokens"] = [8000]  # 8 runs: 2 pre-train, 2 scratch, 4 fine-tune
    params["aggregate"] = False  # the fit is not what this test is about
    nobodys = copy.deepcopy(params)
    nobodys["config"]["experiment"].update(name="micro-unclaimed", seed=1)  # seed: other run_keys
    nobodys["config"]["execution"]["deployment"] = unclaimed
    assert not set(planned_keys(nobodys)) & set(planned_keys(params))
    nobodys_sweep = _start_sweep(api, credentials, nobodys)

    # A second host: the namespace has its own loopback, and the servers listen only on the veth's IP
    with socket.create_server(("127.0.0.1", 0)) as host_only:
        assert reaches(host_only.getsockname()[1]) and not reaches(host_only.getsockname()[1], ns)
    assert reaches(port, ns, host_ip) and not reaches(port)
    assert _online(api, credentials, servers.WORK_POOL, timeout=60) == ["second-host"], \
        Path(inside.log).read_text()[-3000:]

    with ThreadPoolExecutor(1) as background:  # the second host trains while the other sweep waits
        sweep = background.submit(run_sweep, api, params, 240, credentials.client_env())
        # Without the credentials: the worker is refused, and the sweep whose runs nobody takes says so
        said = _sweep_log_line(api, credentials, nobodys_sweep, "no worker polls work pool", timeout=90)
        _cancel(api, credentials, nobodys_sweep)
        out = sweep.result()
    refused_log = Path(refused.log).read_text(errors="replace")
    assert "401 Unauthorized" in refused_log and not servers.alive(refused.pid), refused_log[-3000:]
    assert f"work pool {UNCLAIMED_POOL!r} (none has ever polled it)" in said, said  # the refused worker never got in
    assert _online(api, credentials, UNCLAIMED_POOL, timeout=0) == []
    assert not [s for s in credentials.secrets() if s in refused_log + said]

    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    runs = children(mlflow.url)
    assert sorted(r.data.tags["run_key"] for r in runs) == sorted(planned_keys(params))
    assert all(r.info.status == "FINISHED" and "best_test_loss" in r.data.metrics for r in runs)
    assert {r.data.tags.get("worker") for r in runs} == {"second-host"}  # trained inside, and only there


@contextmanager
def _client(api: str, credentials: auth.Credentials):
    """A Prefect client of the authenticated server (this process's settings untouched)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: credentials.prefect_auth_string}), \
            get_client(sync_client=True) as client:
        yield client


def _online(api: str, credentials: auth.Credentials, pool: str, timeout: float) -> list[str]:
    """Names of the pool's online workers, once there is one (or after `timeout` s)."""
    deadline = time.monotonic() + timeout
    with _client(api, credentials) as client:
        while True:
            names = [w.name for w in client.read_workers_for_work_pool(pool) if w.status == "ONLINE"]
            if names or time.monotonic() > deadline:
                return names
            time.sleep(0.5)


def _make_pool(api: str, credentials: auth.Credentials, name: str) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate

    with _client(api, credentials) as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                               base_job_template=servers.locked_job_template()))


def _copy_deployment(api: str, credentials: auth.Credentials, source: str, name: str, pool: str) -> str:
    """A copy of deployment `source` on another work pool; returns its FLOW/NAME."""
    with _client(api, credentials) as client:
        d = client.read_deployment_by_name(source)
        client.create_deployment(d.flow_id, name, work_pool_name=pool, entrypoint=d.entrypoint, path=d.path,
                                 pull_steps=d.pull_steps, parameter_openapi_schema=d.parameter_openapi_schema)
    return f"{source.split('/')[0]}/{name}"


def _start_sweep(api: str, credentials: auth.Credentials, params: dict):
    with _client(api, credentials) as client:
        deployment = client.read_deployment_by_name("transfer-sweep/sweep")
        return client.create_flow_run_from_deployment(deployment.id, parameters=params).id


def _sweep_log_line(api: str, credentials: auth.Credentials, flow_run_id, text: str, timeout: float) -> str:
    """The first line of the sweep's Prefect log (what its page in the UI shows) holding `text`."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout
    with _client(api, credentials) as client:
        while time.monotonic() < deadline:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            found = [entry.message for entry in logs if text in entry.message]
            if found:
                return found[0]
            state = client.read_flow_run(flow_run_id).state
            assert not state.is_final(), f"the sweep ended {state.name} before saying {text!r}"
            time.sleep(1)
        messages = "\n".join(entry.message for entry in logs)
    raise AssertionError(f"the sweep did not say {text!r} within {timeout:.0f} s; its log:\n{messages[-3000:]}")


def _cancel(api: str, credentials: auth.Credentials, flow_run_id) -> None:
    """Cancel the waiting sweep: its control worker kills its process (the Cancelled state comes
    later, after the cancellation hooks; the process gone is what matters here)."""
    from prefect.states import Cancelling

    with _client(api, credentials) as client:
        pid = int(str(client.read_flow_run(flow_run_id).infrastructure_pid).rsplit(":", 1)[-1])
        client.set_flow_run_state(flow_run_id, Cancelling(), force=True)
    deadline = time.monotonic() + 60
    while servers.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not servers.alive(pid), f"the cancelled sweep's process {pid} still runs"
