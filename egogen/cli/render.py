"""``egogen render``: render the samples of a simulated dataset (RGB, depth, normals, segmentation)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)


def render_cmd(
    folder: Path = typer.Argument(..., help="Dataset folder written by `egogen simulate` (index.json + shard-*.tar)."),
    engine: str = typer.Option("cycles", "--engine",
                               help="cycles (path traced, all streams, slow on CPU), workbench (fast Blender "
                               "rasteriser, pinhole), pyrender (OpenGL, pinhole), raycast (no rgb, any rig, no "
                               "extra packages)."),
    rig: Optional[str] = typer.Option(None, "--rig",
                                      help="Rig preset (aria, hololens2, pinhole) or JSON file whose intrinsics "
                                      "replace the samples' own; the camera pose stays the sample's."),
    resolution: int = typer.Option(256, "--resolution", help="Image width in pixels (height from the rig's aspect)."),
    fps: float = typer.Option(8.0, "--fps", help="Rendered frames per second of episode time (at most 30): frame k "
                              "is the 30 Hz frame nearest to k/fps."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Cycles samples per pixel (default 8; cycles only)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=0,
                                        help="Render only the first N samples of FOLDER (a preview; a later run "
                                        "without --limit continues)."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Processes rendering samples in parallel; the output does not depend on it."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: FOLDER/render-<engine>)."),
    per_shard: int = typer.Option(4, "--per-shard", min=1, help="Rendered samples per output shard."),
) -> None:
    """Render every sample of a simulated dataset into image shards beside it.

    Reads FOLDER's samples (one wearer of one episode: the wearer's SMPL-X body, the other
    people, the head camera's pose and intrinsics), loads the scene, poses everyone and
    renders what the head camera sees at --fps (frame k = the 30 Hz frame nearest to k/fps):
    rgb (uint8), planar depth in metres (float16, 0 = nothing), camera-frame normals,
    instance and semantic segmentation (docs/dataset.md, "Rendered frames").

    Output: OUT/shard-NNNNNN.tar with the same sample keys as FOLDER (members frames.json,
    depth.npz, seg.npz, and rgb.npz / normal.npz where the engine makes them) and
    OUT/index.json. Running the command again continues an interrupted or --limit run; a
    corrupt input shard is reported and skipped (exit code 1). Check the output with
    `egogen validate FOLDER` (it finds render-* folders) or `egogen validate OUT`.

    Engines, fastest first (256 px, 2 CPU cores, per frame): raycast ~0.03-0.05 s (depth,
    normals, segmentation; no rgb), pyrender ~0.09 s and workbench ~0.15 s (rgb, depth,
    segmentation; pinhole rigs only), cycles ~8 s with 8 samples (everything, photoreal;
    uses a GPU automatically when Blender finds one). cycles and workbench need
    `pip install 'egogen\\[render]'`.

    Example: egogen render datasets/apartment --engine raycast --resolution 128 --limit 4
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from egogen.data.shards import ShardError
    from egogen.render.dataset import RenderConfig, render_dataset

    cfg = RenderConfig(engine=engine, resolution=resolution, fps=fps, rig=rig, samples=samples,
                       samples_per_shard=per_shard)
    with Progress(TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("render", total=None, rate="")
        state = {}

        def report(done: int, total: int, frames: int) -> None:
            if not state:  # the first call: what earlier runs had rendered
                state["t0"] = time.time()
                bar.reset(task, total=total, completed=done, rate="")
                return
            rate = frames / max(time.time() - state["t0"], 1e-9)
            bar.update(task, completed=done, rate=f"{rate:.2f} frames/s")

        try:
            rep = render_dataset(folder, cfg, out=out, limit=limit, workers=workers, progress=report)
        except (ImportError, ShardError, ValueError, FileNotFoundError) as e:
            # missing engine packages, not a dataset, other options in --out, bad options: 2
            bar.stop()
            console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
    say = dict(highlight=False, soft_wrap=True)  # long paths stay whole
    console.print(f"samples {rep['samples']} ({rep['rendered']} rendered now, {rep['already']} before); "
                  f"{rep['frames']} frames in {rep['wall_s']:.1f} s, {rep['frames_per_s']:.2f} frames/s", **say)
    for s in rep["skipped_shards"]:
        console.print(f"[yellow]skipped[/yellow] {escape(str(folder / s['shard']))} ({s['samples']} samples): "
                      f"{escape(s['reason'])}", **say)
    console.print(f"wrote {escape(rep['out'])}  (check it: egogen validate {escape(rep['out'])})", **say)
    if rep["skipped_shards"]:
        console.print("some input shards were skipped and their samples not rendered; repair or regenerate them, "
                      "then run this command again", **say)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``render`` to the root app."""
    app.command("render")(render_cmd)
