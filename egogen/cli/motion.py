"""``egogen train-motion``, ``egogen eval-motion`` and ``egogen motion show``: the motion model
(motion-primitive C-VAE + marker -> SMPL-X regressor)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

console = Console(stderr=True)
motion_app = typer.Typer(help="Inspect the motion model (C-VAE roll-outs).", no_args_is_help=True)

CKPT_HELP = "Folder with cvae.pt / regressor.pt; default: the shipped policies/motion."
ACK = ("The data used in this project was obtained from mocap.cs.cmu.edu. "
       "The database was created with funding from NSF EIA-0196217.")


def _device(name: Optional[str]) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def train_motion_cmd(
    bvh_dir: List[Path] = typer.Option([], "--bvh-dir",
                                       help="Folder(s) of BVH clips (CMU schemes), searched recursively."),
    amass_dir: List[Path] = typer.Option([], "--amass-dir", help="Folder(s) of AMASS-style SMPL-X .npz files."),
    out: Path = typer.Option(Path("runs/motion"), "--out", help="Output folder (checkpoints, log)."),
    epochs: int = typer.Option(100, "--epochs", help="C-VAE epochs (primitives, stride 2)."),
    rollout_epochs: int = typer.Option(20, "--rollout-epochs", help="Roll-out fine-tuning epochs (0 = skip)."),
    prior_epochs: int = typer.Option(10, "--prior-epochs",
                                     help="Prior stage epochs: the roll-out loss plus a foot-contact and posture "
                                     "loss on roll-outs with random latents z ~ N(0, I) (docs/motion.md)."),
    prior_weight: float = typer.Option(0.1, "--prior-weight", min=0.0,
                                       help="Weight of that contact + posture loss."),
    prior_primitives: int = typer.Option(8, "--prior-primitives", min=1,
                                         help="Primitives per random roll-out of the prior stage."),
    regressor_epochs: int = typer.Option(100, "--regressor-epochs", help="Marker -> SMPL-X regressor epochs."),
    kl_weight: float = typer.Option(0.01, "--kl-weight",
                                    help="Weight of the robust KL term (EgoGen 1.0 collapses the latent on "
                                    "metre-scale markers; see docs/motion.md)."),
    stages: str = typer.Option("cvae,rollout,prior,regressor", "--stages",
                               help="Comma-separated stages to run: 'regressor' retrains only it; 'rollout' or "
                               "'prior' without 'cvae' fine-tune the cvae.pt already in --out."),
    seed: int = typer.Option(0, "--seed", help="Run seed (same seed, same result on the same machine)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/train_state.pt."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads (1 is fastest for these small nets)."),
) -> None:
    """Train the motion-primitive C-VAE and the marker -> SMPL-X regressor from mocap."""
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from egogen.body import load_body_model
    from egogen.motion.dataset import load_or_build
    from egogen.motion.train import TrainConfig, train_motion

    if not bvh_dir and not amass_dir:
        raise typer.BadParameter("give at least one --bvh-dir or --amass-dir")
    from egogen.motion.train import STAGES

    stage_list = tuple(x.strip() for x in stages.split(",") if x.strip())
    if not stage_list or set(stage_list) - set(STAGES):
        raise typer.BadParameter(f"--stages {stages!r}: choose from {', '.join(STAGES)}")
    torch.set_num_threads(threads)
    dev = _device(device)
    body = load_body_model(num_betas=16)
    t0 = time.time()
    with console.status("building the primitive dataset (cached after the first run) ..") as st:
        ds, cache = load_or_build(bvh_dir, body, amass_dirs=amass_dir,
                                  progress=lambda n: st.update(f"retargeting {n} .."))
    console.print(f"dataset: {len(ds.clips)} clips, {ds.markers.shape[0]} frames at 30 Hz "
                  f"({time.time() - t0:.1f} s; cache {cache}); held out: {', '.join(ds.held_out)}")
    cfg = TrainConfig(seed=seed, cvae_epochs=epochs, rollout_epochs=rollout_epochs,
                      regressor_epochs=regressor_epochs, w_kl=kl_weight,
                      prior_epochs=prior_epochs, prior_weight=prior_weight, prior_primitives=prior_primitives,
                      stages=stage_list)
    meta = {"acknowledgement": ACK, "clips": ds.clips, "body": body.source,
            "data": {"frames": int(ds.markers.shape[0]), "sequences": len(ds.seq_clip), **ds.report}}
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=console) as prog:
        tasks = {}

        def on_epoch(stage, ep, total, metrics):
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=total, info="")
            info = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            prog.update(tasks[stage], completed=ep, info=info)

        try:
            summary = train_motion(ds, body, out, cfg, resume=resume, device=dev, on_epoch=on_epoch, meta=meta)
        except (FileNotFoundError, ValueError) as e:
            console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2)
    written = [f"{out}/{'regressor.pt' if st == 'regressor' else 'cvae.pt'}" for st in stage_list]
    console.print(f"done in {summary['wall_s']:.0f} s -> {', '.join(dict.fromkeys(written))}")
    typer.echo(json.dumps(summary, indent=2))


def _default_mocap() -> Path:
    shared = os.environ.get("EGOGEN_SHARED")
    return (Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared") / "mocap"


def eval_motion_cmd(
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help=CKPT_HELP, show_default=False),
    bvh_dir: List[Path] = typer.Option([], "--bvh-dir", help="Mocap the model was trained on (its held-out "
                                       "clips are evaluated); default: $EGOGEN_SHARED/mocap or ../shared/mocap."),
    amass_dir: List[Path] = typer.Option([], "--amass-dir", help="AMASS folder(s) used in training."),
    primitives: int = typer.Option(20, "--primitives", help="Primitives per random roll-out."),
    seeds: int = typer.Option(32, "--seeds", help="Number of roll-outs (held-out seed frames)."),
    seed: int = typer.Option(0, "--seed", help="Latent sampling seed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    output: Optional[Path] = typer.Option(None, "--output",
                                          help="Write the JSON here (default: CHECKPOINT/eval.json)."),
) -> None:
    """Evaluate the motion model: held-out reconstruction, regressor error, random roll-outs."""
    import torch

    from egogen.body import load_body_model
    from egogen.motion.checkpoint import default_checkpoint_dir, load_motion_models
    from egogen.motion.dataset import load_or_build
    from egogen.motion.evaluate import evaluate_motion

    torch.set_num_threads(1)
    folder = checkpoint or default_checkpoint_dir()
    try:
        models = load_motion_models(folder)
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2)
    body = load_body_model(num_betas=16)
    dirs = bvh_dir or ([] if amass_dir else [_default_mocap()])
    with console.status("loading the primitive dataset .."):
        try:
            ds, _ = load_or_build(dirs, body, amass_dirs=amass_dir)
        except FileNotFoundError as e:
            console.print(f"[red]{e}[/red] (pass --bvh-dir)")
            raise typer.Exit(2)
    trained_ho = models.meta.get("held_out")
    if trained_ho is not None and sorted(trained_ho) != sorted(ds.held_out):
        console.print(f"[yellow]warning: held-out clips differ from training ({trained_ho} vs {ds.held_out})[/yellow]")
    t0 = time.time()
    with console.status("evaluating .."):
        res = evaluate_motion(models, ds, body, num_primitives=primitives, num_seeds=seeds, seed=seed)
    res["eval_wall_s"] = time.time() - t0
    out = output or Path(folder) / "eval.json"
    out.write_text(json.dumps(res, indent=2) + "\n")
    if as_json:
        typer.echo(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            if not isinstance(v, (dict, list)):
                console.print(f"{k:28s} {v:.4g}" if isinstance(v, float) else f"{k:28s} {v}")
        console.print(f"written to {out}")


def show_cmd(
    out: Path = typer.Option(Path("roll.gif"), "--out", help="Output .gif (or .mp4 with ffmpeg)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help=CKPT_HELP, show_default=False),
    seconds: float = typer.Option(10.0, "--seconds", help="Length of the roll-out."),
    seed: int = typer.Option(0, "--seed", help="Latent sampling seed."),
    seed_index: int = typer.Option(0, "--seed-index", help="Which stored held-out seed pair to start from."),
) -> None:
    """Animate a random roll-out (z ~ N(0, I)) of the C-VAE as a stick figure with markers."""
    import torch

    from egogen.motion.checkpoint import load_motion_models
    from egogen.motion.show import random_rollout, save_animation

    torch.set_num_threads(1)
    try:
        models = load_motion_models(checkpoint)
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2)
    markers, joints = random_rollout(models, seconds, seed, seed_index)
    with console.status(f"drawing {len(markers)} frames .."):
        save_animation(markers, joints, out)
    console.print(f"wrote {out} ({len(markers) / 30:.1f} s of motion)")


def register(app: typer.Typer) -> None:
    """Add the motion commands to the root ``egogen`` app."""
    app.command("train-motion")(train_motion_cmd)
    app.command("eval-motion")(eval_motion_cmd)
    motion_app.command("show")(show_cmd)
    app.add_typer(motion_app, name="motion")
