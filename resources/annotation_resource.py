"""The annotation store as a Dagster resource (``FLYWHEEL_DATABASE_URL``).

Apart from ``resources/annotation_store.py`` so that loading the code location does not import
SQLAlchemy: the store is opened (and SQLAlchemy imported) when a step or sensor asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:
    from resources.annotation_store import AnnotationStore


class AnnotationStoreResource(ConfigurableResource):
    """The annotation store for assets and sensors (``FLYWHEEL_DATABASE_URL``)."""

    database_url: str = Field(description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql://...")

    def store(self) -> AnnotationStore:
        from resources.annotation_store import AnnotationStore

        return AnnotationStore(self.database_url)
