"""Reads a use case's monitoring files into the one JSON body the page draws.

Other parts of Flywheel write these under ``<home>/monitoring/<use_case>/`` while the page is open, so
every file may be missing, half-written or from an older writer: each is read on its own, a file that
cannot be read is left out and named in ``problems``, and values are checked one by one (a number
that is not finite becomes ``None``, since JSON has no NaN). Nothing here raises for bad content.

Files read:

``live_quality.json``
    the live metric per champion version on audited traffic: overall, per day and per 100 labels.
``drift/<slot>.json`` (and its report ``drift/<slot>.html``)
    one per scored batch: per-feature PSI / KS against the training reference.
``lag.json``
    how far scoring is behind the stream.
``label_efficiency.png``, ``label_efficiency.csv``
    the metric reached per number of labels, per sampling strategy.
"""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MONITORING = "monitoring"
QUALITY_FILE = "live_quality.json"
LAG_FILE = "lag.json"
DRIFT_DIR = "drift"
EFFICIENCY_PNG = "label_efficiency.png"
EFFICIENCY_CSV = "label_efficiency.csv"
#: Batches shown in the drift strip (the newest, by ``scored_at``).
STRIP_BATCHES = 20
#: A slot as the writer makes them: filename-safe, never starting with a dot (no ``..``, no hidden files).
_SLOT_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$")
_Stat = tuple[int, int]


def folder(home: Path, use_case: str) -> Path:
    """Where ``use_case``'s monitoring files live."""
    return Path(home) / MONITORING / use_case


def safe_slot(slot: str) -> bool:
    """Whether ``slot`` can name a file in ``drift/`` and nothing outside it."""
    return bool(_SLOT_RE.match(slot)) and ".." not in slot


def _inside(path: Path, parent: Path) -> bool:
    """``path`` is a file below ``parent`` once symlinks are resolved."""
    try:
        return path.is_file() and path.resolve().is_relative_to(parent.resolve())
    except OSError:
        return False


def report_path(home: Path, use_case: str, slot: str) -> Path | None:
    """A batch's HTML drift report, or None when the slot is unsafe or has no report."""
    if not safe_slot(slot):
        return None
    drift = folder(home, use_case) / DRIFT_DIR
    path = drift / f"{slot}.html"
    return path if _inside(path, drift) else None


def image_path(home: Path, use_case: str) -> Path | None:
    """The label-efficiency PNG, or None before it is drawn."""
    base = folder(home, use_case)
    path = base / EFFICIENCY_PNG
    return path if _inside(path, base) else None


# -- values ----------------------------------------------------------------------------------------
def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)  # a version written as 1 instead of "1"
    return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


def _stat(path: Path) -> _Stat | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _load(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(object, None)``, ``(None, None)`` for a missing file, ``(None, problem)`` for a bad one."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path.name}: cannot be read ({type(exc).__name__})"
    try:
        value = json.loads(raw)
    except ValueError:
        return None, f"{path.name}: not valid JSON (being written?)"
    if not isinstance(value, dict):
        return None, f"{path.name}: not a JSON object"
    return value, None


# -- sections --------------------------------------------------------------------------------------
def _interval(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "labels": _int(item.get("labels")),
        "metric": _num(item.get("metric")),
        "ci_low": _num(item.get("ci_low")),
        "ci_high": _num(item.get("ci_high")),
    }


def _version(item: dict[str, Any]) -> dict[str, Any]:
    per_100 = [_interval(p) for p in _dicts(item.get("per_100"))]
    per_100 = sorted(
        (p for p in per_100 if p["labels"] is not None and p["metric"] is not None), key=lambda p: p["labels"]
    )
    daily = [{"day": _text(d.get("day")), **_interval(d)} for d in _dicts(item.get("daily"))]
    return {
        "version": _text(item.get("version")) or "?",
        "holdout_metric": _num(item.get("holdout_metric")),
        **_interval(item),
        "below_holdout": item.get("below_holdout") is True,
        "daily": sorted((d for d in daily if d["day"]), key=lambda d: d["day"]),
        "per_100": per_100,
    }


def quality(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The live-quality section; without a file, no metric and no versions."""
    raw = raw or {}
    return {
        "metric": _text(raw.get("metric")),
        "updated_at": _text(raw.get("updated_at")),
        "audit_share": _num(raw.get("audit_share")),
        "basis": _text(raw.get("basis")),
        "versions": [_version(v) for v in _dicts(raw.get("versions"))],
    }


def lag(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """The scoring lag, or None without a file (the page says "no data")."""
    if raw is None:
        return None
    return {
        "updated_at": _text(raw.get("updated_at")),
        "lag_records": _int(raw.get("lag_records")),
        "oldest_wait_seconds": _num(raw.get("oldest_wait_seconds")),
        "latency_p95_s": _num(raw.get("latency_p95_s")),
    }


def _feature(item: dict[str, Any], drifted: set[str]) -> dict[str, Any]:
    name = _text(item.get("feature")) or "?"
    return {
        "feature": name,
        "kind": _text(item.get("kind")),
        "psi": _num(item.get("psi")),
        "ks_statistic": _num(item.get("ks_statistic")),
        "p_value": _num(item.get("p_value")),
        "reference_mean": _num(item.get("reference_mean")),
        "current_mean": _num(item.get("current_mean")),
        "current_rows": _int(item.get("current_rows")),
        "drifted": item.get("drifted") is True or name in drifted,
    }


def _batch(slot: str, raw: dict[str, Any], has_report: bool) -> dict[str, Any]:
    listed = raw.get("drifted_features")
    drifted_features = [t for t in map(_text, listed) if t] if isinstance(listed, list) else []
    scored_at = _num(raw.get("scored_at"))
    features = [_feature(f, set(drifted_features)) for f in _dicts(raw.get("features"))]
    # Drifted first, then the largest shift: what needs a look is at the top.
    features.sort(key=lambda f: (not f["drifted"], -(f["psi"] if f["psi"] is not None else -1.0)))
    return {
        "slot": slot,
        "partition": _text(raw.get("partition")),
        "scored_at": scored_at,
        "scored": _iso(scored_at),
        "model_version": _text(raw.get("model_version")),
        "rows": _int(raw.get("rows")),
        "drifted": raw.get("drifted") is True or bool(drifted_features),
        "drifted_features": drifted_features,
        "max_psi": _num(raw.get("max_psi")),
        "report": has_report,
        "features": features,
    }


def efficiency(path: Path) -> tuple[list[str], list[dict[str, Any]], str | None]:
    """``(columns, rows, problem)``: per strategy, the CSV row with the most labels (its last point)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = [c for c in reader.fieldnames or [] if c]
            best: dict[str, tuple[float, dict[str, Any]]] = {}
            for raw in reader:
                row = {c: _cell(raw.get(c)) for c in columns}
                strategy = str(row.get("strategy") or "?")
                labels = row.get("labels")
                key = labels if isinstance(labels, float) else -math.inf
                if strategy not in best or key >= best[strategy][0]:  # a tie goes to the later row
                    best[strategy] = (key, row)
    except FileNotFoundError:
        return [], [], None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [], f"{path.name}: cannot be read ({type(exc).__name__})"
    return columns, [best[s][1] for s in sorted(best)], None


def _cell(value: str | None) -> float | str | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else None


class Monitoring:
    """Reads snapshots for the use cases under ``home``.

    Drift files pile up (one per scored batch), so each is parsed once and kept until its size or
    modification time changes; everything else is small and read on every request.
    """

    def __init__(self, home: Path):
        self.home = Path(home)
        self._drift: dict[str, dict[Path, tuple[_Stat, dict[str, Any] | None, str | None]]] = {}

    def _drift_files(self, use_case: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        drift = folder(self.home, use_case) / DRIFT_DIR
        try:
            paths = sorted(p for p in drift.glob("*.json") if safe_slot(p.stem))
        except OSError:
            paths = []
        old = self._drift.get(use_case, {})
        new: dict[Path, tuple[_Stat, dict[str, Any] | None, str | None]] = {}
        for path in paths:
            stat = _stat(path)
            if stat is None:
                continue  # removed since the listing
            cached = old.get(path)
            new[path] = cached if cached and cached[0] == stat else (stat, *_load(path))
        self._drift[use_case] = new  # replaced whole: files gone from disk leave the cache too
        found = [(path.stem, raw) for path, (_, raw, _) in new.items() if raw is not None]
        problems = [f"{DRIFT_DIR}/{problem}" for _, _, problem in new.values() if problem]
        return found, problems

    def drift(self, use_case: str) -> tuple[dict[str, Any], list[str]]:
        """The newest batch with its features, and the strip of the newest batches (oldest first)."""
        found, problems = self._drift_files(use_case)
        drift = folder(self.home, use_case) / DRIFT_DIR
        batches = [_batch(slot, raw, (drift / f"{slot}.html").is_file()) for slot, raw in found]
        batches.sort(key=lambda b: (b["scored_at"] if b["scored_at"] is not None else -math.inf, b["slot"]))
        latest = batches[-1] if batches else None
        strip = [{k: v for k, v in b.items() if k != "features"} for b in batches[-STRIP_BATCHES:]]
        return {"batches_total": len(batches), "latest": latest, "batches": strip}, problems

    def snapshot(self, use_case: str) -> dict[str, Any]:
        """Everything the page shows for ``use_case``; ``ready`` is False until any file exists."""
        base = folder(self.home, use_case)
        problems: list[str] = []
        quality_raw, problem = _load(base / QUALITY_FILE)
        problems += [problem] if problem else []
        lag_raw, problem = _load(base / LAG_FILE)
        problems += [problem] if problem else []
        drift, drift_problems = self.drift(use_case)
        problems += drift_problems
        columns, rows, problem = efficiency(base / EFFICIENCY_CSV)
        problems += [problem] if problem else []
        image = image_path(self.home, use_case) is not None
        ready = any((quality_raw is not None, lag_raw is not None, drift["batches_total"], rows, image))
        return {
            "use_case": use_case,
            "ready": ready,
            "message": ""
            if ready
            else f"no monitoring data yet for {use_case}: it appears once its "
            f"champion scores batches (files under {MONITORING}/{use_case}/)",
            "problems": problems,
            "quality": quality(quality_raw),
            "drift": drift,
            "lag": lag(lag_raw),
            "label_efficiency": {
                "image": f"/files/{use_case}/{EFFICIENCY_PNG}" if image else None,
                "columns": columns,
                "rows": rows,
            },
        }
