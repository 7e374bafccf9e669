"""Evaluate a walking policy with DIMOS's locomotion metrics (at 30 Hz) and egogen's own.

Episodes run in :class:`~egogen.sim.env.WalkEnv` with the policy's mean action. Per
finished episode (DIMOS, ICCV 2023, Sec. 5; EgoGen's evaluation):

- success: final pelvis within the goal radius (0.2 m) in xy;
- time (s) to the goal, for successes; final distance (m);
- contact: mean over frames of exp(-max(0, min foot speed - 0.075)) *
  exp(-max(0, |min foot height| - 0.05)) (speeds m/s, heights m);
- loco-pene: fraction of frames with both feet on free floor (walkable map);
- penetration: fraction of frames with a non-foot marker inside furniture, and the worst
  depth (cm);
- agent collisions per episode: contact events (pelvises closer than two body radii);
- foot skating (cm/s): mean horizontal speed of the foot markers within 5 cm of the floor
  in both frames of a step;
  contact and skating are :func:`egogen.motion.evaluate.foot_metrics` (one definition for
  the motion model and the policy);
- path efficiency: planned shortest path length / walked pelvis path length.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from egogen.motion.evaluate import foot_metrics
from egogen.sim.env import FPS, EnvConfig, WalkEnv
from egogen.sim.rewards import BODY_RADIUS, FOOT_MARKERS, MarkerGroups, pelvis_xy


def episode_metrics(markers: np.ndarray, g: MarkerGroups, ps, goal: np.ndarray, success: bool,
                    others_xy: np.ndarray | None = None) -> dict:
    """Metrics of one episode.

    Args:
        markers: (T, 67, 3) world markers of the whole episode, 30 Hz, metres.
        g: marker groups.
        ps: the PreparedScene it ran in.
        goal: (2,) goal xy.
        success: whether the episode ended at the goal.
        others_xy: (T, A, 2) other agents' pelvis xy (NaN when absent), or None.
    Returns:
        dict of floats (see module docstring).
    """
    feet = markers[:, g.feet]
    fm = foot_metrics(torch.as_tensor(feet[None]), FOOT_MARKERS, FPS)
    left, right = feet[:, :4, :2].mean(axis=1), feet[:, 4:, :2].mean(axis=1)
    loco = (ps.walkable.is_free(left) & ps.walkable.is_free(right)).mean()
    sdf = ps.sdf(markers[:, g.non_feet].reshape(-1, 3)).reshape(len(markers), -1)
    pel = pelvis_xy(markers, g)
    walked = np.linalg.norm(np.diff(pel, axis=0), axis=-1).sum()
    planned = ps.plan_path(pel[0], goal)
    collisions = 0
    if others_xy is not None and others_xy.shape[1]:
        touching = np.nan_to_num(np.linalg.norm(pel[:, None] - others_xy, axis=-1), nan=np.inf) < 2 * BODY_RADIUS
        touching = touching.any(axis=1)
        collisions = int(touching[0]) + int((touching[1:] & ~touching[:-1]).sum())
    return {
        "success": float(success),
        "time_s": len(markers) / FPS if success else float("nan"),
        "final_distance_m": float(np.linalg.norm(pel[-1] - goal)),
        "contact": fm["contact_score"],
        "loco_pene": float(loco),
        "penetration_frames": float((sdf < 0).any(axis=1).mean()),
        "penetration_max_cm": float(max(0.0, -sdf.min()) * 100),
        "agent_collisions": float(collisions),
        "foot_skating_cm_s": fm["foot_skating_cm_s"],
        "path_efficiency": float(planned.length / walked) if planned.reachable and walked > 1e-6 else float("nan"),
    }


def evaluate_policy(policy, motion, body, scene: str, episodes: int = 200, agents: int = 1,
                    cfg: EnvConfig | None = None, seed: int = 0, progress=None,
                    record: bool = False, candidates: int = 1, spread: float = 1.5,
                    prior_fraction: float = 0.0, anticipate: float = 0.0, steering=None) -> dict:
    """Run ``episodes`` episodes (counted over all agents) and average the metrics.

    Args:
        policy: an object with ``predict(obs, deterministic=True) -> (actions, state)``
            (a stable-baselines3 model).
        motion, body: motion models and body model.
        scene: scene spec.
        episodes: finished episodes to collect.
        agents: people sharing the scene (crowd size).
        cfg: environment options (scene, agent count and seed are set here).
        seed: evaluation seed.
        progress: optional ``progress(done, total)`` callback.
        record: also return every agent's marker trajectory (for pictures).
        candidates, spread, prior_fraction, anticipate: 1 candidate (default) executes the
            policy's mean action; more runs the test-time search of ``egogen simulate``
            (:func:`~egogen.sim.search.search_latents`: the best of ``candidates`` codes drawn
            ``spread`` standard deviations around the policy's action, ``prior_fraction`` of
            them from the C-VAE prior for people on a collision course, scored one step ahead
            with ``anticipate`` weighting predicted collisions; no rewinds, no quality gate),
            seeded by ``seed``.
        steering: a :class:`~egogen.sim.steering.SteeringConfig` to put the steering layer
            between the people and the policy (people on a collision course are shown a
            waypoint that gives way), or None (default: the policy sees its real path).
    Returns:
        dict with ``metrics`` (means over episodes), ``episodes`` (their number),
        ``per_episode`` (per-episode dicts), ``search`` (the search's settings, None without
        one), ``steering`` (its settings, None without) and, with ``record``,
        ``trajectories`` (list of (goal, (T, 67, 3) markers)).
    """
    from egogen.sim.env import match_policy, standing_markers
    from egogen.sim.search import search_latents
    from egogen.sim.steering import pelvis_velocity, steered_observation

    cfg = match_policy(replace(cfg or EnvConfig(), scenes=(scene,), num_agents=agents, agents_per_scene=agents,
                               seed=seed), policy)
    env = WalkEnv(cfg, motion, standing_markers(body), body.markers.names, body=body)
    g, ps = env.g, env.scenes[scene]
    obs = env.reset()
    tracks = [[env.seed_m[i]] for i in range(agents)]
    goals = env.goal.copy()
    others: list[list[np.ndarray]] = [[] for _ in range(agents)]
    results, trajectories = [], []
    search_rng = np.random.default_rng(seed)
    head_height = env.seed_m[:, 0, :, 2].max(axis=-1)  # (N,) standing head height of each person, m
    velocity = np.zeros((agents, 2))  # m/s over each person's last primitive
    while len(results) < episodes:
        if steering is not None:
            obs, _ = steered_observation(env, velocity, steering, obs=obs)
        actions = search_latents(policy, obs, env, search_rng, candidates, spread, head_height=head_height,
                                 prior_fraction=prior_fraction, anticipate=anticipate)
        obs, _, done, infos = env.step(actions)
        new = env.last_markers
        pel = pelvis_xy(new, g)  # (N, 13, 2)
        velocity = pelvis_velocity(new, g, FPS)
        for i in range(agents):
            tracks[i].append(new[i])
            others[i].append(np.delete(pel, i, axis=0).transpose(1, 0, 2))
        for i in np.flatnonzero(done):
            m = np.concatenate(tracks[i])
            oth = np.concatenate([np.full((2, agents - 1, 2), np.nan)] + others[i])
            results.append(episode_metrics(m, g, ps, goals[i], infos[i]["is_success"], oth))
            if record:
                trajectories.append((goals[i].copy(), m))
            tracks[i], others[i] = [env.seed_m[i]], []
            goals[i] = env.goal[i]
            head_height[i] = env.seed_m[i, 0, :, 2].max()
            velocity[i] = 0.0  # a new episode starts standing
            if progress:
                progress(min(len(results), episodes), episodes)
    results = results[:episodes]
    metrics = {k: float(np.nanmean([r[k] for r in results])) if any(np.isfinite(r[k]) for r in results)
               else float("nan") for k in results[0]}
    search = None if candidates == 1 else {"candidates": candidates, "spread": spread, "prior_fraction": prior_fraction,
                                           "anticipate": anticipate, "personal_space": cfg.personal_space}
    out = {"scene": scene, "agents": agents, "episodes": len(results), "search": search,
           "steering": None if steering is None else steering.as_dict(), "metrics": metrics,
           "per_episode": results}
    if record:
        out["trajectories"] = trajectories
    return out
