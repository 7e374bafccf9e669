"""``egogen body``: inspect, draw and (for maintainers) rebuild the SMPL-X body model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(
    help=(
        "The SMPL-X body model every virtual human uses.\n\n"
        "By default egogen uses its own open body (NAVER's Anny converted into the SMPL-X file "
        "format; no licence-gated download). To use licensed SMPL-X files, pass their folder with "
        "--body-model or set EGOGEN_BODY_MODEL."
    ),
    no_args_is_help=True,
)
console = Console(stderr=True)

BodyOpt = typer.Option(None, "--body-model", help="Folder with SMPLX_NEUTRAL.npz (licensed SMPL-X files); "
                       "default: $EGOGEN_BODY_MODEL, else egogen's default body.", show_default=False)
GenderOpt = typer.Option("neutral", "--gender", help="neutral, male or female (the default body is neutral).")
BetasOpt = typer.Option(None, "--betas", help="Comma-separated shape coefficients, e.g. '1.5,-0.3' "
                        "(missing ones are 0).", show_default=False)


def _parse_betas(text: Optional[str], num_betas: int):
    import torch

    if not text:
        return None
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"--betas must be comma-separated numbers, got {text!r}")
    if len(values) > num_betas:
        raise typer.BadParameter(f"--betas has {len(values)} values; this model takes at most {num_betas}")
    betas = torch.zeros(1, num_betas)
    betas[0, : len(values)] = torch.tensor(values)
    return betas


def _load(body_model, gender, num_betas=16):
    from egogen.body.model import BodyModelError, load_body_model

    try:
        return load_body_model(body_model, gender=gender, num_betas=num_betas)
    except BodyModelError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)


@app.command()
def info(
    body_model: Optional[Path] = BodyOpt,
    gender: str = GenderOpt,
    betas: Optional[str] = BetasOpt,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
) -> None:
    """Describe the body model: type, size, height, markers, source and licence."""
    from egogen.body.info import body_info

    body = _load(body_model, gender)
    report = body_info(body, _parse_betas(betas, body.num_betas))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        console.print(f"[bold]{key:>16}[/bold]  {value}", highlight=False, soft_wrap=True)


@app.command()
def show(
    out: Path = typer.Option(Path("body.png"), "--out", "-o", help="PNG file to write."),
    rig: str = typer.Option("aria", "--rig", help="Head-camera preset whose frustum is drawn "
                            "(pinhole, hololens2, aria, or a JSON file)."),
    body_model: Optional[Path] = BodyOpt,
    gender: str = GenderOpt,
    betas: Optional[str] = BetasOpt,
) -> None:
    """Draw the body (front, three-quarter and side views) with its SSM2 markers and head-camera frustum."""
    from egogen.body.show import draw_body
    from egogen.render.camera import load_rig

    try:
        preset = load_rig(rig)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--rig")
    body = _load(body_model, gender)
    path = draw_body(body, preset, out, _parse_betas(betas, body.num_betas))
    console.print(f"wrote {path}")


@app.command("build-default")
def build_default(
    out: Path = typer.Option(None, "--out", help="Output folder (default: the shipped policies/default_body)."),
    bodies: int = typer.Option(600, "--bodies", help="Phenotypes sampled for the shape PCA."),
    num_betas: int = typer.Option(16, "--num-betas", help="Shape components kept."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (same seed, same file)."),
) -> None:
    """(Maintainers) Rebuild the default body from Anny. Needs: pip install 'egogen[body-build]'."""
    from rich.progress import track

    from egogen.body.build_default import build_default_body
    from egogen.body.model import default_body_dir

    target = out or default_body_dir()
    try:
        report = build_default_body(target, num_bodies=bodies, num_betas=num_betas, seed=seed,
                                    progress=lambda it, desc: track(it, description=desc, console=console))
    except ImportError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    typer.echo(json.dumps(report.__dict__, indent=2))
