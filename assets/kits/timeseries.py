"""A window classifier use case from one declaration: :class:`WindowUseCase` builds a :class:`UseCase`
from landed ``id,values[,label]`` CSVs (``assets/kits/window_cleaning.py``), with what every kit
builds (``assets/kits/base.py``). A record is ``{id, values}``, one window of a signal; out one
probability column per class and ``prediction``. Dagster only here."""

from dataclasses import dataclass

from assets.kits.base import KitUseCase
from assets.lifecycle.spec import ContentKey


@dataclass(frozen=True)
class WindowUseCase(KitUseCase):
    """A kit use case whose records are windows of a signal; ``min_length``: fewer values are
    quarantined (``too_short``)."""

    min_length: int = 8

    def record_fields(self) -> tuple[str, ...]:
        return ("values",)

    def content_key(self) -> ContentKey:
        # The same window under another id is the same record: never trained on when held out.
        return ContentKey(text=("content",))
