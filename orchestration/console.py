"""The terminal of ``flywheel materialize``: one line per step, everything else in a log file.

:func:`materialize_console` opens ``FLYWHEEL_HOME/logs/materialize-<timestamp>.log`` and points the
process's file descriptors 1 and 2 at it for as long as the block runs, so that Dagster's event
logs, Python warnings and logging, MLflow, Great Expectations and the Spark JVM (which writes to
fd 2 directly and hands it to its children) all land there. The :class:`Console` it yields writes
to a duplicate of the original stdout: a line when a use case starts, one line per finished asset
(rows, seconds) or check, failures in red with the error's first line, and progress for a step
that runs long (an updating line on a terminal, a heartbeat line every ``heartbeat`` seconds in a
pipe). :meth:`Console.on_event` is the listener ``materialize_use_case`` attaches to each run on the
instance, so lines appear while the run executes. The file descriptors are restored on the way
out, whatever happened (errors, Ctrl-C).

``verbose=True`` keeps every log on the terminal (no redirection, no log file) and still prints
the step lines.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click

#: A step running this long gets progress: the updating line on a terminal, the first heartbeat
#: line otherwise.
PROGRESS_AFTER_SECONDS = 10.0
#: Seconds between heartbeat lines when stdout is not a terminal.
HEARTBEAT_SECONDS = 30.0
#: Narrowest name column; a use case's longest asset or check name widens it.
NAME_WIDTH = 24
_CLEAR = "\r\x1b[K"


def new_log_path(home: Path) -> Path:
    """``<home>/logs/materialize-<timestamp>.log``, a new file each call."""
    folder = Path(home) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"materialize-{stamp}.log", 1
    while path.exists():
        n += 1
        path = folder / f"materialize-{stamp}-{n}.log"
    return path


def format_seconds(seconds: float, digits: int = 1) -> str:
    """``12.3 s``; whole seconds from a minute on (and with ``digits=0`` from ten seconds on)."""
    whole = seconds >= 60 or (digits == 0 and seconds >= 10)
    return f"{seconds:.0f} s" if whole else f"{seconds:.1f} s"


def _value(meta: Any) -> Any:
    return getattr(meta, "value", meta)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def describe(metadata: Mapping[str, Any]) -> str:
    """What a materialization reports, in a few words: rows first, then model facts."""
    v = {k: _value(m) for k, m in metadata.items()}
    parts: list[str] = []
    if _is_int(v.get("rows_in")):
        split = [
            f"{word} {v[key]:,}"
            for key, word in (("rows_kept", "kept"), ("rows_quarantined", "quarantined"))
            if _is_int(v.get(key))
        ]
        parts.append(f"rows {v['rows_in']:,}" + (f" ({', '.join(split)})" if split else ""))
    elif _is_int(v.get("rows")):
        parts.append(f"rows {v['rows']:,}")
    if _is_int(v.get("labelled_rows")):
        parts.append(f"labelled rows {v['labelled_rows']:,}")
    if _is_int(v.get("version")) and v.get("trainer"):
        parts.append(f"v{v['version']} {v['trainer']}")
    if _is_int(v.get("challenger_version")):
        champion = v.get("champion_version")
        parts.append(
            f"challenger v{v['challenger_version']}" + (f" vs champion v{champion}" if champion else "")
        )
    elif _is_int(v.get("champion_version")):
        previous = v.get("previous_version")
        parts.append(
            f"champion v{v['champion_version']}" + (f" (was v{previous})" if _is_int(previous) else "")
        )
    for key, value in v.items():
        if key.startswith(("validation_", "holdout_")) and isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)


_QUALIFIED = re.compile(r"^(?:[A-Za-z_][\w]*\.)+([A-Za-z_]\w*): ")
_WRAPPERS = ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError")


def error_line(error: Any) -> str:
    """The first line of a Dagster ``SerializableErrorInfo``: the user's error, not Dagster's wrapper."""
    if error is None:
        return "unknown error"
    error = _root_error(error)
    lines = [ln for ln in (error.message or "").strip().splitlines() if ln.strip()]
    first = lines[0].strip() if lines else (error.cls_name or "error")
    first = _QUALIFIED.sub(r"\1: ", first)
    if getattr(error, "cls_name", None) == "Failure":
        first = first.removeprefix("Failure: ")
    return first


def _root_error(error: Any) -> Any:
    while getattr(error, "cls_name", None) in _WRAPPERS and getattr(error, "cause", None) is not None:
        error = error.cause
    return error


@dataclass
class _Activity:
    label: str
    started: float
    next_beat: float
    reported: bool = False


@dataclass
class Console:
    """Writes the readable lines; :meth:`on_event` turns a run's events into them.

    ``tty``: draw progress as one updating line (else plain heartbeat lines). ``log_fd``: where the
    lines are copied, so the log file tells the same story with the noise in between.
    """

    stream: TextIO
    tty: bool = False
    log_fd: int | None = None
    log_path: Path | None = None
    progress_after: float = PROGRESS_AFTER_SECONDS
    heartbeat: float = HEARTBEAT_SECONDS
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    _active: dict[tuple[str, str], _Activity] = field(default_factory=dict, init=False, repr=False)
    _failed_runs: set[str] = field(default_factory=set, init=False, repr=False)
    _planned: dict[tuple[str, str], tuple[list[str], list[str]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _started: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _failed_checks: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _width: int = field(default=NAME_WIDTH, init=False, repr=False)
    _status_shown: bool = field(default=False, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    # -- output ----------------------------------------------------------------------------------
    def line(self, text: str = "", fg: str | None = None, bold: bool = False) -> None:
        with self._lock:
            if self._status_shown:
                self.stream.write(_CLEAR)
                self._status_shown = False
            styled = click.style(text, fg=fg, bold=True if bold else None) if fg or bold else text
            click.echo(styled, file=self.stream, color=self.tty)
            self.stream.flush()
            if self.log_fd is not None:
                with suppress(OSError):
                    os.write(self.log_fd, f"[console] {text}\n".encode(errors="replace"))

    def error(self, text: str) -> None:
        self.line(text, fg="red", bold=True)

    def _status(self, text: str) -> None:
        self.stream.write(_CLEAR + click.style(text, dim=True))
        self.stream.flush()
        self._status_shown = True

    # -- progress --------------------------------------------------------------------------------
    def start(self) -> Console:
        if self._thread is None:
            tick = max(0.05, min(1.0, self.progress_after / 4, self.heartbeat / 4))
            self._thread = threading.Thread(target=self._beat_loop, args=(tick,), daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._status_shown:
                self.stream.write(_CLEAR)
                self.stream.flush()
                self._status_shown = False

    def _beat_loop(self, tick: float) -> None:
        while not self._stop.wait(tick):
            with suppress(Exception):  # progress must never break a run
                self.beat()

    def beat(self, now: float | None = None) -> None:
        """Show progress of whatever has been running longer than ``progress_after``."""
        now = time.time() if now is None else now
        with self._lock:
            if not self._active:
                return
            current = max(self._active.values(), key=lambda a: a.started)  # the innermost
            age = now - current.started
            if age < self.progress_after:
                return
            if self.tty:
                self._status(f"  ... {current.label} running {format_seconds(age, 0)}")
            elif now >= current.started + current.next_beat:
                self.line(f"  ... {current.label} running {format_seconds(age, 0)}")
                current.next_beat += self.heartbeat

    # -- Dagster events --------------------------------------------------------------------------
    def use_case(self, name: str) -> None:
        with self._lock:
            self._width = NAME_WIDTH
        self.line(f"materializing {name} ...", bold=True)

    def on_event(self, entry: Any) -> None:
        """Listener for ``DagsterInstance.add_event_listener``: one call per stored event."""
        try:
            self._on_event(entry)
        except Exception as exc:  # noqa: BLE001 - the console must never fail a run
            self.line(f"  (console could not show an event: {exc})")

    def _on_event(self, entry: Any) -> None:
        event = entry.dagster_event
        if event is None:
            return
        kind, run_id, step = event.event_type_value, entry.run_id, event.step_key
        key, ts = (run_id, step or ""), entry.timestamp
        with self._lock:
            if kind == "ASSET_MATERIALIZATION_PLANNED" and step:
                data = event.event_specific_data
                self._plan(key, _asset_name(data.asset_key, data.partition), checks=False)
            elif kind == "ASSET_CHECK_EVALUATION_PLANNED" and step:
                self._plan(key, f"check {event.event_specific_data.check_name}", checks=True)
            elif kind == "RESOURCE_INIT_STARTED" and step is None:
                self._begin(key, "starting resources", ts)
            elif kind in ("RESOURCE_INIT_SUCCESS", "RESOURCE_INIT_FAILURE") and step is None:
                self._active.pop(key, None)
                if kind == "RESOURCE_INIT_FAILURE":
                    self._failed_runs.add(run_id)
                    self.error(f"  resources FAILED: {error_line(event.event_specific_data.error)}")
            elif kind == "STEP_START":
                self._started.add(key)
                self._begin(key, self._label(key), ts)
            elif kind == "ASSET_MATERIALIZATION":
                materialization = event.step_materialization_data.materialization
                name = _asset_name(materialization.asset_key, materialization.partition)
                self._row(key, name, describe(materialization.metadata), ts)
            elif kind == "ASSET_CHECK_EVALUATION":
                self._check_line(key, event.asset_check_evaluation_data, ts)
            elif kind == "STEP_SUCCESS":
                activity = self._active.pop(key, None)
                if activity is not None and not activity.reported:
                    self._row(key, activity.label, "done", ts, activity)
            elif kind == "STEP_FAILURE":
                activity = self._active.pop(key, None)
                self._failed_runs.add(run_id)
                error = event.step_failure_data.error
                if (
                    key in self._failed_checks
                    and _root_error(error).cls_name == "DagsterAssetCheckFailedError"
                ):
                    return  # the failed blocking check has its line already
                took = f"FAILED after {format_seconds(ts - activity.started)}" if activity else "FAILED"
                self.error(f"  {self._label(key):<{self._width}}  {took}: {error_line(error)}")
            elif kind == "STEP_SKIPPED":
                self._started.add(key)
                self.line(
                    f"  {self._label(key):<{self._width}}  skipped: an upstream step did not succeed",
                    fg="yellow",
                )
            elif kind in ("PIPELINE_SUCCESS", "PIPELINE_FAILURE", "PIPELINE_CANCELED"):
                self._end_run(run_id, event, kind)

    def _end_run(self, run_id: str, event: Any, kind: str) -> None:
        if kind != "PIPELINE_SUCCESS":
            if run_id not in self._failed_runs:
                data = event.event_specific_data
                reason = error_line(data.error) if getattr(data, "error", None) else "see the log"
                word = "FAILED" if kind == "PIPELINE_FAILURE" else "CANCELED"
                self.error(f"  run of {event.job_name} {word}: {reason}")
            for key in self._planned:
                if key[0] == run_id and key not in self._started:
                    self.line(
                        f"  {self._label(key):<{self._width}}  not run: an upstream step failed", fg="yellow"
                    )
        for table in (self._active, self._planned):
            for key in [k for k in table if k[0] == run_id]:
                table.pop(key)
        self._started = {k for k in self._started if k[0] != run_id}
        self._failed_checks = {k for k in self._failed_checks if k[0] != run_id}

    def _plan(self, key: tuple[str, str], name: str, checks: bool) -> None:
        """Planned assets name their step (checks only when the step materializes nothing)."""
        assets, check_names = self._planned.setdefault(key, ([], []))
        (check_names if checks else assets).append(name)
        self._width = max(self._width, len(name))

    def _label(self, key: tuple[str, str]) -> str:
        assets, checks = self._planned.get(key, ([], []))
        names = assets or checks
        if not names:
            return key[1]
        return names[0] + (f" (+{len(names) - 1})" if len(names) > 1 else "")

    def _begin(self, key: tuple[str, str], label: str, ts: float) -> None:
        self._active[key] = _Activity(label, ts, self.progress_after)

    def _took(self, key: tuple[str, str], ts: float) -> str:
        activity = self._active.get(key)
        if activity is None:
            return ""
        activity.reported = True
        return format_seconds(ts - activity.started)

    def _row(
        self, key: tuple[str, str], name: str, what: str, ts: float, activity: _Activity | None = None
    ) -> None:
        took = format_seconds(ts - activity.started) if activity else self._took(key, ts)
        self.line("  " + "  ".join(p for p in (f"{name:<{self._width}}", what, took) if p).rstrip())

    def _check_line(self, key: tuple[str, str], evaluation: Any, ts: float) -> None:
        took = self._took(key, ts)
        label = f"check {evaluation.check_name}"
        if getattr(evaluation, "partition", None):
            label += f"[{evaluation.partition}]"
        if evaluation.passed:
            self.line("  " + "  ".join(p for p in (f"{label:<{self._width}}", "passed", took) if p))
            return
        detail = _value(evaluation.metadata.get("decision", "")) or evaluation.description or ""
        detail = str(detail).strip().splitlines()[0] if str(detail).strip() else ""
        severity = getattr(evaluation.severity, "value", str(evaluation.severity))
        word = "FAILED" if severity == "ERROR" else "failed (warning)"
        text = "  " + "  ".join(p for p in (f"{label:<{self._width}}", word, took) if p)
        text += f": {detail}" if detail else ""
        if severity == "ERROR":
            self._failed_checks.add(key)
            self.error(text)
        else:
            self.line(text, fg="yellow")


def _asset_name(asset_key: Any, partition: str | None) -> str:
    return asset_key.to_user_string() + (f"[{partition}]" if partition else "")


@contextmanager
def redirected_output(log_path: Path) -> Iterator[tuple[int, int]]:
    """Point fds 1 and 2 at ``log_path`` (appending); yields (fd of the log, dup of the old stdout).

    Works at the descriptor level, so it also catches what C code, the JVM and child processes
    write. Everything is restored on the way out, also on errors and KeyboardInterrupt.
    """
    for stream in (sys.stdout, sys.stderr):
        _flush(stream)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved_out, saved_err = os.dup(1), os.dup(2)
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield log_fd, saved_out
    finally:
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)


def _flush(stream: Any) -> None:
    with suppress(Exception):  # a closed or odd stream must not stop the redirection
        stream.flush()


@contextmanager
def materialize_console(
    home: Path,
    verbose: bool = False,
    progress_after: float = PROGRESS_AFTER_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> Iterator[Console]:
    """The readable console for a block of runs; the rest goes to ``<home>/logs/``.

    Prints the log file's path at the start and at the end (also when the block raised).
    """
    if verbose:
        console = Console(sys.stdout, progress_after=progress_after, heartbeat=heartbeat).start()
        try:
            yield console
        finally:
            console.close()
        return
    log_path = new_log_path(home)
    with redirected_output(log_path) as (log_fd, saved_out):
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        stream = open(os.dup(saved_out), "w", buffering=1, encoding=encoding, errors="replace")  # noqa: SIM115
        console = Console(
            stream,
            tty=os.isatty(saved_out),
            log_fd=log_fd,
            log_path=log_path,
            progress_after=progress_after,
            heartbeat=heartbeat,
        )
        try:
            console.line(f"log (Dagster, Spark, MLflow, warnings): {log_path}", fg="bright_black")
            console.start()
            yield console
        finally:
            console.close()
            console.line(f"full log: {log_path}")
            stream.close()
