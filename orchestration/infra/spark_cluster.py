"""A Spark standalone cluster from the installed pyspark: one master and N workers on this machine.

``flywheel infra up --spark-workers N`` runs ``spark-class org.apache.spark.deploy.master.Master``
and N ``...worker.Worker`` processes out of pyspark's own distribution (``SPARK_HOME`` = the pyspark
package folder, which ships ``bin/spark-class`` and every jar), so nothing is downloaded. Workers get
``PYSPARK_PYTHON`` = this venv's interpreter: Python tasks (pandas UDFs, ``mapInPandas``) run with the
project's packages. Point ``SPARK_MASTER`` at the printed ``spark://127.0.0.1:<port>`` and every Spark
asset runs on the cluster unchanged.

State under ``<FLYWHEEL_HOME>/spark``: ``master.pid`` / ``worker-<i>.pid``, logs, worker scratch
folders and ``master.json`` (ports). ``down`` stops exactly the recorded pids, after checking each is
our process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from orchestration.infra.kafka_broker import InfraError, free_port, port_answers
from orchestration.settings import Settings

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
#: Cores an application gets unless it sets ``spark.cores.max`` (``spark.deploy.defaultCores``).
DEFAULT_APP_CORES = 1


def spark_home() -> Path:
    """pyspark's folder: a full Spark distribution (``bin/spark-class``, ``jars/``)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        raise InfraError("pyspark is not installed (`make install`)")
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-class").exists():
        raise InfraError(f"{home} has no bin/spark-class: is this a full pyspark wheel?")
    return home


class SparkStandalone:
    """Lifecycle of the embedded standalone cluster: ``start(workers)`` / ``stop`` / ``status``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state_dir = settings.home / "spark"
        self.info_file = self.state_dir / "master.json"

    # -- bookkeeping ----------------------------------------------------------------------------
    def _info(self) -> dict:
        try:
            return json.loads(self.info_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    @property
    def master_url(self) -> str | None:
        info = self._info()
        return f"spark://{HOST}:{info['port']}" if info else None

    def _pid_files(self) -> list[Path]:
        return sorted(self.state_dir.glob("*.pid"))

    @staticmethod
    def _ours(pid: int, main_class: str) -> bool:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return main_class.encode() in args

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.split(") ", 1)[-1][:1] not in ("Z", "X")

    def _launch(self, name: str, main_class: str, args: list[str], env: dict[str, str]) -> int:
        home = spark_home()
        full_env = {
            **os.environ,
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": HOST,
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_NO_DAEMONIZE": "1",
            **env,
        }
        log = open(self.state_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [str(home / "bin" / "spark-class"), main_class, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
        )
        log.close()
        (self.state_dir / f"{name}.pid").write_text(f"{proc.pid} {main_class}")
        return proc.pid

    # -- lifecycle --------------------------------------------------------------------------------
    def alive_workers(self) -> int:
        """Workers registered ALIVE with the master (its web UI's JSON)."""
        info = self._info()
        if not info:
            return 0
        try:
            state = requests.get(f"http://{HOST}:{info['webui_port']}/json/", timeout=3).json()
        except (requests.RequestException, ValueError):
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def start(
        self, workers: int = 2, cores: int = 2, memory: str = "2g", timeout: float = 90.0, log=print
    ) -> str:
        """Start the master and ``workers`` workers; wait until all are registered. Returns the URL."""
        if self.master_url and self.status()["master"]:
            log(f"Spark master already running at {self.master_url}")
            return self.master_url
        self.stop(log=lambda _m: None, quiet=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port, webui = free_port(HOST), free_port(HOST)
        self.info_file.write_text(json.dumps({"port": port, "webui_port": webui, "workers": workers}))
        # An application that does not ask (spark.cores.max) gets one core, so the run process's
        # session and the Pipes jobs it launches share the cluster instead of waiting on each other.
        self._launch(
            "master",
            MASTER_CLASS,
            ["--host", HOST, "--port", str(port), "--webui-port", str(webui)],
            {"SPARK_MASTER_OPTS": f"-Dspark.deploy.defaultCores={DEFAULT_APP_CORES}"},
        )
        deadline = time.monotonic() + timeout
        while not port_answers(HOST, port):
            if time.monotonic() > deadline:
                raise InfraError(f"the Spark master did not answer within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.5)
        url = f"spark://{HOST}:{port}"
        for i in range(1, workers + 1):
            work = self.state_dir / f"work-{i}"
            work.mkdir(exist_ok=True)
            self._launch(
                f"worker-{i}",
                WORKER_CLASS,
                ["--host", HOST, "--cores", str(cores), "--memory", memory, "--webui-port", "0",
                 "--work-dir", str(work), url],
                {},
            )  # fmt: skip
        while self.alive_workers() < workers:
            if time.monotonic() > deadline:
                raise InfraError(
                    f"only {self.alive_workers()} of {workers} Spark workers registered within "
                    f"{timeout:.0f}s:\n{self.log_tail('worker-1')}"
                )
            time.sleep(0.5)
        log(f"Spark standalone master at {url} with {workers} worker(s) ({cores} core, {memory} each)")
        return url

    def stop(self, log=print, quiet: bool = False) -> bool:
        """Stop the recorded master and workers (only those pids). True when something was stopped."""
        stopped = []
        for pid_file in self._pid_files():
            try:
                pid_text, main_class = pid_file.read_text().split()
                pid = int(pid_text)
            except (OSError, ValueError):
                pid_file.unlink(missing_ok=True)
                continue
            if self._ours(pid, main_class) and self._alive(pid):
                os.killpg(pid, signal.SIGTERM)  # spark-class execs java in its own session
                stopped.append(pid)
            pid_file.unlink(missing_ok=True)
        deadline = time.monotonic() + 20
        for pid in stopped:
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if self._alive(pid):
                os.killpg(pid, signal.SIGKILL)
        if stopped:
            log(f"Spark standalone stopped ({len(stopped)} processes)")
        elif not quiet:
            log("Spark standalone is not running")
        return bool(stopped)

    def status(self) -> dict:
        pids = {}
        for pid_file in self._pid_files():
            try:
                pid_text, main_class = pid_file.read_text().split()
            except (OSError, ValueError):
                continue
            pid = int(pid_text)
            pids[pid_file.stem] = pid if self._ours(pid, main_class) and self._alive(pid) else None
        return {"master": pids.get("master"), "workers": self.alive_workers(), "pids": pids}

    def log_tail(self, name: str = "master", lines: int = 15) -> str:
        try:
            text = (self.state_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return f"(no {name} log)"
        return "\n".join(text.splitlines()[-lines:])
