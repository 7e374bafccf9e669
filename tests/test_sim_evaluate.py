"""Evaluation metrics on constructed trajectories, and the evaluation loop end to end."""

import numpy as np
import pytest

from egogen.body import load_body_model
from egogen.scene import load_scene
from egogen.sim.env import standing_markers
from egogen.sim.evaluate import episode_metrics, evaluate_policy
from egogen.sim.rewards import MarkerGroups
from sim_helpers import untrained_motion


@pytest.fixture(scope="module")
def setup():
    body = load_body_model()
    return body, standing_markers(body), MarkerGroups.from_names(body.markers.names), load_scene("floor:0", use_cache=False)


def _track(m, start, velocity, T=60):
    return m[None] + np.array([start[0], start[1], 0.0]) + np.arange(T)[:, None, None] * np.array([*velocity, 0.0]) / 30


def test_a_still_body_on_free_floor_scores_perfect_contact_and_no_penetration(setup):
    body, m, g, ps = setup
    r = episode_metrics(_track(m, (1.0, 1.0), (0.0, 0.0)), g, ps, np.array([1.0, 1.0]), True)
    assert r["contact"] == pytest.approx(1.0) and r["foot_skating_cm_s"] == pytest.approx(0.0)
    assert r["loco_pene"] == 1.0 and r["penetration_frames"] == 0.0 and r["time_s"] == pytest.approx(2.0)


def test_sliding_through_a_box_is_caught_by_skating_contact_and_penetration(setup):
    body, m, g, ps = setup
    box = np.asarray(next(o for o in ps.scene.objects if o.label == "box").bounds)
    c = box.mean(axis=0)
    start = (c[0] - 1.5, c[1])
    r = episode_metrics(_track(m, start, (1.5, 0.0), T=60), g, ps, np.array([c[0] + 1.5, c[1]]), False)
    assert r["foot_skating_cm_s"] > 100 and r["contact"] < 0.5
    assert r["penetration_frames"] > 0.1 and r["penetration_max_cm"] > 5 and r["loco_pene"] < 1.0
    assert np.isnan(r["time_s"]) and r["final_distance_m"] < 1.6


def test_planted_feet_do_not_skate_when_the_lowest_marker_alternates(setup):
    # heel and toe markers take turns being lowest (1 mm), as in a rolling step, but no foot
    # marker moves over the floor: skating is 0 (the lowest marker's xy jumping from heel to
    # toe is not a foot sliding)
    body, m, g, ps = setup
    track = _track(m, (1.0, 1.0), (0.0, 0.0))
    heel = [i for i, n in enumerate(body.markers.names) if n in ("LHEE", "RHEE")]
    track[::2, heel, 2] -= 0.001
    toe = [i for i, n in enumerate(body.markers.names) if n in ("LTOE", "RTOE")]
    track[1::2, toe, 2] -= 0.002
    r = episode_metrics(track, g, ps, np.array([1.0, 1.0]), True)
    assert r["foot_skating_cm_s"] == pytest.approx(0.0, abs=1e-6)
    assert r["contact"] == pytest.approx(1.0)


def test_collisions_count_contact_events(setup):
    body, m, g, ps = setup
    T = 30
    other = np.full((T, 1, 2), np.nan)
    other[5:10, 0] = [1.1, 1.0]   # touching for frames 5-9, then gone, then again
    other[20:25, 0] = [1.0, 1.2]
    r = episode_metrics(_track(m, (1.0, 1.0), (0.0, 0.0), T=T), g, ps, np.array([1.0, 1.0]), True, other)
    assert r["agent_collisions"] == 2


def test_evaluation_loop_collects_the_requested_episodes(setup):
    body, *_ = setup

    class Random:
        def predict(self, obs, deterministic=True):
            return np.zeros((len(obs), 32), np.float32), None

    from egogen.sim.env import EnvConfig
    out = evaluate_policy(Random(), untrained_motion(body), body, "floor:3", episodes=3, agents=2,
                          cfg=EnvConfig(max_steps=3), record=True)
    assert out["episodes"] == 3 and len(out["per_episode"]) == 3
    assert set(out["metrics"]) >= {"success", "contact", "loco_pene", "agent_collisions", "path_efficiency"}
    assert out["trajectories"][0][1].shape[1:] == (67, 3)


def test_evaluation_with_the_search_steps_its_chosen_codes(setup, monkeypatch):
    from types import SimpleNamespace

    from gymnasium.spaces import Box

    from egogen.sim import search
    from egogen.sim.env import EnvConfig, base_obs_dim
    from sim_helpers import GaussianPolicy

    body, *_ = setup
    calls = []
    real = search.search_latents

    def spy(policy, obs, env, rng, candidates, spread, **kw):
        z = real(policy, obs, env, rng, candidates, spread, **kw)
        calls.append((candidates, spread, kw["prior_fraction"], kw["anticipate"], z))
        return z

    monkeypatch.setattr(search, "search_latents", spy)
    cfg = EnvConfig(max_steps=3, personal_space=0.2)
    spaces = SimpleNamespace(observation_space=Box(-np.inf, np.inf, (base_obs_dim(cfg),)), latent=32)
    out = evaluate_policy(GaussianPolicy(spaces), untrained_motion(body), body, "floor:3", episodes=2, agents=2,
                          cfg=cfg, candidates=4, spread=0.5, prior_fraction=0.5, anticipate=30.0)
    assert out["episodes"] == 2 and out["search"] == {"candidates": 4, "spread": 0.5, "prior_fraction": 0.5,
                                                      "anticipate": 30.0, "personal_space": 0.2}
    assert calls and all(c[:4] == (4, 0.5, 0.5, 30.0) for c in calls)
    # the search's codes are not the policy's mean (0.3) everywhere: candidates were chosen
    assert any(not np.allclose(c[4], 0.3) for c in calls)


def test_evaluation_with_steering_shows_the_policy_steered_observations(setup, monkeypatch):
    from egogen.sim import steering
    from egogen.sim.env import EnvConfig

    body, *_ = setup
    shown, seen = [], []
    real = steering.steered_observation

    def spy(env, velocity, cfg, active=None, obs=None):
        obs, steered = real(env, velocity, cfg, active, obs)
        shown.append(obs)
        return obs, steered

    class Recorder:
        def predict(self, obs, deterministic=True):
            seen.append(obs)
            return np.zeros((len(obs), 32), np.float32), None

    monkeypatch.setattr(steering, "steered_observation", spy)
    out = evaluate_policy(Recorder(), untrained_motion(body), body, "floor:3", episodes=2, agents=2,
                          cfg=EnvConfig(max_steps=3), steering=steering.SteeringConfig(radius=0.9))
    assert out["steering"]["radius"] == 0.9 and out["search"] is None
    assert len(shown) == len(seen) > 0 and all(a is b for a, b in zip(shown, seen))


def test_crowd_recording_holds_finished_people_and_animates(setup, tmp_path):
    from PIL import Image

    from egogen.sim.show import record_crowd, save_crowd_video

    body, *_ = setup

    class Zero:
        def predict(self, obs, deterministic=True):
            return np.zeros((len(obs), 32), np.float32), None

    rec = record_crowd(Zero(), untrained_motion(body), body, "floor:3", agents=2, seed=1, max_steps=3)
    assert rec["markers"].shape == (2, 2 + 3 * 13, 67, 3) and rec["joints"].shape == (2, 41, 22, 3)
    assert not rec["success"].any() and np.isfinite(rec["markers"]).all()
    out = save_crowd_video(load_scene("floor:3"), rec, tmp_path / "crowd.gif", step=8)
    with Image.open(out) as im:
        assert im.n_frames == len(range(0, 41, 8))
