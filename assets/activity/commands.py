"""``flywheel generate activity``: landing files in the real format, at scale (for benchmarks and tests)."""

from __future__ import annotations

import click

from orchestration.settings import export_defaults


@click.command("activity", help="Layout-(a) CASAS participant files of generated 10 Hz watch data.")
@click.option("--participants", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--hours", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write to.")
@click.option("--seed", default=0, show_default=True)
def generate(participants: int, hours: float, out_dir: str, seed: int) -> None:
    from assets.activity.generator import fit_window_stats, write_raw_files
    from assets.activity.simulation import reference_windows

    settings = export_defaults()
    stats = fit_window_stats(reference_windows(settings.home))
    paths = write_raw_files(None, participants, hours, out_dir, seed, stats=stats)
    size = sum(p.stat().st_size for p in paths)
    click.echo(f"wrote {len(paths)} files, {size / 1e6:.1f} MB, to {out_dir}")
