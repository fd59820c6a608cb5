"""The Sparkify (eventsim) event: its 18 fields, their types, the known values, and its JSON line.

Pure constants and formatting (no Spark, no pandas): the generator, the Spark ingest, the GX checks,
the loop's record schema and the web app all agree on one definition of an event.

The landed format is eventsim's: one JSON object per line, keys in alphabetical order, no spaces,
``/`` escaped as ``\\/`` and non-ASCII as ``\\uXXXX``; ``ts`` integer milliseconds, ``registration``
milliseconds as a float (``1540991795796.0``), ``userId`` a string that is empty when logged out,
``null`` for what an event does not carry (``song``/``artist``/``length`` off NextSong; every user
field on a logged-out event).
"""

from __future__ import annotations

import json
from typing import Any

#: The 18 fields in the order eventsim writes them (alphabetical), with their JSON types.
FIELD_TYPES: dict[str, str] = {
    "artist": "string",
    "auth": "string",
    "firstName": "string",
    "gender": "string",
    "itemInSession": "long",
    "lastName": "string",
    "length": "double",
    "level": "string",
    "location": "string",
    "method": "string",
    "page": "string",
    "registration": "double",
    "sessionId": "long",
    "song": "string",
    "status": "long",
    "ts": "long",
    "userAgent": "string",
    "userId": "string",
}
FIELDS: tuple[str, ...] = tuple(FIELD_TYPES)
NUMERIC_FIELDS: tuple[str, ...] = tuple(f for f, t in FIELD_TYPES.items() if t != "string")

LOGGED_IN, LOGGED_OUT, GUEST, CANCELLED = "Logged In", "Logged Out", "Guest", "Cancelled"
AUTHS: tuple[str, ...] = (LOGGED_IN, LOGGED_OUT, GUEST, CANCELLED)
#: Auth states whose events belong to a user (``userId`` must be set).
USER_AUTHS: frozenset[str] = frozenset({LOGGED_IN, CANCELLED})
LEVELS: tuple[str, ...] = ("free", "paid")
CANCEL_PAGE = "Cancellation Confirmation"

#: Every page eventsim emits, with its HTTP method and status (as in the Sparkify logs).
PAGE_METHOD_STATUS: dict[str, tuple[str, int]] = {
    "NextSong": ("PUT", 200),
    "Home": ("GET", 200),
    "Thumbs Up": ("PUT", 307),
    "Thumbs Down": ("PUT", 307),
    "Add to Playlist": ("PUT", 200),
    "Add Friend": ("PUT", 307),
    "Roll Advert": ("GET", 200),
    "Settings": ("GET", 200),
    "Save Settings": ("PUT", 307),
    "Help": ("GET", 200),
    "About": ("GET", 200),
    "Upgrade": ("GET", 200),
    "Submit Upgrade": ("PUT", 307),
    "Downgrade": ("GET", 200),
    "Submit Downgrade": ("PUT", 307),
    "Error": ("GET", 404),
    "Logout": ("PUT", 307),
    "Login": ("PUT", 307),
    "Register": ("GET", 200),
    "Submit Registration": ("PUT", 307),
    "Cancel": ("PUT", 307),
    CANCEL_PAGE: ("GET", 200),
}
PAGES: tuple[str, ...] = tuple(PAGE_METHOD_STATUS)


def json_line(event: dict[str, Any]) -> str:
    """One event as eventsim writes it (keys sorted, compact, ``\\/`` and ``\\uXXXX`` escapes)."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def spark_schema() -> Any:
    """The explicit Spark schema of the 18 fields (plus nothing: unknown keys are ignored)."""
    from pyspark.sql import types as T

    kinds = {"string": T.StringType(), "long": T.LongType(), "double": T.DoubleType()}
    return T.StructType([T.StructField(name, kinds[kind], True) for name, kind in FIELD_TYPES.items()])
