"""Sparkify churn's own assets: per-file cleaning (``sparkify_file``), the events of every file still
in the landing (``sparkify_events``), per-user features and labels (``sparkify_user_features``), the
customer tables for the customer-service app (``sparkify_customers``) and the data checks.

``definitions.py`` declares the use case around them (see its docstring and
``docs/use-cases/sparkify.md``). Heavy libraries are imported where they are used.
"""

from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.lifecycle.spec import LabelledTable
from assets.per_file import landed_read, version_metadata
from assets.quality.checks import gx_asset_check
from assets.slots import slot_name
from assets.slots import tables_dir as use_case_tables
from assets.sparkify.events import FIELDS
from assets.sparkify.quality import event_checks
from orchestration.settings import get_settings
from resources.mlflow_registry import MlflowResource
from resources.object_store import ObjectInfo, ObjectStoreResource
from resources.spark import SparkResource
from sensors.landing import OBJECT_VERSION_TAG

USE_CASE = "sparkify"
EVENTS = AssetKey("sparkify_events")
FEATURES = AssetKey("sparkify_user_features")
sparkify_files = DynamicPartitionsDefinition(name="sparkify_files")


def accept(obj: ObjectInfo) -> bool:
    """Landed JSON-lines logs (``.json``/``.jsonl``, or gzipped: Spark reads ``.gz`` as it is); the
    generator's ``truth/`` is not data."""
    name = obj.key.lower()
    return name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz")) and "/truth/" not in name


def tables_dir() -> Path:
    return use_case_tables(USE_CASE)


@asset(
    name="sparkify_file",
    group_name=USE_CASE,
    partitions_def=sparkify_files,
    kinds={"spark", "parquet"},
    description="One landed log file cleaned with Spark (explicit 18-field schema): user events, "
    "logged-out/guest events apart, quarantined lines with reasons.",
)
def sparkify_file(
    context: AssetExecutionContext, spark: SparkResource, object_store: ObjectStoreResource
) -> MaterializeResult:
    """``FLYWHEEL_SPARK_LAUNCH=session``: cleaned in this run's SparkSession; ``pipes``: as the
    ``spark-submit`` job ``scripts/spark_jobs/sparkify_clean.py`` through Dagster Pipes. Both run
    :func:`assets.sparkify.cleaning.clean_to_slot`. Returned, not added: a Pipes launch requires
    the asset to return its result."""
    from assets.sparkify.cleaning import clean_to_slot

    key = context.partition_key
    if not object_store.exists(key):
        raise Failure(f"{object_store.uri(key)} is no longer in the landing")
    settings = get_settings()
    job = {"source": key, "tables_root": str(tables_dir()), "slot": slot_name(key)}
    with landed_read(object_store, key, context.run.tags.get(OBJECT_VERSION_TAG)) as read:
        job["path"] = read.path
        if settings.spark_launch == "pipes":
            from resources.spark_pipes import run_spark_job

            result = run_spark_job(context, "sparkify_clean.py", {"job": job}, settings)
        else:
            result = clean_to_slot(spark.spark_session, **job)
    counts = {k: v for k, v in result.items() if isinstance(v, int)}
    if counts["rows_quarantined"]:
        context.log.warning(f"{key}: {counts['rows_quarantined']} lines quarantined: {counts}")
    meta: dict[str, Any] = {
        **counts,
        "source": MetadataValue.path(object_store.uri(key)),
        **version_metadata(context, key, read, context.run.tags.get(OBJECT_VERSION_TAG)),
        "spark_launch": settings.spark_launch,
        "spark_master": result.get("spark_master", settings.spark_master),
        "outputs": MetadataValue.json(result["paths"]),
    }
    if read.direct:
        meta["read_from"] = MetadataValue.path(read.path)
    return MaterializeResult(metadata=meta)


def _landed_slots(object_store: ObjectStoreResource) -> set[str]:
    return {slot_name(o.key) for o in object_store.list(f"{USE_CASE}/") if accept(o)}


def _slot_paths(table: str, slots: set[str]) -> list[str]:
    root = tables_dir() / table
    return [str(p) for p in sorted(root.glob("slot=*")) if p.name.removeprefix("slot=") in slots]


@asset(
    name="sparkify_events",
    group_name=USE_CASE,
    deps=[sparkify_file],
    kinds={"spark", "parquet"},
    description="User events of every ingested file still in the landing, an event seen in two files "
    "kept once; logged-out/guest events apart; a profile for the GX checks.",
)
def sparkify_events(
    context: AssetExecutionContext, spark: SparkResource, object_store: ObjectStoreResource
) -> LabelledTable:
    from assets.sparkify.cleaning import DUPLICATE_KEY
    from assets.sparkify.events import spark_schema
    from assets.sparkify.quality import profile_events

    session = spark.spark_session
    slots = _landed_slots(object_store)
    event_paths = _slot_paths("events_slots", slots)
    if not event_paths:
        raise Failure(f"no events yet: land JSON-lines logs under <landing>/{USE_CASE}/ and ingest them")
    extra = "source_file string, source_day string"
    schema = spark_schema().simpleString()[len("struct<") : -1].replace(":", " ")
    read = session.read.schema(f"{schema}, {extra}")
    raw = read.parquet(*event_paths).unionByName(_streamed_events(session))
    events = raw.dropDuplicates(list(DUPLICATE_KEY)).localCheckpoint()
    anonymous_paths = _slot_paths("anonymous_slots", slots)
    anonymous = read.parquet(*anonymous_paths) if anonymous_paths else session.createDataFrame([], raw.schema)
    events.write.mode("overwrite").parquet(str(tables_dir() / "events"))
    anonymous.write.mode("overwrite").parquet(str(tables_dir() / "anonymous"))
    profile = profile_events(events, anonymous)
    out = tables_dir() / "clean"
    out.mkdir(parents=True, exist_ok=True)
    profile.to_parquet(out / "events_profile.parquet", index=False)
    from pyspark.sql import functions as F

    rows, users = events.agg(F.count("*"), F.countDistinct("userId")).first()
    context.add_output_metadata(
        {
            "events": rows,
            "anonymous_events": int(profile.loc[profile["kind"] == "file", "rows"].sum()) - rows,
            "duplicates_across_files": raw.count() - rows,
            "users": users,
            "files": len(event_paths),
            "events_path": MetadataValue.path(str(tables_dir() / "events")),
        }
    )
    return LabelledTable(str(out / "events_profile.parquet"), (), "kind")


def _streamed_events(session: Any) -> Any:
    """Events that came through ``sparkify.events`` and were scored (the loop's predictions table):
    they join the landed ones, so resolved outcomes become training labels."""
    from pyspark.sql import functions as F

    from assets.loop.scoring import tables
    from assets.sparkify.events import spark_schema

    folder = tables(USE_CASE, "predictions")
    columns = [*[F.col(f"e.{n}").alias(n) for n in FIELDS], F.lit("sparkify.events").alias("source_file")]
    if not folder.exists() or not any(folder.rglob("*.parquet")):
        empty = session.createDataFrame([], spark_schema())
        return empty.select(
            *FIELDS, F.lit("").alias("source_file"), F.lit(None).cast("string").alias("source_day")
        )
    parsed = session.read.parquet(str(folder)).select(F.from_json("record", spark_schema()).alias("e"))
    return parsed.select(*columns, F.lit(None).cast("string").alias("source_day"))


class FeaturesConfig(Config):
    horizon_days: float = Field(default=30, description="Label: a cancellation within this many days.")
    every_days: float = Field(
        default=1,
        description="Days between observation cutoffs (every user not yet cancelled is a row at each).",
    )
    buckets: int = Field(default=16, description="User buckets Spark groups the feature work by.")


def build_examples(
    session: Any, events_path: str, horizon_days: float, every_days: float, buckets: int
) -> Any:
    """Spark: the events table → labelled (user, cutoff) rows, per user bucket through
    :func:`assets.sparkify.features.examples` (the pandas feature function the pyfunc calls too)."""
    import pandas as pd
    from pyspark.sql import functions as F

    from assets.sparkify.features import EXAMPLE_COLUMNS, FEATURE_INPUTS, examples, weekly_cutoffs

    events = session.read.parquet(events_path).select(*FEATURE_INPUTS)
    bounds = events.agg(F.min("ts"), F.max("ts")).first()
    cutoffs = weekly_cutoffs(bounds[0], bounds[1], horizon_days, every_days)
    if not cutoffs:
        raise Failure(
            f"the events span {(bounds[1] - bounds[0]) / 86_400_000:.1f} days: at least {every_days:g} days "
            f"before the first cutoff and a {horizon_days:g}-day horizon after it are needed"
        )
    columns = list(EXAMPLE_COLUMNS)
    strings = ("userId", "gender", "level", "state", "os", "churn", "example_id")
    longs = ("first_ts", "last_ts", "cutoff", "as_of")
    types = {**dict.fromkeys(strings, "string"), **dict.fromkeys(longs, "long")}
    schema = ", ".join(f"`{c}` {types.get(c, 'double')}" for c in columns)

    def per_bucket(frame: pd.DataFrame) -> pd.DataFrame:
        out = examples(frame, cutoffs, horizon_days)
        return out.reindex(columns=columns)

    bucketed = events.withColumn("_bucket", F.abs(F.hash("userId")) % buckets)
    return bucketed.groupBy("_bucket").applyInPandas(
        lambda f: per_bucket(f.drop(columns="_bucket")), schema
    ), cutoffs


@asset(
    name="sparkify_user_features",
    group_name=USE_CASE,
    ins={"events": AssetIn(EVENTS)},
    kinds={"spark", "pandas", "parquet"},
    description="Per-user features from the events before cutoffs every few days, as of each user's "
    "last event before it (as served), label = a Cancellation Confirmation within the horizon after; users "
    "cancelled before a cutoff left out.",
)
def sparkify_user_features(
    context: AssetExecutionContext, config: FeaturesConfig, spark: SparkResource, events: LabelledTable
) -> LabelledTable:
    rows, cutoffs = build_examples(
        spark.spark_session,
        str(tables_dir() / "events"),
        config.horizon_days,
        config.every_days,
        config.buckets,
    )
    frame = rows.toPandas().sort_values(["cutoff", "userId"], ignore_index=True)
    out = tables_dir() / "clean" / "user_features.parquet"
    frame.to_parquet(out, index=False)
    counts = frame["churn"].value_counts()
    if len(counts) < 2:
        raise Failure(f"a churn model needs both classes; the examples hold only {counts.to_dict()}")
    context.add_output_metadata(
        {
            "examples": len(frame),
            "users": int(frame["userId"].nunique()),
            "cutoffs": len(cutoffs),
            "churn_examples": int(counts.get("churn", 0)),
            "churn_users": int(frame.loc[frame["churn"] == "churn", "userId"].nunique()),
            "horizon_days": config.horizon_days,
        }
    )
    return LabelledTable(str(out), ("churn", "stay"), "example_id", "churn")


data_checks = [
    gx_asset_check(EVENTS, c.name, c.description, lambda _t, f, c=c: c.expectations(f), prepare=c.prepare)
    for c in event_checks()
]


@asset(
    name="sparkify_customers",
    group_name=USE_CASE,
    ins={"events": AssetIn(EVENTS)},
    deps=[AssetKey(f"{USE_CASE}_champion")],
    kinds={"spark", "sqlalchemy"},
    description="Per-user metrics, daily activity and the champion's current churn risk (with what pushes "
    "it up), written to FLYWHEEL_DATABASE_URL for the customer-service app.",
)
def sparkify_customers(
    context: AssetExecutionContext,
    spark: SparkResource,
    mlflow_registry: MlflowResource,
    events: LabelledTable,
) -> None:
    import datetime as dt

    import mlflow

    from assets.sparkify.customers import risk_drivers, write_customers
    from assets.sparkify.features import MODEL_FEATURES
    from resources.mlflow_registry import CHAMPION

    registry = mlflow_registry.registry()
    current = registry.get_alias(USE_CASE, CHAMPION)
    if current is None:
        raise Failure("no sparkify champion yet: materialize the lifecycle first")
    mlflow.set_tracking_uri(registry.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{USE_CASE}/{current.version}")
    table, activity = customer_tables(spark.spark_session, str(tables_dir() / "events"))
    features = table.set_index("userId")
    scored = model.unwrap_python_model().classifier.churn_proba(features)
    threshold = model.unwrap_python_model().threshold
    table["churn_probability"] = scored
    table["prediction"] = (scored >= threshold).astype(int)
    table["risk_drivers"] = risk_drivers(
        features, pd_series(scored, features.index), list(MODEL_FEATURES)
    ).to_numpy()
    table["model_version"] = str(current.version)
    table["updated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    url = get_settings().database_url
    counts = write_customers(url, table.rename(columns=CUSTOMER_RENAMES), activity)
    context.add_output_metadata(
        {
            **counts,
            "model_version": str(current.version),
            "predicted_churners": int(table["prediction"].sum()),
            "mean_risk": float(table["churn_probability"].mean()),
            "database": url.split("@")[-1],
        }
    )


def pd_series(values: Any, index: Any) -> Any:
    import pandas as pd

    return pd.Series(values, index=index)


#: Feature/profile columns → database columns.
CUSTOMER_RENAMES = {
    "userId": "user_id", "firstName": "first_name", "lastName": "last_name", "userAgent": "user_agent",
    "n_events": "events", "n_sessions": "sessions", "n_songs": "songs", "n_thumbs_up": "thumbs_up",
    "n_thumbs_down": "thumbs_down", "n_adverts": "adverts", "n_errors": "errors",
    "n_add_playlist": "add_playlist", "n_add_friend": "add_friend",
}  # fmt: skip


def customer_tables(session: Any, events_path: str) -> Any:
    """(one row per user: features as of its latest event + profile, daily activity) from Spark."""
    import pandas as pd
    from pyspark.sql import functions as F

    from assets.sparkify.events import CANCEL_PAGE
    from assets.sparkify.features import FEATURE_INPUTS, FEATURE_NAMES, PROFILE_COLUMNS, user_features

    events = session.read.parquet(events_path).select(*FIELDS)
    columns = ["userId", *FEATURE_NAMES, *PROFILE_COLUMNS]
    strings = {"userId", "gender", "level", "state", "os"}
    schema = ", ".join(
        f"`{c}` {'string' if c in strings else 'long' if c.endswith('_ts') else 'double'}" for c in columns
    )

    def per_bucket(frame: pd.DataFrame) -> pd.DataFrame:
        return user_features(frame.drop(columns="_bucket")).reset_index().reindex(columns=columns)

    inputs = events.select(*FEATURE_INPUTS).withColumn("_bucket", F.abs(F.hash("userId")) % 16)
    features = inputs.groupBy("_bucket").applyInPandas(per_bucket, schema)
    profile = events.groupBy("userId").agg(
        F.max_by("firstName", "ts").alias("firstName"),
        F.max_by("lastName", "ts").alias("lastName"),
        F.max_by("location", "ts").alias("location"),
        F.max_by("userAgent", "ts").alias("userAgent"),
        F.max("registration").cast("long").alias("registration"),
        F.max(F.when(F.col("page") == CANCEL_PAGE, 1).otherwise(0)).alias("cancelled"),
    )
    table = features.join(profile, "userId").toPandas()
    table["name"] = (table["firstName"].fillna("") + " " + table["lastName"].fillna("")).str.strip()
    table["name_lower"] = table["name"].str.lower()
    activity = (
        events.groupBy("userId", F.date_format(F.timestamp_millis("ts"), "yyyy-MM-dd").alias("day"))
        .agg(
            F.count("*").alias("events"),
            F.sum(F.when(F.col("page") == "NextSong", 1).otherwise(0)).alias("songs"),
        )
        .toPandas()
        .rename(columns={"userId": "user_id"})
    )
    return table, activity
