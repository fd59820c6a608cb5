"""The fields a streamed Sparkify event carries (pure: the annotation page reads it too)."""

from assets.loop.records import RecordSchema

# An event of a user (logged-out ones carry no user to score); key userId:sessionId:itemInSession.
RECORD_SCHEMA = RecordSchema(
    key_field="event_id",
    required=("ts", "userId", "sessionId", "itemInSession", "page", "auth", "level"),
    numeric=("ts", "sessionId", "itemInSession"),
    prepare="assets.sparkify.stream:stream_record",
)
