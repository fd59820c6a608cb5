"""A real PostgreSQL server for Flywheel's stores, from the machine's Postgres binaries.

``flywheel infra up --postgres`` initialises a cluster under ``<FLYWHEEL_HOME>/postgres/data`` and
starts it on ``127.0.0.1`` (``FLYWHEEL_POSTGRES_PORT``, else the port it had last time, else a free
one), with one database per store:

* ``flywheel`` — the annotation store and the customer database (``FLYWHEEL_DATABASE_URL``);
* ``mlflow`` — MLflow's backend store (``MLFLOW_TRACKING_URI``; artifacts stay in the artifact root);
* ``dagster`` — the Dagster instance's run, event and schedule storage
  (``FLYWHEEL_DAGSTER_DATABASE_URL``: the shipped ``dagster.yaml`` then takes its Postgres form).

Postgres refuses to run as root, so when Flywheel runs as root (containers, CI) every server command
runs as the unprivileged ``postgres`` user, who then owns the data folder. The server listens on the
loopback interface only and asks for a password (``scram-sha-256``, socket and TCP alike): one
generated at ``initdb``, kept in ``<FLYWHEEL_HOME>/postgres/password`` (mode 0600) and put in the
URLs ``infra up`` prints. A deployment points the three URLs at its own managed Postgres instead.
(A data folder initialised before passwords, with ``trust``, keeps working as it is.)

Binaries: ``initdb`` / ``pg_ctl`` on ``PATH``, else the newest ``/usr/lib/postgresql/<v>/bin``
(where Debian's ``postgresql`` package puts them), or ``FLYWHEEL_POSTGRES_BIN``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestration.infra.kafka_broker import InfraError, free_port, port_answers
from orchestration.settings import Settings

HOST = "127.0.0.1"
SUPERUSER = "flywheel"
SERVICE_USER = "postgres"
#: dagster-postgres binds parameters the psycopg2 way; SQLAlchemy 2.1 opens a bare ``postgresql://``
#: with psycopg 3, so the Dagster URL names its driver.
DAGSTER_DRIVER = "postgresql+psycopg2"
#: The databases ``up`` makes, one per store (see the module docstring).
DATABASES: tuple[str, ...] = ("flywheel", "mlflow", "dagster")


def find_bin_dir(configured: str | None = None) -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``."""
    if configured:
        candidates = [Path(configured)]
    else:
        on_path = shutil.which("pg_ctl")
        candidates = [Path(on_path).parent] if on_path else []
        debian = sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0), reverse=True
        )
        candidates += [Path(p) for p in debian]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise InfraError(
        "PostgreSQL's server binaries (initdb, pg_ctl) were not found: install Debian's package "
        "(`apt-get install postgresql`) or set FLYWHEEL_POSTGRES_BIN to the folder holding them."
    )


@dataclass(frozen=True)
class PostgresStatus:
    running: bool
    port: int | None
    pid: int | None
    data_dir: Path


class PostgresServer:
    """Lifecycle of the embedded server: ``init`` (once) → ``start`` / ``stop``; ``url(db)``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state_dir = settings.home / "postgres"
        self.data_dir = self.state_dir / "data"
        self.socket_dir = self.state_dir / "run"
        self.log_file = self.state_dir / "postgres.log"
        self.port_file = self.state_dir / "port"
        self.password_file = self.state_dir / "password"

    # -- who runs the server ------------------------------------------------------------------
    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _run_kwargs(self) -> dict:
        """Run as ``postgres`` when we are root (Postgres refuses root)."""
        if not self._as_root():
            return {}
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError as exc:
            raise InfraError(
                f"running as root, Postgres needs the unprivileged `{SERVICE_USER}` user "
                "(Debian's `postgresql` package creates it; or run Flywheel as a normal user)."
            ) from exc
        return {"user": SERVICE_USER, "group": SERVICE_USER, "extra_groups": [], "cwd": str(self.state_dir)}

    def _give_to_service_user(self) -> None:
        """The state folder belongs to ``postgres``, and it must be able to reach it."""
        if not self._as_root():
            return
        entry = pwd.getpwnam(SERVICE_USER)
        for path in (self.state_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        probe = subprocess.run(["test", "-w", str(self.state_dir)], **self._run_kwargs(), check=False)
        if probe.returncode != 0:
            raise InfraError(
                f"the `{SERVICE_USER}` user cannot reach {self.state_dir} (a parent folder is private "
                "to root): put FLYWHEEL_HOME under a folder others may traverse (chmod o+x)."
            )

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        binary = find_bin_dir(os.environ.get("FLYWHEEL_POSTGRES_BIN")) / tool
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        proc = subprocess.run(
            [str(binary), *args], capture_output=True, text=True, env=env, check=False, **self._run_kwargs()
        )
        if check and proc.returncode != 0:
            said = f"{proc.stdout}{proc.stderr}\n{self.log_tail()}"
            raise InfraError(f"`{tool} {' '.join(args[:2])}` failed:\n{said}")
        return proc

    # -- port and URLs ------------------------------------------------------------------------
    def port(self) -> int:
        """``FLYWHEEL_POSTGRES_PORT``, else the port recorded at the last start, else a free one."""
        if self.settings.postgres_port:
            return self.settings.postgres_port
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return free_port(HOST)

    def password(self) -> str:
        """The superuser's password, generated once (URL-safe characters, 0600 file; owned by the
        service user when we are root, so that ``initdb`` running as that user can read it)."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            pass
        self.state_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(24)
        descriptor = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")
        if self._as_root():
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(self.password_file, entry.pw_uid, entry.pw_gid)
        return value

    def url(self, database: str = "flywheel", driver: str = "postgresql") -> str:
        return f"{driver}://{SUPERUSER}:{self.password()}@{HOST}:{self.port()}/{database}"

    def connect(self, database: str = "postgres") -> object:
        """A psycopg2 connection as the superuser."""
        import psycopg2

        return psycopg2.connect(
            host=HOST, port=self.port(), user=SUPERUSER, password=self.password(), dbname=database
        )

    def environment(self) -> dict[str, str]:
        """The variables that point every store at this server (what ``infra up`` prints)."""
        return {
            "FLYWHEEL_DATABASE_URL": self.url("flywheel"),
            "MLFLOW_TRACKING_URI": self.url("mlflow"),
            "FLYWHEEL_DAGSTER_DATABASE_URL": self.url("dagster", driver=DAGSTER_DRIVER),
        }

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """``initdb`` once; an initialised data folder is reused as it is."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._give_to_service_user()
        if self.initialised:
            return
        self.password()  # generated before initdb reads it
        self._pg(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, f"--pwfile={self.password_file}",
            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
            "--encoding=UTF8", "--no-locale", "--no-instructions",
        )  # fmt: skip

    def start(self, log=print, timeout: float = 60.0) -> int:
        """Start the server (initialising first if needed), create the stores' databases, return the port."""
        status = self.status()
        if status.running and status.port:
            log(f"Postgres already running at {HOST}:{status.port} (pid {status.pid})")
            self.create_databases()
            return status.port
        self.init()
        port = self.port()
        if port_answers(HOST, port):
            if self.settings.postgres_port:
                raise InfraError(f"{HOST}:{port} (FLYWHEEL_POSTGRES_PORT) is taken by another process")
            port = free_port(HOST)
        options = f"-p {port} -k {self.socket_dir} -c listen_addresses={HOST} -c max_connections=200"
        self._pg(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options,
            "-w", "-t", str(int(timeout)), "start",
        )  # fmt: skip
        self.port_file.write_text(str(port))
        self.create_databases()
        log(f"Postgres up at {HOST}:{port} (data {self.data_dir})")
        return port

    def create_databases(self, names: tuple[str, ...] = DATABASES) -> None:
        for name in names:
            self.create_database(name)

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; returns its URL."""
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def stop(self, log=print) -> bool:
        """``pg_ctl stop -m fast`` on our data folder. Returns True when a server was stopped."""
        if not self.status().running:
            log("Postgres is not running (no server on FLYWHEEL_HOME/postgres/data)")
            return False
        self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        log("Postgres stopped")
        return True

    def status(self) -> PostgresStatus:
        pid, port = self._postmaster()
        alive = pid is not None and Path(f"/proc/{pid}").exists()
        running = alive and bool(port and port_answers(HOST, port))
        return PostgresStatus(running=running, port=port, pid=pid, data_dir=self.data_dir)

    def _postmaster(self) -> tuple[int | None, int | None]:
        """(pid, port) from ``postmaster.pid`` (lines 1 and 4), when the server wrote one."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None, None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no Postgres log)"
