"""Pictures of the walking policy (``egogen eval --video``): K people released together in a
scene, each walking its planned path to its goal, animated top-down over the floor plan
(walls, labelled furniture) with the people's stick figures, trails and goals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from egogen.sim.env import FPS, EnvConfig, WalkEnv, match_policy, standing_markers
from egogen.sim.rewards import pelvis_xy
from egogen.sim.steering import pelvis_velocity, steered_observation

__all__ = ["record_crowd", "save_crowd_video"]


def record_crowd(policy, motion, body, scene: str, agents: int = 4, seed: int = 0,
                 max_steps: int = 40, cfg: EnvConfig | None = None, steering=None) -> dict:
    """Release ``agents`` people together and record them until all reach their goals.

    A person who reaches its goal (or falls) stops there (its last frame is held) while the
    others walk on; recording ends when everybody is done or after ``max_steps`` primitives.

    Args:
        policy: object with ``predict(obs, deterministic=True) -> (actions, state)``.
        motion, body: motion models and body model.
        scene: scene spec (``apartment:0``).
        agents: people sharing the scene.
        seed: task seed (starts and goals as :class:`WalkEnv` draws them).
        max_steps: primitives (13 frames, 0.43 s each) at most.
        cfg: environment options (scene, agents, seed and resets are set here).
        steering: a :class:`~egogen.sim.steering.SteeringConfig` to steer the people as
            ``egogen simulate`` does (:mod:`egogen.sim.steering`), or None.
    Returns:
        dict: ``markers`` (K, T, 67, 3) world markers (metres, 30 Hz), ``joints``
        (K, T, 22, 3), ``goals`` (K, 2), ``success`` (K,) bool, ``scene`` (spec),
        ``marker_names`` (the 67 SSM2 names), ``steered`` (bool).
    """
    import torch

    cfg = match_policy(replace(cfg or EnvConfig(), scenes=(scene,), num_agents=agents, agents_per_scene=agents,
                               seed=seed, auto_reset=False, max_steps=max_steps), policy)
    env = WalkEnv(cfg, motion, standing_markers(body), body.markers.names, body=body)
    obs = env.reset()
    tracks = [[env.seed_m[i]] for i in range(agents)]
    active = np.ones(agents, bool)
    success = np.zeros(agents, bool)
    goals = env.goal.copy()
    velocity = np.zeros((agents, 2))  # m/s over the last primitive, 0 for people who are done
    for _ in range(max_steps):
        if steering is not None:
            obs, _ = steered_observation(env, velocity, steering, active, obs=obs)
        actions, _ = policy.predict(obs, deterministic=True)
        obs, _, done, infos = env.step(actions)
        velocity = np.where(active[:, None], pelvis_velocity(env.last_markers, env.g, FPS), 0.0)
        for i in range(agents):
            tracks[i].append(env.last_markers[i] if active[i] else np.repeat(tracks[i][-1][-1:], 13, 0))
        for i in np.flatnonzero(done & active):
            active[i] = False
            success[i] = infos[i]["is_success"]
        if not active.any():
            break
    markers = np.stack([np.concatenate(t) for t in tracks]).astype(np.float32)
    with torch.no_grad():
        joints = motion.marker_joints(torch.as_tensor(markers.reshape(-1, *markers.shape[2:]))).numpy()
    return {"markers": markers, "joints": joints.reshape(agents, markers.shape[1], -1, 3), "goals": goals,
            "success": success, "scene": scene, "marker_names": list(body.markers.names),
            "steered": steering is not None}


def save_crowd_video(ps, rec: dict, out: str | Path, fps: float = 30.0, step: int = 3) -> Path:
    """Animate :func:`record_crowd`'s output top-down over the scene's floor plan.

    Args:
        ps: the :class:`~egogen.scene.PreparedScene` the crowd walked in.
        rec: the recording.
        out: ``.gif`` (Pillow) or ``.mp4`` (ffmpeg).
        fps: frame rate of the recording; step: draw every ``step``-th frame.
    Returns:
        ``out`` as a Path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

    from egogen.body.skeleton import PARENTS
    from egogen.scene.show import draw_floor_plan, map_figure
    from egogen.sim.rewards import MarkerGroups

    out = Path(out)
    m, J, goals = rec["markers"], rec["joints"], rec["goals"]
    K, T = m.shape[:2]
    pel = pelvis_xy(m, MarkerGroups.from_names(rec["marker_names"]))  # (K, T, 2)
    fig, ax = map_figure(ps, width_in=7.0, extra_height_in=0.5)
    draw_floor_plan(ax, ps, muted=True)
    colours = plt.get_cmap("tab10")(np.arange(K) % 10)
    for k in range(K):
        ax.plot(*goals[k], marker="*", ms=14, color=colours[k], mec="k", zorder=5)
    trails = [ax.plot([], [], color=colours[k], lw=1.5, zorder=4)[0] for k in range(K)]
    bones = [[ax.plot([], [], color=colours[k], lw=1.2, zorder=6)[0] for c in range(22) if PARENTS[c] >= 0]
             for k in range(K)]
    title = ax.set_title("")
    idx = list(range(0, T, step))

    def draw(n):
        t = idx[n]
        for k in range(K):
            trails[k].set_data(pel[k, :t + 1, 0], pel[k, :t + 1, 1])
            b = 0
            for c in range(22):
                p = PARENTS[c]
                if p >= 0:
                    bones[k][b].set_data([J[k, t, p, 0], J[k, t, c, 0]], [J[k, t, p, 1], J[k, t, c, 1]])
                    b += 1
        reached = int(rec["success"].sum())
        title.set_text(f"egogen policy{' + steering' if rec.get('steered') else ''}, {rec['scene']}: {K} people, "
                       f"t = {t / fps:4.1f} s "
                       f"({reached}/{K} reach their goals)")
        return []

    anim = FuncAnimation(fig, draw, frames=len(idx), blit=False)
    writer = FFMpegWriter(fps=fps / step) if out.suffix == ".mp4" else PillowWriter(fps=fps / step)
    out.parent.mkdir(parents=True, exist_ok=True)
    anim.save(out, writer=writer, dpi=80)
    plt.close(fig)
    return out
