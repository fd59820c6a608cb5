"""The fields a streamed activity window carries (pure: the annotation page reads it too)."""

from assets.activity.layouts import WINDOW_COLUMNS, WINDOW_LOCATION
from assets.loop.records import RecordSchema

#: The six motion signals of every step of an activity window (``user_acceleration_x_1`` ...).
ACTIVITY_SIGNALS: tuple[str, ...] = tuple(
    c for c in WINDOW_COLUMNS[1:-1] if not c.startswith(WINDOW_LOCATION)
)

RECORD_SCHEMA = RecordSchema(
    key_field="window_id", required=("stamp", *ACTIVITY_SIGNALS), numeric=ACTIVITY_SIGNALS
)
