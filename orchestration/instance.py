"""The Dagster instance configuration (``dagster.yaml``) Flywheel ships.

:func:`export_defaults <orchestration.settings.export_defaults>` calls :func:`ensure_instance_yaml`,
so every ``flywheel`` command, ``make ui`` and ``flywheel serve`` find a ``DAGSTER_HOME`` with:

* a **run queue** (``QueuedRunCoordinator``, dequeued by ``dagster-daemon``): at most
  ``FLYWHEEL_SCORING_CONCURRENCY`` scoring runs per use case at once (tag ``flywheel/score``) and
  one training/retraining run per use case at a time (tag ``flywheel/train``; see
  ``orchestration/run_tags.py``), a few runs overall (two cores are the one-machine target), a
  one-second dequeue interval and threaded launches so queued runs start at once;
* **run retries**: a failed run (an asset or op failed, or its worker crashed) is retried twice;
* **run monitoring**: a run stuck starting or cancelling is failed after a timeout (and then retried),
  and a run left ``STARTED`` by a worker that vanished with its code server is failed once it
  exceeds the longest runtime, so it cannot hold its queue slot forever;
* **threaded sensor and schedule daemons**, so the use cases' sensors tick side by side.

A ``dagster.yaml`` someone wrote themselves (Postgres storage, another run launcher, ...) is never
touched. Flywheel's own file carries a checksum of its body in its header: while the body is
unedited, Flywheel rewrites it when the settings it was rendered from change (say
``FLYWHEEL_SCORING_CONCURRENCY``); once edited it is the user's, and left alone too.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from orchestration.run_tags import SCORE_TAG, TRAIN_TAG
from orchestration.settings import Settings

INSTANCE_FILE = "dagster.yaml"
#: Runs in progress at once, all kinds together (scoring, training, ingestion) on one machine.
MAX_CONCURRENT_RUNS = 4
#: Seconds between two looks of the daemon at the run queue.
DEQUEUE_INTERVAL_SECONDS = 1
#: Run retries after a failure (``dagster/max_retries`` on a job or run overrides it).
MAX_RETRIES = 2
#: A run still ``STARTING`` (or ``CANCELING``) after this long is failed (or marked cancelled).
START_TIMEOUT_SECONDS = 180
CANCEL_TIMEOUT_SECONDS = 120
#: How often the monitoring daemon looks at runs in progress.
MONITOR_POLL_INTERVAL_SECONDS = 30
#: The default run launcher cannot ask whether a worker lives: a run orphaned by a crashed code
#: server is failed after this long (``dagster/max_runtime`` on a job or run overrides it).
MAX_RUNTIME_SECONDS = 6 * 3600
SENSOR_WORKERS = 4
SCHEDULE_WORKERS = 2

#: Exactly what ``export_defaults`` wrote before this module existed; replaced like a missing file.
LEGACY_TELEMETRY_ONLY = "telemetry:\n  enabled: false\n"
_CHECKSUM_LINE = re.compile(r"^# flywheel-instance sha256=([0-9a-f]{64})$", re.MULTILINE)


def _storage(settings: Settings) -> str:
    """The Postgres form (``FLYWHEEL_DAGSTER_DATABASE_URL`` set): runs, events and schedules in
    Postgres through dagster-postgres. The URL is read from the environment by Dagster, never written
    here (it may carry a password). Unset: Dagster's SQLite files under ``DAGSTER_HOME``."""
    if not settings.dagster_database_url:
        return ""
    return """
# Runs, event logs and schedules in Postgres (FLYWHEEL_DAGSTER_DATABASE_URL; dagster-postgres).
storage:
  postgres:
    postgres_url:
      env: FLYWHEEL_DAGSTER_DATABASE_URL
"""


def _body(settings: Settings) -> str:
    return f"""telemetry:
  enabled: false
{_storage(settings)}
# Runs are queued and started by dagster-daemon, under these limits.
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {MAX_CONCURRENT_RUNS}
    dequeue_interval_seconds: {DEQUEUE_INTERVAL_SECONDS}
    # Launch the runs of one dequeue side by side: each launch waits for its worker to start.
    dequeue_use_threads: true
    dequeue_num_workers: {MAX_CONCURRENT_RUNS}
    tag_concurrency_limits:
      # Scoring runs of one use case at once (FLYWHEEL_SCORING_CONCURRENCY).
      - key: {SCORE_TAG}
        value:
          applyLimitPerUniqueValue: true
        limit: {settings.scoring_concurrency}
      # Training / retraining: one run per use case at a time, the next one waits in the queue.
      - key: {TRAIN_TAG}
        value:
          applyLimitPerUniqueValue: true
        limit: 1

# A failed run (asset or op failure, or a crashed worker) is retried from the failure.
run_retries:
  enabled: true
  max_retries: {MAX_RETRIES}
  retry_on_asset_or_op_failure: true

# Runs whose worker never started, never stopped or vanished are failed instead of hanging
# (and then retried above). The default run launcher cannot resume runs: no resume attempts.
run_monitoring:
  enabled: true
  start_timeout_seconds: {START_TIMEOUT_SECONDS}
  cancel_timeout_seconds: {CANCEL_TIMEOUT_SECONDS}
  max_runtime_seconds: {MAX_RUNTIME_SECONDS}
  max_resume_run_attempts: 0
  poll_interval_seconds: {MONITOR_POLL_INTERVAL_SECONDS}

# Every use case has Kafka, landing and retrain sensors: evaluate them side by side.
sensors:
  use_threads: true
  num_workers: {SENSOR_WORKERS}
  num_submit_workers: 2

schedules:
  use_threads: true
  num_workers: {SCHEDULE_WORKERS}
"""


def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def instance_yaml(settings: Settings) -> str:
    """The ``dagster.yaml`` Flywheel ships, rendered for ``settings``."""
    body = _body(settings)
    header = (
        "# Dagster instance settings shipped by Flywheel (orchestration/instance.py).\n"
        f"# flywheel-instance sha256={_checksum(body)}\n"
        "# While the text below is unchanged, Flywheel refreshes this file when its settings change\n"
        "# (e.g. FLYWHEEL_SCORING_CONCURRENCY). Edit it and it is yours: Flywheel leaves it alone.\n"
        "\n"
    )
    return header + body


def is_flywheel_unedited(text: str) -> bool:
    """True for a file Flywheel wrote and nobody edited since (or the old telemetry-only file)."""
    if text == LEGACY_TELEMETRY_ONLY:
        return True
    match = _CHECKSUM_LINE.search(text)
    if not match:
        return False
    _header, sep, body = text.partition("\n\n")
    return bool(sep) and _checksum(body) == match.group(1)


def ensure_instance_yaml(dagster_home: Path, settings: Settings) -> bool:
    """Write the shipped ``dagster.yaml`` into ``dagster_home`` unless the user has their own.

    Returns True when the file was written: it was missing, or it is Flywheel's own unedited file
    and the settings now render something else. Any other ``dagster.yaml`` is left as it is.
    """
    dagster_home = Path(dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / INSTANCE_FILE
    wanted = instance_yaml(settings)
    if path.exists():
        current = path.read_text()
        if current == wanted or not is_flywheel_unedited(current):
            return False
    tmp = path.with_name(f".{INSTANCE_FILE}.tmp")
    tmp.write_text(wanted)
    tmp.replace(path)  # readers never see half a file
    return True
