"""AI-tweet relevance's own assets: the parsed table, the Snorkel weak supervision and its check, the
training table, and the links of the AI tweets for the dashboard.

``definitions.py`` declares the use case around them (see its docstring and
``docs/use-cases/tweets.md``). Heavy libraries are imported where they are used.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
    multi_asset,
)

from assets.lifecycle.spec import LabelledTable
from assets.loop.factory import predictions_table
from assets.slots import tables_dir as use_case_tables
from resources.annotation_resource import AnnotationStoreResource
from resources.mlflow_registry import CHAMPION, MlflowResource
from resources.object_store import ObjectStoreResource

if TYPE_CHECKING:
    import pandas as pd

    from resources.annotation_store import AnnotationStore

USE_CASE = "tweets"
TRAINING = AssetKey("tweets_training_table")
HOLDOUT_FRACTION = 0.5  # of the hand labels: the frozen test set; the other half is dev
#: An LF must beat how common its own class is on dev (see ``check_lfs``).
LF_MIN_COVERAGE = 0.0


def tables_dir() -> Path:
    return use_case_tables(USE_CASE)


def _md(frame: "pd.DataFrame") -> MetadataValue:
    return MetadataValue.md(frame.to_markdown(index=False, floatfmt=".3f"))


@asset(
    name="tweets_parsed",
    group_name=USE_CASE,
    kinds={"pandas", "parquet"},
    description="Every landed tweet and table row: parsed tweets (deduplicated on normalized text), "
    "hand-labelled rows, unlabelled rows, quarantined records with reasons.",
)
def tweets_parsed(context: AssetExecutionContext, object_store: ObjectStoreResource) -> dict:
    import pandas as pd

    from assets.tweets.parsing import is_landing_file, read_landing_files

    keys = [o.key for o in object_store.list(f"{USE_CASE}/") if is_landing_file(o.key.rsplit("/", 1)[-1])]
    if not keys:
        raise Failure(
            f"no tweet files under {object_store.uri(USE_CASE)}/ (raw JSON, or id,text[,label] tables)"
        )
    batch = read_landing_files(keys, object_store.read_bytes)
    streamed, streamed_bad = streamed_tweets()
    tweets = (
        (pd.concat([batch.tweets, streamed], ignore_index=True) if len(streamed) else batch.tweets)
        .drop_duplicates("content_hash")
        .reset_index(drop=True)
    )
    out = tables_dir()
    paths = {}
    for name, frame in (
        ("tweets", tweets),
        ("labelled", batch.labelled),
        ("unlabelled", batch.unlabelled),
        ("quarantine", batch.quarantined),
    ):
        paths[name] = str(out / f"{name}.parquet")
        frame.to_parquet(paths[name], index=False)
    rows_in = sum(batch.counts().values())
    context.add_output_metadata(
        {
            "files": len(keys),
            "rows_in": rows_in,
            "rows_kept": rows_in - len(batch.quarantined),
            "rows_quarantined": len(batch.quarantined),
            **{f"{k}_rows": v for k, v in batch.counts().items()},
            "duplicate_tweets_dropped": len(batch.tweets) + len(streamed) - len(tweets),
            "streamed_tweets": len(streamed),
            "streamed_not_tweets": streamed_bad,
            "quarantine_reasons": MetadataValue.json(
                batch.quarantined["reason"].value_counts().to_dict() if len(batch.quarantined) else {}
            ),
        }
    )
    return paths


def streamed_tweets() -> "tuple[pd.DataFrame, int]":
    """Tweets that arrived on ``tweets.raw`` and were scored (the loop's predictions table keeps each
    record), parsed like landed ones; and how many records were not usable tweets."""
    import pandas as pd

    from assets.tweets.parsing import TWEET_COLUMNS, parse_tweet

    rows, bad = [], 0
    for raw in predictions_table(USE_CASE, columns=["record"])["record"]:
        try:
            rows.append({**parse_tweet(json.loads(raw)), "origin": "tweets.raw"})
        except ValueError:
            bad += 1
    return pd.DataFrame(rows, columns=list(TWEET_COLUMNS)), bad


def page_labelled_rows(store: "AnnotationStore") -> "pd.DataFrame":
    """Tweets labelled on the annotation page, as hand-labelled rows (they join test/dev by hash)."""
    import pandas as pd

    from assets.tweets.parsing import content_hash

    rows = []
    for item in store.labelled_samples(USE_CASE):
        payload = item["payload"] or {}
        text = (
            payload.get("full_text")
            or (payload.get("extended_tweet") or {}).get("full_text")
            or payload.get("text")
        )
        label = item["label"][0] if isinstance(item["label"], list) else item["label"]
        if text and str(label) in ("0", "1"):
            rows.append(
                {
                    "id": str(item["sample_id"]),
                    "text": text,
                    "label": int(label),
                    "content_hash": content_hash(text),
                    "origin": "annotation-page",
                }
            )
    return pd.DataFrame(rows, columns=["id", "text", "label", "content_hash", "origin"])


@multi_asset(
    group_name=USE_CASE,
    ins={"parsed": AssetIn("tweets_parsed")},
    outs={
        "tweets_lf_analysis": AssetOut(
            kinds={"snorkel"}, description="Snorkel LFAnalysis: coverage, overlaps, conflicts, dev accuracy."
        ),
        "tweets_weak_labels": AssetOut(
            kinds={"snorkel", "parquet"},
            description="Label-model probabilities for the LF set and the unlabelled train tweets.",
        ),
    },
)
def tweets_weak_supervision(
    context: AssetExecutionContext, annotations: AnnotationStoreResource, parsed: dict
):
    import pandas as pd

    from assets.tweets.splits import build_splits
    from assets.tweets.weak_supervision import check_lfs, run_weak_supervision

    tweets = pd.read_parquet(parsed["tweets"])
    page_labels = page_labelled_rows(annotations.store())
    labelled = pd.concat([pd.read_parquet(parsed["labelled"]), page_labels], ignore_index=True)
    unlabelled = pd.read_parquet(parsed["unlabelled"])
    splits = build_splits(
        labelled, unlabelled, tweets, test_fraction=HOLDOUT_FRACTION, salt=f"{USE_CASE}-holdout-v1"
    )
    if len(splits.dev) == 0 or splits.dev["label"].nunique() < 2:
        raise Failure("weak supervision needs hand labels of both classes (e.g. ssp_val_dataset.parquet)")
    pool = pd.concat([splits.lf, splits.train], ignore_index=True)
    ws = run_weak_supervision(pool, splits.dev)
    test_comparison = ws.compare(splits.test, "test") if len(splits.test) else pd.DataFrame()
    out = tables_dir()
    ws.summary.to_parquet(out / "lf_analysis.parquet")
    weak = ws.weak_labels.assign(label_source="weak")
    weak.to_parquet(out / "weak_labels.parquet", index=False)
    hand = pd.concat(
        [splits.test.assign(split="test"), splits.dev.assign(split="dev")], ignore_index=True
    ).assign(label_source="hand")
    hand.to_parquet(out / "hand_labels.parquet", index=False)
    comparison = pd.concat([ws.comparison, test_comparison], ignore_index=True)
    comparison.to_parquet(out / "label_model_comparison.parquet", index=False)
    sizes = {name: len(getattr(splits, name)) for name in ("test", "dev", "lf", "train", "dropped")}
    summary = ws.summary.reset_index() if ws.summary.index.name else ws.summary
    yield Output(
        {"path": str(out / "lf_analysis.parquet"), "failures": check_lfs(ws.summary, LF_MIN_COVERAGE)},
        output_name="tweets_lf_analysis",
        metadata={
            "lf_analysis": _md(summary),
            "lfs": len(ws.lfs),
            **{f"{k}_rows": v for k, v in sizes.items()},
        },
    )
    yield Output(
        {"weak": str(out / "weak_labels.parquet"), "hand": str(out / "hand_labels.parquet")},
        output_name="tweets_weak_labels",
        metadata={
            "label_model_vs_majority": _md(comparison),
            "weak_rows": len(weak),
            "weak_ai_share": float((weak["label"] == 1).mean()) if len(weak) else 0.0,
        },
    )


@asset_check(
    asset="tweets_lf_analysis",
    name="tweets_lfs_useful",
    blocking=True,
    description="Every labeling function covers something and beats its class's base rate on dev.",
)
def tweets_lfs_useful(tweets_lf_analysis: dict) -> AssetCheckResult:
    failures = tweets_lf_analysis["failures"]
    return AssetCheckResult(
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        metadata={"failures": MetadataValue.json(failures)},
    )


@asset(
    name="tweets_training_table",
    group_name=USE_CASE,
    ins={"weak": AssetIn("tweets_weak_labels")},
    kinds={"pandas", "parquet"},
    description="Weak labels (with P(AI) and LF votes) plus hand labels, keyed by content hash.",
)
def tweets_training_table(context: AssetExecutionContext, weak: dict) -> LabelledTable:
    import pandas as pd

    frame = pd.concat([pd.read_parquet(weak["weak"]), pd.read_parquet(weak["hand"])], ignore_index=True)
    frame["label"] = frame["label"].astype(int).astype(str)
    columns = ["content_hash", "id", "text", "label", "label_source", "ai_probability", "lf_votes"]
    frame = frame[[c for c in columns if c in frame.columns]].drop_duplicates("content_hash")
    path = tables_dir() / "training_table.parquet"
    frame.to_parquet(path, index=False)
    context.add_output_metadata(
        {
            "rows": len(frame),
            "hand_labelled": int((frame["label_source"] == "hand").sum()),
            "weak_labelled": int((frame["label_source"] == "weak").sum()),
        }
    )
    return LabelledTable(str(path), ("0", "1"), "content_hash", "label")


@asset(
    name="tweets_links",
    group_name=USE_CASE,
    ins={"parsed": AssetIn("tweets_parsed"), "champion": AssetIn("tweets_champion")},
    kinds={"pandas", "parquet"},
    description="Landed tweets scored by the champion; expanded URLs of the AI ones with domains and counts.",
)
def tweets_links(
    context: AssetExecutionContext, mlflow_registry: MlflowResource, parsed: dict, champion: dict
) -> dict:
    import mlflow
    import pandas as pd

    from assets.tweets.links import links_table

    registry = mlflow_registry.registry()
    version = registry.get_alias(USE_CASE, CHAMPION)
    if version is None:
        raise Failure("no tweets champion yet")
    mlflow.set_tracking_uri(registry.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{USE_CASE}/{version.version}")
    tweets = pd.read_parquet(parsed["tweets"])
    output = model.predict(tweets[["id", "text"]])
    scored = tweets[["id", "created_at", "text", "user", "urls"]].assign(
        probability_ai=output["1"].to_numpy(dtype=float),
        prediction=output["prediction"].astype(int).to_numpy(),
        model_version=str(version.version),
    )
    out = tables_dir()
    scored.to_parquet(out / "scored_tweets.parquet", index=False)
    is_ai = scored["prediction"] == 1
    links = links_table(tweets, is_ai)
    seen = scored[is_ai].explode("urls").dropna(subset=["urls"]).groupby("urls")["created_at"]
    links = (
        links.rename(columns={"count": "tweets"})
        .join(seen.min().rename("first_seen"), on="url")
        .join(seen.max().rename("last_seen"), on="url")
    )
    links.to_parquet(out / "links.parquet", index=False)
    context.add_output_metadata(
        {
            "tweets_scored": len(scored),
            "ai_tweets": int(is_ai.sum()),
            "links": len(links),
            "top_domains": _md(
                links.groupby("domain")["tweets"].sum().nlargest(10).rename_axis("domain").reset_index()
            )
            if len(links)
            else "none",
            "model_version": str(version.version),
        }
    )
    return {"scored": str(out / "scored_tweets.parquet"), "links": str(out / "links.parquet")}
