"""Sparkify churn: landed event logs → per-file Spark cleaning → events (GX checks) → per-user
features as of daily cutoffs, labels after them → the shared lifecycle (Spark MLlib random forest
and logistic regression, gradient boosting and a logistic regression on usage counts; PR AUC of
churn) → champion → customer metrics in a SQL database → the loop (events on ``sparkify.events``,
users rescored from their history).

Every ``.json`` (or gzipped ``.json.gz``) file under ``<landing>/sparkify/`` (daily files
``log_data/YYYY/MM/*.json`` or one big file) is a partition of ``sparkify_file``, cleaned into its
slot (overwritten on re-ingest: no duplicates). ``sparkify_events`` unions the slots of files still
in the landing and drops events seen in two files. PySpark, pandas, GX and the trainers are
imported where they are used.
"""

from dagster import AssetCheckKey

from assets.lifecycle.confidence import ConfidenceRule
from assets.lifecycle.spec import LifecycleSpec
from assets.loop.factory import LoopSpec
from assets.sparkify.assets import (
    EVENTS,
    FEATURES,
    USE_CASE,
    accept,
    data_checks,
    sparkify_customers,
    sparkify_events,
    sparkify_file,
    sparkify_files,
    sparkify_user_features,
)
from assets.sparkify.events import FIELDS
from assets.sparkify.quality import event_checks
from assets.sparkify.schema import RECORD_SCHEMA
from assets.usecase import PerFileIngest, UseCase

SPEC = LifecycleSpec(
    use_case=USE_CASE,
    source=FEATURES,
    record_columns=FIELDS,
    trainers="assets.sparkify.model:TRAINERS",
    primary_metric="pr_auc",
    # Beat a random ranking (whose PR AUC is the churn prevalence) by 5 points, on the lower end of
    # a 90 % bootstrap interval over held-out users, with at least 30 churn rows to judge from.
    thresholds={"pr_auc_lift": 0.05},
    confidence=ConfidenceRule(),
    tolerance=0.02,
    task="multiclass",
    data_checks=[AssetCheckKey(EVENTS, c.name) for c in event_checks()],
    pip_requirements="assets.sparkify.model:pip_requirements",
    group_column="userId",
    score_rows="assets.sparkify.model:score_examples",
    holdout_inputs="assets.sparkify.model:frozen_history",
    extra_metrics="assets.sparkify.model:churn_metrics",
    extra_figures="assets.sparkify.model:reliability_figure",
)

LOOP = LoopSpec(
    schema=RECORD_SCHEMA,  # key event_id; logged-out events dead-lettered (no user)
    strategy="margin",
    budget=0,  # labels are delayed ground truth, not annotations: nothing goes to annotators
    batch_size=500,
    retrain_min_labels=50,  # resolved outcomes
    topic_kind="events",
    retrain_assets=("sparkify_events", "sparkify_user_features"),
    history_scorer="assets.sparkify.stream:score_with_history",
    outcome_counter="assets.sparkify.stream:resolved_outcomes",
    live_outcomes="assets.sparkify.stream:outcome_labels",
)

use_case = UseCase(
    name=USE_CASE,
    spec=SPEC,
    ingest=PerFileIngest(
        sparkify_file,
        sparkify_files,
        accept,
        "Clean one landed Sparkify log file (one run per file, started by the landing sensor).",
    ),
    loop=LOOP,
    assets=(sparkify_events, sparkify_user_features, sparkify_customers),
    checks=data_checks,
    train_description="Events → checks → user features → challengers → evaluation → gated promotion → "
    "customers.",
    simulator="assets.sparkify.simulation",
    generator="assets.sparkify.commands:generate",
    summary="Music-service churn: will a user cancel in the next days (eventsim logs), PR AUC.",
)
defs = use_case.definitions()
