"""Each reward term responds in the right direction to a constructed situation."""

import numpy as np
import pytest
import torch

from egogen.body import Y_UP_TO_Z_UP, load_body_model
from egogen.scene import load_scene
from egogen.sim.rewards import MarkerGroups, body_forward, reward_terms

FPS = 30.0


@pytest.fixture(scope="module")
def standing():
    """(67, 3) markers of the default body standing upright at the origin on the floor, facing -y."""
    body = load_body_model()
    out = body(global_orient=torch.tensor([Y_UP_TO_Z_UP], dtype=torch.float32))
    m = body.marker_positions(out.vertices)[0].numpy().astype(np.float64)
    g = MarkerGroups.from_names(body.markers.names)
    m[:, 2] -= m[g.feet, 2].min() - 0.02  # lowest foot marker 2 cm above the floor
    return m, g


def _clip(m, T=15, velocity=(0.0, 0.0, 0.0), at=(0.0, 0.0)):
    v = np.asarray(velocity) / FPS
    frames = m[None] + np.arange(T)[:, None, None] * v + np.array([at[0], at[1], 0.0])
    return frames[None]  # (1, T, 67, 3)


def _terms(clip, g, goal=(0.0, -3.0), prev=None, **kw):
    goal = np.array([goal], float)
    prev = np.array([3.0]) if prev is None else np.array([prev])
    return reward_terms(clip, g, goal, prev, FPS, **kw)


def test_body_faces_minus_y_in_the_world(standing):
    m, g = standing
    assert np.allclose(body_forward(m, g), [0, -1], atol=0.05)


def test_sliding_feet_lower_the_skating_term(standing):
    m, g = standing
    still = _terms(_clip(m), g)["skate"]
    slide = _terms(_clip(m, velocity=(0.0, -1.0, 0.0)), g)["skate"]
    assert still[0] == pytest.approx(1.0) and slide[0] < 0.5


def test_floating_lowers_the_floor_term(standing):
    m, g = standing
    assert _terms(_clip(m), g)["floor"][0] == pytest.approx(1.0, abs=1e-6)
    m_up = m + [0, 0, 0.3]
    assert _terms(_clip(m_up), g)["floor"][0] < 0.8


def test_facing_and_looking_at_the_goal_score_highest(standing):
    m, g = standing
    ahead = _terms(_clip(m), g, goal=(0.0, -3.0))
    behind = _terms(_clip(m), g, goal=(0.0, 3.0))
    assert ahead["face"][0] > 0.95 and behind["face"][0] < 0.05
    assert ahead["look"][0] > 0.95 and behind["look"][0] < 0.05


def test_walking_towards_the_goal_is_progress_and_reaching_it_gives_the_goal_reward(standing):
    m, g = standing
    walk = _terms(_clip(m, velocity=(0.0, -1.2, 0.0)), g, goal=(0.0, -3.0), prev=3.0)
    assert walk["progress"][0] == pytest.approx(1.2 * 14 / FPS, abs=0.03) and walk["goal"][0] == 0
    arrive = _terms(_clip(m, at=(0.0, -2.95)), g, goal=(0.0, -3.0), prev=0.5)
    assert arrive["goal"][0] == 1.0


def test_walking_into_furniture_raises_penetration(standing):
    m, g = standing
    ps = load_scene("floor:0", use_cache=False)
    box = np.asarray(next(o for o in ps.scene.objects if o.label == "box").bounds)
    centre = box.mean(axis=0)[:2]
    free = _terms(_clip(m, at=(1.0, 1.0)), g, sdf=ps.collision.signed_distance)
    inside = _terms(_clip(m, at=tuple(centre)), g, sdf=ps.collision.signed_distance)
    assert free["n_inside"][0] == 0 and free["pene"][0] == pytest.approx(1.0)
    assert inside["n_inside"][0] >= 3 and inside["pene"][0] < 0.1
    # the SDF values can be handed over instead (the search computes them once per candidate)
    clip = _clip(m, at=tuple(centre))
    vals = np.asarray(ps.collision.signed_distance(clip[:, :, g.non_feet].reshape(-1, 3))).reshape(1, 15, -1)
    given = _terms(clip, g, sdf_values=vals)
    assert given["n_inside"][0] == inside["n_inside"][0] and given["pene"][0] == inside["pene"][0]
    assert _terms(clip, g, sdf_values=np.ones_like(vals))["n_inside"][0] == 0  # used, not recomputed


def test_overlapping_another_person_lowers_the_collision_term(standing):
    m, g = standing
    T = 15
    near = np.zeros((1, T, 1, 2)) + [0.1, 0.0]
    far = np.zeros((1, T, 1, 2)) + [3.0, 0.0]
    absent = np.full((1, T, 1, 2), np.nan)
    assert _terms(_clip(m), g, others_xy=far)["collide"][0] == pytest.approx(1.0)
    assert _terms(_clip(m), g, others_xy=absent)["collide"][0] == pytest.approx(1.0)
    assert _terms(_clip(m), g, others_xy=near)["collide"][0] < 0.5


def test_personal_space_penalises_coming_close_before_contact(standing):
    m, g = standing
    close = np.zeros((1, 15, 1, 2)) + [0.65, 0.0]  # 0.65 m apart: discs of 0.25 m do not touch
    plain = _terms(_clip(m), g, others_xy=close)
    spaced = _terms(_clip(m), g, others_xy=close, personal_space=0.3)
    assert plain["collide"][0] == pytest.approx(1.0) and plain["bumped"][0] == 0
    assert spaced["collide"][0] < 0.7 and spaced["overlap"][0] == 0 and spaced["bumped"][0] == 0
    touching = _terms(_clip(m), g, others_xy=np.zeros((1, 15, 1, 2)) + [0.4, 0.0], personal_space=0.3)
    assert touching["bumped"][0] == 1 and touching["collide"][0] < spaced["collide"][0]


def test_predicted_gap_is_the_closest_approach_of_people_walking_on_at_their_velocity():
    from egogen.sim.rewards import predicted_gap

    T = 13
    t = np.arange(T)[None, :, None] / FPS
    me = np.zeros((1, T, 2)) + np.array([1.0, 0.0]) * t  # walking +x at 1 m/s, from the origin
    # the other person: head-on from 3 m at 1 m/s, offset 0.3 m sideways; passing by 2 m ahead
    # on a parallel course; walking away; absent
    head_on = np.array([3.0, 0.3]) + np.array([-1.0, 0.0]) * t
    parallel = np.array([0.0, 2.0]) + np.array([1.0, 0.0]) * t
    away = np.array([-1.0, 0.0]) + np.array([-1.0, 0.0]) * t
    others = np.stack([head_on, parallel, away, np.full((1, T, 2), np.nan)], axis=2)  # (1, T, 4, 2)
    gap = predicted_gap(me, others, FPS, horizon=2.0)[0]
    now = np.linalg.norm(others[0, -1, :3] - me[0, -1], axis=-1)
    # head-on: 2.2 m apart after the step, closing at 2 m/s: they meet after 1.1 s, 0.3 m apart
    assert gap[0] == pytest.approx(0.3, abs=1e-6)
    assert gap[1] == pytest.approx(now[1]) and gap[2] == pytest.approx(now[2]) and gap[3] == np.inf
    # with a horizon shorter than the time to meet, the gap is where they are after it
    assert predicted_gap(me, others, FPS, horizon=0.5)[0, 0] == pytest.approx(np.hypot(2.2 - 1.0, 0.3), abs=1e-6)


def test_anticipate_penalises_a_collision_course_before_any_contact(standing):
    m, g = standing
    T = 15
    t = np.arange(T)[:, None] / FPS
    walker = _clip(m, T, velocity=(0.0, -1.0, 0.0))  # walking -y at 1 m/s
    towards = (np.array([0.0, -2.5]) + np.array([0.0, 1.0]) * t)[None, :, None]  # head-on, 2 m apart at the end
    aside = (np.array([1.5, -2.5]) + np.array([0.0, 1.0]) * t)[None, :, None]  # passing 1.5 m to the side
    on_course = _terms(walker, g, others_xy=towards)
    assert on_course["bumped"][0] == 0 and on_course["collide"][0] == pytest.approx(1.0)
    assert on_course["anticipate"][0] < 0.2  # meeting within the 1 s horizon
    assert _terms(walker, g, others_xy=aside)["anticipate"][0] == pytest.approx(1.0)
    assert _terms(walker, g)["anticipate"][0] == 1.0  # nobody else
    # stopping halves the closing speed: 2 m apart, the other arrives after the 1 s horizon
    assert _terms(_clip(m, T), g, others_xy=towards)["anticipate"][0] == pytest.approx(1.0)


def test_standing_still_earns_nothing_and_reaching_the_goal_earns_most(standing):
    from egogen.sim.rewards import total_reward

    m, g = standing
    d0 = _terms(_clip(m), g, goal=(0.0, -3.0))["dist"][0]
    still = total_reward(_terms(_clip(m), g, goal=(0.0, -3.0), prev=d0))
    walk = total_reward(_terms(_clip(m, velocity=(0.0, -1.2, 0.0)), g, goal=(0.0, -3.0), prev=3.0))
    arrive = total_reward(_terms(_clip(m, at=(0.0, -2.95)), g, goal=(0.0, -3.0), prev=0.3))
    assert abs(still[0]) < 0.01
    assert arrive[0] > walk[0] > still[0]


def test_latents_far_from_the_prior_lower_the_prior_term():
    from egogen.sim.rewards import latent_prior

    rng = np.random.default_rng(0)
    typical = rng.normal(size=(64, 32))
    assert latent_prior(typical).mean() > 0.99
    assert (latent_prior(4.0 * typical) < 0.05).all()  # mean square ~16
    assert latent_prior(np.zeros((1, 32)))[0] == 1.0
