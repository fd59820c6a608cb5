"""The labels each use case accepts, and where they come from.

Every label an annotator posts is checked against its use case's :class:`LabelSet` on the server:
a typo'd or stale class name would otherwise reach the training set and silently add a class the
model was never meant to learn. The allowed labels come, in order of precedence, from the caller
(usually the classes of the trained champion), from a labels file uploaded on the page (kept in a
JSON file so a restart does not forget it), or from the labels already stored; a use case with
none of these starts with an empty set until a labels file is uploaded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

MAX_LABELS = 200
MAX_LABEL_CHARS = 64
_LABEL_RE = re.compile(r"^[^\x00-\x1f\x7f|]+$")


class LabelSetError(ValueError):
    """A label (or a whole label set) that the use case does not accept."""


@dataclass(frozen=True)
class LabelSet:
    """The class names a use case accepts; multi-label use cases take a list of them per sample."""

    use_case: str
    labels: list[str]
    multilabel: bool = False

    def __post_init__(self) -> None:
        check_label_names(self.labels)

    def validate(self, value: Any) -> str | list[str]:
        """The label as it will be stored, or :class:`LabelSetError` saying what is wrong with it.

        Multi-label values come back in label-set order, so the same choice is always stored the same
        way; an empty list is a real answer ("none of these") and is kept.
        """
        if not self.labels:
            raise LabelSetError(f"use case {self.use_case!r} has no labels yet; upload a labels file first")
        if not self.multilabel:
            if not isinstance(value, str):
                raise LabelSetError("label must be a string for this use case")
            if value not in self.labels:
                raise LabelSetError(f"unknown label {value[:80]!r}; allowed: {', '.join(self.labels)}")
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise LabelSetError("label must be a list of strings for this multi-label use case")
        if len(set(value)) != len(value):
            raise LabelSetError("label list repeats a label")
        unknown = [v for v in value if v not in self.labels]
        if unknown:
            raise LabelSetError(f"unknown labels {[u[:80] for u in unknown[:5]]}")
        chosen = set(value)
        return [label for label in self.labels if label in chosen]

    def as_json(self) -> dict[str, Any]:
        return {"use_case": self.use_case, "labels": list(self.labels), "multilabel": self.multilabel}


def check_label_names(labels: Sequence[str]) -> None:
    """Label names must be short, printable, unique and free of ``|`` (the multi-label CSV separator)."""
    if len(labels) > MAX_LABELS:
        raise LabelSetError(f"at most {MAX_LABELS} labels, got {len(labels)}")
    for label in labels:
        if not isinstance(label, str) or not label.strip() or label != label.strip():
            raise LabelSetError(f"label {label!r} must be a non-empty string without surrounding spaces")
        if len(label) > MAX_LABEL_CHARS or not _LABEL_RE.match(label):
            raise LabelSetError(f"label {label[:80]!r} is too long or holds control characters or '|'")
    if len(set(labels)) != len(labels):
        raise LabelSetError("labels must be unique")


def labels_from_table(frame: Any) -> list[str]:
    """Label names from an uploaded labels table: a ``label`` column, ordered by ``index`` if present.

    ``lable`` is accepted too: the seed project's tagger wrote its labels files with that spelling.
    """
    columns = {str(c).strip().lower(): c for c in frame.columns}
    name = columns.get("label", columns.get("lable"))
    if name is None:
        raise LabelSetError("a labels file needs a 'label' column (and optionally 'index')")
    rows = frame[[name] + ([columns["index"]] if "index" in columns else [])].copy()
    if "index" in columns:
        try:
            order = [float(v) for v in rows[columns["index"]]]
        except (TypeError, ValueError) as exc:
            raise LabelSetError("the 'index' column must be numeric") from exc
        if any(math.isnan(v) for v in order):
            raise LabelSetError("the 'index' column has empty cells")
        rows = rows.assign(_order=order).sort_values("_order", kind="stable")
    labels = [str(v).strip() for v in rows[name] if str(v).strip() not in ("", "nan", "None")]
    if not labels:
        raise LabelSetError("the labels file holds no labels")
    check_label_names(labels)
    return labels


class _LabelSource(Protocol):
    def labels(self, use_case: str, after_id: int = 0) -> list[dict[str, Any]]: ...


def _labels_seen(store: _LabelSource, use_case: str) -> LabelSet | None:
    seen: dict[str, None] = {}
    multilabel = False
    for row in store.labels(use_case):
        value = row["label"]
        multilabel = multilabel or isinstance(value, list)
        for name in value if isinstance(value, list) else [value]:
            seen.setdefault(str(name), None)
    if not seen:
        return None
    try:
        return LabelSet(use_case, sorted(seen), multilabel)
    except LabelSetError:
        return None  # stored labels that would not pass today's rules are not a safe default


def load_saved(path: Path | None) -> dict[str, LabelSet]:
    """Label sets saved by earlier uploads; an unreadable file counts as none saved."""
    if path is None or not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {uc: LabelSet(uc, list(v["labels"]), bool(v["multilabel"])) for uc, v in raw.items()}
    except (ValueError, KeyError, TypeError):
        return {}


def save(path: Path, label_sets: Mapping[str, LabelSet]) -> None:
    """Write label sets atomically, so a crash mid-write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({uc: ls.as_json() for uc, ls in label_sets.items()}, indent=2))
    tmp.replace(path)


def label_sets_from_store_or_config(
    store: _LabelSource,
    use_cases: Iterable[str],
    configured: Mapping[str, LabelSet | Sequence[str]] | None = None,
    multilabel: Iterable[str] = (),
    saved_path: Path | None = None,
) -> dict[str, LabelSet]:
    """One label set per use case: configured, else saved from an upload, else seen in the store.

    ``configured`` maps a use case to a :class:`LabelSet` or to its class names (then ``multilabel``
    names the multi-label use cases). Use cases with no source get an empty set, which the page
    shows with a prompt to upload a labels file.
    """
    configured = dict(configured or {})
    multi = set(multilabel)
    saved = load_saved(saved_path)
    result: dict[str, LabelSet] = {}
    for uc in dict.fromkeys([*use_cases, *configured]):
        value = configured.get(uc)
        if isinstance(value, LabelSet):
            result[uc] = value
        elif value is not None:
            result[uc] = LabelSet(uc, list(value), uc in multi)
        else:
            result[uc] = saved.get(uc) or _labels_seen(store, uc) or LabelSet(uc, [], uc in multi)
    return result
