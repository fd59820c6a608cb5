"""``flywheel simulate <use case>``: publish records to the use case's topic at a steady rate.

Each use case with a topic declares a simulator module (``UseCase.simulator``) exposing ``KEY_FIELD`` and
``records(home, count, seed)``. Records are sent as JSON in the exact shape the champion's pyfunc
takes. ``poison_share`` mixes in malformed messages (not JSON, or JSON without the fields a record
needs) so the dead-letter path can be exercised on purpose.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from orchestration.settings import Settings


@dataclass
class SimulationReport:
    topic: str
    sent: int
    poison: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else float("inf")


def simulation_module(use_case: str) -> ModuleType:
    """The module the use case declares as its simulator (``UseCase.simulator``)."""
    from orchestration.use_cases import load_use_case

    declared = load_use_case(use_case).simulator
    if not declared:
        raise ValueError(f"{use_case} has no record stream to simulate yet")
    return importlib.import_module(declared)


def _poison(i: int, rng: np.random.Generator) -> bytes:
    """A message no record parser should accept."""
    if rng.random() < 0.5:
        return b"{not json " + str(i).encode()
    return json.dumps({"unexpected": i}).encode()


def simulate(
    settings: Settings,
    use_case: str,
    count: int,
    rate: float | None = None,
    seed: int = 0,
    poison_share: float = 0.0,
    producer_factory: Callable[[], object] | None = None,
    log: Callable[[str], None] = lambda _m: None,
    source: str | None = None,
) -> SimulationReport:
    """Send ``count`` messages (``rate`` per second, or as fast as the broker takes them)."""
    from resources.kafka import KafkaResource

    module = simulation_module(use_case)
    kafka = KafkaResource(
        bootstrap_servers=settings.kafka_bootstrap_servers, default_partitions=settings.kafka_partitions
    )
    topic = settings.topic(use_case, getattr(module, "TOPIC_KIND", "records"))
    # Use cases with records over Kafka's 1 MB default say how large (``MAX_MESSAGE_BYTES``).
    largest = getattr(module, "MAX_MESSAGE_BYTES", None)
    if largest:
        kafka.ensure_topic(topic, config={"max.message.bytes": str(largest)})
        sizes = {"max_request_size": largest}
    else:
        kafka.ensure_topic(topic)
        sizes = {}
    producer = producer_factory() if producer_factory else kafka.producer(linger_ms=20, **sizes)
    rng = np.random.default_rng([seed, 7])
    started = time.monotonic()
    poison = 0
    futures = []
    try:
        # ``source`` (``--from DIR``): records read from files instead of generated (use cases that can).
        produced = (
            module.records(settings.home, count, seed)
            if source is None
            else module.records(settings.home, count, seed, source=source)
        )
        for i, record in enumerate(produced):
            if poison_share and rng.random() < poison_share:
                key, value = f"poison-{seed}-{i}".encode(), _poison(i, rng)
                poison += 1
            else:
                key, value = str(record[module.KEY_FIELD]).encode(), json.dumps(record).encode()
            futures.append(producer.send(topic, key=key, value=value))
            if rate:
                ahead = (i + 1) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if (i + 1) % 1000 == 0:
                log(f"{i + 1}/{count} sent")
        producer.flush()
        for future in futures:
            future.get(timeout=60)
    finally:
        producer.close()
    return SimulationReport(topic, len(futures), poison, time.monotonic() - started)
