"""The console of ``flywheel materialize``: one line per step on the terminal, the noise in a log.

Each test runs a tiny real Dagster job in a child process (the redirection works on the process's
file descriptors, which is what the JVM writes to) through the same machinery the CLI uses:
``materialize_console`` around ``run_jobs`` with ``Console.on_event`` as the instance listener.
One asset writes to fd 2 directly as the Spark JVM does, prints, warns and logs; another starts a
real Spark session; a third runs long enough for progress; a fourth fails.
"""

from __future__ import annotations

import errno
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from orchestration.console import describe
from orchestration.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import logging, os, sys, time, warnings
from pathlib import Path

from dagster import (AssetCheckResult, AssetCheckSeverity, AssetSelection, DagsterInstance, Definitions,
                     MaterializeResult, asset, asset_check, define_asset_job)

from orchestration.console import materialize_console
from orchestration.materialize import UseCaseSummary, format_summary, run_jobs
from resources.spark import SparkResource


@asset
def landed(context):
    os.write(2, b"JVM-NOISE 26/12/01 WARN NativeCodeLoader: Unable to load native-hadoop\n")
    print("STDOUT-NOISE a library printing")
    warnings.warn("PYWARN-NOISE something is deprecated")
    logging.getLogger("mlflow.noise").warning("LOGGING-NOISE a library's warning")
    context.add_output_metadata({"rows_in": 26180, "rows_kept": 26028, "rows_quarantined": 152})
    return 1


@asset_check(asset=landed)
def landed_ids_unique():
    time.sleep(1.0)
    return AssetCheckResult(passed=True)


@asset(deps=[landed])
def counted(spark: SparkResource):
    return MaterializeResult(metadata={"rows": spark.spark_session.range(4321).count()})


@asset(deps=[landed])
def slow():
    time.sleep(1.6)
    return MaterializeResult(metadata={"labelled_rows": 77})


@asset
def broken():
    raise ValueError("the landing folder is empty\nsecond line of the error")


@asset
def gated():
    return 1


@asset_check(asset=gated, blocking=True)
def gated_gate():
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.ERROR,
        metadata={"decision": "rejected: weighted_f2 0.61 below 0.70\nmore detail"},
    )


@asset(deps=[gated])
def promoted():
    return 1


defs = Definitions(
    assets=[landed, counted, slow, broken, gated, promoted],
    asset_checks=[landed_ids_unique, gated_gate],
    jobs=[
        define_asset_job("good", AssetSelection.assets(landed, slow)),
        define_asset_job("spark", AssetSelection.assets(counted)),
        define_asset_job("bad", AssetSelection.assets(broken)),
        define_asset_job("gate", AssetSelection.assets(gated, promoted)),
    ],
    resources={"spark": SparkResource(master="local[1]")},
)

# "a,b+c": use case tiny1 runs jobs a then b, use case tiny2 runs c (as the CLI loops over use cases).
groups, interrupt = [g.split(",") for g in sys.argv[1].split("+")], sys.argv[2] == "interrupt"
try:
    home, verbose = Path(os.environ["FLYWHEEL_HOME"]), os.environ.get("TINY_VERBOSE") == "1"
    with materialize_console(home, verbose=verbose, progress_after=0.4, heartbeat=0.5) as console:
        instance = DagsterInstance.get()
        summaries = []
        for n, jobs in enumerate(groups, 1):
            console.use_case(f"tiny{n}")
            summaries.append(run_jobs(
                UseCaseSummary(f"tiny{n}"), [defs.resolve_job_def(j) for j in jobs], instance,
                log_level="INFO" if verbose else "DEBUG", on_event=console.on_event,
            ))
        console.line("")
        for line in format_summary(summaries).splitlines():
            console.line(line)
        if interrupt:
            raise KeyboardInterrupt
except KeyboardInterrupt:
    pass
os.write(1, b"AFTER-STDOUT\n")
os.write(2, b"AFTER-STDERR\n")
"""

NOISE = ("JVM-NOISE", "STDOUT-NOISE", "PYWARN-NOISE", "LOGGING-NOISE")


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_materialize.py"
    path.write_text(SCRIPT)
    return path


def _run_piped(
    tmp_path: Path, jobs: str, interrupt: bool = False, verbose: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(_script(tmp_path)), jobs, "interrupt" if interrupt else "-"],
        cwd=REPO_ROOT,
        env={**os.environ, "TINY_VERBOSE": "1" if verbose else "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _log_path(stdout: str, settings: Settings) -> Path:
    match = re.search(r"^full log: (.+)$", stdout, re.M)
    assert match, stdout
    path = Path(match.group(1))
    assert path.parent == settings.home / "logs"
    assert re.fullmatch(r"materialize-\d{8}-\d{6}(-\d+)?\.log", path.name)
    assert path.is_file()
    return path


def test_one_line_per_step_on_the_terminal_and_the_noise_in_the_log(
    flywheel_env: Settings, tmp_path: Path
) -> None:
    done = _run_piped(tmp_path, "good,spark")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    lines = out.splitlines()

    # One line per asset with its rows and seconds, one per check, in the order they finished.
    assert lines[1] == "materializing tiny1 ..."
    steps = [ln for ln in lines if ln.startswith("  ") and not ln.startswith("  ... ")]
    assert len(steps) == 4, out
    assert re.fullmatch(r"  landed +rows 26,180 \(kept 26,028, quarantined 152\)  \d+\.\d s", steps[0])
    assert re.fullmatch(r"  check landed_ids_unique +passed  1\.\d s", steps[1])
    assert re.fullmatch(r"  slow +labelled rows 77  1\.\d s", steps[2])
    assert re.fullmatch(r"  counted +rows 4,321  \d+\.\d s", steps[3])
    # A step running longer than progress_after gets heartbeat lines (plain: not a terminal), named
    # after its asset or check.
    assert re.search(r"^  \.\.\. slow running \d\.\d s$", out, re.M), out
    assert re.search(r"^  \.\.\. check landed_ids_unique running \d\.\d s$", out, re.M), out
    assert "\r" not in out and "\x1b[" not in out
    # Then the summary table, then where the log is (also said at the start).
    assert re.search(r"^tiny1 +2 +26180 +26028 +152 +1 +0 +- +-$", out, re.M), out
    log = _log_path(out, flywheel_env)
    assert lines[0] == f"log (Dagster, Spark, MLflow, warnings): {log}"
    assert lines[-2] == f"full log: {log}"

    # None of the noise reached the terminal; all of it is in the log file, with Dagster's events
    # and the real JVM's log4j output.
    text = log.read_text()
    for marker in NOISE:
        assert marker not in out and marker not in done.stderr
        assert marker in text
    assert "log4j" in text and "log4j" not in out + done.stderr
    assert "STEP_SUCCESS" in text and "STEP_SUCCESS" not in out
    assert "[console]   landed " in text  # the console's lines are in the log too, for context

    # The descriptors were given back: what the process writes afterwards reaches the terminal.
    assert lines[-1] == "AFTER-STDOUT"
    assert done.stderr == "AFTER-STDERR\n"


def test_failures_are_one_line_each_with_the_first_line_of_the_error_and_ctrl_c_restores(
    flywheel_env: Settings, tmp_path: Path
) -> None:
    done = _run_piped(tmp_path, "bad+gate", interrupt=True)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    steps = [ln for ln in out.splitlines() if ln.startswith("  ") and not ln.startswith("  ... ")]
    assert len(steps) == 4, out
    # A failed step: its error's first line, not Dagster's wrapper, not the traceback.
    assert re.fullmatch(
        r"  broken +FAILED after \d+\.\d s: ValueError: the landing folder is empty", steps[0]
    )
    assert "second line of the error" not in out and "Stack Trace" not in out
    # A failed blocking check: one line with the decision, and what it kept from running.
    assert re.fullmatch(r"  gated +\d+\.\d s", steps[1])
    assert re.fullmatch(
        r"  check gated_gate +FAILED  \d+\.\d s: rejected: weighted_f2 0\.61 below 0\.70", steps[2]
    )
    assert re.fullmatch(r"  promoted +not run: an upstream step failed", steps[3])
    assert re.search(r"^tiny1 +1 \(1 failed\) ", out, re.M), out
    assert re.search(r"^tiny2 +1 \(1 failed\) .* gated_gate ", out, re.M), out
    log = _log_path(out, flywheel_env)
    text = log.read_text()
    assert "second line of the error" in text and "Stack Trace:" in text  # the whole story is in the log
    # KeyboardInterrupt inside the block: still restored, still told where the log is.
    assert out.splitlines()[-2:] == [f"full log: {log}", "AFTER-STDOUT"]
    assert done.stderr == "AFTER-STDERR\n"


def test_on_a_terminal_progress_is_one_updating_line_and_failures_are_red(
    flywheel_env: Settings, tmp_path: Path
) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(_script(tmp_path)), "good,bad", "-"],  # no Spark here: it is slow
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError as exc:  # EIO: the child closed its end
            assert exc.errno == errno.EIO
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=300) == 0
    out = b"".join(chunks).decode()

    # Progress redraws one line in place (carriage return + erase line), never a heartbeat line.
    assert re.search(r"\r\x1b\[K\x1b\[2m  \.\.\. slow running \d\.\d s", out), repr(out)
    assert not re.search(r"\n  \.\.\. slow running", out)
    # The finished step's line replaces the progress line.
    assert re.search(r"\r\x1b\[K  slow +labelled rows 77  1\.\d s\r?\n", out), repr(out)
    # Failures stand out in red.
    assert re.search(r"\x1b\[31m\x1b\[1m  broken +FAILED after \d+\.\d s: ValueError: the landing", out)
    for marker in NOISE:
        assert marker not in out
    assert "AFTER-STDOUT" in out and "AFTER-STDERR" in out


def test_verbose_keeps_everything_on_the_terminal_and_writes_no_log(
    flywheel_env: Settings, tmp_path: Path
) -> None:
    done = _run_piped(tmp_path, "good", verbose=True)
    assert done.returncode == 0, done.stdout + done.stderr
    both = done.stdout + done.stderr
    for marker in NOISE:
        assert marker in both
    assert "STEP_SUCCESS" not in both  # Dagster's console logger at INFO, as before
    assert re.search(
        r"^  landed +rows 26,180 \(kept 26,028, quarantined 152\)  \d+\.\d s$", done.stdout, re.M
    )
    assert "full log" not in both
    assert not (flywheel_env.home / "logs").exists()


def test_materialize_refuses_an_unknown_use_case_before_touching_anything(flywheel_env: Settings) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flywheel"), "materialize", "nosuchcase"],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "unknown use case(s) nosuchcase" in done.stderr
    assert not (flywheel_env.home / "logs").exists()


def test_describe_puts_what_each_asset_reports_in_a_few_words() -> None:
    from dagster import MetadataValue

    assert describe({"rows_in": 26180, "rows_kept": 26028, "rows_quarantined": 152, "labels": 36}) == (
        "rows 26,180 (kept 26,028, quarantined 152)"
    )
    assert describe({"rows": MetadataValue.int(1022), "holdout_version": 1}) == "rows 1,022"
    challenger = {"version": 3, "trainer": "tfidf_logreg", "validation_weighted_f2": 0.72613, "rows": 9}
    assert describe(challenger) == "rows 9  v3 tfidf_logreg  validation_weighted_f2 0.7261"
    evaluation = {"challenger_version": 3, "champion_version": 2, "holdout_weighted_f2": 0.7}
    assert describe(evaluation) == "challenger v3 vs champion v2  holdout_weighted_f2 0.7000"
    assert describe({"champion_version": 3, "previous_version": 2}) == "champion v3 (was v2)"
    assert describe({"champion_version": 1, "previous_version": "none"}) == "champion v1"
    assert describe({"path": "/x", "replaced_now": True}) == ""
