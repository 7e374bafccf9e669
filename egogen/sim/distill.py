"""Distil the steering layer into the walking policy (imitation with DAgger).

PPO did not discover yielding (policies/policy/MODEL_CARD.md, "Tried"), and distilling the
test-time search failed: its codes are noisy draws. The steering layer
(:mod:`egogen.sim.steering`) is a deterministic function of what a person can know (its
path, the other people's positions and velocities, the walls), so its effect can be learnt:
the *teacher* is the policy acting on the steered observation, the *student* a policy that
sees the nearest people directly (``EnvConfig.social``, positions and velocities in its body
frame) and the real path, trained to output the teacher's action (mean squared error on the
Gaussian's mean; Ross et al., AISTATS 2011, "DAgger"):

- the student starts as the teacher with zero weights on the new inputs (same actions);
- round 0 collects (student observation, teacher action) pairs with the teacher driving; each
  later round lets the current student drive and labels the states it reaches, so it learns
  to recover from its own mistakes; the student is refitted on all pairs so far.

Only the actor's mean is trained; the value net and the action spread stay the teacher's.
Last, the student's action mean is scaled towards the C-VAE prior's mean (z = 0) by
``action_scale`` (:func:`shrink_actions`; the "truncation trick" of Brock et al., ICLR 2019,
and the reduced temperature of Kingma and Dhariwal, NeurIPS 2018, applied to the policy's
output): codes nearer the prior's mode decode to motion more like the mocap's.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from egogen.sim.env import FPS, EnvConfig, WalkEnv, standing_markers
from egogen.sim.steering import SteeringConfig, pelvis_velocity, steered_observation

__all__ = ["DistillConfig", "collect_pairs", "distill_policy", "fit_actor", "shrink_actions", "widen_policy"]


@dataclass
class DistillConfig:
    """Options of :func:`distill_policy`.

    Attributes:
        scenes: training scenes (apartment seed 0 is held out for evaluation).
        agents_per_scene: people per scene (crowds).
        steps: environment steps (0.43 s primitives of every person at once) collected per round.
        rounds: collection rounds (1 = the teacher drives only; more = DAgger).
        epochs, learning_rate, batch_size: the actor's regression (Adam).
        social: nearest people the student observes directly.
        seed: environment and shuffling seed.
        action_scale: the final student's action mean is multiplied by this
            (:func:`shrink_actions`; 1 = off). 0.8 with the shipped policy, evaluated alone
            (seeds 0-3): contact 0.931 -> 0.951, penetration frames 3.4 -> 2.8 %, success
            98.5 -> 97.6 %, collisions 0.30 -> 0.36 per episode (docs/policy.md).
        steering: the steering layer the teacher acts through (without the wall margin, as
            the shipped policy was distilled: with it the student walked into furniture a
            little less and gave way a little less, docs/policy.md).
    """

    scenes: tuple[str, ...] = tuple(f"apartment:{i}" for i in range(1, 5))
    agents_per_scene: int = 4
    steps: int = 2500
    rounds: int = 3
    epochs: int = 30
    learning_rate: float = 3e-4
    batch_size: int = 512
    social: int = 3
    seed: int = 11
    action_scale: float = 0.8
    steering: SteeringConfig = field(default_factory=lambda: SteeringConfig(wall_margin=0.0))


def widen_policy(teacher, env: WalkEnv):
    """A copy of the SB3 PPO ``teacher`` for ``env``'s observation, which extends the
    teacher's by new inputs at the end (e.g. the social features): their first-layer weights
    are zero, so the copy acts exactly as the teacher.

    Raises:
        ValueError: the teacher's observation is not a prefix of ``env``'s (larger, or a
            different action size).
    """
    from stable_baselines3 import PPO

    old_dim, new_dim = teacher.observation_space.shape[0], env.observation_space.shape[0]
    if old_dim > new_dim or teacher.action_space.shape != env.action_space.shape:
        raise ValueError(f"the teacher takes {old_dim} inputs and {teacher.action_space.shape} actions; the "
                         f"environment gives {new_dim} and {env.action_space.shape}: widen only by adding inputs")
    arch = teacher.policy.net_arch
    student = PPO("MlpPolicy", env, learning_rate=teacher.learning_rate, n_steps=teacher.n_steps,
                  batch_size=teacher.batch_size, n_epochs=teacher.n_epochs, gamma=teacher.gamma,
                  gae_lambda=teacher.gae_lambda, ent_coef=teacher.ent_coef, vf_coef=teacher.vf_coef,
                  clip_range=teacher.clip_range, max_grad_norm=teacher.max_grad_norm, target_kl=teacher.target_kl,
                  policy_kwargs={"net_arch": arch}, seed=0, device="cpu")
    src, dst = teacher.policy.state_dict(), student.policy.state_dict()
    with torch.no_grad():
        for k, v in dst.items():
            w = src[k]
            if w.shape != v.shape:  # a first layer: the new input columns stay zero
                v.zero_()
                v[:, :w.shape[1]] = w
            else:
                v.copy_(w)
    student.policy.load_state_dict(dst)
    student.num_timesteps = teacher.num_timesteps
    return student


def _check_action_scale(factor: float) -> None:
    if not np.isfinite(factor) or factor <= 0:
        raise ValueError(f"action_scale must be a positive number (1 = unchanged), got {factor}")


def shrink_actions(model, factor: float):
    """Scale an SB3 PPO Gaussian policy's action mean by ``factor``, in place: the last
    (linear) layer's weights and bias, so ``predict(obs, deterministic=True)`` returns
    ``factor`` times what it did (the action spread is unchanged).

    The actions are C-VAE latent codes whose prior is N(0, I); ``factor`` < 1 moves them
    towards its mode (the truncation trick of Brock et al., ICLR 2019).

    Args:
        model: stable-baselines3 PPO (``model.policy.action_net`` a ``torch.nn.Linear``); its
            deterministic action for (B, obs_dim) float32 observations is (B, latent) float32
            (the C-VAE's 32-D latent code, unitless).
        factor: scale, in (0, 1] in practice.
    Returns:
        ``model``.
    Raises:
        ValueError: ``factor`` not finite or not positive.
    """
    _check_action_scale(factor)
    with torch.no_grad():
        model.policy.action_net.weight.mul_(factor)
        model.policy.action_net.bias.mul_(factor)
    return model


def collect_pairs(teacher, env: WalkEnv, steps: int, steering: SteeringConfig, driver=None,
                  progress: Optional[Callable[[int], None]] = None) -> dict[str, np.ndarray]:
    """Run ``env`` (auto-reset) for ``steps`` steps and record what the teacher would do.

    Args:
        teacher: SB3 policy taking the first ``teacher.observation_space`` inputs of the
            environment's observation; it acts on the steered observation.
        env: the student's environment (its observation may extend the teacher's).
        steps: environment steps.
        steering: the steering layer.
        driver: the policy whose actions are executed (on the full observation), or None
            for the teacher's.
        progress: optional callback after each step (its number).
    Returns:
        ``obs`` (steps N, obs_dim) float32 real (unsteered) observations, ``actions`` (steps N,
        latent) float32 teacher actions (deterministic), ``steered`` (steps N,) bool.
    """
    dim = teacher.observation_space.shape[0]
    obs = env.reset()
    velocity = np.zeros((env.num_envs, 2))
    out: dict[str, list] = {"obs": [], "actions": [], "steered": []}
    for t in range(steps):
        shown, steered = steered_observation(env, velocity, steering, obs=obs)
        label = np.asarray(teacher.predict(shown[:, :dim], deterministic=True)[0], np.float32)
        out["obs"].append(obs.copy())
        out["actions"].append(label)
        out["steered"].append(steered)
        act = label if driver is None else driver.predict(obs, deterministic=True)[0]
        obs, _, done, _ = env.step(act)
        velocity = pelvis_velocity(env.last_markers, env.g, FPS)
        velocity[done] = 0.0  # a new episode starts standing
        if progress:
            progress(t + 1)
    return {k: np.concatenate(v) for k, v in out.items()}


def fit_actor(student, obs: np.ndarray, actions: np.ndarray, epochs: int, learning_rate: float,
              batch_size: int = 512, seed: int = 0) -> dict[str, float]:
    """Regress the student's action mean on ``actions`` (mean squared error, Adam); only the
    actor (policy net and action head) is trained.

    Args:
        student: SB3 PPO with a Gaussian policy.
        obs: (M, obs_dim) float32 observations; actions: (M, latent) float32 targets.
        epochs, learning_rate, batch_size: optimiser settings.
        seed: shuffling and the 10 % validation split.
    Returns:
        ``val_mse_before`` and ``val_mse_after`` on the held-out 10 %, ``train_pairs``.
    Raises:
        ValueError: fewer than 10 pairs, or obs / actions of different lengths.
    """
    if len(obs) != len(actions) or len(obs) < 10:
        raise ValueError(f"need >= 10 (observation, action) pairs of equal count, got {len(obs)} and {len(actions)}")
    pol = student.policy
    O, Z = torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(actions, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(O), generator=g)
    nv = max(1, len(O) // 10)
    val, tr = perm[:nv], perm[nv:]

    def mean(o):
        f = pol.extract_features(o, pol.pi_features_extractor)
        return pol.action_net(pol.mlp_extractor.forward_actor(f))

    params = list(pol.mlp_extractor.policy_net.parameters()) + list(pol.action_net.parameters())
    opt = torch.optim.Adam(params, lr=learning_rate)
    with torch.no_grad():
        before = float(torch.mean((mean(O[val]) - Z[val]) ** 2))
    for _ in range(epochs):
        p = tr[torch.randperm(len(tr), generator=g)]
        for i in range(0, len(p), batch_size):
            b = p[i:i + batch_size]
            loss = torch.mean((mean(O[b]) - Z[b]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        after = float(torch.mean((mean(O[val]) - Z[val]) ** 2))
    return {"val_mse_before": before, "val_mse_after": after, "train_pairs": int(len(tr))}


def distill_policy(out: Path, teacher, motion, body, cfg: DistillConfig = DistillConfig(),
                   progress: Optional[Callable[[int, int, int], None]] = None) -> dict:
    """Distil ``teacher`` + steering into a student that observes the nearest people.

    Args:
        out: run folder (created): ``policy.zip`` (the student, SB3 PPO) and
            ``distill.json`` (options, per-round figures, wall time).
        teacher: SB3 PPO walking policy (e.g. the shipped one).
        motion, body: motion models and body model.
        cfg: options.
        progress: optional ``progress(round, step, steps)`` callback.
    Returns:
        The ``distill.json`` content.
    Raises:
        ValueError: ``cfg.social`` < 1 (the student would see no one), ``cfg.action_scale``
            not positive, or a teacher whose observation is not a prefix of the student's.
    """
    torch.set_num_threads(1)  # small networks: one thread is fastest here
    if cfg.social < 1:
        raise ValueError("distilling the steering needs a student that sees the people: social >= 1")
    _check_action_scale(cfg.action_scale)  # before the rounds, not after minutes of collecting
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    k = cfg.agents_per_scene
    env_cfg = EnvConfig(scenes=tuple(cfg.scenes), num_agents=k * len(cfg.scenes), agents_per_scene=k,
                        social=cfg.social, seed=cfg.seed)
    t0 = time.time()
    pairs: dict[str, list] = {"obs": [], "actions": []}
    rounds, student = [], None
    for r in range(cfg.rounds):
        env = WalkEnv(replace(env_cfg, seed=cfg.seed * 100 + r), motion, standing_markers(body),
                      body.markers.names, body=body)
        data = collect_pairs(teacher, env, cfg.steps, cfg.steering, driver=student,
                             progress=(lambda s, r=r: progress(r, s, cfg.steps)) if progress else None)
        for key in pairs:
            pairs[key].append(data[key])
        student = widen_policy(teacher, env)  # refit from the teacher on everything so far
        fit = fit_actor(student, np.concatenate(pairs["obs"]), np.concatenate(pairs["actions"]), cfg.epochs,
                        cfg.learning_rate, cfg.batch_size, seed=cfg.seed + r)
        rounds.append({"round": r, "driver": "teacher" if r == 0 else "student",
                       "steered_fraction": float(data["steered"].mean()), **fit})
        if r < cfg.rounds - 1:
            student.save(out / "policy.zip")  # an interrupted run keeps its last round
    shrink_actions(student, cfg.action_scale)
    student.save(out / "policy.zip")
    report = {"config": asdict(cfg), "rounds": rounds, "wall_s": time.time() - t0}
    (out / "distill.json").write_text(json.dumps(report, indent=1, default=str))
    return report
