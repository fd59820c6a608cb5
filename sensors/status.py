"""Whether Flywheel's sensors start running or stopped, from ``FLYWHEEL_SENSORS``.

``flywheel serve --sensors on`` sets ``FLYWHEEL_SENSORS=on`` for the code server, so every use
case's Kafka, landing and retrain sensor runs without a click in the UI; otherwise they start
stopped. A sensor switched on or off in the UI keeps that state whatever the default.
"""

from dagster import DefaultSensorStatus

from orchestration.settings import get_settings


def default_sensor_status(explicit: DefaultSensorStatus | None = None) -> DefaultSensorStatus:
    if explicit is not None:
        return explicit
    return DefaultSensorStatus.RUNNING if get_settings().sensors_on else DefaultSensorStatus.STOPPED
