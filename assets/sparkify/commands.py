"""``flywheel generate sparkify``: landing files in the real format, at scale (for benchmarks and tests)."""

from __future__ import annotations

import click

from orchestration.settings import export_defaults


@click.command("sparkify", help="eventsim-like Sparkify logs (one JSON-lines file per day) with a known "
                  "churn hazard (truth/users.csv beside them).")  # fmt: skip
@click.option("--users", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--days", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write to.")
@click.option("--size", default=None, help="Target size, e.g. 12GB: sets --users, generates in Spark.")
@click.option("--spark/--no-spark", "use_spark", default=None, help="Generate by user shards in Spark "
              "(default: only with --size or more than 2,000 users).")  # fmt: skip
@click.option("--seed", default=0, show_default=True)
@click.option("--first-id", default=1, show_default=True, type=click.IntRange(min=1),
              help="First user id (and session id): keeps clear of another data set's ids.")  # fmt: skip
def generate(
    users: int, days: float, out_dir: str, size: str | None, use_spark: bool | None, seed: int, first_id: int
) -> None:
    from pathlib import Path

    from assets.sparkify.generator import generate as generate_local
    from assets.sparkify.generator import generate_spark, parse_size, users_for_size

    settings = export_defaults()
    if size:
        try:
            users = users_for_size(parse_size(size), days, seed)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    spark_on = use_spark if use_spark is not None else bool(size) or users > 2000
    if spark_on:
        from resources.spark import SparkResource

        spark = SparkResource(master=settings.spark_master).spark_session
        report = generate_spark(spark, Path(out_dir), users, days, seed, first_id=first_id)
    else:
        report = generate_local(Path(out_dir), users, days, seed, first_id=first_id)
    click.echo(
        f"wrote {report['files']} files, {report['bytes'] / 1e6:.1f} MB, {users} users over {days:g} days, "
        f"to {out_dir} (truth: {out_dir}/truth/users.csv)"
    )
