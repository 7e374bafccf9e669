"""Distilling the steering layer: the widened student, the teacher's labels, the fit."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from egogen.body import load_body_model
from egogen.sim.distill import DistillConfig, collect_pairs, distill_policy, fit_actor, shrink_actions, widen_policy
from egogen.sim.env import EnvConfig, WalkEnv, standing_markers
from egogen.sim.steering import SteeringConfig
from sim_helpers import untrained_motion


@pytest.fixture(scope="module")
def parts():
    torch.set_num_threads(1)
    body = load_body_model()
    return body, untrained_motion(body)


def _env(parts, social: int) -> WalkEnv:
    body, motion = parts
    cfg = EnvConfig(scenes=("floor:3",), num_agents=4, agents_per_scene=4, max_steps=4, social=social)
    return WalkEnv(cfg, motion, standing_markers(body), body.markers.names)


def _teacher(parts):
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", _env(parts, 0), policy_kwargs={"net_arch": [16]}, seed=0, device="cpu")


def test_the_widened_student_acts_exactly_as_its_teacher(parts):
    teacher = _teacher(parts)
    env = _env(parts, 3)
    student = widen_policy(teacher, env)
    obs = env.reset()
    assert obs.shape[1] > teacher.observation_space.shape[0]
    a_teacher = teacher.predict(obs[:, :teacher.observation_space.shape[0]], deterministic=True)[0]
    np.testing.assert_allclose(student.predict(obs, deterministic=True)[0], a_teacher, atol=1e-6)
    with pytest.raises(ValueError, match="widen only by adding inputs"):
        widen_policy(student, _env(parts, 0))


def test_labels_are_the_teachers_actions_on_the_steered_observation(parts):
    teacher = _teacher(parts)
    env = _env(parts, 3)
    dim = teacher.observation_space.shape[0]
    # a predicted-collision radius of 20 m puts everybody on a collision course at once
    data = collect_pairs(teacher, env, 3, SteeringConfig(radius=20.0))
    assert data["obs"].shape == (12, env.observation_space.shape[0]) and data["actions"].shape == (12, 32)
    own = teacher.predict(data["obs"][:, :dim], deterministic=True)[0]
    steered = data["steered"]
    assert steered.any()
    np.testing.assert_allclose(data["actions"][~steered], own[~steered], atol=1e-6)  # unsteered: its own action
    assert not np.allclose(data["actions"][steered], own[steered], atol=1e-4)  # steered: what it does when steered


def test_fitting_the_actor_moves_its_mean_to_the_targets(parts):
    student = widen_policy(_teacher(parts), _env(parts, 3))
    rng = np.random.default_rng(0)
    obs = (0.1 * rng.normal(size=(400, student.observation_space.shape[0]))).astype(np.float32)
    targets = np.full((400, 32), 0.5, np.float32)
    targets[:, 0] += 0.2 * np.tanh(10 * obs[:, 0])  # mostly a new bias, a little of one input
    value_before = [p.clone() for p in student.policy.mlp_extractor.value_net.parameters()]
    fit = fit_actor(student, obs, targets, epochs=30, learning_rate=3e-3, batch_size=64)
    assert fit["val_mse_after"] < 0.25 * fit["val_mse_before"]
    for a, b in zip(value_before, student.policy.mlp_extractor.value_net.parameters()):
        assert torch.equal(a, b)  # the critic is left alone
    with pytest.raises(ValueError, match=">= 10"):
        fit_actor(student, obs[:5], targets[:5], 1, 1e-3)


def test_distillation_writes_a_student_that_sees_people_and_its_report(parts, tmp_path):
    from stable_baselines3 import PPO

    body, motion = parts
    cfg = DistillConfig(scenes=("floor:3",), agents_per_scene=2, steps=5, rounds=2, epochs=1, social=2)
    rep = distill_policy(tmp_path, _teacher(parts), motion, body, cfg)
    assert [r["driver"] for r in rep["rounds"]] == ["teacher", "student"]
    student = PPO.load(tmp_path / "policy.zip", device="cpu")
    assert student.observation_space.shape[0] == _teacher(parts).observation_space.shape[0] + 2 * 6
    assert (tmp_path / "distill.json").is_file()
    with pytest.raises(ValueError, match="social >= 1"):
        distill_policy(tmp_path, _teacher(parts), motion, body, DistillConfig(social=0))
    with pytest.raises(ValueError, match="action_scale"):
        distill_policy(tmp_path, _teacher(parts), motion, body, DistillConfig(action_scale=0.0))


def test_the_action_scale_shrinks_the_students_codes_towards_the_prior(parts, tmp_path):
    from stable_baselines3 import PPO

    body, motion = parts
    cfg = DistillConfig(scenes=("floor:3",), agents_per_scene=2, steps=6, rounds=1, epochs=1, social=2)
    distill_policy(tmp_path / "one", _teacher(parts), motion, body, replace(cfg, action_scale=1.0))
    distill_policy(tmp_path / "half", _teacher(parts), motion, body, replace(cfg, action_scale=0.5))
    full, half = (PPO.load(tmp_path / d / "policy.zip", device="cpu") for d in ("one", "half"))
    obs = np.random.default_rng(0).normal(size=(8, full.observation_space.shape[0])).astype(np.float32)
    a = full.predict(obs, deterministic=True)[0]
    assert np.abs(a).max() > 1e-3
    np.testing.assert_allclose(half.predict(obs, deterministic=True)[0], 0.5 * a, rtol=1e-5, atol=1e-6)
    assert shrink_actions(full, 0.25) is full
    np.testing.assert_allclose(full.predict(obs, deterministic=True)[0], 0.25 * a, rtol=1e-5, atol=1e-6)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            shrink_actions(full, bad)
