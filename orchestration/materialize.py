"""``flywheel materialize``: run a use case's whole graph through the Dagster instance.

A use case's ``UseCase`` declaration gives:
- ``materialize_jobs``: job names to run in order (``<uc>_ingest`` per file first, then ``<uc>_train``);
- ``discover(instance, resources)``: registers new landing files as dynamic partitions (per-file ingest).
Partitioned jobs run once per partition key that has not been materialized yet, so a second
``materialize`` ingests only new files. A use case whose landed files (keys and versions) and
code are what its last successful materialize saw, and which has a champion, is left as it is
(``up to date``): a second ``make demo`` does nothing new. ``--force`` runs it anyway. Runs go
through ``DAGSTER_HOME``'s instance and show in the UI like any other run. The summary is read
back from the events those runs wrote.

``on_event`` (e.g. :meth:`orchestration.console.Console.on_event`) is attached to every run as an
instance event listener, so a caller sees each step finish while the run executes.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dagster import DagsterInstance, Definitions, DynamicPartitionsDefinition, JobDefinition

from orchestration.settings import export_defaults
from resources import build_resources
from resources.mlflow_registry import CHAMPION, MlflowRegistry


@dataclass
class UseCaseSummary:
    use_case: str
    runs: int = 0
    failed_runs: list[str] = field(default_factory=list)
    rows_in: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    champion: str | None = None
    metric: str | None = None
    #: Nothing ran: landed files and code unchanged since the last successful materialize.
    up_to_date: bool = False


def _pending_partitions(job: JobDefinition, instance: DagsterInstance) -> list[str]:
    """Partition keys of ``job`` for which not every asset of the job is materialized."""
    partitions_def = job.partitions_def
    assert partitions_def is not None
    if isinstance(partitions_def, DynamicPartitionsDefinition):
        keys = list(instance.get_dynamic_partitions(partitions_def.name))
    else:
        keys = list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))
    asset_keys = list(job.asset_layer.executable_asset_keys)
    done: set[str] | None = None
    for key in asset_keys:
        materialized = set(instance.get_materialized_partitions(key))
        done = materialized if done is None else done & materialized
    return [k for k in keys if k not in (done or set())]


def _collect(summary: UseCaseSummary, result: Any) -> None:
    summary.runs += 1
    if not result.success:
        summary.failed_runs.append(result.run_id)
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        for name in ("rows_in", "rows_kept", "rows_quarantined"):
            if name in meta:
                setattr(summary, name, getattr(summary, name) + int(meta[name].value))
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            summary.checks_passed += 1
        else:
            summary.checks_failed.append(evaluation.check_name)


def _champion(summary: UseCaseSummary, registry: MlflowRegistry) -> None:
    version = registry.get_alias(summary.use_case, CHAMPION)
    if version is None:
        return
    summary.champion = f"v{version.version}"
    tags = version.tags or {}
    name, value = tags.get("flywheel.primary_metric"), tags.get("flywheel.primary_metric_value")
    if name and value:
        summary.metric = f"{name}={float(value):.4f}"


def run_job(
    job: JobDefinition,
    instance: DagsterInstance,
    partition_key: str | None = None,
    log_level: str = "INFO",
    on_event: Callable[[Any], None] | None = None,
) -> Any:
    """One in-process run of ``job`` through ``instance``; ``on_event`` sees each event as it is stored."""
    run_id = str(uuid.uuid4())
    if on_event is not None:
        instance.add_event_listener(run_id, on_event)
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        run_id=run_id,
        raise_on_error=False,
        tags={"flywheel/trigger": "cli"},
        # Every event is stored in the instance (and shown in the UI); the console logger gets
        # ``log_level`` (on the terminal with --verbose, else in the log file).
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def run_jobs(
    summary: UseCaseSummary,
    jobs: list[JobDefinition],
    instance: DagsterInstance,
    log_level: str = "INFO",
    on_event: Callable[[Any], None] | None = None,
) -> UseCaseSummary:
    """Run ``jobs`` in order (partitioned ones once per pending key); stop at the first failed run."""
    for job in jobs:
        keys = _pending_partitions(job, instance) if job.partitions_def else [None]
        for key in keys:
            result = run_job(job, instance, key, log_level, on_event)
            _collect(summary, result)
            if not result.success:
                break
        if summary.failed_runs:
            break  # downstream of a failed step would only repeat the failure
    return summary


def inputs_fingerprint(use_case: str, resources: dict[str, Any]) -> str:
    """What a materialize of ``use_case`` depends on: its landed objects (key and version) and the
    project's code under ``assets/`` and ``resources/``. Equal fingerprints, same outcome."""
    import hashlib

    digest = hashlib.sha256(_code_digest().encode())
    for info in resources["object_store"].list(f"{use_case}/"):
        digest.update(f"{info.key}\0{info.version}\n".encode())
    return digest.hexdigest()


@functools.cache
def _code_digest() -> str:
    """A hash of the code under ``assets/`` and ``resources/`` (read once per process)."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted([*(root / "assets").rglob("*.py"), *(root / "resources").rglob("*.py")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _fingerprint_file(use_case: str) -> Any:
    return export_defaults().data_dir("materialize") / f"{use_case}.fingerprint"


def materialize_use_case(
    use_case: str,
    defs: Definitions,
    instance: DagsterInstance,
    log_level: str = "INFO",
    on_event: Callable[[Any], None] | None = None,
    force: bool = False,
) -> UseCaseSummary:
    from orchestration.use_cases import load_use_case

    declared = load_use_case(use_case)
    resources = build_resources(resolved=True)
    summary = UseCaseSummary(use_case)
    settings = export_defaults()
    registry = MlflowRegistry(settings.mlflow_tracking_uri)
    fingerprint = inputs_fingerprint(use_case, resources)
    recorded = _fingerprint_file(use_case)
    if not force and recorded.exists() and recorded.read_text().strip() == fingerprint:
        _champion(summary, registry)
        if summary.champion:
            summary.up_to_date = True
            return summary
    declared.discover(instance, resources)
    jobs = [defs.resolve_job_def(name) for name in declared.materialize_jobs]
    run_jobs(summary, jobs, instance, log_level, on_event)
    _champion(summary, registry)
    if not summary.failed_runs and summary.champion:
        recorded.write_text(fingerprint + "\n")
    return summary


def format_summary(summaries: list[UseCaseSummary]) -> str:
    header = (
        "use case",
        "runs",
        "rows in",
        "kept",
        "quarantined",
        "checks ok",
        "checks failed",
        "champion",
        "metric",
    )
    rows = [header]
    for s in summaries:
        rows.append(
            (
                s.use_case,
                "up to date"
                if s.up_to_date
                else f"{s.runs}" + (f" ({len(s.failed_runs)} failed)" if s.failed_runs else ""),
                str(s.rows_in),
                str(s.rows_kept),
                str(s.rows_quarantined),
                str(s.checks_passed),
                ", ".join(s.checks_failed) or "0",
                s.champion or "-",
                s.metric or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def materialize_selected(
    use_cases: list[str], console: Any, log_level: str = "INFO", force: bool = False
) -> int:
    """What ``flywheel materialize`` does inside its console: every selected (default: every built)
    use case, step lines as they finish, then the summary table. Returns the exit code."""
    from orchestration.definitions import build_definitions
    from orchestration.use_cases import use_case_names

    built = list(use_case_names())
    missing = [u for u in use_cases if u not in built]
    if missing:
        console.error(f"use case(s) not built yet: {', '.join(missing)}; built: {', '.join(built) or 'none'}")
        return 1
    selected = list(use_cases) or built
    if not selected:
        console.line("no use cases are built yet; nothing to materialize")
        return 0
    defs = build_definitions()
    instance = DagsterInstance.get()
    summaries = []
    for use_case in selected:
        console.use_case(use_case)
        summary = materialize_use_case(use_case, defs, instance, log_level, console.on_event, force)
        if summary.up_to_date:
            console.line(
                "  up to date: landed files and code unchanged since the last materialize (--force re-runs)"
            )
        summaries.append(summary)
    console.line("")
    for line in format_summary(summaries).splitlines():
        console.line(line)
    return 1 if any(s.failed_runs for s in summaries) else 0
