"""An image classifier use case from one declaration: :class:`ImageUseCase` builds a :class:`UseCase`
from landed image files in class folders (``assets/kits/image_cleaning.py``), with what every kit
builds (``assets/kits/base.py``). A record is ``{id, image}`` (base64 PNG/JPEG); out one probability
column per class and ``prediction``. Dagster only here."""

from dataclasses import dataclass
from typing import Any

from assets.kits.base import KitUseCase
from assets.lazy import resolve
from assets.lifecycle.spec import ContentKey
from resources.object_store import ObjectStoreResource


@dataclass(frozen=True)
class ImageUseCase(KitUseCase):
    """A kit use case whose records are images; its cleaning gets (landing key, local path) pairs,
    since an image's class is the folder it landed in."""

    def record_fields(self) -> tuple[str, ...]:
        return ("image",)

    def content_key(self) -> ContentKey:
        # The same picture under another id is the same record: never trained on when held out.
        return ContentKey(text=("content_key",))

    def landed(self, object_store: ObjectStoreResource) -> list[str]:
        from assets.kits.image_cleaning import is_image

        return sorted(o.key for o in object_store.list(f"{self.name}/") if is_image(o.key))

    def clean(self, spark: Any, object_store: ObjectStoreResource, keys: list[str]) -> Any:
        files = [(k, str(object_store.local_path(k))) for k in keys]
        return resolve(self.parse or f"assets.{self.name}.parsing:clean")(spark, files, self)
