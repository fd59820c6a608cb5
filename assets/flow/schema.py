"""The fields a streamed flow reading carries (pure: the annotation page reads it too)."""

from assets.loop.records import RecordSchema

# One reading of a monitored series; reading_id (<series>@<time>) is made when not sent.
RECORD_SCHEMA = RecordSchema(
    key_field="reading_id",
    required=("series", "time", "value"),
    numeric=("value",),
    prepare="assets.flow.records:stream_record",
)
