"""Scripted episodes: people walking planned paths with a procedural gait.

A baseline and a test fixture, not the product's motion: that comes from the RL policy
(motion-primitive C-VAE + PPO, :mod:`egogen.sim.policy_episode`). Here each person walks a chain of planned
paths between sampled goals (named furniture or free floor points) at a constant speed with
a sine-curve gait (hips, knees, shoulders, elbows), a pelvis bob, and a head that anticipates
turns of the path (~0.3 s, Grasso et al. 1998, "Eye-head coordination for the steering of
locomotion in humans: an anticipatory synergy", Neurosci. Lett. 253) plus a slow scan. The
output is a valid :class:`~egogen.sim.episode.Episode` that every observer (gaze, text,
shards) can read exactly as it will read policy episodes.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from egogen.body import Y_UP_TO_Z_UP, load_body_model
from egogen.body.skeleton import body_pose_slice
from egogen.rotations import aa_to_mat, mat_to_aa
from egogen.sim.episode import FPS, Episode
from egogen.sim.people import (START_SEPARATION_M, closest_approach, person_track, plan_chain, resolve_scene,
                               sample_betas, smooth, taken_points)

__all__ = ["scripted_episode"]


def _walk(path: np.ndarray, goal_idx: list[int], speed: float, pause_s: float, fps: float):
    """(N, 2) positions along ``path`` at ``speed`` with a pause at each goal; goal arrival frames."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    goal_s = [cum[i] for i in goal_idx]
    s_list, arrive = [], []
    s, step = 0.0, speed / fps
    for gs in goal_s:
        while s < gs:
            s_list.append(s)
            s = min(s + step, gs)
        arrive.append(len(s_list))
        s_list.extend([gs] * max(1, int(round(pause_s * fps))))
    s_arr = np.asarray(s_list if s_list else [0.0])
    xy = np.stack([np.interp(s_arr, cum, path[:, 0]), np.interp(s_arr, cum, path[:, 1])], 1)
    return xy, s_arr, arrive


PASSING_DISTANCE_M = 0.6  # scripted walkers keep their pelvises this far apart (shoulders clear)
MAX_WAIT_S = 8.0


def _wait_for_others(xy: np.ndarray, others: list[np.ndarray], fps: float) -> int:
    """Frames a scripted walker waits at its start so that it never comes closer than
    ``PASSING_DISTANCE_M`` to the people planned before it (who stand still at their last
    point once done): the first of 0, 0.5, ... ``MAX_WAIT_S`` seconds that works, else the one
    that keeps them furthest apart. Scripted walkers do not steer around each other; waiting
    turns most crossings into passings one after the other.

    Args:
        xy: (N, 2) the walker's pelvis track, metres; others: (N_j, 2) tracks of the others.
    """
    if not others:
        return 0
    best, best_d = 0, -1.0
    for wait in range(0, int(MAX_WAIT_S * fps) + 1, max(1, int(round(0.5 * fps)))):
        mine = np.concatenate([np.repeat(xy[:1], wait, 0), xy])
        T = max(len(mine), *(len(o) for o in others))
        d = closest_approach(np.stack([np.concatenate([t, np.repeat(t[-1:], T - len(t), 0)]) for t in [mine, *others]]))
        if d >= PASSING_DISTANCE_M:
            return wait
        if d > best_d:
            best, best_d = wait, d
    return best


def _aa(axis: str, angle: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(angle) + (3,))
    out[..., "xyz".index(axis)] = angle
    return out


def scripted_episode(scene, seed: int, num_people: int = 3, index: int = 0, num_goals: Sequence[int] = (1, 3),
                     duration_s: Optional[float] = None, max_duration_s: float = 30.0, speed: tuple = (1.0, 1.4),
                     rig: str = "aria", body=None, object_goal_p: float = 0.7, with_markers: bool = True,
                     scene_spec: Optional[str] = None) -> Episode:
    """An episode of ``num_people`` people walking chains of planned paths (baseline / fixture).

    Args:
        scene: a :class:`~egogen.scene.PreparedScene`, or a SCENE spec (``"apartment:0"``).
        seed: the episode's seed (same seed, same episode, bit for bit).
        num_people: K people; each walks 1-3 goals (``num_goals`` range, inclusive).
        index: episode index stored in the Episode (used in shard keys).
        duration_s: fixed length in seconds; default: until the slowest person has walked
            its chain (capped at ``max_duration_s``). People who finish early stand still.
        speed: (min, max) walking speed in m/s, drawn per person (~1.2 m/s indoors).
        rig: head-camera rig preset (``render/rigs``) whose mount offset places the camera.
        body: a :class:`~egogen.body.BodyModel` to reuse (default body if None).
        object_goal_p: probability that a goal is a named object rather than a floor point.
        with_markers: compute SSM2 markers (needs the full mesh; slower).
        scene_spec: scene spec stored in the Episode when ``scene`` is a PreparedScene
            (default ``"apartment:<seed>"`` for apartments, else the scene name).
    Returns:
        :class:`Episode` at 30 Hz; world frame Z up; ``meta["generator"] == "scripted"``.
    Raises:
        egogen.scene.NoSolution: the scene has no walkable area to sample in.
    """
    from egogen.render.camera import load_rig

    ps, scene_spec = resolve_scene(scene, scene_spec)
    body = body or load_body_model()
    mount = load_rig(rig).mount_offset_m
    rng = np.random.default_rng(seed)
    fps = FPS
    plans = []
    for k in range(num_people):
        n_goals = int(rng.integers(num_goals[0], num_goals[1] + 1))
        path, goals, goal_idx = plan_chain(ps, rng, n_goals, object_goal_p, min_dist=2.0,
                                           away_from=taken_points(plans), separation=START_SEPARATION_M)
        v = float(rng.uniform(*speed))
        xy, s_arr, arrive = _walk(path, goal_idx, v, float(rng.uniform(0.5, 1.0)), fps)
        wait = _wait_for_others(xy, [q["xy"] for q in plans], fps)
        if wait:
            xy = np.concatenate([np.repeat(xy[:1], wait, 0), xy])
            s_arr = np.concatenate([np.zeros(wait), s_arr])
            arrive = [a + wait for a in arrive]
        betas = sample_betas(rng, body.num_betas)
        plans.append(dict(path=path, goals=goals, xy=xy, s=s_arr, arrive=arrive, speed=v, betas=betas,
                          stride=float(rng.uniform(1.2, 1.45)), phase0=float(rng.uniform(0, 2 * np.pi)),
                          scan=(float(rng.uniform(0.1, 0.3)), float(rng.uniform(0, 2 * np.pi)))))
    T = int(round(duration_s * fps)) if duration_s else min(max(len(p["xy"]) for p in plans),
                                                           int(round(max_duration_s * fps)))
    T = max(T, 2)
    people = []
    for k, p in enumerate(plans):
        xy, s_arr = p["xy"], p["s"]
        if len(xy) < T:  # stand still at the end
            xy = np.concatenate([xy, np.repeat(xy[-1:], T - len(xy), 0)])
            s_arr = np.concatenate([s_arr, np.repeat(s_arr[-1:], T - len(s_arr))])
        xy, s_arr = smooth(xy[:T], 4.0), s_arr[:T]
        vel = np.gradient(xy, axis=0) * fps
        spd = np.linalg.norm(vel, axis=1)
        # heading: direction of travel, held while standing, unwrapped and smoothed
        raw = np.arctan2(vel[:, 1], vel[:, 0])
        moving = spd > 0.05
        if moving.any():
            idx = np.where(moving, np.arange(T), 0)
            np.maximum.accumulate(idx, out=idx)
            first = int(np.argmax(moving))
            idx[:first] = first
            raw = raw[idx]
        heading = np.empty(T)  # turn at most ~2.5 rad/s (a 180 deg turn on the spot takes ~1.3 s)
        heading[0], step = raw[0], 2.5 / fps
        for i in range(1, T):
            d = (raw[i] - heading[i - 1] + np.pi) % (2 * np.pi) - np.pi
            heading[i] = heading[i - 1] + np.clip(d, -step, step)
        heading = smooth(heading, 3.0)
        # head anticipates the heading ~0.3 s ahead (Grasso et al. 1998), plus a slow scan
        lead = int(round(0.3 * fps))
        ahead = np.concatenate([heading[lead:], np.repeat(heading[-1:], lead)])
        t = np.arange(T) / fps
        f_scan, ph = p["scan"]
        head_yaw = np.clip(ahead - heading, -0.7, 0.7) + 0.10 * np.sin(2 * np.pi * f_scan * t + ph)
        head_pitch = 0.26 + 0.03 * np.sin(2 * np.pi * 0.13 * t + ph)  # ~15 deg down while walking
        walk = np.clip(spd / max(p["speed"], 1e-6), 0, 1)  # 1 walking, 0 standing
        phase = p["phase0"] + 2 * np.pi * s_arr / p["stride"]
        bp = np.zeros((T, 63))
        hip = 0.35 * walk * np.sin(phase)
        bp[:, body_pose_slice("left_hip")] = _aa("x", -hip)
        bp[:, body_pose_slice("right_hip")] = _aa("x", hip)
        bp[:, body_pose_slice("left_knee")] = _aa("x", walk * (0.15 + 0.45 * np.maximum(0, np.sin(phase + 1.2))))
        bp[:, body_pose_slice("right_knee")] = _aa("x", walk * (0.15 + 0.45 * np.maximum(0, np.sin(phase + 1.2 + np.pi))))
        arm = 0.30 * walk * np.sin(phase)
        for side, sgn, swing in (("left", -1.0, arm), ("right", 1.0, -arm)):
            R = aa_to_mat(_aa("x", swing)) @ aa_to_mat(_aa("z", np.full(T, sgn * 1.25)))
            bp[:, body_pose_slice(f"{side}_shoulder")] = mat_to_aa(R)
            bp[:, body_pose_slice(f"{side}_elbow")] = _aa("y", np.full(T, sgn * 0.35))
        bp[:, body_pose_slice("spine2")] = _aa("y", -0.08 * walk * np.sin(phase))
        Rn = aa_to_mat(_aa("y", 0.4 * head_yaw)) @ aa_to_mat(_aa("x", 0.4 * head_pitch))
        Rh = aa_to_mat(_aa("y", 0.6 * head_yaw)) @ aa_to_mat(_aa("x", 0.6 * head_pitch))
        bp[:, body_pose_slice("neck")] = mat_to_aa(Rn)
        bp[:, body_pose_slice("head")] = mat_to_aa(Rh)
        # world orientation: yaw about +Z after the Y-up -> Z-up turn; body faces canonical +z
        Rg = aa_to_mat(_aa("z", heading + np.pi / 2)) @ aa_to_mat(np.asarray(Y_UP_TO_Z_UP)[None].repeat(T, 0))
        go = mat_to_aa(Rg)
        p.update(T=T, xy=xy, go=go, bp=bp, walk=walk, phase=phase)
        people.append(p)

    # rest pelvis height per person (sole on the floor), one batched forward
    with torch.no_grad():
        rest = body(betas=torch.as_tensor(np.stack([p["betas"] for p in people])))
    pelvis_h = -rest.vertices[..., 1].min(dim=1).values.numpy().astype(np.float64)

    tracks = []
    for k, p in enumerate(people):
        # knee flexion shortens the leg a little; the bob is twice per stride
        z = pelvis_h[k] - 0.012 * p["walk"] + 0.018 * p["walk"] * np.cos(2 * p["phase"])
        transl = np.concatenate([p["xy"], z[:, None]], 1).astype(np.float32)
        goals = p["goals"]
        for g, fr in zip(goals, p["arrive"]):
            g.reached_frame = int(fr) if fr < T else -1
        tracks.append(person_track(body, k, p["betas"], p["go"], p["bp"], transl, goals, p["path"], mount,
                                   with_markers))
    ep = Episode(scene=scene_spec, index=int(index), seed=int(seed), people=tracks, rig=rig, fps=fps,
                 meta={"generator": "scripted", "body_model": str(body.source)})
    ep.check()
    return ep
