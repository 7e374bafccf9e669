"""``egogen train-policy``, ``egogen distill-policy`` and ``egogen eval``: the ego-sensing walking policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from egogen.cli.search_options import anticipate_option, personal_space_option, prior_fraction_option, steer_option
from egogen.resources import default_policy_path

console = Console(stderr=True)


def _models(motion_dir: Optional[Path]):
    from egogen.body import load_body_model
    from egogen.motion.checkpoint import load_motion_models

    try:
        motion = load_motion_models(motion_dir)
        # the body the marker regressor was trained for (the seed re-projection poses it)
        nb = motion.regressor.cfg.num_betas if motion.regressor is not None else 10
        return motion, load_body_model(num_betas=nb)
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)


def train_policy_cmd(
    out: Path = typer.Option(Path("runs/policy"), "--out", help="Run folder: policy.zip, progress.csv, state.json."),
    scene: Optional[str] = typer.Option(None, "--scene", help="Train on this scene only (skips the curriculum)."),
    agents: int = typer.Option(64, "--agents", help="Agents stepped together in one batch."),
    crowd: int = typer.Option(1, "--crowd", help="With --scene: people sharing each scene instance."),
    steps: int = typer.Option(200_000, "--steps", help="Total environment steps (one step = one 0.43 s primitive)."),
    fractions: Optional[str] = typer.Option(None, "--stage-fractions",
                                            help="Shares of --steps for the curriculum stages open floor, "
                                            "boxes, apartment, crowds (default 0.2,0.3,0.3,0.2)."),
    seed: int = typer.Option(0, "--seed", help="Run seed (same seed, same policy)."),
    social: int = typer.Option(0, "--social", min=0,
                               help="Nearest other people whose positions and velocities the policy observes "
                               "(0: it sees people only in its depth grid)."),
    personal_space: float = typer.Option(0.0, "--personal-space", min=0.0,
                                         help="Metres of gap the crowding reward asks for between two people's "
                                         "0.25 m body discs (0: only contact is penalised)."),
    end_on_collision: bool = typer.Option(False, "--end-on-collision",
                                          help="End an episode (no goal bonus) when the person bumps into "
                                          "another one."),
    weight: Optional[list[str]] = typer.Option(None, "--weight", metavar="TERM=W",
                                               help="Reward weight, repeatable, e.g. --weight collide=3 --weight "
                                               "skate=1 (a name that is no reward term is an error that lists "
                                               "them; docs/policy.md)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    motion_dir: Optional[Path] = typer.Option(None, "--motion", help="Motion-model folder (default: shipped)."),
) -> None:
    """Train the walking policy with PPO: open floor -> boxes -> apartment -> crowds.

    Logs every reward term to OUT/progress.csv and checkpoints to OUT/policy.zip; --resume
    continues a stopped run. Uses one torch thread (fastest for these small networks).
    """
    from dataclasses import replace

    from egogen.sim.train import Stage, TrainConfig, parse_weights, train_policy

    cfg = TrainConfig(total_steps=steps, num_agents=agents, seed=seed)
    try:
        weights = parse_weights(weight or [], cfg.env.weights)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--weight")
    cfg.env = replace(cfg.env, social=social, personal_space=personal_space, terminate_on_collision=end_on_collision,
                      weights=weights)
    if scene:
        cfg.curriculum = (Stage(scene, (scene,), crowd, 1.0),)
    elif fractions:
        try:
            f = [float(x) for x in fractions.split(",")]
        except ValueError:
            f = []
        if len(f) != len(cfg.curriculum) or min(f) < 0 or sum(f) <= 0:
            raise typer.BadParameter(f"--stage-fractions needs {len(cfg.curriculum)} non-negative numbers, "
                                     "e.g. 0.2,0.3,0.3,0.2")
        cfg.curriculum = tuple(replace(st, fraction=x) for st, x in zip(cfg.curriculum, f))
    motion, body = _models(motion_dir)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("training", total=steps)

        def report(done, total, stage):
            bar.update(task, completed=done, description=f"training [{stage}]")

        try:
            state = train_policy(out, motion, body, cfg, resume=resume, progress=report)
        except (FileNotFoundError, ValueError) as e:
            console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2)
    console.print(f"done: {state['timesteps']} steps in {state['wall_s'] / 60:.1f} min -> {out / 'policy.zip'}")


def eval_cmd(
    scene: str = typer.Option("apartment", "--scene", help="Scene spec (apartment, apartment:SEED, floor, a file)."),
    episodes: int = typer.Option(200, "--episodes", help="Episodes to evaluate (over all agents)."),
    agents: int = typer.Option(1, "--agents", help="People sharing the scene (crowd size)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="policy.zip (default: the shipped policy)."),
    seed: int = typer.Option(0, "--seed", help="Evaluation seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON on stdout."),
    motion_dir: Optional[Path] = typer.Option(None, "--motion", help="Motion-model folder (default: shipped)."),
    video: Optional[Path] = typer.Option(None, "--video", help="Also animate one crowd of --agents people "
                                         "(at least 2) walking to their goals, top-down: .gif or .mp4 (with "
                                         "--steer steered; the search is not shown)."),
    reproject: float = typer.Option(0.5, "--reproject", min=0.0, max=1.0,
                                    help="Weight of EgoGen's seed re-projection: each next primitive starts from "
                                    "this blend of the markers of the SMPL-X body regressed from the predicted "
                                    "seed frames and the predicted markers (0 = off)."),
    candidates: int = typer.Option(1, "--candidates", min=1,
                                   help="1 = the policy's own action; N > 1 = the test-time search that "
                                   "`egogen simulate` runs (16 there): the best of N latent codes drawn around the "
                                   "policy's action, one step ahead (no rewinds, no quality gate)."),
    spread: float = typer.Option(1.5, "--spread", min=0.0,
                                 help="The search's codes: the policy's mean + spread x its std x N(0, I)."),
    anticipate: float = anticipate_option("With --candidates > 1"),
    prior_fraction: float = prior_fraction_option("With --candidates > 1"),
    personal_space: float = personal_space_option("With --candidates > 1 (the metrics do not use it)"),
    steer: bool = steer_option(False, "Off by default (the policy alone; `egogen simulate` steers)"),
) -> None:
    """Evaluate a walking policy with DIMOS's metrics (success, contact, loco-pene ...).

    Success: final pelvis within 0.2 m (xy) of the goal; contact, loco-pene, penetration,
    agent collisions, foot skating and path efficiency follow DIMOS at 30 Hz (docs/policy.md).
    """
    from stable_baselines3 import PPO

    from egogen.sim.env import EnvConfig
    from egogen.sim.evaluate import evaluate_policy
    from egogen.sim.steering import SteeringConfig

    path = policy or default_policy_path()
    if not path.is_file():
        console.print(f"[red]error:[/red] no policy at {path}; train one with `egogen train-policy --out DIR` "
                      "and pass --policy DIR/policy.zip")
        raise typer.Exit(2)
    motion, body = _models(motion_dir)
    model = PPO.load(path, device="cpu")
    with Progress(TextColumn("evaluating"), BarColumn(), TextColumn("{task.completed}/{task.total} episodes"),
                  console=console) as bar:
        task = bar.add_task("eval", total=episodes)
        out = evaluate_policy(model, motion, body, scene, episodes, agents,
                              cfg=EnvConfig(reproject=reproject, personal_space=personal_space),
                              seed=seed, progress=lambda d, t: bar.update(task, completed=d),
                              candidates=candidates, spread=spread, prior_fraction=prior_fraction,
                              anticipate=anticipate, steering=SteeringConfig() if steer else None)
    report = {k: out[k] for k in ("scene", "agents", "episodes", "search", "steering")} | {"metrics": out["metrics"]}
    if video:
        from egogen.scene import load_scene
        from egogen.sim.show import record_crowd, save_crowd_video

        with console.status(f"recording {max(agents, 2)} people for {video} .."):
            rec = record_crowd(model, motion, body, scene, max(agents, 2), cfg=EnvConfig(reproject=reproject),
                               seed=seed, steering=SteeringConfig() if steer else None)
            save_crowd_video(load_scene(scene), rec, video)
        console.print(f"wrote {video}")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for k, v in out["metrics"].items():
            console.print(f"{k:>20}  {v:.3f}")


def distill_policy_cmd(
    out: Path = typer.Option(Path("runs/policy-distilled"), "--out", help="Run folder: policy.zip, distill.json."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Teacher policy.zip (default: the shipped policy)."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Collection rounds: 1 = the teacher drives; each "
                               "further round lets the student drive and labels the states it reaches (DAgger)."),
    steps: int = typer.Option(2500, "--steps", min=1, help="Environment steps collected per round (16 people "
                              "in apartments 1-4 at once: 40 000 pairs at 2500)."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Passes over all pairs when refitting the student."),
    social: int = typer.Option(3, "--social", min=1, help="Nearest people whose positions and velocities the "
                               "student observes."),
    seed: int = typer.Option(11, "--seed", help="Seed of the episodes and of the fit."),
    action_scale: float = typer.Option(0.8, "--action-scale", min=0.01, max=1.0,
                                       help="Scale the student's action mean (a latent code) towards the C-VAE "
                                       "prior's mean at the end: smoother steps (better foot contact), less "
                                       "decisive giving way; 1 = off. The shipped policy has been scaled once "
                                       "already: a teacher that was should be distilled with 1."),
    motion_dir: Optional[Path] = typer.Option(None, "--motion", help="Motion-model folder (default: shipped)."),
) -> None:
    """Teach a walking policy to give way: imitate the policy acting through the steering layer.

    The teacher (the shipped policy by default) walks crowds of 4 in apartments 1-4 with the
    steering layer of `egogen simulate` between it and its path; the student observes the
    nearest people directly and learns the teacher's actions without being steered
    (docs/policy.md, "Teaching the policy to give way"). Evaluate the result with
    `egogen eval --agents 4 --policy OUT/policy.zip`.
    """
    from stable_baselines3 import PPO

    from egogen.sim.distill import DistillConfig, distill_policy

    path = policy or default_policy_path()
    if not path.is_file():
        console.print(f"[red]error:[/red] no teacher policy at {path}; pass --policy PATH/policy.zip")
        raise typer.Exit(2)
    motion, body = _models(motion_dir)
    cfg = DistillConfig(steps=steps, rounds=rounds, epochs=epochs, social=social, seed=seed, action_scale=action_scale)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("collecting", total=steps * rounds)

        def report(r, s, total):
            bar.update(task, completed=r * total + s, description=f"round {r + 1}/{rounds}: collecting")

        try:
            rep = distill_policy(out, PPO.load(path, device="cpu"), motion, body, cfg, progress=report)
        except ValueError as e:
            console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2)
    for r in rep["rounds"]:
        console.print(f"round {r['round'] + 1}: {r['steered_fraction']:.0%} of the pairs steered, validation MSE "
                      f"{r['val_mse_before']:.3f} -> {r['val_mse_after']:.3f}")
    console.print(f"done in {rep['wall_s'] / 60:.1f} min -> {out / 'policy.zip'}")


def register(app: typer.Typer) -> None:
    """Add ``train-policy``, ``distill-policy`` and ``eval`` to the root app."""
    app.command("train-policy")(train_policy_cmd)
    app.command("distill-policy")(distill_policy_cmd)
    app.command("eval")(eval_cmd)
