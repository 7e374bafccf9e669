"""The shipped walking policy (policies/policy) loads and walks to a goal."""

import numpy as np
import torch

from egogen.body import load_body_model
from egogen.motion.checkpoint import load_motion_models
from egogen.sim.env import EnvConfig, WalkEnv, place_markers, standing_markers
from egogen.sim.policy_episode import load_policy
from egogen.sim.rewards import pelvis_xy


def test_shipped_policy_reaches_a_goal_3_m_away_on_open_floor():
    torch.set_num_threads(1)
    body = load_body_model(num_betas=16)
    policy = load_policy()  # the shipped policies/policy/policy.zip
    motion = load_motion_models()
    env = WalkEnv(EnvConfig(scenes=("floor",), num_agents=4, max_steps=20, auto_reset=False), motion,
                  standing_markers(body), body.markers.names)
    env.reset()
    start = np.array([5.0, 5.0])
    # four goals 3 m away (ahead-left, ahead-right, sideways, behind), all starts facing +x
    angles = np.radians([30.0, -45.0, 90.0, 180.0])
    goals = start + 3.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    m = place_markers(env.seed_pose, start, 0.0)
    for i, g in enumerate(goals):
        env.assign(i, np.repeat(m[None], 2, 0), g[None])
    obs, reached = env.observe(), np.zeros(4, bool)
    for _ in range(20):
        actions, _ = policy.predict(obs, deterministic=True)
        obs, _, done, infos = env.step(actions)
        reached |= np.array([i["is_success"] for i in infos]) & ~reached
        if done.all() or reached.all():
            break
    final = pelvis_xy(env.seed_m[:, -1], env.g)
    assert reached.all(), f"goals reached {reached}, final distances {np.linalg.norm(final - goals, axis=1)}"
