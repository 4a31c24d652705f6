"""A real single-node Apache Kafka 4.x broker (KRaft, broker+controller) for the tests.

The jars come from scripts/fetch-kafka.sh (Maven, into .cache/kafka-libs/); the broker runs
as a plain `java -cp` subprocess in a fresh temporary directory, so no Docker is needed.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.infra._proc import die_with_parent, free_ports, rss_kib, tail, terminate

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Kafka Server started"
# C1 only (TieredStopAtLevel=1): measured 1.9 s instead of 2.8 s to a ready broker and no
# C2 compiler threads competing for the 2 shared cores; test traffic is too small for C2 to
# matter. Extra/overriding flags: KLANTSIGNAAL_KAFKA_JVM_OPTS (the last flag wins, e.g.
# "-XX:TieredStopAtLevel=4" for a benchmark).
DEFAULT_JVM_OPTS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)


class KafkaStartError(RuntimeError):
    """The broker could not be formatted or did not become ready."""


def kafka_libs_dir() -> Path:
    """Where fetch-kafka.sh put the jars (overridable, like in the script)."""
    env = os.environ.get("KLANTSIGNAAL_KAFKA_LIBS")
    return Path(env) if env else REPO_ROOT / ".cache" / "kafka-libs"


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaStartError("java not found; run scripts/install-test-deps.sh")
    return java


def random_cluster_id() -> str:
    """Same format as `StorageTool random-uuid` (Kafka's Uuid: 16 random bytes, URL-safe
    base64 without padding, never starting with '-'), without paying for a JVM start."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaBroker:
    """Start with `with KafkaBroker() as broker:` or `.start()` / `.stop()`."""

    def __init__(
        self,
        *,
        libs_dir: Path | None = None,
        startup_timeout: float = 90.0,
        extra_properties: Mapping[str, str] | None = None,
    ) -> None:
        self.libs_dir = libs_dir or kafka_libs_dir()
        self.startup_timeout = startup_timeout
        self.extra_properties = dict(extra_properties or {})
        self.port = 0
        self.controller_port = 0
        self.workdir: Path | None = None
        self.startup_seconds: float | None = None
        self.peak_rss_kib: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- public ---------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "broker not started"
        return self.workdir / "broker.log"

    def start(self) -> KafkaBroker:
        if not any(self.libs_dir.glob("kafka_2.13-*.jar")):
            raise KafkaStartError(f"no Kafka jars in {self.libs_dir}; run scripts/fetch-kafka.sh")
        java = find_java()
        began = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="klantsignaal-kafka-"))
        try:
            self.port, self.controller_port = free_ports(2)
            props = self._write_config()
            cmd = [java, *self._jvm_opts(), "-cp", f"{self.libs_dir}/*"]
            fmt = subprocess.run(
                [
                    *cmd,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    random_cluster_id(),
                    "-c",
                    str(props),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if fmt.returncode != 0:
                raise KafkaStartError(
                    f"StorageTool format failed ({fmt.returncode}):\n{fmt.stdout}{fmt.stderr}"
                )
            self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the broker
            self._proc = subprocess.Popen(
                [*cmd, "kafka.Kafka", str(props)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                preexec_fn=die_with_parent(),  # noqa: PLW1509
            )
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """SIGTERM, wait 20 s, SIGKILL; then remove the data directory."""
        if self._proc is not None:
            usage = rss_kib(self._proc.pid)
            if usage:
                self.peak_rss_kib = usage[1]
            terminate(self._proc, grace_seconds=20)
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def rss_kib(self) -> int | None:
        usage = rss_kib(self._proc.pid) if self._proc else None
        return usage[0] if usage else None

    def admin(self, **configs: Any) -> Any:
        """A kafka-python KafkaAdminClient on this broker (caller closes it)."""
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(bootstrap_servers=self.bootstrap, **configs)

    def create_topics(
        self,
        names: Iterable[str],
        partitions: int = 4,
        configs: Mapping[str, str] | None = None,
    ) -> None:
        """Create topics and wait until every partition has a leader, so a producer or
        consumer that starts right after never sees UNKNOWN_TOPIC_OR_PARTITION."""
        spec = {
            name: {
                "num_partitions": partitions,
                "replication_factor": 1,
                "configs": dict(configs or {}),
            }
            for name in names
        }
        if not spec:
            return
        admin = self.admin()
        try:
            admin.create_topics(spec, timeout_ms=30_000, wait_for_metadata=True)
        finally:
            admin.close()

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------

    def _jvm_opts(self) -> list[str]:
        assert self.workdir is not None
        extra = os.environ.get("KLANTSIGNAAL_KAFKA_JVM_OPTS", "").split()
        return [
            *DEFAULT_JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            *extra,
        ]

    def _write_config(self) -> Path:
        assert self.workdir is not None
        ctrl = f"127.0.0.1:{self.controller_port}"
        props: dict[str, str] = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": ctrl,
            "listeners": f"PLAINTEXT://{self.bootstrap},CONTROLLER://{ctrl}",
            "advertised.listeners": f"PLAINTEXT://{self.bootstrap},CONTROLLER://{ctrl}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "4",
            "default.replication.factor": "1",
            "auto.create.topics.enable": "true",
            "min.insync.replicas": "1",
            # Internal topics: one replica, few partitions (50 offsets partitions make the
            # first consumer-group join slow on a small machine).
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # No 3 s wait before the first rebalance: tests would pay it per group.
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.threads": "1",
        }
        props.update(self.extra_properties)
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
        # Kafka INFO (incl. the readiness line) to stdout, which goes to broker.log.
        (self.workdir / "log4j2.properties").write_text(
            "status = warn\n"
            "appender.out.type = Console\n"
            "appender.out.name = STDOUT\n"
            "appender.out.layout.type = PatternLayout\n"
            "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = WARN\n"
            "rootLogger.appenderRef.out.ref = STDOUT\n"
            "logger.kafka.name = kafka\n"
            "logger.kafka.level = INFO\n"
            "logger.request.name = kafka.request.logger\n"
            "logger.request.level = WARN\n",
            encoding="utf-8",
        )
        return path

    def _wait_ready(self, began: float) -> None:
        """Wait for the readiness log line, then prove it with a real bootstrap."""
        assert self._proc is not None
        deadline = began + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise KafkaStartError(
                    f"broker exited with {self._proc.returncode}; last log lines:\n"
                    + tail(str(self.log_path))
                )
            if READY_LINE in self.log_path.read_text(encoding="utf-8", errors="replace"):
                break
            if time.monotonic() > deadline:
                raise KafkaStartError(
                    f"broker not ready after {self.startup_timeout:.0f} s; last log lines:\n"
                    + tail(str(self.log_path))
                )
            time.sleep(0.1)
        remaining_ms = max(1000, int((deadline - time.monotonic()) * 1000))
        try:
            admin = self.admin(bootstrap_timeout_ms=remaining_ms)
            try:
                admin.describe_cluster()
            finally:
                admin.close()
        except Exception as exc:
            raise KafkaStartError(
                f"broker logged '{READY_LINE}' but bootstrap failed: {exc!r}; last log lines:\n"
                + tail(str(self.log_path))
            ) from exc
