"""The walking environment: API checkers, observations, batched = one-at-a-time."""

import numpy as np
import pytest

from egogen.body import load_body_model
from egogen.sim.env import EnvConfig, WalkEnv, WalkGymEnv, standing_markers
from sim_helpers import untrained_motion


@pytest.fixture(scope="module")
def parts():
    body = load_body_model()
    return untrained_motion(body), standing_markers(body), body.markers.names


def test_single_agent_env_passes_gymnasium_and_sb3_checkers(parts):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = WalkGymEnv(EnvConfig(scenes=("floor",), num_agents=1, max_steps=5), *parts)
    gym_check(env, skip_render_check=True)
    sb3_check(WalkGymEnv(EnvConfig(scenes=("floor",), num_agents=1, max_steps=5), *parts), warn=True)


def test_observations_have_the_declared_shape_and_are_finite(parts):
    cfg = EnvConfig(scenes=("floor:1",), num_agents=4, agents_per_scene=2, max_steps=4)
    env = WalkEnv(cfg, *parts)
    obs = env.reset()
    assert obs.shape == (4,) + env.observation_space.shape and obs.dtype == np.float32
    rng = np.random.default_rng(0)
    dones = 0
    for _ in range(6):
        obs, reward, done, info = env.step(rng.normal(size=(4, env.latent)).astype(np.float32))
        assert np.isfinite(obs).all() and np.isfinite(reward).all()
        dones += done.sum()
        depth = obs[:, -1 - cfg.sensing.num_rays:-1]
        assert depth.min() >= -1 and depth.max() <= 1
    assert dones >= 4  # every agent hit the 4-step limit at least once and was reset
    assert all("terminal_observation" in i for i, d in zip(info, done) if d)


def test_batched_and_one_at_a_time_stepping_agree(parts):
    N, steps = 4, 3
    batched = WalkEnv(EnvConfig(scenes=("floor:2",), num_agents=N, seed=5), *parts)
    singles = [WalkEnv(EnvConfig(scenes=("floor:2",), num_agents=1, seed=5, agent_offset=i), *parts) for i in range(N)]
    ob = batched.reset()
    os_ = np.concatenate([e.reset() for e in singles])
    assert np.allclose(ob, os_, atol=1e-5)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        a = rng.normal(size=(N, batched.latent)).astype(np.float32)
        ob, rb, db, _ = batched.step(a)
        res = [e.step(a[i:i + 1]) for i, e in enumerate(singles)]
        assert np.allclose(ob, np.concatenate([r[0] for r in res]), atol=1e-4)
        assert np.allclose(rb, np.concatenate([r[1] for r in res]), atol=1e-4)
        assert (db == np.concatenate([r[2] for r in res])).all()
