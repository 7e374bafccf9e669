"""``egogen simulate``: people walking through a scene -> egocentric samples in dataset shards."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from egogen.cli.search_options import anticipate_option, personal_space_option, prior_fraction_option, steer_option

console = Console(stderr=True)


def _goals(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected MIN,MAX (two whole numbers such as 1,3), got {text!r}") from None
    if not 0 <= lo <= hi:
        raise typer.BadParameter(f"need 0 <= MIN <= MAX, got {lo},{hi}")
    return lo, hi


def default_out(scene: str) -> Path:
    """``datasets/<scene>``, the scene spec made a safe folder name (``apartment:3`` -> ``apartment_3``)."""
    from egogen.sim.episode import safe_name

    return Path("datasets") / safe_name(scene)


def simulate_cmd(
    scene: str = typer.Option("apartment", "--scene",
                              help="Scene: apartment, apartment:SEED, a folder from `egogen scene prepare`, or a mesh."),
    n: int = typer.Option(1000, "--n", help="Samples to write (one per wearer; an episode gives --agents)."),
    agents: int = typer.Option(3, "--agents", help="People per episode; each one is recorded as a wearer."),
    out: Optional[Path] = typer.Option(None, "--out", help="Dataset folder (default: datasets/<scene>/)."),
    seed: int = typer.Option(0, "--seed", help="Run seed: same seed and options, same bytes."),
    rig: str = typer.Option("aria", "--rig", help="Head-camera rig preset: aria, hololens2, pinhole, or a JSON file."),
    source: str = typer.Option("policy", "--source",
                               help="Motion: policy (the shipped PPO walking policy steering the motion-primitive "
                               "C-VAE; default) or scripted (procedural gait on planned paths; fast, for tests)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="policy.zip (default: the shipped policy)."),
    motion_dir: Optional[Path] = typer.Option(None, "--motion",
                                              help="Motion-model folder, cvae.pt + regressor.pt (default: shipped)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Worker processes (default: the number of CPU cores). "
                                          "The output does not depend on it."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run in --out (same options)."),
    goals: str = typer.Option("1,3", "--goals", help="MIN,MAX goals each person walks to, in a chain."),
    candidates: int = typer.Option(16, "--candidates", min=1,
                                   help="Policy source: latent codes decoded per person and step, the best "
                                   "executed; failing stretches are rewound and re-drawn (1 = the policy's "
                                   "action, no search; faster, far more rejected episodes)."),
    reproject: float = typer.Option(0.5, "--reproject", min=0.0, max=1.0,
                                    help="Policy source: weight of EgoGen's seed re-projection. Each next motion "
                                    "primitive starts from this blend of the markers of the SMPL-X body regressed "
                                    "from the predicted seed frames and the predicted markers (0 = off: long "
                                    "chains drift off a human shape and far more episodes are rejected)."),
    anticipate: float = anticipate_option("Policy source"),
    prior_fraction: float = prior_fraction_option("Policy source"),
    personal_space: float = personal_space_option("Policy source"),
    steer: bool = steer_option(True, "Policy source"),
) -> None:
    """Simulate people walking through a scene and write egocentric samples as dataset shards.

    An episode is K = --agents people walking chains of goals (furniture, rooms) through the
    scene for up to 30 s, avoiding each other, each wearing a head-mounted camera. A sample is
    one wearer of one episode: SMPL-X motion, the camera trajectory and intrinsics, eye gaze,
    the other people, text (instruction, description, captions) and metadata, at 30 Hz.
    The shipped PPO policy picks each person's next motion primitive (a latent code of the
    motion C-VAE); people on course to touch someone are steered (shown a waypoint that gives
    way: --steer); a test-time search tries --candidates codes per step, looks 1 s ahead for
    people on course to touch (they wait or step aside: --anticipate, --prior-fraction) and
    rewinds stretches that would fall, collide or enter furniture. Episodes failing the
    quality gate (goal not reached, fall, penetration, collisions) are re-drawn and counted.

    Output: OUT/shard-NNNNNN.tar (WebDataset tars) and OUT/index.json (sha256, counts, the run
    options and the checkpoints' hashes). Check it with `egogen validate OUT`, look at an
    episode with `egogen view OUT --episode 0`. --resume continues a killed run without
    duplicating or losing samples.

    Example: egogen simulate --scene apartment:3 --n 300 --agents 3 --out datasets/apt3
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from egogen.data.shards import ShardError
    from egogen.sim.simulate import SOURCES, SimulateConfig, simulate

    if source not in SOURCES:
        console.print(f"[red]error:[/red] unknown --source {source!r}; use one of: {', '.join(SOURCES)}")
        raise typer.Exit(2)
    out = out or default_out(scene)
    cfg = SimulateConfig(scene=scene, n=n, agents=agents, seed=seed, rig=rig, source=source,
                         policy=str(policy) if policy else None, motion=str(motion_dir) if motion_dir else None,
                         goals=_goals(goals), candidates=candidates, reproject=reproject,
                         anticipate=anticipate, prior_fraction=prior_fraction, personal_space=personal_space,
                         steer=steer)
    workers = workers or os.cpu_count() or 1
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("simulate", total=n, rate="")
        state = {}

        def report(done: int, total: int) -> None:
            if not state:  # the first call: what an earlier run had written (resume)
                state.update(t0=time.time(), first=done)
                bar.reset(task, total=total, completed=done, rate="")
                return
            rate = (done - state["first"]) / max(time.time() - state["t0"], 1e-9)
            bar.update(task, completed=done, rate=f"{rate:.2f}/s")

        try:
            rep = simulate(cfg, out, workers=workers, resume=resume, progress=report)
        except (ShardError, FileNotFoundError, ValueError, RuntimeError) as e:
            bar.stop()
            console.print(f"[red]error:[/red] {e}")
            # every attempt of an episode failed the quality gate: 1; bad input or folder: 2
            raise typer.Exit(1 if type(e) is RuntimeError else 2)
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(rep["rejected"].items())) or "none"
    console.print(f"samples {rep['samples']} ({rep['generated']} new) in {rep['episodes']} episodes; "
                  f"rejected attempts: {rejected}")
    console.print(f"wall time {rep['wall_s']:.1f} s, {rep['samples_per_s']:.2f} samples/s")
    console.print(f"wrote {out}  (check it: egogen validate {out})")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the root app."""
    app.command("simulate")(simulate_cmd)
