"""The fields a streamed disaster message carries (pure: the annotation page reads it too)."""

from assets.loop.records import RecordSchema

RECORD_SCHEMA = RecordSchema(key_field="id", required=("message",))
