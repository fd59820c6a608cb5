"""The fields a streamed glitch carries (pure: the annotation page reads it too)."""

from assets.loop.records import RecordSchema

# Four views, each base64 PNG bytes or a `<view>_uri`: the prepare hook decodes them (a missing or
# undecodable view is dead-lettered with its reason) and adds their grids and content hash.
RECORD_SCHEMA = RecordSchema(key_field="id", required=(), prepare="assets.gravityspy.records:stream_record")
