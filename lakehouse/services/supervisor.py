"""Processes of the stack: start, pid files, health waiting, stop, resident memory; one `Service` each.

Every process we start gets a pid file and a log under ``<state>/run`` and
``<state>/logs``; ``down`` only signals processes whose pid file we wrote and
whose command line is still ours.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lakehouse.core.errors import ServiceError
from lakehouse.core.settings import Settings, port_variables


def say(message: str) -> None:
    print(f"[lake] {message}", flush=True)


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def http_json(url: str, timeout: float = 2.0, context: "ssl.SSLContext | None" = None) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class Service:
    """One long-running process of the stack."""

    name: str
    ports: list[int]
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    url: str = ""
    env: Callable[[], dict[str, str]] = dict
    prepare: Callable[[], None] = lambda: None  # before the process starts (config files, first-start init)
    # What the running service must hold (a bucket, roles and databases, pools); idempotent. `up` runs it
    # once the service answers, whether it started it or found it running, so a stack a failed `up`
    # left half set up is completed by the next `up`.
    set_up: Callable[[], None] = lambda: None
    start_timeout: float = 180.0
    marker: str = ""  # a string every command line of ours contains
    group: str = ""
    needs: tuple[str, ...] = ()  # services that must answer before this one starts (`up` starts them too)
    # how `down` asks it to stop: signal and whether to send it to the whole process group
    stop_signal: int = signal.SIGTERM
    stop_group: bool = True
    # seconds `down` waits after stop_signal before it sends SIGKILL to the service's process group
    stop_timeout: float = 30.0
    stop_note: str = ""  # why a SIGKILL after stop_timeout is expected and harmless, said with it
    # once this holds after stop_signal, what still runs may be killed without waiting out stop_timeout
    stop_done: Callable[[], bool] | None = None
    settings: Settings = field(kw_only=True)  # every recipe passes the settings it was built for

    @property
    def pid_file(self) -> Path:
        return self.settings.state_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.state_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """Our pid for this service, if the process is alive and still ours."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        return pid if self.marker in cmdline else None

    def _process_alive(self) -> bool:
        """The process in our pid file exists and is not a zombie (its command line may be mid-exec)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return False
        return state != "Z"

    def start(self) -> None:
        busy = [p for p in self.ports if port_open(self.settings.host, p)]
        if busy:
            variables = [v for v, (service, _) in port_variables().items() if service == (self.group or self.name)]
            raise ServiceError(
                f"{self.name}: port {', '.join(map(str, busy))} on {self.settings.host} is already in use by a "
                f"program lake did not start. Stop that program, or move {self.name} to a free port in "
                f"lake_config/environments/{self.settings.env.name}.yaml (or "
                f"{', '.join(variables) or f'LAKE_{self.name.upper()}_PORT'}).")
        self.prepare()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")
        log.write(f"\n==== lake up {time.strftime('%Y-%m-%d %H:%M:%S')} ====\n".encode())
        log.flush()
        env = {**os.environ, **self.env()}
        proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, cwd=self.settings.state_dir)
        self.pid_file.write_text(str(proc.pid))

    def wait_healthy(self, quiet: bool = False) -> None:
        started = time.monotonic()
        last_note = started
        while time.monotonic() - started < self.start_timeout:
            if self.healthy():
                if not quiet:
                    say(f"{self.name}: up after {time.monotonic() - started:.0f}s {self.url}")
                return
            if not self._process_alive():
                raise ServiceError(f"{self.name} exited during start-up. Last lines of {self.log_file}:\n"
                                   + tail(self.log_file, 25))
            if time.monotonic() - last_note > 15:
                say(f"{self.name}: still starting ({time.monotonic() - started:.0f}s)")
                last_note = time.monotonic()
            time.sleep(1)
        raise ServiceError(f"{self.name} did not become healthy in {self.start_timeout:.0f}s. "
                           f"Last lines of {self.log_file}:\n" + tail(self.log_file, 25))

    def _still_ours(self, pid: int) -> bool:
        """``pid`` runs and is ours: its command line holds our marker, or is empty, as it is while the
        process exits (or execs); a zombie or another program that got the pid is not ours."""
        if not _process_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        return not cmdline.strip() or self.marker in cmdline

    def _wait_exit(self, pid: int, timeout: float, done: Callable[[], bool] | None = None) -> bool:
        """Wait up to ``timeout`` s for our process ``pid`` to end; True when it has.

        ``done``: stop waiting (False) as soon as it holds, the process still running."""
        deadline = time.monotonic() + timeout
        while True:
            try:  # reap it if this process started it (`up` and `down` in one process, as in tests)
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not self._still_ours(pid):
                return True
            if time.monotonic() >= deadline or (done is not None and done()):
                return False
            time.sleep(0.2)

    def stop(self) -> bool:
        """Send stop_signal, wait up to stop_timeout, then SIGKILL the process group (pgid = our pid,
        from start_new_session) and say so. False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        tree = process_tree(pid)[1:]  # what it started, in its group or in sessions of their own
        try:
            if self.stop_group:
                os.killpg(pid, self.stop_signal)
            else:
                os.kill(pid, self.stop_signal)
        except ProcessLookupError:
            pass
        signalled = time.monotonic()
        if not self._wait_exit(pid, self.stop_timeout, self.stop_done):
            say(f"{self.name}: still running {time.monotonic() - signalled:.0f}s after "
                f"{signal.Signals(self.stop_signal).name}; sending SIGKILL to its process group {pid}" + (f" ({self.stop_note})" if self.stop_note else ""))
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._wait_exit(pid, 10)
        deadline = time.monotonic() + 2  # children of a stopped process usually end with it
        while (left := [p for p in tree if _process_alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:  # e.g. an Airflow Edge worker's task processes, each in a session of its own
            say(f"{self.name}: stopping {len(left)} process(es) it started that outlived it: {left}")
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # An exiting process loses its command line before its sockets close: wait for the
        # ports too, or a `down` then `up` finds the old one still answering.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(port_open(self.settings.host, p) for p in self.ports):
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        return True


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


def _process_alive(pid: int) -> bool:
    """A running process (a zombie, dead but not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (children, theirs, …), whatever session or group they are in."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(proc.name))
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def rss_tree_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024
