"""``flywheel serve``: a one-machine deployment in the foreground, made of Dagster's own processes.

It starts, in order:

1. the embedded Kafka broker (:class:`KafkaBroker`, as ``flywheel infra up``), unless a broker
   already answers at ``KAFKA_BOOTSTRAP_SERVERS`` or that variable points at another machine;
2. one code server (``dagster code-server start -m orchestration.definitions``) on a local port,
   and waits until it answers with the definitions loaded;
3. ``dagster-webserver`` and ``dagster-daemon run``, both reading a generated workspace file
   (``<FLYWHEEL_HOME>/serve/workspace.yaml``, one ``grpc_server`` entry) so the UI, the daemon and
   the run workers the code server launches share that one loaded code location.

``export_defaults`` runs first, so the instance uses the shipped ``dagster.yaml`` (run queue limits,
retries, monitoring; see ``orchestration/instance.py``). ``--sensors on`` puts ``FLYWHEEL_SENSORS=on``
in the children's environment: every sensor without a state stored in the instance starts running.

Each child gets a session (and process group) of its own, so a Ctrl-C in the terminal reaches
``serve`` only, and ``serve`` stops exactly the groups it created: SIGTERM, then SIGKILL after a
grace period. (A Dagster process started with SIGINT ignored ignores SIGTERM too, since it maps one
onto the other; ``serve`` handles SIGINT itself, so its children start with the default.) The pids
are written to ``<FLYWHEEL_HOME>/serve/pids.json`` while serving. When a child dies on its own,
``serve`` names it, stops the rest and exits non-zero.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.infra.kafka_broker import (
    InfraError,
    KafkaBroker,
    free_port,
    port_answers,
    split_host_port,
)
from orchestration.settings import Settings, export_defaults, get_settings

LOCATION_NAME = "flywheel"
DEFINITIONS_MODULE = "orchestration.definitions"
CODE_SERVER_HOST = "127.0.0.1"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}

Log = Callable[[str], None]


class ServeError(RuntimeError):
    """Serving could not start or could not go on; the message says why."""


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def _tool(name: str) -> str:
    """A console script of this Python environment (the venv's ``dagster``), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise ServeError(f"`{name}` is not installed in this environment")
    return found


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _prepare_child() -> None:
    """In the child, before exec: unblock the stop signals ``spawn`` holds back while it forks, and
    (Linux) get SIGTERM should ``serve`` itself die, so nothing is left orphaned."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        # fields: state, ppid, pgrp, ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


@dataclass
class Child:
    name: str
    proc: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Server:
    """The processes of one ``flywheel serve`` and how to stop them."""

    settings: Settings
    host: str = "127.0.0.1"
    port: int = 3000
    sensors_on: bool = False
    code_server_port: int | None = None
    grace_seconds: float = 20.0
    code_server_timeout: float = 300.0
    log: Log = print
    #: When set, each child's stdout and stderr go to ``<log_dir>/<name>.log`` instead of this terminal.
    log_dir: Path | None = None
    children: list[Child] = field(default_factory=list)
    broker: KafkaBroker | None = None
    broker_pid: int | None = None
    code_port: int | None = None

    # -- paths ---------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.settings.data_dir("serve")

    @property
    def workspace_file(self) -> Path:
        return self.state_dir / "workspace.yaml"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pids.json"

    @property
    def ui_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def child_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings.as_environment())
        env["FLYWHEEL_SENSORS"] = "on" if self.sensors_on else "off"
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    # -- lifecycle -----------------------------------------------------------------------------
    def run(self) -> int:
        """Serve until SIGINT/SIGTERM (exit code 0) or until a child dies (1)."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def on_signal(signum, _frame):
            # One stop is enough: later signals are ignored while everything shuts down.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            raise _Stop(signal.Signals(signum).name)

        # Installing a handler (not SIG_IGN) also means the children start with SIGINT at default.
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        code = 1
        try:
            try:
                self.start()
                self.report_ready()
                code = self.watch()
            except _Stop as stop:
                self.log(f"{stop} received: stopping what `flywheel serve` started")
                code = 0
            except (ServeError, InfraError) as exc:
                self.log(f"error: {exc}")
        except _Stop:
            pass  # a signal while reporting an error: stopping anyway, with the error's code
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def start(self) -> None:
        ui_host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        if port_answers(ui_host, self.port):
            raise ServeError(f"{self.host}:{self.port} is already taken; pass another --port")
        self.start_kafka()
        port = self.code_port = self.code_server_port or free_port(CODE_SERVER_HOST)
        self.spawn(
            "code-server",
            [_tool("dagster"), "code-server", "start", "-m", DEFINITIONS_MODULE, "-a", "defs",
             "-h", CODE_SERVER_HOST, "-p", str(port), "--location-name", LOCATION_NAME],
        )  # fmt: skip
        self.log(f"code server: grpc {CODE_SERVER_HOST}:{port} (loading {DEFINITIONS_MODULE} ...)")
        self.wait_for_code_server(port)
        self.write_workspace(port)
        self.spawn(
            "webserver",
            [_tool("dagster-webserver"), "-h", self.host, "-p", str(self.port),
             "-w", str(self.workspace_file)],
        )  # fmt: skip
        self.spawn("daemon", [_tool("dagster-daemon"), "run", "-w", str(self.workspace_file)])
        self.write_pids()
        self.wait_for_webserver()

    def report_ready(self) -> None:
        kafka = f"started here, pid {self.broker_pid}" if self.broker_pid else "not started here"
        self.log(
            "Flywheel is serving; Ctrl-C stops everything it started.\n"
            f"  Dagster UI: {self.ui_url}\n"
            f"  code server: {CODE_SERVER_HOST}:{self.code_port} (gRPC, location {LOCATION_NAME!r})\n"
            f"  Kafka: {self.settings.kafka_bootstrap_servers} ({kafka})"
        )

    def start_kafka(self) -> None:
        bootstrap = self.settings.kafka_bootstrap_servers
        host, port = split_host_port(bootstrap)
        if port_answers(host, port):
            self.log(f"Kafka: using the broker answering at {bootstrap}")
            return
        if "," in bootstrap or host not in LOCAL_HOSTS:
            self.log(f"warning: Kafka at {bootstrap} does not answer (not started here: not this machine)")
            return
        self.broker = KafkaBroker(self.settings)
        self.broker_pid = self.broker.start(log=self.log)

    def spawn(self, name: str, argv: list[str]) -> Child:
        """Start ``argv`` in a session of its own; a stop signal waits until the child is recorded."""
        env = self.child_environment()
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{name}.log").open("ab")
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
                preexec_fn=_prepare_child,
            )
            child = Child(name, proc)
            self.children.append(child)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            if output is not None:
                output.close()  # the child holds its own descriptor
        self.log(f"started {name} (pid {proc.pid})")
        return child

    def check_children(self) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                raise ServeError(f"{child.name} (pid {child.pid}) exited unexpectedly with code {code}")
        if self.broker_pid is not None and not KafkaBroker._alive(self.broker_pid):
            raise ServeError(f"the Kafka broker (pid {self.broker_pid}) exited unexpectedly")

    def wait_for_code_server(self, port: int) -> None:
        from dagster._api.list_repositories import sync_list_repositories_grpc
        from dagster._core.errors import DagsterUserCodeProcessError
        from dagster._grpc.client import DagsterGrpcClient

        deadline = time.monotonic() + self.code_server_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.check_children()
            if port_answers(CODE_SERVER_HOST, port):
                client = DagsterGrpcClient(port=port, host=CODE_SERVER_HOST)
                try:
                    sync_list_repositories_grpc(client)
                    self.log(f"code server: {DEFINITIONS_MODULE} loaded")
                    return
                except DagsterUserCodeProcessError as exc:
                    raise ServeError(f"the code server could not load {DEFINITIONS_MODULE}:\n{exc}") from exc
                except Exception as exc:  # noqa: BLE001 - not answering yet; kept for the report
                    last_error = exc
            time.sleep(0.5)
        raise ServeError(code_server_timeout_message(self.code_server_timeout, last_error))

    def wait_for_webserver(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_children()
            try:
                with urllib.request.urlopen(f"{self.ui_url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise ServeError(f"the Dagster webserver did not answer at {self.ui_url} within {timeout:.0f}s")

    def watch(self, interval: float = 0.5) -> int:
        while True:
            try:
                self.check_children()
            except ServeError as exc:
                self.log(f"error: {exc}; stopping the rest")
                return 1
            time.sleep(interval)

    def write_workspace(self, port: int) -> None:
        self.workspace_file.write_text(
            "# Written by `flywheel serve`: the webserver and the daemon share one code server.\n"
            "load_from:\n"
            "  - grpc_server:\n"
            f"      host: {CODE_SERVER_HOST}\n"
            f"      port: {port}\n"
            f"      location_name: {LOCATION_NAME}\n"
        )

    def write_pids(self) -> None:
        data = {
            "serve": os.getpid(),
            "children": {c.name: c.pid for c in self.children},
            "kafka_broker": self.broker_pid,
            "ui": self.ui_url,
        }
        self.pid_file.write_text(json.dumps(data, indent=2) + "\n")

    # -- stopping ------------------------------------------------------------------------------
    def stop(self) -> None:
        """SIGTERM every process group this server created, SIGKILL what is left after the grace."""
        running = [c for c in reversed(self.children) if group_members(c.pid) or c.proc.poll() is None]
        for child in running:
            self._signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        while running and time.monotonic() < deadline:
            for child in running:
                child.proc.poll()  # reap the leader
            running = [c for c in running if group_members(c.pid)]
            time.sleep(0.2)
        for child in running:
            self.log(f"{child.name} (pid {child.pid}) did not stop within {self.grace_seconds:.0f}s: killing")
            self._signal_group(child.pid, signal.SIGKILL)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=10)
        if self.children:
            self.log("stopped " + ", ".join(f"{c.name} (pid {c.pid})" for c in self.children))
        self.children = []
        if self.broker is not None and (pid := self.broker.recorded_pid()) is not None:
            self.broker.stop(timeout=self.grace_seconds, log=self.log)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # started from this process: reap it
        self.broker_pid = None
        self.pid_file.unlink(missing_ok=True)

    @staticmethod
    def _signal_group(pgid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signum)


def serve(
    host: str = "127.0.0.1",
    port: int = 3000,
    sensors: bool | None = None,
    code_server_port: int | None = None,
    log: Log | None = None,
) -> int:
    """Start everything, serve in the foreground, stop everything; returns the exit code."""
    log = log or (lambda message: print(message, flush=True))
    settings = export_defaults(get_settings())
    server = Server(
        settings,
        host=host,
        port=port,
        sensors_on=settings.sensors_on if sensors is None else sensors,
        code_server_port=code_server_port,
        log=log,
    )
    log(f"FLYWHEEL_HOME {settings.home}")
    log(f"DAGSTER_HOME  {settings.dagster_home}")
    state = "on (running by default)" if server.sensors_on else "off (switch them on in the UI)"
    log(f"sensors       {state}")
    return server.run()


def code_server_timeout_message(timeout: float, last_error: Exception | None) -> str:
    """What a user reads when the code server never answered: the last real error, not only a time."""
    message = f"the code server did not answer within {timeout:.0f}s"
    if last_error is None:
        return f"{message} (its port never opened)"
    return f"{message}; the last error was {type(last_error).__name__}: {str(last_error)[:500]}"
