"""Test-time search over the policy's latent codes (egogen.sim.search) and WalkEnv.preview."""

import numpy as np
import pytest
import torch

from egogen.body import load_body_model
from egogen.sim.env import EnvConfig, WalkEnv, place_markers, standing_markers
from sim_helpers import GaussianPolicy, untrained_motion


@pytest.fixture(scope="module")
def env():
    torch.set_num_threads(1)
    body = load_body_model()
    e = WalkEnv(EnvConfig(scenes=("floor",), num_agents=2, agents_per_scene=2, auto_reset=False),
                untrained_motion(body), standing_markers(body), body.markers.names)
    e.reset()
    return e


def test_preview_decodes_and_scores_exactly_what_step_then_does_without_changing_the_state(env):
    rng = np.random.default_rng(0)
    m = place_markers(env.seed_pose, np.array([4.0, 5.0]), 0.0)
    env.assign(0, np.repeat(m[None], 2, 0), np.array([[7.0, 5.0]]))
    env.assign(1, np.repeat(place_markers(env.seed_pose, np.array([4.4, 5.0]), np.pi)[None], 2, 0),
               np.array([[1.0, 5.0]]))
    before = env.seed_m.copy(), env.dist.copy(), env.steps.copy()
    z = rng.standard_normal((2, 5, env.latent)).astype(np.float32)
    markers, terms = env.preview(z)
    assert markers.shape == (2, 5, 13, 67, 3) and terms["progress"].shape == (2, 5)
    assert np.array_equal(env.seed_m, before[0]) and np.array_equal(env.dist, before[1])
    assert np.array_equal(env.steps, before[2])
    assert (terms["overlap"][:, 0] > 0).all()  # 0.4 m apart: their discs (radius 0.25 m) overlap
    # executing each agent's first candidate gives the same primitive (step reuses the preview's
    # decode, which matches decoding the code alone) and the same terms
    assert np.allclose(env._decode(env.seed_m, z[:, 0]), markers[:, 0], atol=1e-6)
    _, _, _, infos = env.step(z[:, 0])
    # the same primitive; its last two frames are the next seeds, re-projected onto the body
    assert np.array_equal(env.last_markers[:, :-2], markers[:, 0, :-2])
    assert np.array_equal(env.last_markers[:, -2:], env.seed_m)
    assert np.allclose(env.seed_m, env.projector(torch.as_tensor(markers[:, 0, -2:], dtype=torch.float32)).numpy(),
                       atol=1e-5)
    for k in ("progress", "skate", "pene", "collide", "overlap", "prior", "dist"):
        assert np.allclose([i["terms"][k] for i in infos], terms[k][:, 0], atol=1e-6), k
    # a preview made before the state changed is not reused
    stale, _ = env.preview(z)
    env.assign(0, np.repeat(m[None], 2, 0), np.array([[7.0, 5.0]]))
    seed_now = env.seed_m.copy()
    env.step(z[:, 1])
    assert np.allclose(env.last_markers[:, :-2], env._decode(seed_now, z[:, 1])[:, :-2], atol=1e-6)
    assert not np.allclose(env.last_markers[0], stale[0, 1], atol=1e-3)


def test_search_returns_the_best_scoring_candidate_and_one_candidate_is_the_policy_action(env):
    from egogen.sim import search

    pol = GaussianPolicy(env)
    m = place_markers(env.seed_pose, np.array([4.0, 5.0]), 0.0)
    env.assign(0, np.repeat(m[None], 2, 0), np.array([[7.0, 5.0]]))
    env.assign(1, np.repeat(place_markers(env.seed_pose, np.array([5.0, 7.0]), 0.0)[None], 2, 0),
               np.array([[8.0, 7.0]]))
    obs = env.observe()
    assert np.allclose(search.search_latents(pol, obs, env, np.random.default_rng(1), candidates=1), 0.3)
    chosen = search.search_latents(pol, obs, env, np.random.default_rng(1), candidates=6, spread=0.5)
    # re-draw the same candidates and score them: the chosen code is the best one of each agent
    rng = np.random.default_rng(1)
    eps = rng.standard_normal((2, 5, env.latent)).astype(np.float32)
    z = np.concatenate([np.full((2, 1, env.latent), 0.3, np.float32), 0.3 + 0.5 * eps], axis=1)
    _, terms = env.preview(z)
    score = search.candidate_scores(terms, env.cfg.weights)
    for i in range(2):
        assert np.allclose(chosen[i], z[i, score[i].argmax()])
    with pytest.raises(ValueError, match="candidates"):
        search.search_latents(pol, obs, env, np.random.default_rng(1), candidates=0)


def test_scores_rank_falls_collisions_and_furniture_below_any_clean_primitive():
    from egogen.sim.search import candidate_scores

    clean = dict(skate=0.9, floor=0.9, face=0.5, look=0.5, progress=0.0, goal=0.0, pene=1.0, collide=1.0,
                 prior=1.0, n_inside=0.0, overlap=0.0, fallen=0.0, clearance=1.0, head_z=1.6)
    bad = [dict(clean, fallen=1.0), dict(clean, n_inside=2.0, pene=np.exp(-2.0)),
           dict(clean, overlap=0.2, collide=np.exp(-0.8)), dict(clean, clearance=0.05)]
    slow_clean = dict(clean, skate=0.5, progress=-0.3)
    rows = [slow_clean] + bad
    terms = {k: np.array([[r[k] for r in rows]]) for k in clean}
    s = candidate_scores(terms, {"skate": 0.3, "floor": 0.1, "face": 0.1, "look": 0.3, "goal": 5.0,
                                 "progress": 1.0, "pene": 1.0, "collide": 1.0, "prior": 0.1})[0]
    assert s[0] > s[1:].max()
    sag = candidate_scores({k: v.copy() for k, v in terms.items()} | {"head_z": np.array([[1.3] * 5])},
                           {"progress": 1.0}, head_height=np.array([1.65]))
    assert (sag < candidate_scores(terms, {"progress": 1.0}, head_height=np.array([1.65]))).all()


@pytest.mark.parametrize("apart", [0.9, 6.0])
def test_prior_codes_and_anticipation_are_used_only_for_people_on_a_collision_course(env, apart, monkeypatch):
    from dataclasses import replace

    from egogen.sim import search

    pol = GaussianPolicy(env)
    # two people facing each other `apart` metres apart, asking for 0.6 m of personal space
    # (0.9: closer than the 2 x 0.25 + 0.6 m wanted whatever they do; 6: nobody near)
    monkeypatch.setattr(env, "cfg", replace(env.cfg, personal_space=0.6))
    env.assign(0, np.repeat(place_markers(env.seed_pose, np.array([4.0, 5.0]), 0.0)[None], 2, 0),
               np.array([[9.0, 5.0]]))
    env.assign(1, np.repeat(place_markers(env.seed_pose, np.array([4.0 + apart, 5.0]), np.pi)[None], 2, 0),
               np.array([[0.0, 5.0]]))
    obs = env.observe()
    chosen = search.search_latents(pol, obs, env, np.random.default_rng(3), candidates=9, spread=0.5,
                                   prior_fraction=0.5, anticipate=30.0)
    # re-draw the candidates: the mean, 4 codes from the prior N(0, I), 4 around the mean
    eps = np.random.default_rng(3).standard_normal((2, 8, env.latent)).astype(np.float32)
    drawn = 0.3 + 0.5 * eps
    drawn[:, :4] = eps[:, :4]
    z = np.concatenate([np.full((2, 1, env.latent), 0.3, np.float32), drawn], axis=1)
    _, terms = env.preview(z)
    on_course = terms["anticipate"][:, 0] < 1.0
    assert on_course.all() if apart < 1 else not on_course.any()
    score = search.candidate_scores(terms, env.cfg.weights) + 30.0 * (terms["anticipate"] - 1.0)
    for i in range(2):
        allowed = np.arange(9) if on_course[i] else np.array([0, 5, 6, 7, 8])
        assert np.allclose(chosen[i], z[i, allowed[score[i, allowed].argmax()]])
    with pytest.raises(ValueError, match="prior_fraction"):
        search.search_latents(pol, obs, env, np.random.default_rng(3), candidates=9, prior_fraction=1.5)
