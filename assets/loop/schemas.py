"""The fields a record of each streaming use case must carry, in one pure module.

The loop's scorer dead-letters a Kafka message that lacks them, the ``<uc>_annotations`` asset builds
training rows from the queued records, and the annotation page refuses an uploaded row that lacks
them: all three must agree, so each use case's :class:`RecordSchema` is defined once, here, and its
``definitions.py`` takes it from this module. Only constants are imported (no Dagster, pandas or
model code), so the annotation page can read the schemas without loading the asset graph.
"""

from __future__ import annotations

from assets.activity.layouts import WINDOW_COLUMNS, WINDOW_LOCATION
from assets.loop.records import RecordSchema

#: The six motion signals of every step of an activity window (``user_acceleration_x_1`` ...).
ACTIVITY_SIGNALS: tuple[str, ...] = tuple(
    c for c in WINDOW_COLUMNS[1:-1] if not c.startswith(WINDOW_LOCATION)
)

RECORD_SCHEMAS: dict[str, RecordSchema] = {
    "disaster": RecordSchema(key_field="id", required=("message",)),
    # A streamed tweet is read as training read landed tweets (full text, not the truncated one).
    "tweets": RecordSchema(
        key_field="id_str", required=("text",), prepare="assets.tweets.parsing:stream_record"
    ),
    "activity": RecordSchema(
        key_field="window_id", required=("stamp", *ACTIVITY_SIGNALS), numeric=ACTIVITY_SIGNALS
    ),
    # An event of a user (logged-out ones carry no user to score); key userId:sessionId:itemInSession.
    "sparkify": RecordSchema(
        key_field="event_id",
        required=("ts", "userId", "sessionId", "itemInSession", "page", "auth", "level"),
        numeric=("ts", "sessionId", "itemInSession"),
        prepare="assets.sparkify.stream:stream_record",
    ),
    # One reading of a monitored series; reading_id (<series>@<time>) is made when not sent.
    "flow": RecordSchema(
        key_field="reading_id",
        required=("series", "time", "value"),
        numeric=("value",),
        prepare="assets.flow.records:stream_record",
    ),
    # Four views, each base64 PNG bytes or a `<view>_uri`: the prepare hook decodes them (a missing or
    # undecodable view is dead-lettered with its reason) and adds their grids and content hash.
    "gravityspy": RecordSchema(
        key_field="id", required=(), prepare="assets.gravityspy.records:stream_record"
    ),
}
