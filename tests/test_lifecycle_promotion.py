"""Nothing lost, nothing doubled, no worse model: promotion as compare-and-set, rollbacks that stick,
and a holdout held out by content, through a real Dagster instance and a real MLflow registry.

Retrains are interleaved by hand, as overlapping runs would interleave them: each run materializes
part of the disaster graph, and a champion step promotes the evaluation it is given (by default the
latest; ``challenger_version`` names an older one).
"""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance
from test_disaster_lifecycle import FAST_TRAINER, SHARED, land_slice

from assets.lifecycle.factory import evaluation_path
from orchestration.cli import main as cli
from orchestration.settings import Settings
from resources.annotation_store import AnnotationStore
from resources.mlflow_registry import CHALLENGER, CHAMPION, MlflowRegistry

HOLDOUT = [AssetKey("disaster_clean"), AssetKey("disaster_holdout")]
RETRAIN = [
    AssetKey(f"disaster_{name}") for name in ("annotations", "training_set", "challenger", "evaluation")
]
PROMOTE = [AssetKey("disaster_champion")]


def _same_text(text: object) -> str:
    """Casefolded, whitespace collapsed: what makes two messages the same message."""
    return " ".join(str(text).casefold().split())


def duplicate_text_ids() -> set[str]:
    """Ids of the shared file's messages whose text appears under another id too."""
    messages = pd.read_csv(SHARED / "disaster_messages.csv", dtype=str, keep_default_na=False)
    texts = messages["message"].map(_same_text)
    ids_per_text = messages.groupby(texts)["id"].nunique()
    shared = set(ids_per_text[ids_per_text > 1].index)
    assert len(shared) == 19
    return set(messages.loc[texts.isin(shared), "id"])


def metadata(result, key: str, name: str):
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(key)]
    return event.materialization.metadata[name].value


def failure(result) -> str:
    """What the failed step said (a dagster ``Failure``'s description, else the error)."""
    said = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            said.append(data.user_failure_data.description if data.user_failure_data else data.error.message)
    return " | ".join(said)


def test_promotion_is_compare_and_set_rollbacks_stick_and_holdout_copies_are_never_trained(
    flywheel_env: Settings,
) -> None:
    from orchestration.definitions import build_definitions

    land_slice(flywheel_env, every=20, also=duplicate_text_ids())
    defs = build_definitions()
    instance = DagsterInstance.get()
    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)
    job = defs.resolve_job_def("disaster_train")

    def run(keys: list[AssetKey], **ops):
        config = {"ops": {f"disaster_{op}": {"config": value} for op, value in ops.items()}}
        return job.execute_in_process(
            instance=instance, asset_selection=keys, run_config=config, raise_on_error=False
        )

    def champion() -> str | None:
        current = registry.get_alias("disaster", CHAMPION)
        return str(current.version) if current is not None else None

    trainer = {"trainers": [FAST_TRAINER], "seed": 0}  # same data and seed: equally good versions

    # The holdout, then two labels: one re-emits a holdout message under a new id (case and spacing
    # changed, as a simulated record or a copy would), one is a new message.
    assert run(HOLDOUT).success
    holdout = pd.read_parquet(flywheel_env.home / "lifecycle" / "disaster" / "holdout" / "holdout-v1.parquet")
    copied = next(m for m in holdout["message"] if m.isascii() and len(m.split()) > 3)
    store = AnnotationStore(flywheel_env.database_url)
    store.enqueue(
        "disaster",
        [
            {"sample_id": "sim-9-0", "payload": {"message": "  " + copied.upper().replace(" ", "  "),
                                                 "genre": "direct"}},
            {"sample_id": "sim-9-1", "payload": {"message": "Flooded bridge at the school, send boats",
                                                 "genre": "direct"}},
        ],
    )  # fmt: skip
    for sample in ("sim-9-0", "sim-9-1"):
        store.add_label("disaster", sample, ["related", "request"], "tester", source="upload")

    # 1. First retrain, promoted (no champion yet): v1.
    first = run([*RETRAIN, *PROMOTE], challenger=trainer)
    assert first.success and champion() == "1"

    # Held out by content: no trained row says what a holdout row says, whatever its id.
    training = pd.read_parquet(metadata(first, "disaster_training_set", "training_set_path"))
    held_texts = set(holdout["message"].map(_same_text))
    assert not training["message"].map(_same_text).isin(held_texts).any()
    trained_ids = set(training["id"].astype(str))
    assert "sim-9-1" in trained_ids and "sim-9-0" not in trained_ids
    clean = pd.read_parquet(flywheel_env.home / "tables" / "disaster" / "clean")
    outside = clean[~clean["id"].astype(str).isin(set(holdout["id"].astype(str)))]
    duplicates_of_holdout = int(outside["message"].map(_same_text).isin(held_texts).sum())
    assert duplicates_of_holdout > 0  # some of the 19 shared texts have a copy on each side
    excluded = metadata(first, "disaster_training_set", "holdout_content_rows_excluded")
    assert excluded == duplicates_of_holdout + 1  # ... plus the annotation of a holdout message
    assert metadata(first, "disaster_training_set", "annotated_rows_holdout_content") == 1

    # 2. Two retrains evaluated against the same champion (v1) before either promotes: v2, then v3.
    second = run(RETRAIN, challenger=trainer)
    third = run(RETRAIN, challenger=trainer)
    assert second.success and third.success
    paths = [metadata(r, "disaster_training_set", "training_set_path") for r in (first, second, third)]
    assert len(set(paths)) == 3  # each run wrote and read its own training set
    assert [metadata(r, "disaster_evaluation", "champion_version") for r in (second, third)] == [1, 1]
    assert evaluation_path("disaster", 2).exists() and evaluation_path("disaster", 3).exists()
    assert str(registry.get_alias("disaster", CHALLENGER).version) == "3"

    # 3. v3 is promoted; then v2's promotion is refused: the champion it was compared with is gone.
    assert run(PROMOTE).success and champion() == "3"
    stale = run(PROMOTE, champion={"challenger_version": "2"})
    assert not stale.success and champion() == "3"
    said = failure(stale)
    assert (
        "the champion moved since v2 was evaluated: it was compared with v1, the champion is now v3" in said
    )
    assert "the challenger alias moved since v2 was evaluated: it is now v3" in said
    assert [(h["action"], h["version"]) for h in registry.history("disaster")] == [
        ("promote", "1"),
        ("promote", "3"),
    ]  # the refused promotion left no trace

    # 4. A rollback sticks: re-running the champion step on v3's evaluation (against v1, which is the
    # champion again, with v3 still the challenger) would pass every other check.
    rolled = CliRunner().invoke(cli, ["models", "rollback", "disaster", "--reason", "bad outputs"])
    assert rolled.exit_code == 0, rolled.output
    assert champion() == "1"
    again = run(PROMOTE)
    said = failure(again)
    assert not again.success and champion() == "1"
    assert "v3 was rolled back" in said and "bad outputs" in said
    assert "moved" not in said  # only the rollback stood in the way

    # 5. A new holdout is drawn only from rows no registered version trained on; a challenger trained
    # without the old one is not judged on it, and promotions evaluated on the old one are refused.
    replaced = run([AssetKey("disaster_holdout")], holdout={"replace": True, "reason": "relabelled"})
    assert replaced.success and metadata(replaced, "disaster_holdout", "fresh") is True
    holdout_v2 = pd.read_parquet(
        flywheel_env.home / "lifecycle" / "disaster" / "holdout" / "holdout-v2.parquet"
    )
    assert not set(holdout_v2["id"].astype(str)) & trained_ids
    judged = run([AssetKey("disaster_evaluation")])
    assert not judged.success and "trained without holdout v1, but the holdout is now v2" in failure(judged)
    late = run(PROMOTE, champion={"challenger_version": "2"})
    assert "the holdout changed since v2 was evaluated" in failure(late) and champion() == "1"
