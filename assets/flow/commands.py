"""``flywheel generate flow``: landing files in the real format, at scale (for benchmarks and tests)."""

from __future__ import annotations

import click


@click.command("flow", help="Flow series (time,value) from the real clean ones, with injected anomalies "
                  "and a <series>.labels.csv (time,type) each.")  # fmt: skip
@click.option("--series", "count", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--days", default=14.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write to.")
@click.option("--seed", default=0, show_default=True)
def generate(count: int, days: float, out_dir: str, seed: int) -> None:
    from assets.flow.generator import generate_series, write_series

    series = generate_series(count, days, seed)
    write_series(series, out_dir)
    labelled = sum(len(s.labels) for s in series)
    readings = sum(len(s.readings) for s in series)
    click.echo(
        f"wrote {len(series)} series ({readings} readings, {labelled} labelled anomalous) to {out_dir}"
    )
