"""The fields a streamed tweet carries (pure: the annotation page reads it too)."""

from assets.loop.records import RecordSchema

# A streamed tweet is read as training read landed tweets (full text, not the truncated one).
RECORD_SCHEMA = RecordSchema(
    key_field="id_str", required=("text",), prepare="assets.tweets.parsing:stream_record"
)
