"""A tabular classifier use case from one declaration: :class:`TabularUseCase` builds a
:class:`UseCase` from landed ``id,<features>,label`` CSVs (``assets/kits/tabular_cleaning.py``), with
what every kit builds (``assets/kits/base.py``). Records: ``id`` and the feature columns; out one
probability column per class and ``prediction``. Dagster only here."""

from dataclasses import dataclass
from typing import Any

from assets.kits.base import KitUseCase
from assets.lifecycle.spec import ContentKey


@dataclass(frozen=True)
class TabularUseCase(KitUseCase):
    """A kit use case whose records are rows of numbers: ``features`` names their columns."""

    features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError(f"{self.name}: a tabular use case declares its feature columns")

    def record_fields(self) -> tuple[str, ...]:
        return self.features

    def drift_inputs(self) -> Any:
        from assets.monitoring.inputs import NumericDrift

        return NumericDrift(self.features)

    def content_key(self) -> ContentKey:
        # The same numbers under another id are the same record: never trained on when held out.
        return ContentKey(numbers=self.features)
