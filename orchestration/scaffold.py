"""``flywheel new USE_CASE --kind …``: write a working use-case folder, and nothing outside it.

The folder (``assets/<uc>/``) declares its ``UseCase`` through a kit (``assets/kits/``), so it holds
only what is particular: a parsing stub for the documented landing format, the record schema, the
trainers' configuration, the labeling functions (text kinds), a simulator, a small test; plus a page
``docs/use-cases/<uc>.md``. Discovery (:mod:`orchestration.use_cases`) finds it: no list to edit.
The templates live in ``orchestration/templates/<layer>/`` (``{{uc}}`` and ``{{title}}`` replaced).
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
PROJECT = Path(__file__).resolve().parents[1]
#: Template folders of each kind, later ones overriding files of the same path.
LAYERS: dict[str, tuple[str, ...]] = {
    "text": ("text-common", "text"),
    "multilabel-text": ("text-common", "multilabel-text"),
    "tabular": ("tabular",),
    "timeseries": ("timeseries",),
    "image": ("image",),
}
KINDS: tuple[str, ...] = tuple(LAYERS)
#: Names a use case may not take besides what ``assets/`` holds already: Python's and the project's.
RESERVED = frozenset({"assets", "tests", "test", "orchestration", "resources", "sensors", "apps"})


class ScaffoldError(ValueError):
    """The name or kind cannot be scaffolded (the message says why)."""


def check_name(name: str, root: Path) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{name!r}: a use case name is a Python identifier in lower case (2-40 of a-z, 0-9, _, "
            "starting with a letter); it names the package, asset group, topic and model"
        )
    taken = {p.stem for p in (root / "assets").iterdir()} if (root / "assets").is_dir() else set()
    if name in RESERVED or (name in taken and not (root / "assets" / name / "definitions.py").exists()):
        raise ScaffoldError(f"{name!r} is a shared module or package of the project; choose another name")
    if name in taken:
        raise ScaffoldError(f"assets/{name}/ exists already; remove it or choose another name")
    if (root / "docs" / "use-cases" / f"{name}.md").exists():
        raise ScaffoldError(f"docs/use-cases/{name}.md exists already; remove it or choose another name")


def _render(text: str, name: str) -> str:
    return text.replace("{{uc}}", name).replace("{{title}}", name.replace("_", " ").capitalize())


def scaffold(name: str, kind: str, root: str | Path | None = None) -> list[Path]:
    """Write ``assets/<name>/`` and ``docs/use-cases/<name>.md`` from the ``kind``'s templates;
    returns the files written (relative to ``root``)."""
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    project = Path(root) if root else PROJECT
    check_name(name, project)
    files: dict[Path, Path] = {}
    for layer in LAYERS[kind]:
        for template in (TEMPLATES / layer).rglob("*.tmpl"):
            files[template.relative_to(TEMPLATES / layer).with_suffix("")] = template
    written = []
    for relative, template in sorted(files.items()):
        target = project / Path(_render(str(relative), name))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_render(template.read_text(), name))
        written.append(target.relative_to(project))
    return written
