"""PPO training of the walking policy with stable-baselines3, over a curriculum.

Curriculum (EgoGen trains on random box floors, then a room): open floor -> floors with
boxes -> the apartment -> crowds in the apartment. Each stage is a :class:`WalkEnv`
configuration; the same PPO model moves from stage to stage (observation and action spaces
do not change). PPO hyperparameters follow EgoGen (clip 0.1, value coefficient 1.0,
entropy 0.01, target KL 0.02, gamma 0.99, GAE 0.95) with SB3's Adam.

Outputs in ``out``: ``policy.zip`` (SB3 PPO), ``progress.csv`` (SB3 logger plus the mean of
every reward term, success rate and episode length per rollout), ``state.json`` (stage and
timesteps, for ``resume``), ``config.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from egogen.sim.env import EnvConfig, WalkEnv, standing_markers


@dataclass
class Stage:
    """One curriculum stage: scenes, crowd size and its share of the training steps."""

    name: str
    scenes: tuple[str, ...]
    agents_per_scene: int = 1
    fraction: float = 0.25


DEFAULT_CURRICULUM = (
    Stage("open floor", ("floor",), 1, 0.2),
    Stage("boxes", tuple(f"floor:{i}" for i in range(8)), 1, 0.3),
    Stage("apartment", tuple(f"apartment:{i}" for i in range(1, 5)), 1, 0.3),
    Stage("crowds", tuple(f"apartment:{i}" for i in range(1, 5)), 4, 0.2),
)
"""The default curriculum. Apartment seed 0 is held out of training for evaluation."""


@dataclass
class TrainConfig:
    """Options of :func:`train_policy`."""

    total_steps: int = 200_000
    num_agents: int = 64
    n_steps: int = 32
    batch_size: int = 512
    n_epochs: int = 5
    learning_rate: float = 3e-4
    seed: int = 0
    checkpoint_every: int = 20_000
    net_arch: tuple[int, ...] = (256, 256)
    curriculum: tuple[Stage, ...] = DEFAULT_CURRICULUM
    env: EnvConfig = field(default_factory=EnvConfig)


def parse_weights(items: Sequence[str], base: Optional[dict] = None) -> dict:
    """Reward weights from ``NAME=VALUE`` items (``--weight collide=3``) over ``base``
    (default :data:`~egogen.sim.rewards.DEFAULT_WEIGHTS`).

    Raises:
        ValueError: an item is not ``NAME=NUMBER`` or names no reward term; the message lists them.
    """
    from egogen.sim.rewards import DEFAULT_WEIGHTS

    out = dict(DEFAULT_WEIGHTS if base is None else base)
    for item in items:
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in DEFAULT_WEIGHTS:
            raise ValueError(f"{item!r}: no reward term {name!r}; the terms are {', '.join(DEFAULT_WEIGHTS)}")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: give a weight as NAME=NUMBER, e.g. collide=3") from None
    return out


def _csv_logger(out: Path, keep: bool):
    """SB3 logger writing ``out/progress.csv``; with ``keep`` (resume) the rows already there
    stay (SB3 opens the file with "w+", which would drop the log of the run so far)."""
    from stable_baselines3.common.logger import CSVOutputFormat, Logger

    path = out / "progress.csv"
    old = path.read_text() if keep and path.is_file() else ""
    fmt = CSVOutputFormat(str(path))
    if old.strip():
        fmt.file.write(old if old.endswith("\n") else old + "\n")
        fmt.file.flush()
        fmt.keys = old.splitlines()[0].split(fmt.separator)  # new columns extend this header
    return Logger(folder=str(out), output_formats=[fmt])


def _stage_env(cfg: TrainConfig, stage: Stage, motion, seed_pose, names, stage_index: int, body=None) -> WalkEnv:
    env_cfg = replace(cfg.env, scenes=stage.scenes, num_agents=cfg.num_agents,
                      agents_per_scene=stage.agents_per_scene, seed=cfg.seed * 1000 + stage_index)
    return WalkEnv(env_cfg, motion, seed_pose, names, body=body)


def _callback(log_every: int):
    from stable_baselines3.common.callbacks import BaseCallback

    class TermLogger(BaseCallback):
        """Logs the mean of every reward term, success rate and episode length per rollout."""

        def _on_rollout_start(self) -> None:
            self.sums, self.n, self.succ, self.ep = {}, 0, [], []

        def _on_step(self) -> bool:
            for info, done in zip(self.locals["infos"], self.locals["dones"]):
                for k, v in info["terms"].items():
                    self.sums[k] = self.sums.get(k, 0.0) + v
                self.n += 1
                if done:
                    self.succ.append(info["is_success"])
            return True

        def _on_rollout_end(self) -> None:
            for k, v in self.sums.items():
                self.logger.record(f"terms/{k}", v / max(self.n, 1))
            if self.succ:
                self.logger.record("episode/success_rate", float(np.mean(self.succ)))

    return TermLogger()


def train_policy(out: Path, motion, body, cfg: TrainConfig = TrainConfig(), resume: bool = False,
                 progress: Optional[Callable[[int, int, str], None]] = None) -> dict:
    """Train (or resume training) the walking policy.

    Args:
        out: run folder (created).
        motion: motion models (:func:`egogen.motion.checkpoint.load_motion_models`).
        body: the body model (markers of the seed pose).
        cfg: options; to resume, pass the options of the interrupted run (a larger
            ``total_steps`` extends it; a finished run so extended trains the extra steps in
            its last stage, e.g. fine-tuning the crowds stage).
        resume: continue from ``out/state.json`` and ``out/policy.zip``.
        progress: optional ``progress(done_steps, total_steps, stage_name)`` callback.
    Returns:
        The final ``state.json`` content (stage, timesteps, wall time).
    Raises:
        FileNotFoundError: ``resume`` without a previous run in ``out``.
        ValueError: ``resume`` with options that change the observation (e.g. ``env.social``).
    """
    from stable_baselines3 import PPO

    torch.set_num_threads(1)  # small networks: one thread is ~5x faster than two here
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {"stage": 0, "timesteps": 0, "wall_s": 0.0}
    if resume:
        if not (out / "state.json").is_file() or not (out / "policy.zip").is_file():
            raise FileNotFoundError(f"nothing to resume in {out}: no state.json / policy.zip")
        state = json.loads((out / "state.json").read_text())
        if state["stage"] >= len(cfg.curriculum) and state["timesteps"] < cfg.total_steps:
            state["stage"] = len(cfg.curriculum) - 1  # a finished run extended: more of its last stage
    seed_pose, names = standing_markers(body), body.markers.names
    budgets = np.round(np.cumsum([s.fraction for s in cfg.curriculum]) / sum(s.fraction for s in cfg.curriculum)
                       * cfg.total_steps).astype(int)
    logger = _csv_logger(out, keep=resume)
    model = None
    t0 = time.time() - state["wall_s"]
    for si in range(state["stage"], len(cfg.curriculum)):
        stage = cfg.curriculum[si]
        env = _stage_env(cfg, stage, motion, seed_pose, names, si, body)
        if model is None:
            if resume:
                try:
                    model = PPO.load(out / "policy.zip", env=env, device="cpu")
                except ValueError as e:  # SB3: observation / action spaces do not match
                    raise ValueError(f"cannot resume {out}: {e}; resume with the options the run was started "
                                     f"with (see {out / 'config.json'}, e.g. env.social for --social)") from e
            else:
                model = PPO("MlpPolicy", env, learning_rate=cfg.learning_rate, n_steps=cfg.n_steps,
                            batch_size=cfg.batch_size, n_epochs=cfg.n_epochs, gamma=0.99, gae_lambda=0.95,
                            clip_range=0.1, ent_coef=0.01, vf_coef=1.0, max_grad_norm=0.5, target_kl=0.02,
                            policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device="cpu")
            model.set_logger(logger)
            (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1, default=str))
        else:
            model.set_env(env)
        while state["timesteps"] < budgets[si]:
            chunk = int(min(cfg.checkpoint_every, budgets[si] - state["timesteps"]))
            model.learn(chunk, reset_num_timesteps=False, callback=_callback(chunk))
            state["timesteps"] = int(model.num_timesteps)
            state["wall_s"] = time.time() - t0
            model.save(out / "policy.zip")
            (out / "state.json").write_text(json.dumps(state))
            if progress:
                progress(state["timesteps"], cfg.total_steps, stage.name)
        state["stage"] = si + 1
        (out / "state.json").write_text(json.dumps(state))
    return state
