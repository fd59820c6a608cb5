"""A real single-node Apache Kafka broker (KRaft), run from jars resolved on Maven Central.

Why jars and not a tarball: the only package source this project may rely on besides PyPI is
Maven Central, which publishes the broker (``org.apache.kafka:kafka_2.13``) and every runtime
dependency. Maven resolves them once into ``<FLYWHEEL_CACHE>/kafka-<version>/libs``; a later
``up`` finds the ``.complete`` marker there and downloads nothing.

State lives under ``<FLYWHEEL_HOME>/kafka``: ``server.properties``, KRaft ``data/``, ``broker.log``
and ``broker.pid``. ``down`` stops exactly the recorded pid, after checking it is our broker.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.settings import Settings

BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"
MIN_JAVA = 17


class InfraError(RuntimeError):
    """A problem a person can act on; the message says what to do."""


def _pom(kafka_version: str) -> str:
    deps = [
        ("org.apache.kafka", "kafka_2.13", kafka_version),
        ("org.slf4j", "slf4j-api", SLF4J_VERSION),
        ("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
        ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
    ]
    body = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>flywheel</groupId><artifactId>kafka-broker-runtime</artifactId>
  <version>{kafka_version}</version><packaging>pom</packaging>
  <dependencies>
{body}
  </dependencies>
</project>
"""


def _maven_settings(repo_url: str) -> str:
    """Route every Maven request to one repository (Maven Central by default, or a mirror)."""
    return f"""<settings>
  <mirrors><mirror><id>flywheel</id><mirrorOf>*</mirrorOf><url>{repo_url}</url></mirror></mirrors>
</settings>
"""


LOG4J2_PROPERTIES = """status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def split_host_port(bootstrap: str) -> tuple[str, int]:
    """The first ``host:port`` of a bootstrap list."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise InfraError(f"KAFKA_BOOTSTRAP_SERVERS must look like host:port, got {bootstrap!r}")
    return host.strip("[]"), int(port)


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port a server can listen on, chosen below the kernel's ephemeral range: a port the kernel
    hands out (``bind(0)``) can be taken meanwhile as the local port of an outgoing connection, and
    a server started on it then fails to bind or, worse, another server answers there."""
    return free_port_block(1, host)


def port_bindable(host: str, port: int) -> bool:
    """True when a server could listen on ``port`` now (nothing listens, no connection holds it)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def free_port_block(count: int, host: str = "127.0.0.1", low: int = 20000, high: int = 32000) -> int:
    """The first of ``count`` consecutive bindable ports, below the kernel's ephemeral range (where
    outgoing connections take their local ports and could take one of the block meanwhile)."""
    import random

    for _ in range(200):
        base = random.randrange(low, high - count)
        if all(port_bindable(host, base + i) for i in range(count)):
            return base
    raise InfraError(f"no {count} consecutive free ports between {low} and {high} on {host}")


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def java_major_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise InfraError(f"could not read the Java version from `{java} -version`: {out.stderr.strip()}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


@dataclass
class BrokerStatus:
    bootstrap: str
    answering: bool
    pid: int | None
    managed: bool


@dataclass(frozen=True)
class ClusterLayout:
    """Where the nodes of a multi-broker cluster listen (fixed at its first start: the controllers'
    addresses are the KRaft quorum every node is formatted with)."""

    ports: tuple[int, ...]
    controller_ports: tuple[int, ...]
    cluster_id: str
    heartbeat_ms: int = field(default=500)

    @property
    def size(self) -> int:
        return len(self.ports)

    def voters(self, host: str) -> str:
        return ",".join(f"{i + 1}@{host}:{port}" for i, port in enumerate(self.controller_ports))

    @property
    def replication(self) -> int:
        """Internal topics (and, by default, Flywheel's own) are replicated min(3, brokers) times."""
        return min(3, self.size)

    @property
    def min_insync(self) -> int:
        """Two in-sync copies before an ``acks=all`` write counts, once there are three."""
        return 2 if self.size >= 3 else 1


class KafkaBroker:
    """Lifecycle of the embedded broker: ``resolve`` → ``format`` → ``start`` / ``stop``.

    Alone (the default), node 1 under ``<FLYWHEEL_HOME>/kafka``; as one node of a
    :class:`KafkaCluster`, node ``node_id`` of ``layout`` under ``<FLYWHEEL_HOME>/kafka/node-<id>``.
    """

    def __init__(self, settings: Settings, node_id: int = 1, layout: ClusterLayout | None = None):
        self.settings = settings
        self.host, self.port = split_host_port(settings.kafka_bootstrap_servers)
        self.node_id = node_id
        self.layout = layout
        self.state_dir = settings.home / "kafka"
        if layout is not None:
            self.port = layout.ports[node_id - 1]
            self.state_dir = self.state_dir / f"node-{node_id}"
        self.data_dir = self.state_dir / "data"
        self.pid_file = self.state_dir / "broker.pid"
        self.log_file = self.state_dir / "broker.log"
        self.config_file = self.state_dir / "server.properties"
        self.runtime_dir = settings.cache_dir / f"kafka-{settings.kafka_version}"
        self.libs_dir = self.runtime_dir / "libs"

    # -- jars -----------------------------------------------------------------------------
    @property
    def resolved(self) -> bool:
        return (self.runtime_dir / ".complete").exists()

    def java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        candidate = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not candidate or not Path(candidate).exists():
            raise InfraError(
                f"Java {MIN_JAVA}+ is required to run the Kafka broker and was not found "
                "(install a JDK, e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME)."
            )
        major = java_major_version(candidate)
        if major < MIN_JAVA:
            raise InfraError(
                f"Kafka {self.settings.kafka_version} needs Java {MIN_JAVA}+, found Java {major}."
            )
        return candidate

    def resolve(self, log=print) -> bool:
        """Make sure the broker's jars are in the cache. Returns True when it downloaded anything."""
        if self.resolved:
            return False
        mvn = shutil.which("mvn")
        if not mvn:
            raise InfraError(
                "Maven (`mvn`) is needed once to resolve the Kafka broker from Maven Central "
                "(install it, e.g. `apt-get install maven`)."
            )
        self.java()
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        staging = self.runtime_dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        (self.runtime_dir / "pom.xml").write_text(_pom(self.settings.kafka_version))
        (self.runtime_dir / "maven-settings.xml").write_text(_maven_settings(self.settings.maven_repo))
        log(f"resolving Apache Kafka {self.settings.kafka_version} from {self.settings.maven_repo} ...")
        cmd = [
            mvn, "-B", "-q",
            "-s", str(self.runtime_dir / "maven-settings.xml"),
            "-f", str(self.runtime_dir / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        local_repo = os.environ.get("FLYWHEEL_MAVEN_LOCAL_REPO")
        if local_repo:
            cmd.append(f"-Dmaven.repo.local={local_repo}")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
            raise InfraError(
                f"could not resolve Apache Kafka {self.settings.kafka_version} from "
                f"{self.settings.maven_repo} (is Maven Central reachable? set FLYWHEEL_MAVEN_REPO for "
                f"a mirror). Maven said:\n{tail}"
            )
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        staging.rename(self.libs_dir)
        (self.runtime_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        (self.runtime_dir / ".complete").write_text(self.settings.kafka_version)
        return True

    def _classpath(self) -> str:
        return str(self.libs_dir / "*")

    # -- configuration and storage -------------------------------------------------------------
    def _controller_port(self) -> int:
        """Port + 1 when free (the usual 9092/9093 pair); otherwise any free port."""
        candidate = self.port + 1
        return candidate if port_bindable(self.host, candidate) else free_port(self.host)

    def write_config(self) -> None:
        layout = self.layout
        controller = layout.controller_ports[self.node_id - 1] if layout else self._controller_port()
        voters = layout.voters(self.host) if layout else f"1@{self.host}:{controller}"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.settings.kafka_partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        if layout is not None:
            replicas, isr = str(layout.replication), str(layout.min_insync)
            lines |= {
                "offsets.topic.replication.factor": replicas,
                "transaction.state.log.replication.factor": replicas,
                "transaction.state.log.min.isr": isr,
                "share.coordinator.state.topic.replication.factor": replicas,
                "share.coordinator.state.topic.min.isr": isr,
                "default.replication.factor": replicas,
                "min.insync.replicas": isr,
                # A killed node is fenced (its partitions led elsewhere) within seconds, not 9 s.
                "broker.heartbeat.interval.ms": str(layout.heartbeat_ms),
                "broker.session.timeout.ms": str(layout.heartbeat_ms * 6),
                "unclean.leader.election.enable": "false",
            }
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def format_storage(self) -> None:
        """Format KRaft storage once; a formatted ``data/`` keeps its cluster id across restarts."""
        if (self.data_dir / "meta.properties").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self.layout.cluster_id if self.layout else new_cluster_id()
        proc = subprocess.run(
            [self.java(), "-cp", self._classpath(), self._log4j_flag(), STORAGE_TOOL,
             "format", f"--cluster-id={cluster_id}", "-c", str(self.config_file)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise InfraError(f"formatting KRaft storage failed:\n{proc.stdout}{proc.stderr}")

    def _log4j_flag(self) -> str:
        return f"-Dlog4j2.configurationFile={self.runtime_dir / 'log4j2.properties'}"

    # -- process ------------------------------------------------------------------------------
    def recorded_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if self._is_our_broker(pid) else None

    def _is_our_broker(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        args = [a.decode(errors="replace") for a in cmdline]
        return BROKER_MAIN in args and str(self.config_file) in args

    def start(self, timeout: float = 90.0, log=print) -> int:
        """Start the broker (resolving and formatting first if needed) and wait until it answers."""
        pid = self.recorded_pid()
        if pid and port_answers(self.host, self.port):
            log(f"Kafka broker already running at {self.host}:{self.port} (pid {pid})")
            return pid
        proc = self.launch(log=log)
        return self.wait_ready(proc, timeout=timeout, log=log)

    def launch(self, log=print) -> subprocess.Popen:
        """Start the broker process without waiting (a cluster's nodes need each other to elect)."""
        if port_answers(self.host, self.port):
            raise InfraError(
                f"{self.host}:{self.port} is already taken by another process; stop it or point "
                "KAFKA_BOOTSTRAP_SERVERS at a free port (or at that broker, without `infra up`)."
            )
        java = self.java()
        self.resolve(log=log)
        self.write_config()
        self.format_storage()
        with open(self.log_file, "ab") as out:
            proc = subprocess.Popen(
                [java, f"-Xmx{self.settings.kafka_heap}", f"-Xms{self.settings.kafka_heap}",
                 "-XX:+UseG1GC", "-Djava.awt.headless=true", self._log4j_flag(),
                 "-cp", self._classpath(), BROKER_MAIN, str(self.config_file)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(proc.pid))
        return proc

    def wait_ready(self, proc: subprocess.Popen, timeout: float = 90.0, log=print) -> int:
        """Wait until the launched broker serves metadata; stop it and raise if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise InfraError(f"the Kafka broker exited with code {proc.returncode}:\n{self.log_tail()}")
            if port_answers(self.host, self.port) and self._metadata_ready():
                version = self.settings.kafka_version
                log(f"Kafka broker {version} up at {self.host}:{self.port} (pid {proc.pid})")
                return proc.pid
            time.sleep(0.5)
        self.stop()
        raise InfraError(f"the Kafka broker did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def _metadata_ready(self) -> bool:
        """True once the broker serves metadata (the controller has elected itself)."""
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=f"{self.host}:{self.port}", request_timeout_ms=3000)
        except Exception:  # noqa: BLE001 - any failure here only means "not ready yet"
            return False
        try:
            admin.list_topics()
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            admin.close()

    def stop(self, timeout: float = 30.0, log=print) -> bool:
        """Stop the recorded broker pid (only that one). Returns True when something was stopped."""
        pid = self.recorded_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            log("Kafka broker is not running (no live pid recorded under FLYWHEEL_HOME)")
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.2)
        if self._alive(pid):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)
        log(f"Kafka broker stopped (pid {pid})")
        return True

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.split(") ", 1)[-1][:1] not in ("Z", "X")

    def status(self) -> BrokerStatus:
        pid = self.recorded_pid()
        return BrokerStatus(
            bootstrap=f"{self.host}:{self.port}",
            answering=port_answers(self.host, self.port),
            pid=pid,
            managed=pid is not None,
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no broker log)"


class KafkaCluster:
    """``flywheel infra up --brokers N``: N combined controller+broker KRaft nodes in one quorum, on
    consecutive ports from ``KAFKA_BOOTSTRAP_SERVERS``'s (controllers on the N ports after them, or
    free ones). The layout is kept in ``<FLYWHEEL_HOME>/kafka/cluster.json`` so a restart (or a
    restarted node) finds its quorum again. One broker is simply the :class:`KafkaBroker`.
    """

    def __init__(self, settings: Settings, size: int | None = None):
        self.settings = settings
        self.layout_file = settings.home / "kafka" / "cluster.json"
        recorded = self._recorded_layout()
        self.size = size or (recorded.size if recorded else settings.kafka_brokers)
        self.layout = recorded if recorded and recorded.size == self.size else None
        if self.layout is None and self.size > 1:
            self.layout = self._new_layout()

    def _recorded_layout(self) -> ClusterLayout | None:
        try:
            raw = json.loads(self.layout_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return ClusterLayout(tuple(raw["ports"]), tuple(raw["controller_ports"]), raw["cluster_id"])

    def _new_layout(self) -> ClusterLayout:
        host, base = split_host_port(self.settings.kafka_bootstrap_servers)
        ports = tuple(base + i for i in range(self.size))
        wanted = [base + self.size + i for i in range(self.size)]
        controllers = tuple(p if port_bindable(host, p) else free_port(host) for p in wanted)
        return ClusterLayout(ports, controllers, new_cluster_id())

    @property
    def nodes(self) -> list[KafkaBroker]:
        if self.layout is None:
            return [KafkaBroker(self.settings)]
        return [KafkaBroker(self.settings, node_id=i + 1, layout=self.layout) for i in range(self.size)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{node.host}:{node.port}" for node in self.nodes)

    def start(self, timeout: float = 120.0, log=print) -> str:
        """Start every node not running yet, wait for all; returns the bootstrap list."""
        if self.layout is None:
            self.nodes[0].start(timeout=timeout, log=log)
            return self.bootstrap
        self.layout_file.parent.mkdir(parents=True, exist_ok=True)
        self.layout_file.write_text(
            json.dumps(
                {
                    "ports": list(self.layout.ports),
                    "controller_ports": list(self.layout.controller_ports),
                    "cluster_id": self.layout.cluster_id,
                }
            )
        )
        nodes = self.nodes
        nodes[0].resolve(log=log)
        pending = [n for n in nodes if not (n.recorded_pid() and port_answers(n.host, n.port))]
        for node in set(nodes) - set(pending):
            log(f"Kafka node {node.node_id} already running at {node.host}:{node.port}")
        taken = [n.port for n in pending if not port_bindable(n.host, n.port)]
        if taken:
            raise InfraError(
                f"port(s) {taken} of the {self.size}-broker cluster are taken by another process: point "
                "KAFKA_BOOTSTRAP_SERVERS at the first of enough free consecutive ports"
            )
        launched = [(node, node.launch(log=log)) for node in pending]
        try:
            for node, proc in launched:
                node.wait_ready(proc, timeout=timeout, log=lambda _m: None)
        except InfraError:
            self.stop(log=lambda _m: None)
            raise
        log(
            f"Kafka cluster {self.settings.kafka_version}: {self.size} brokers at {self.bootstrap} "
            f"(replication {self.layout.replication}, min.insync.replicas {self.layout.min_insync})"
        )
        return self.bootstrap

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def kill(self, node_id: int) -> int:
        """SIGKILL one node (a drill: no clean shutdown, no flush). Returns the killed pid."""
        node = self.node(node_id)
        pid = node.recorded_pid()
        if pid is None:
            raise InfraError(f"Kafka node {node_id} is not running")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while node._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        return pid

    def restart(self, node_id: int, timeout: float = 120.0) -> int:
        node = self.node(node_id)
        return node.wait_ready(node.launch(log=lambda _m: None), timeout=timeout, log=lambda _m: None)

    def stop(self, log=print) -> bool:
        if self.layout is None:
            return self.nodes[0].stop(log=log)
        # All at once: stopped one by one, the last nodes wait for a quorum that has already left.
        running = [(node, pid) for node in self.nodes if (pid := node.recorded_pid()) is not None]
        for _node, pid in running:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for node, pid in running:
            while node._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if node._alive(pid):
                os.kill(pid, signal.SIGKILL)
            node.pid_file.unlink(missing_ok=True)
        log(f"Kafka cluster stopped ({len(running)} of {self.size} nodes were running)")
        return bool(running)

    def status(self) -> list[BrokerStatus]:
        return [node.status() for node in self.nodes]
