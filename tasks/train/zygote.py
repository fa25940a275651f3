"""A pre-imported process that forks one isolated child per training run.

A cold Python spends ~5-7 s importing torch, transformers, accelerate and mlflow before its first
step; in a CPU sweep of many small runs that would dominate. The zygote (`python -m
tasks.train.zygote`) imports them once, single-threaded, then serves requests on stdin: each
request forks a child that runs `tasks.train.entry.main(argv)` and exits, so every run still has
its own process (accelerate state, GPU memory, a kill that stops it). Unlike multiprocessing's
forkserver, nothing re-imports the caller's `__main__` in the child.

Protocol (JSON lines): request {"id", "argv", "env", "log"} -> replies {"id", "pid"} when forked
and {"id", "exit"} when the child ends. When its parent dies, stdin closes and the zygote kills its
children and exits; each child also gets SIGKILL if the zygote dies (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading

from transfer_laws.tasks.common.process import STOPPING, Stopping, child_env, python_module


def _serve() -> None:
    import transfer_laws.tasks.train.preload  # noqa: F401  (the point of the zygote)

    children: dict[int, int] = {}  # pid -> request id
    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    stdin_open = True
    buf = b""
    while stdin_open or children:
        ready, _, _ = select.select([sys.stdin.buffer] if stdin_open else [], [], [], 0.05)
        if ready:
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                stdin_open = False  # parent gone: let running children finish (they die with us)
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _run_child(req)  # never returns
                children[pid] = req["id"]
                print(json.dumps({"id": req["id"], "pid": pid}), file=out, flush=True)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            rid = children.pop(pid, None)
            if rid is not None:
                print(json.dumps({"id": rid, "exit": os.waitstatus_to_exitcode(status)}), file=out,
                      flush=True)


def _run_child(req: dict) -> None:
    code = 1
    try:
        os.environ.update(req.get("env") or {})
        if req.get("log"):
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        else:  # fd 1 is the protocol pipe to the client: the run's output goes to stderr instead
            os.dup2(2, 1)
        sys.stdin.close()
        from transfer_laws.tasks.train.entry import main

        code = main(req["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Zygote:
    """Client side: one zygote per process, shared by the threads that launch runs."""

    _instance: "Zygote | None" = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self.proc = subprocess.Popen(python_module("transfer_laws.tasks.train.zygote"), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=child_env())
        first = self.proc.stdout.readline()
        if not first or not json.loads(first).get("ready"):
            raise RuntimeError("the training zygote failed to start")
        self.lock = threading.Lock()
        self.next_id = 0
        self.waiting: dict[int, dict] = {}
        self.events: dict[int, threading.Event] = {}
        threading.Thread(target=self._read, daemon=True, name="zygote-reader").start()

    @classmethod
    def get(cls) -> "Zygote":
        with cls._instance_lock:
            if STOPPING.is_set():
                raise Stopping("the sweep is being stopped: no new zygote")
            if cls._instance is None or cls._instance.proc.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def _read(self) -> None:
        try:
            for line in self.proc.stdout:
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    continue  # not ours (children never write here, but never die of it)
                with self.lock:
                    state = self.waiting.get(msg.get("id"))
                    if state is not None:
                        state.update(msg)
                        if "exit" in msg:
                            self.events[msg["id"]].set()
        finally:
            with self.lock:  # zygote gone: release every waiter
                for rid, state in self.waiting.items():
                    state.setdefault("exit", -9)
                    self.events[rid].set()

    def run(self, argv: list[str], env: dict[str, str], log: str | None, timeout: float | None) -> int:
        with self.lock:
            if STOPPING.is_set():  # the zygote is being killed: fork nothing more
                raise Stopping("the sweep is being stopped: no new run")
            rid = self.next_id
            self.next_id += 1
            self.waiting[rid] = {}
            self.events[rid] = threading.Event()
            self.proc.stdin.write((json.dumps({"id": rid, "argv": argv, "env": env, "log": log}) + "\n").encode())
            self.proc.stdin.flush()
        finished = self.events[rid].wait(timeout)
        with self.lock:
            state = self.waiting.pop(rid)
            self.events.pop(rid)
        if not finished:
            if "pid" in state and "exit" not in state:
                try:
                    os.kill(state["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return -9
        return int(state["exit"])


if __name__ == "__main__":
    _serve()
