"""Smartwatch activity (CASAS): landing files → per-file Spark cleaning → windows → GX checks →
the shared lifecycle (Spark MLlib random forest against gradient boosting) → champion.

Every CSV under ``<landing>/activity/`` is a dynamic partition of ``activity_file`` (key = object
key), ingested by one ``activity_ingest`` run when the landing sensor sees it new or changed. The
file's layout is detected from its head: raw participant files (a) are cleaned and cut into 10 s
windows, window files (b) are cleaned as they are, feature files (c) are cleaned into the features
table (the classifier serves window records, so features alone cannot train it). A file of unknown
layout is quarantined whole, line by line, with reason ``unknown_layout``; its run succeeds so that
other files are unaffected. Outputs are written per file (``.../slot=<file>``) and overwritten on
re-ingest, so ingesting a changed file twice never duplicates rows; a file deleted from the landing
leaves the clean tables when ``activity_windows`` next builds them (``assets/activity/assets.py``).

``<landing>/activity/activity_mapping.csv`` (``original,mapped``, as in CASAS ArWISE) maps raw
answers to classes; ``<landing>/activity/activity_sensors.json`` declares the units of the landed
signals (``{"acceleration_unit": "g" | "m/s2", "rotation_unit": "rad/s" | "deg/s"}``, default g and
rad/s). Ingest converts to g and rad/s; the model trained on them converts served records, which
come from the same watches (``assets/activity/units.py``).
Records on topic ``activity.records``: one window in layout (b) without its label, plus ``window_id``.
See ``docs/use-cases/activity.md``.
"""

from dagster import AssetCheckKey

from assets.activity.assets import (
    ID_COLUMN,
    USE_CASE,
    WINDOWS,
    accept,
    activity_file,
    activity_files,
    activity_windows,
    data_checks,
)
from assets.activity.layouts import WINDOW_COLUMNS
from assets.activity.quality import window_checks
from assets.activity.schema import ACTIVITY_SIGNALS, RECORD_SCHEMA
from assets.lifecycle.spec import ContentKey, LifecycleSpec
from assets.loop.factory import LoopSpec
from assets.usecase import PerFileIngest, UseCase

SPEC = LifecycleSpec(
    use_case=USE_CASE,
    source=WINDOWS,
    record_columns=(ID_COLUMN, *WINDOW_COLUMNS[:-1]),  # a layout-(b) window without its label
    trainers="assets.activity.model:TRAINERS",
    primary_metric="macro_f1",
    # Absolute floor: beat the best constant guess on the holdout by 5 points of accuracy.
    thresholds={"accuracy_lift": 0.05},
    tolerance=0.02,
    task="multiclass",
    data_checks=[AssetCheckKey(WINDOWS, c.name) for c in window_checks()],
    pip_requirements="assets.activity.model:pip_requirements",
    annotations=True,
    # A window is its motion: the same 100 steps of six signals under another id (or stamp) is the
    # same window, whether it came back through the stream or an annotation.
    content_key=ContentKey(numbers=ACTIVITY_SIGNALS),
    # The clean table is in g and rad/s; records arrive in the watches' units (activity_sensors.json).
    to_records="assets.activity.units:as_records",
)
LOOP = LoopSpec(
    schema=RECORD_SCHEMA,  # key window_id (ID_COLUMN); stamp and the 600 signals, numeric
    strategy="margin",  # near ties between two activities are what a person settles best
    budget=10,
    batch_size=200,
    retrain_min_labels=20,
)
use_case = UseCase(
    name=USE_CASE,
    spec=SPEC,
    ingest=PerFileIngest(
        activity_file,
        activity_files,
        accept,
        "Clean one landed activity file (one run per file, started by the landing sensor).",
    ),
    loop=LOOP,
    assets=(activity_windows,),
    checks=data_checks,
    train_description="Windows of every ingested file → checks → challengers → evaluation → gated promotion.",
    simulator="assets.activity.simulation",
    generator="assets.activity.commands:generate",
    summary="Smartwatch activity: one of the CASAS activities per 10 s window, macro F1.",
)
defs = use_case.definitions()
