"""Is a scored batch still like the data its champion learnt from? Plain functions, no Dagster.

A reference (the training set a version was trained on, or its answers on validation rows) is kept
as a small JSON profile: a sorted sample of each numeric feature and the class shares of each
categorical one. A batch is compared feature by feature with the population stability index (the
verdict) and a two-sample test (KS for numbers, chi-square for classes; reported, not judged on:
with thousands of reference rows a p-value flags shifts too small to matter, while PSI measures
how large the shift is). scipy and our own report rather than Evidently, NannyML or whylogs: they
cost seconds to import and pull in many dependencies for these few statistics.

Text is turned into numbers first (length, tokens, out-of-vocabulary share, case, digits and a
hashed random embedding), so a text field drifts like any numeric one.
"""

from __future__ import annotations

import html
import math
import re
import zlib
from collections import Counter
from collections.abc import Mapping
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DRIFT_PSI = 0.25  # PSI at or above this on a feature = drifted (the common "major shift" rule)
MIN_BATCH = 30  # fewer current values than this: feature not judged (drifted False, reason "too_few")
EPSILON = 1e-4  # share given to an empty bin or an absent class, so PSI stays finite
EMBEDDING_BUCKETS, EMBEDDING_DIMS = 4096, 4
TEXT_COLUMNS = ["chars", "tokens", "mean_token_chars", "oov_share", "upper_share", "digit_share"] + [
    f"emb_{i}" for i in range(EMBEDDING_DIMS)
]
TABLE_COLUMNS = [
    "feature",
    "kind",
    "psi",
    "ks_statistic",
    "p_value",
    "reference_mean",
    "current_mean",
    "current_rows",
    "drifted",
    "reason",
]
_TOKEN = re.compile(r"\w+")


# -- statistics -----------------------------------------------------------------------------------


def _finite(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def _psi_of_shares(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two share vectors over the same bins; empty bins get ``EPSILON`` (else ln(0))."""
    reference, current = np.maximum(reference, EPSILON), np.maximum(current, EPSILON)
    return float(np.sum((current - reference) * np.log(current / reference)))


def _bin_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges at the reference's quantiles, duplicates dropped (a value heaped at one point,
    such as many zeros, becomes a bin of its own). Bins are right-closed: (e[i-1], e[i]]."""
    inner = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    if len(inner) == 1 and reference.min() == reference.max():
        # A constant reference: below, at and above its value, so a batch moving either way shows.
        inner = np.array([np.nextafter(inner[0], -np.inf), inner[0]])
    return inner


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` over the reference's quantile
    bins (open-ended outer bins, so values beyond the reference's range count). NaNs are left out;
    NaN when either side has no values. A constant feature that stays constant gives 0.0."""
    ref, cur = _finite(reference), _finite(current)
    if not len(ref) or not len(cur):
        return math.nan
    inner = _bin_edges(ref, bins)
    slots = len(inner) + 1
    ref_share = np.bincount(np.searchsorted(inner, ref, side="left"), minlength=slots) / len(ref)
    cur_share = np.bincount(np.searchsorted(inner, cur, side="left"), minlength=slots) / len(cur)
    return _psi_of_shares(ref_share, cur_share)


def _class_shares(current: pd.Series) -> pd.Series:
    values = current.dropna().astype(str)
    return values.value_counts(normalize=True) if len(values) else pd.Series(dtype=float)


def categorical_psi(reference_shares: Mapping[str, float], current: pd.Series) -> float:
    """PSI over classes; a class seen on one side only gets ``EPSILON`` on the other (a new class
    shows as a large shift instead of an infinite one). NaN when the batch has no values."""
    shares = _class_shares(current)
    if not len(shares) or not reference_shares:
        return math.nan
    classes = sorted(set(reference_shares) | set(shares.index))
    ref = np.array([float(reference_shares.get(c, 0.0)) for c in classes])
    cur = np.array([float(shares.get(c, 0.0)) for c in classes])
    return _psi_of_shares(ref, cur)


def _chisquare(reference_shares: Mapping[str, float], current: pd.Series) -> float:
    """p-value of the batch's class counts against the reference shares (NaN with under 2 classes)."""
    from scipy import stats

    counts = current.dropna().astype(str).value_counts()
    classes = sorted(set(reference_shares) | set(counts.index))
    if len(classes) < 2 or not counts.sum():
        return math.nan
    observed = np.array([float(counts.get(c, 0)) for c in classes])
    expected = np.maximum([float(reference_shares.get(c, 0.0)) for c in classes], EPSILON)
    expected = expected / expected.sum() * observed.sum()
    return float(stats.chisquare(observed, expected).pvalue)


# -- text -----------------------------------------------------------------------------------------


def _tokens(texts: pd.Series) -> list[list[str]]:
    """Lower-case ``\\w+`` tokens of each text (missing texts have none)."""
    return [_TOKEN.findall(t) for t in texts.fillna("").astype(str).str.lower()]


def text_vocabulary(texts: pd.Series, limit: int = 20000) -> list[str]:
    """Tokens seen at least twice, most frequent first (ties alphabetical, so it is reproducible),
    at most ``limit``: a word seen once is as likely a typo or a name as vocabulary."""
    counts = Counter(chain.from_iterable(_tokens(texts)))
    ranked = sorted((item for item in counts.items() if item[1] >= 2), key=lambda kv: (-kv[1], kv[0]))
    return [token for token, _ in ranked[:limit]]


@cache
def _embedding_matrix() -> np.ndarray:
    """A fixed random vector per hash bucket: the same token gets the same vector in every process,
    without storing a model (a topic or language shift moves the mean of these)."""
    return np.random.default_rng(0).standard_normal((EMBEDDING_BUCKETS, EMBEDDING_DIMS))


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.divide(part, whole, out=np.zeros(len(whole)), where=whole > 0)


def text_features(texts: pd.Series, vocabulary: set[str] | frozenset[str]) -> pd.DataFrame:
    """One row per text (in order, fresh index) of the numbers a text field drifts by. Tokens are
    hashed and looked up once per distinct token, not once per occurrence, to stay fast."""
    strings = texts.fillna("").astype(str).reset_index(drop=True)
    n = len(strings)
    tokens = _tokens(strings)
    counts = np.fromiter(map(len, tokens), dtype=np.int64, count=n)
    codes, distinct = pd.factorize(pd.Series(list(chain.from_iterable(tokens)), dtype=object), sort=False)
    distinct = list(distinct)
    rows = np.repeat(np.arange(n), counts)
    lengths = np.fromiter(map(len, distinct), dtype=float, count=len(distinct))[codes]
    unknown = np.fromiter((t not in vocabulary for t in distinct), dtype=float, count=len(distinct))[codes]
    hashes = (zlib.crc32(t.encode("utf-8")) % EMBEDDING_BUCKETS for t in distinct)
    buckets = np.fromiter(hashes, dtype=np.int64, count=len(distinct))
    vectors = _embedding_matrix()[buckets[codes]] if len(codes) else np.zeros((0, EMBEDDING_DIMS))
    chars = strings.str.len().to_numpy(dtype=float)
    letters = np.fromiter((sum(map(str.isalpha, t)) for t in strings), dtype=float, count=n)
    upper = np.fromiter((sum(map(str.isupper, t)) for t in strings), dtype=float, count=n)
    digits = strings.str.count(r"\d").to_numpy(dtype=float)
    columns: dict[str, np.ndarray] = {
        "chars": chars,
        "tokens": counts.astype(float),
        "mean_token_chars": _share(np.bincount(rows, weights=lengths, minlength=n), counts),
        "oov_share": _share(np.bincount(rows, weights=unknown, minlength=n), counts),
        "upper_share": _share(upper, letters),
        "digit_share": _share(digits, chars),
    }
    for i in range(EMBEDDING_DIMS):
        columns[f"emb_{i}"] = _share(np.bincount(rows, weights=vectors[:, i], minlength=n), counts)
    return pd.DataFrame(columns, columns=TEXT_COLUMNS)


def text_reference(texts: pd.Series) -> tuple[list[str], pd.DataFrame]:
    """The vocabulary from the even positions and the features of the odd ones: measured on the
    texts it was built from, the out-of-vocabulary share would be near zero and every new batch
    would read as drifted."""
    strings = texts.reset_index(drop=True)
    vocabulary = text_vocabulary(strings.iloc[0::2])
    return vocabulary, text_features(strings.iloc[1::2], frozenset(vocabulary))


# -- profiles and comparison ----------------------------------------------------------------------


def build_profile(
    features: pd.DataFrame,
    categorical: Mapping[str, pd.Series] | None = None,
    sample: int = 2000,
    seed: int = 0,
) -> dict:
    """The reference as plain JSON: per numeric column a sorted random sample of at most ``sample``
    values (enough for quantile bins and a KS test, small enough to keep per version) and the mean
    of all values; per categorical entry the class shares. Non-finite values are left out."""
    rng = np.random.default_rng(seed)
    numeric: dict[str, dict[str, Any]] = {}
    for column in features.columns:
        values = _finite(pd.to_numeric(features[column], errors="coerce"))
        kept = rng.choice(values, size=sample, replace=False) if len(values) > sample else values
        numeric[str(column)] = {
            "values": [float(v) for v in np.sort(kept)],
            "mean": float(values.mean()) if len(values) else None,
            "count": len(values),
        }
    classes: dict[str, dict[str, Any]] = {}
    for name, series in (categorical or {}).items():
        shares = _class_shares(series)
        classes[str(name)] = {
            "shares": {str(k): float(v) for k, v in shares.items()},
            "count": int(series.notna().sum()),
        }
    return {"rows": len(features), "numeric": numeric, "categorical": classes}


def _judge(psi_value: float, rows: int, threshold: float) -> tuple[bool, str]:
    if rows < MIN_BATCH:
        return False, "too_few"
    if not math.isfinite(psi_value):
        return False, "no_reference"
    return psi_value >= threshold, ""


def compare(
    profile: dict,
    features: pd.DataFrame,
    categorical: Mapping[str, pd.Series] | None = None,
    threshold: float = DRIFT_PSI,
) -> pd.DataFrame:
    """One row per profiled feature present in the batch (numeric first, then categorical). A
    feature drifts when its PSI reaches ``threshold`` on at least ``MIN_BATCH`` values; ``reason``
    says why one was not judged ("too_few", "no_reference"), empty when it was. scipy.stats is
    imported here: it costs seconds, and the text features (built in other steps) do not need it."""
    from scipy import stats

    found: list[dict[str, Any]] = []
    for name, entry in profile.get("numeric", {}).items():
        if name not in features.columns:
            continue
        reference = np.asarray(entry["values"], dtype=float)
        current = _finite(pd.to_numeric(features[name], errors="coerce"))
        value = psi(reference, current)
        ks, p_value = math.nan, math.nan
        if len(reference) and len(current):
            test = stats.ks_2samp(reference, current)
            ks, p_value = float(test.statistic), float(test.pvalue)
        drifted, reason = _judge(value, len(current), threshold)
        found.append(
            {
                "feature": name,
                "kind": "numeric",
                "psi": value,
                "ks_statistic": ks,
                "p_value": p_value,
                "reference_mean": math.nan if entry["mean"] is None else float(entry["mean"]),
                "current_mean": float(current.mean()) if len(current) else math.nan,
                "current_rows": len(current),
                "drifted": drifted,
                "reason": reason,
            }
        )
    categorical = categorical or {}
    for name, entry in profile.get("categorical", {}).items():
        if name not in categorical:
            continue
        series = categorical[name]
        value = categorical_psi(entry["shares"], series)
        rows = int(series.notna().sum())
        drifted, reason = _judge(value, rows, threshold)
        found.append(
            {
                "feature": name,
                "kind": "categorical",
                "psi": value,
                "ks_statistic": math.nan,
                "p_value": _chisquare(entry["shares"], series),
                "reference_mean": math.nan,
                "current_mean": math.nan,
                "current_rows": rows,
                "drifted": drifted,
                "reason": reason,
            }
        )
    table = pd.DataFrame(found, columns=TABLE_COLUMNS)
    return table.astype({"psi": float, "ks_statistic": float, "p_value": float, "current_rows": int}).astype(
        {"drifted": bool}
    )


def summary(table: pd.DataFrame) -> dict:
    """The batch's verdict: drifted when any feature is."""
    psis = table["psi"].to_numpy(dtype=float) if len(table) else np.array([])
    finite = psis[np.isfinite(psis)]
    drifted = table["drifted"].astype(bool) if len(table) else pd.Series(dtype=bool)
    return {
        "drifted": bool(drifted.any()),
        "drifted_features": [str(f) for f in table.loc[drifted, "feature"]] if len(table) else [],
        "max_psi": float(finite.max()) if len(finite) else 0.0,
        "features": len(table),
    }


# -- report ---------------------------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: 600; }
table { border-collapse: collapse; }
th, td { padding: .25em .6em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, td.kind { text-align: left; }
tr.drifted { background: #fde2e1; font-weight: 600; }
"""


def _number(value: Any, digits: int = 4) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{number:.{digits}g}" if math.isfinite(number) else "–"


def _bar(value: float, threshold: float, scale: float) -> str:
    """An inline SVG bar of one PSI, with the threshold as a vertical line (no script, no CSS file)."""
    width, height = 160, 14
    filled = 0.0 if not math.isfinite(value) else min(value / scale, 1.0) * width
    line = threshold / scale * width
    colour = "#d62728" if math.isfinite(value) and value >= threshold else "#1f77b4"
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="psi {_number(value, 3)}">'
        f'<rect width="{width}" height="{height}" fill="#f0f0f0"/>'
        f'<rect width="{filled:.1f}" height="{height}" fill="{colour}"/>'
        f'<line x1="{line:.1f}" x2="{line:.1f}" y1="0" y2="{height}" stroke="#000" stroke-width="1.5"/>'
        "</svg>"
    )


def render_report(
    table: pd.DataFrame, title: str, facts: Mapping[str, Any], threshold: float = DRIFT_PSI
) -> str:
    """One self-contained HTML page (opens from disk or an MLflow artifact view, no network)."""
    esc = html.escape
    psis = table["psi"].to_numpy(dtype=float) if len(table) else np.array([])
    finite = psis[np.isfinite(psis)]
    scale = max(2 * threshold, float(finite.max()) if len(finite) else 0.0) or 1.0
    verdict = summary(table)
    rows = []
    for r in table.to_dict(orient="records"):
        drifted, reason = bool(r["drifted"]), str(r.get("reason") or "")
        cells = [
            esc(str(r["feature"])),
            f'<span class="kind">{esc(str(r["kind"]))}</span>',
            _number(r["psi"]),
            _bar(float(r["psi"]), threshold, scale),
            _number(r["ks_statistic"]),
            _number(r["p_value"], 3),
            _number(r["reference_mean"]),
            _number(r["current_mean"]),
            str(int(r["current_rows"])),
            "yes" if drifted else (f"not judged: {esc(reason)}" if reason else "no"),
        ]
        attribute = ' class="drifted"' if drifted else ""
        rows.append(f"<tr{attribute}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    headers = ["feature", "kind", "psi", f"psi vs {threshold:g}", "KS", "p-value"]
    headers += ["reference mean", "current mean", "rows", "drifted"]
    facts_html = "".join(f"<dt>{esc(str(k))}</dt><dd>{esc(str(v))}</dd>" for k, v in facts.items())
    heading = (
        f"Drifted: {esc(', '.join(verdict['drifted_features']))}"
        if verdict["drifted"]
        else "No feature drifted."
    )
    body = (
        "<table><thead><tr>"
        + "".join(f"<th>{esc(h)}</th>" for h in headers)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No features were compared.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1><dl>{facts_html}</dl>"
        f"<p>{heading} Drifted means PSI &ge; {threshold:g} on at least {MIN_BATCH} values.</p>"
        f"{body}</body></html>\n"
    )


def drift_figure(table: pd.DataFrame, path: Path, threshold: float = DRIFT_PSI) -> Path:
    """A PNG of PSI per feature with the threshold line, for MLflow. Drawn on an Agg canvas without
    pyplot: no global figure state or backend switch in a long-lived process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [str(f) for f in table["feature"]] if len(table) else []
    values = np.nan_to_num(table["psi"].to_numpy(dtype=float), nan=0.0) if len(table) else np.array([])
    colours = ["#d62728" if d else "#1f77b4" for d in (table["drifted"] if len(table) else [])]
    figure = Figure(figsize=(7, 1.2 + 0.3 * max(len(names), 1)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = np.arange(len(names))
    axes.barh(positions, values, color=colours)
    axes.set_yticks(positions, names)
    axes.invert_yaxis()
    axes.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axes.set_xlabel("population stability index")
    axes.legend(loc="lower right")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
