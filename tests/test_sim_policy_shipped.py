"""The shipped walking policy (policies/policy) loads and walks to a goal."""

import numpy as np
import torch

from egogen.body import load_body_model
from egogen.motion.checkpoint import load_motion_models
from egogen.sim.env import EnvConfig, WalkEnv, match_policy, place_markers, standing_markers
from egogen.sim.policy_episode import load_policy
from egogen.sim.rewards import pelvis_xy


def test_shipped_policy_reaches_a_goal_3_m_away_on_open_floor():
    torch.set_num_threads(1)
    body = load_body_model(num_betas=16)
    policy = load_policy()  # the shipped policies/policy/policy.zip
    motion = load_motion_models()
    env = WalkEnv(match_policy(EnvConfig(scenes=("floor",), num_agents=4, max_steps=20, auto_reset=False), policy),
                  motion, standing_markers(body), body.markers.names)
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


def _head_on(anticipate: float, prior_fraction: float, candidates: int = 16,
             steering=None) -> tuple[float, np.ndarray]:
    """Two people sent head-on through each other's start on open floor, 5 m apart, with the
    test-time search of `egogen simulate` (``candidates`` > 1) and/or the steering layer;
    returns their closest pelvis distance (m) and which reached their goal."""
    from egogen.sim.search import search_latents
    from egogen.sim.steering import pelvis_velocity, steered_observation

    torch.set_num_threads(1)
    body = load_body_model(num_betas=16)
    policy = load_policy()
    cfg = match_policy(EnvConfig(scenes=("floor",), num_agents=2, agents_per_scene=2, max_steps=30,
                                 auto_reset=False, personal_space=0.2), policy)
    env = WalkEnv(cfg, load_motion_models(), standing_markers(body), body.markers.names)
    env.reset()
    a, b = np.array([3.0, 5.0]), np.array([8.0, 5.05])
    env.assign(0, np.repeat(place_markers(env.seed_pose, a, 0.0)[None], 2, 0), b[None])
    env.assign(1, np.repeat(place_markers(env.seed_pose, b, np.pi)[None], 2, 0), a[None])
    rng, obs = np.random.default_rng(0), env.observe()
    head = env.seed_m[:, 0, :, 2].max(axis=-1)
    reached, closest = np.zeros(2, bool), np.inf
    velocity = np.zeros((2, 2))
    for _ in range(30):
        if steering is not None:
            obs, _ = steered_observation(env, velocity, steering, active=~reached)
        z = search_latents(policy, obs, env, rng, candidates, 1.5, active=~reached, head_height=head,
                           prior_fraction=prior_fraction, anticipate=anticipate)
        obs, _, done, infos = env.step(z)
        velocity = np.where(reached[:, None], 0.0, pelvis_velocity(env.last_markers, env.g, 30.0))
        pel = pelvis_xy(env.last_markers, env.g)
        closest = min(closest, float(np.linalg.norm(pel[0] - pel[1], axis=-1).min()))
        reached |= np.array([i["is_success"] for i in infos])
        if reached.all():
            break
    return closest, reached


def test_search_with_anticipation_makes_two_people_pass_each_other_without_touching():
    plain, _ = _head_on(anticipate=0.0, prior_fraction=0.0)
    closest, reached = _head_on(anticipate=30.0, prior_fraction=0.25)
    assert reached.all()
    # body discs of 0.25 m plus the 0.2 m of personal space asked for: 0.7 m apart
    assert closest >= 0.7 and closest > plain + 0.1, (closest, plain)


def test_steering_makes_the_policy_alone_give_way_to_a_person_walking_head_on():
    from egogen.sim.steering import SteeringConfig

    plain, _ = _head_on(0.0, 0.0, candidates=1)
    closest, reached = _head_on(0.0, 0.0, candidates=1, steering=SteeringConfig())
    assert reached.all()
    assert plain < 0.5 <= closest, (closest, plain)  # without steering their bodies touch
