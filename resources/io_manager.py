"""The pickling IO manager, with a copy of every output per run.

Dagster's ``FilesystemIOManager`` keeps one file per asset (``<base>/<asset>``), so when two runs of
a graph overlap, the second run's output overwrites the first's and the first run's next step loads
the second run's value (its training set, its challenger, its evaluation). This one also writes
each output of a non-partitioned asset to ``<base>/runs/<run_id>/<asset>``, and a step loads from
the run that produced its input (this run, or the parent run of a re-execution) when that copy
exists. Inputs from assets the run did not materialize come from ``<base>/<asset>``, the latest
materialization, as before. Files are replaced atomically, so a reader never sees half a pickle.
Partitioned assets are untouched: their files are already one per partition. (It extends Dagster's
own pickling manager, so it follows the pinned Dagster minor version.)
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import FilesystemIOManager, InputContext, OutputContext
from dagster._core.storage.fs_io_manager import PICKLE_PROTOCOL, PickledObjectFilesystemIOManager

from orchestration.files import atomic_write_bytes, prune_run_dirs

if TYPE_CHECKING:
    from upath import UPath

RUNS = "runs"


def _run_id(context: InputContext | OutputContext) -> str | None:
    """The producing run of an output; None when Dagster does not know it (a cross-run load)."""
    try:
        return context.run_id
    except Exception:  # noqa: BLE001 - Dagster raises when the context has no run
        return None


class RunScopedPickles(PickledObjectFilesystemIOManager):
    _pruned = False

    def _run_path(self, run_id: str, path: UPath) -> UPath:
        return self._base_path.joinpath(RUNS, run_id, *path.relative_to(self._base_path).parts)

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        atomic_write_bytes(Path(str(path)), pickle.dumps(obj, PICKLE_PROTOCOL))

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        run_id = _run_id(context)
        if context.has_asset_key and not context.has_asset_partitions and run_id is not None:
            self.dump_to_path(context, obj, self._run_path(run_id, self._get_path(context)))
            if not RunScopedPickles._pruned:  # once per process: runs are many, outputs small
                RunScopedPickles._pruned = True
                prune_run_dirs(Path(str(self._base_path / RUNS)), spare=run_id)
        super().handle_output(context, obj)

    def load_input(self, context: InputContext) -> Any:
        upstream = context.upstream_output
        if context.has_asset_key and not context.has_asset_partitions and upstream is not None:
            run_id = _run_id(upstream)
            if run_id is not None:
                path = self._run_path(run_id, self._get_path(context))
                if path.exists():
                    return self.load_from_path(context, path)
        return super().load_input(context)


class RunScopedFilesystemIOManager(FilesystemIOManager):
    """``FilesystemIOManager`` whose steps load what their own run produced (see the module)."""

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def create_io_manager(self, context) -> RunScopedPickles:
        base_dir = self.base_dir or context.instance.storage_directory()
        return RunScopedPickles(base_dir=base_dir)
