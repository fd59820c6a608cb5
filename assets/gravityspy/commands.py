"""``flywheel generate gravityspy``: landing files in the real format, at scale (for benchmarks and tests)."""

from __future__ import annotations

import click


@click.command(
    "gravityspy", help="Gravity Spy spectrogram PNGs (800x600, four durations) in the training-set layout."
)
@click.option("--glitches", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--classes", default=None,
              help="Comma-separated classes (default: Blip,Koi_Fish,Whistle,Power_Line,Scattered_Light; "
                   "also Violin_Mode, 1080Lines, Low_Frequency_Burst, Tomte, No_Glitch).")  # fmt: skip
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write to.")
@click.option("--seed", default=0, show_default=True)
def generate(glitches: int, classes: str | None, out_dir: str, seed: int) -> None:
    from assets.gravityspy.generator import DEFAULT_CLASSES, write_glitches

    chosen = tuple(c.strip() for c in classes.split(",") if c.strip()) if classes else DEFAULT_CLASSES
    try:
        paths = write_glitches(out_dir, glitches, chosen, seed)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    size = sum(p.stat().st_size for p in paths)
    click.echo(f"wrote {glitches} glitches ({len(paths)} PNGs, {size / 1e6:.1f} MB) to {out_dir}")
