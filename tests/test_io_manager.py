"""The run-scoped IO manager: a step loads what its own run produced, even after another run wrote
the same asset; runs that did not materialize an asset load its latest materialization."""

from dagster import AssetKey, build_input_context, build_output_context

from resources.io_manager import RunScopedFilesystemIOManager

KEY = AssetKey("demo_training_set")


def _output(run_id: str | None):
    return build_output_context(asset_key=KEY, run_id=run_id, name="result", step_key="demo")


def test_overlapping_runs_each_load_their_own_output(tmp_path) -> None:
    manager = RunScopedFilesystemIOManager(base_dir=str(tmp_path)).create_io_manager(None)
    manager.handle_output(_output("run-a"), {"path": "runs/run-a/training_set.parquet"})
    manager.handle_output(_output("run-b"), {"path": "runs/run-b/training_set.parquet"})

    def load(upstream_run: str | None):
        return manager.load_input(build_input_context(asset_key=KEY, upstream_output=_output(upstream_run)))

    assert load("run-a")["path"].startswith("runs/run-a")  # run A's next step, after B wrote
    assert load("run-b")["path"].startswith("runs/run-b")
    assert load("run-c")["path"].startswith("runs/run-b")  # a run that did not make it: the latest
    assert load(None)["path"].startswith("runs/run-b")  # a cross-run load (no producing run known)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["run-a", "run-b"]
    assert not list(tmp_path.rglob("*.tmp"))  # written through temporary files, renamed into place
