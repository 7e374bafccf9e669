"""``egogen validate`` and ``egogen view``: check a dataset folder, draw one episode."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console()


def validate(
    folder: Path = typer.Argument(..., help="Dataset folder (index.json + shard-*.tar), or a rendered one."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check every shard against the index and the modality table; exit code 1 on errors.

    Rendered folders beside the shards (FOLDER/render-*, from `egogen render`) are checked
    too: frames, dtypes and shapes, depth, normals and segmentation ids. JSON: their
    reports are listed under "renders".
    """
    from egogen.data.validate import render_folders, validate_dataset

    rep = validate_dataset(folder)
    renders = [validate_dataset(r) for r in render_folders(folder)]
    if as_json:
        out = rep.to_dict() | ({"renders": [r.to_dict() for r in renders]} if renders else {})
        typer.echo(json.dumps(out, indent=1))
    else:
        for r in (rep, *renders):
            console.print(r.summary(), markup=False, highlight=False)
    if not rep.ok or not all(r.ok for r in renders):
        raise typer.Exit(1)


def view(
    folder: Path = typer.Argument(..., help="Dataset folder."),
    episode: int = typer.Option(0, help="Episode number (meta.json 'episode')."),
    out: Path = typer.Option(Path("episode.png"), help="PNG to write."),
    frustum_every: float = typer.Option(1.0, help="Seconds between drawn camera frusta."),
    gaze_every: float = typer.Option(0.5, help="Seconds between drawn gaze rays."),
) -> None:
    """Top-down picture of one episode: people's paths, camera frusta and gaze rays over the map."""
    from egogen.data.shards import ShardError
    from egogen.data.view import draw_episode

    try:
        info = draw_episode(folder, episode, out, frustum_every, gaze_every)
    except ShardError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    console.print(f"wrote {info['out']} ({info['scene']}, {info['wearers']} wearers, {info['frames']} frames)")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``view`` to the root app."""
    app.command("validate")(validate)
    app.command("view")(view)
