"""The two HTML pages, as plain templates: the list of use cases and one use case's labelling page.

The pages hold no token and no sample: the script (``static/annotate.js``) asks the JSON API for the
queue, so the page and any other client see the same data through the same checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from urllib.parse import quote

from apps.annotate.labelsets import LabelSet

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/annotate.css"></head>"""

_KEYS = "1234567890"


def index(counts: Mapping[str, Mapping[str, int]]) -> str:
    """Every use case the page serves, with its queue and label counts."""
    rows = "".join(
        f'<tr><td><a href="/{quote(uc)}">{escape(uc)}</a></td><td>{c.get("queued", 0)}</td>'
        f"<td>{c.get('labelled', 0)}</td><td>{c.get('skipped', 0)}</td><td>{c.get('labels', 0)}</td></tr>"
        for uc, c in counts.items()
    )
    return (
        _HEAD.format(title="Flywheel annotation")
        + '<body><header><b>Flywheel annotation</b></header><main><table class="use-cases">'
        "<tr><th>use case</th><th>queued</th><th>labelled</th><th>skipped</th><th>labels stored</th></tr>"
        f"{rows}</table></main></body></html>"
    )


def _buttons(label_set: LabelSet) -> str:
    if not label_set.labels:
        return '<p class="empty">No labels yet: upload a labels file below.</p>'
    # The order stays the label set's for every sample (number keys and places never move); the
    # script fills each button's probability and marks the suggested labels.
    return "".join(
        f'<button type="button" class="label" data-label="{escape(label, quote=True)}"'
        f' data-key="{_KEYS[i] if i < len(_KEYS) else ""}">'
        f"{f'<kbd>{_KEYS[i]}</kbd> ' if i < len(_KEYS) else ''}{escape(label)}"
        '<span class="proba"></span></button>'
        for i, label in enumerate(label_set.labels)
    )


def annotate(label_set: LabelSet) -> str:
    """The labelling page for one use case; samples arrive through the API once a token is given."""
    uc = escape(label_set.use_case, quote=True)
    labels = escape(json.dumps(label_set.labels), quote=True)
    multi = label_set.multilabel
    submit = '<button type="button" id="submit">Submit <kbd>Enter</kbd></button>' if multi else ""
    hint = (
        "suggested labels come pre-checked; number keys toggle, Enter submits"
        if multi
        else "number keys label; Enter confirms the pre-selected suggestion"
    )
    return (
        _HEAD.format(title=f"Annotate · {uc}")
        + f'<body data-use-case="{uc}" data-labels="{labels}" data-multilabel="{str(multi).lower()}"'
        f' data-state="login">'
        f'<header><a href="/">Flywheel annotation</a> / <b>{uc}</b> <span class="counts">'
        'stored <b id="stored-count">0</b> · queued <b id="queued-count">0</b> · '
        'this session <b id="session-count">0</b></span></header>'
        '<section id="login"><form id="login-form" autocomplete="off">'
        '<label>Token <input id="token" type="password" required></label> '
        '<label>Your name <input id="annotator" maxlength="128" placeholder="anonymous"></label> '
        '<button type="submit" id="login-button">Start</button> '
        '<span id="login-state"></span></form></section>'
        '<main><p id="sample-meta"></p><div id="sample" data-sample-id=""></div>'
        f'<div id="label-buttons">{_buttons(label_set)}</div>'
        f'<div id="actions">{submit} <button type="button" id="skip">Skip <kbd>s</kbd></button> '
        '<button type="button" id="undo">Undo <kbd>u</kbd></button> '
        f'<span class="hint">{hint}; s skips; u undoes your last label</span></div>'
        '<p id="message" role="status"></p></main>'
        '<section id="files"><h2>Files</h2>'
        '<form id="upload-form"><label>Data (CSV/Parquet: id,text[,label][,score]) '
        '<input type="file" name="file" multiple accept=".csv,.parquet,.pq"></label> '
        '<button type="submit">Upload data</button></form>'
        '<form id="labelset-form"><label>Labels file (CSV/Parquet: label[,index]) '
        '<input type="file" name="file" accept=".csv,.parquet,.pq"></label> '
        f'<label><input type="checkbox" name="multilabel"{" checked" if multi else ""}>'
        ' multi-label</label> <button type="submit">Set labels</button></form>'
        f'<p>Download labels: <a href="/api/{quote(label_set.use_case)}/labels?format=csv">CSV</a> · '
        f'<a href="/api/{quote(label_set.use_case)}/labels?format=json">JSON</a></p>'
        '<pre id="upload-report"></pre></section>'
        '<script src="/static/annotate.js"></script></body></html>'
    )
