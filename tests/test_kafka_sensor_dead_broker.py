"""A Kafka sensor tick whose client cannot reach a broker skips and keeps its cursor (the broker-kill
drill of ``tests/cluster``: kafka-python 3 keeps asking a node that has just died)."""

from __future__ import annotations

from dagster import DagsterInstance
from kafka.errors import KafkaConnectionError
from sensor_ticks import tick

from orchestration.settings import Settings
from resources.kafka import KafkaResource
from resources.mlflow_registry import MlflowResource


class DeadBroker(KafkaResource):
    """The broker the client asks has just died."""

    def ensure_topic(self, *args: object, **kwargs: object) -> bool:
        return True

    def log_bounds(self, topic: str) -> tuple[dict[int, int], dict[int, int]]:
        raise KafkaConnectionError("111 ECONNREFUSED")


def test_a_tick_that_cannot_reach_the_broker_hands_out_nothing(flywheel_env: Settings) -> None:
    from orchestration.definitions import build_definitions

    sensor = build_definitions().resolve_sensor_def("disaster_kafka_sensor")
    resources = {
        "kafka": DeadBroker(bootstrap_servers="127.0.0.1:9"),
        "mlflow_registry": MlflowResource(tracking_uri=flywheel_env.mlflow_tracking_uri),
    }
    cursor = '{"offsets": {"0": 120}}'
    result = tick(sensor, DagsterInstance.get(), cursor, resources)
    assert not result.run_requests and "cannot read the log bounds" in result.skip_reason.skip_message
    assert result.cursor == cursor
