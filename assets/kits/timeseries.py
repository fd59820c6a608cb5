"""A window classifier use case from one declaration: :class:`WindowUseCase` builds a :class:`UseCase`
from landed ``id,values[,label]`` CSVs (``assets/kits/window_cleaning.py``), with what every kit
builds (``assets/kits/base.py``). A record is ``{id, values}``, one window of a signal; out one
probability column per class and ``prediction``. Dagster only here."""

from dataclasses import dataclass
from typing import Any

from assets.kits.base import KitUseCase
from assets.lifecycle.spec import ContentKey, LabelledTable
from assets.slots import tables_dir


@dataclass(frozen=True)
class WindowUseCase(KitUseCase):
    """A kit use case whose records are windows of a signal; ``min_length``: fewer values are
    quarantined (``too_short``)."""

    min_length: int = 8

    def record_fields(self) -> tuple[str, ...]:
        return ("values",)

    def content_key(self) -> ContentKey:
        # The same window under another id is the same record: never trained on when held out.
        return ContentKey(text=("content_key",))

    def training_table(self, clean: Any) -> tuple[LabelledTable, dict]:
        """Ground truth, each window with its content key (what the stream's prepare hook adds)."""
        from assets.kits.labels import ground_truth_table
        from assets.trainers.window_values import canonical

        keyed = clean.assign(content_key=[canonical(v) for v in clean["values"]])
        return ground_truth_table(self, keyed, tables_dir(self.name))
