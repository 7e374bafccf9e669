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


def _placed(seed_pose, g, xy):
    """Standing markers (2, 67, 3) with the pelvis moved to world ``xy``."""
    from egogen.sim.rewards import pelvis_xy

    m = seed_pose.copy()
    m[:, :2] += np.asarray(xy) - pelvis_xy(m, g)
    return np.repeat(m[None], 2, 0)


def test_agents_follow_waypoints_and_succeed_only_at_the_final_goal(parts):
    # a C-VAE that decodes standing still: an agent stays where it is placed
    env = WalkEnv(EnvConfig(scenes=("apartment:1",), num_agents=1, max_steps=10),
                  untrained_motion(load_body_model(), still=True), *parts[1:])
    env.reset()
    ps = env.scenes["apartment:1"]
    for k in range(50):  # a task whose planned path turns at least once
        task = ps.sample_start_goal(seed=k, min_dist=3.0, max_dist=8.0)
        way = ps.plan_path(task.start, task.goal).waypoints[1:]
        if len(way) >= 2:
            break
    assert len(way) >= 2
    env.assign(0, _placed(parts[1], env.g, way[0] + [0.1, 0.0]), way)
    assert np.allclose(env.target()[0], way[0])
    _, _, done, info = env.step(np.zeros((1, env.latent), np.float32))
    assert not done[0] and not info[0]["is_success"] and info[0]["terms"]["goal"] == 0
    assert np.allclose(env.target()[0], way[1]) and len(env.waypoints[0]) == len(way) - 1
    # standing within the success radius of the final goal ends the episode as a success
    env.assign(0, _placed(parts[1], env.g, way[-1] + [0.05, 0.0]), way[-1:])
    _, reward, done, info = env.step(np.zeros((1, env.latent), np.float32))
    assert done[0] and info[0]["is_success"] and reward[0] > 4.0


def test_without_auto_reset_a_finished_agent_keeps_its_place(parts):
    env = WalkEnv(EnvConfig(scenes=("floor",), num_agents=1, max_steps=1, auto_reset=False), *parts)
    env.reset()
    goal = env.goal.copy()
    _, _, done, info = env.step(np.zeros((1, env.latent), np.float32))
    assert done[0] and info[0]["TimeLimit.truncated"]
    # not reset: the agent continues from its last decoded frames, same goal, same episode
    assert np.allclose(env.seed_m, env.last_markers[:, -2:]) and env.episodes[0] == 0
    assert np.allclose(env.goal, goal)


def test_people_start_standing_at_ease_with_hands_beside_the_hips(parts):
    from egogen.sim.rewards import MarkerGroups, pelvis_xy

    m, names = parts[1], parts[2]
    g = MarkerGroups.from_names(names)
    head = m[:, 2].max()
    assert 1.4 < head < 2.1 and abs(m[g.feet, 2].min() - 0.02) < 1e-9
    assert np.allclose(pelvis_xy(m, g), 0, atol=1e-9)
    # wrist markers: below the chest and within 0.45 m of the body's axis (T-pose: 0.65 m, level with the shoulders)
    wrists = [i for i, n in enumerate(names) if n in ("LIWR", "LOWR", "LFIN", "ROWR", "RFIN")]
    assert len(wrists) == 5
    assert m[wrists, 2].max() < 0.6 * head
    assert np.linalg.norm(m[wrists, :2], axis=1).max() < 0.45


def test_an_auto_reset_leaves_the_finished_primitive_untouched(parts):
    # the reset places the agent at a new start; the primitive it just finished (what an
    # evaluation appends to the episode's track) must still end where the agent walked
    env = WalkEnv(EnvConfig(scenes=("floor",), num_agents=2, max_steps=1), *parts)
    env.reset()
    z = np.zeros((2, env.latent), np.float32)
    expected = env._decode(env.seed_m, z)
    _, _, done, _ = env.step(z)
    assert done.all() and env.episodes.tolist() == [1, 1]
    assert np.array_equal(env.last_markers[:, :-2], expected[:, :-2])
    assert not np.allclose(env.seed_m, env.last_markers[:, -2:])  # new starts elsewhere
    step = np.linalg.norm(env.last_markers[:, -1, :, :2] - env.last_markers[:, -3, :, :2], axis=-1).max()
    assert step < 0.2  # metres in 2 frames: no jump to the new start at the end of the track


def _two_face_to_face(env, gap):
    """Agents 0 and 1 standing ``gap`` metres apart on the x axis, each with a goal 3 m behind the other."""
    from egogen.sim.env import place_markers

    for i, (x, heading) in enumerate(((-gap / 2, 0.0), (gap / 2, np.pi))):
        m = place_markers(env.seed_pose, (x, 0.0), heading)
        env.assign(i, np.repeat(m[None], 2, 0), np.array([[-np.sign(x) * 3.0, 0.0]]))


@pytest.mark.parametrize("terminate", [False, True])
def test_bumping_into_another_person_ends_the_episode_only_when_asked(parts, terminate):
    cfg = EnvConfig(scenes=("floor",), num_agents=2, agents_per_scene=2, auto_reset=False,
                    terminate_on_collision=terminate)
    env = WalkEnv(cfg, *parts)
    env.reset()
    _two_face_to_face(env, 0.3)
    _, _, done, info = env.step(np.zeros((2, env.latent), np.float32))
    assert [i["terms"]["bumped"] for i in info] == [1.0, 1.0]
    assert done.tolist() == [terminate, terminate]
    _two_face_to_face(env, 2.0)  # apart: nobody bumps, nothing ends
    _, _, done, info = env.step(np.zeros((2, env.latent), np.float32))
    assert [i["terms"]["bumped"] for i in info] == [0.0, 0.0] and not done.any()


def test_new_episodes_start_away_from_the_other_people(parts):
    from egogen.sim.rewards import pelvis_xy

    def least_gap(separation):
        cfg = EnvConfig(scenes=("apartment:1",), num_agents=8, agents_per_scene=8, start_separation=separation,
                        max_steps=1)
        env = WalkEnv(cfg, *parts)
        env.reset()
        gaps = []
        for _ in range(4):  # the first placement, then three rounds of auto-resets (max_steps 1)
            p = pelvis_xy(env.seed_m[:, -1], env.g)
            gaps.append((np.linalg.norm(p[:, None] - p[None], axis=-1) + np.eye(8) * 99).min())
            env.step(np.zeros((8, env.latent), np.float32))
        return min(gaps)

    assert least_gap(1.0) >= 1.0
    assert least_gap(0.0) < 1.0  # eight people in an apartment: without the rule some start close


def test_the_social_observation_gives_the_nearest_people_in_the_body_frame(parts):
    from egogen.sim.env import SOCIAL_FEATS, SOCIAL_RANGE, place_markers

    cfg = EnvConfig(scenes=("floor",), num_agents=4, agents_per_scene=4, auto_reset=False, social=2)
    env = WalkEnv(cfg, *parts)
    plain = WalkEnv(EnvConfig(scenes=("floor",), num_agents=4, agents_per_scene=4, auto_reset=False), *parts)
    assert env.observation_space.shape[0] == plain.observation_space.shape[0] + 2 * SOCIAL_FEATS
    env.reset()
    # agent 0 at the origin facing +x; agent 1 2 m ahead walking towards it at 1 m/s;
    # agent 2 standing 3 m to its left; agent 3 out of range
    frames = lambda xy, heading, v: np.stack([place_markers(env.seed_pose, np.asarray(xy) - np.asarray(v) / 30,
                                                            heading),
                                              place_markers(env.seed_pose, xy, heading)])
    env.assign(0, frames((0.0, 0.0), 0.0, (0.0, 0.0)), np.array([[5.0, 0.0]]))
    env.assign(1, frames((2.0, 0.0), np.pi, (-1.0, 0.0)), np.array([[-5.0, 0.0]]))
    env.assign(2, frames((0.0, 3.0), 0.0, (0.0, 0.0)), np.array([[5.0, 3.0]]))
    env.assign(3, frames((0.0, -(SOCIAL_RANGE + 1)), 0.0, (0.0, 0.0)), np.array([[5.0, -7.0]]))
    social = env.observe()[:, -2 * SOCIAL_FEATS:].reshape(4, 2, SOCIAL_FEATS)
    near, second = social[0]
    # canonical frame: +y forward, +x to the right of the body (the left is -x)
    assert np.allclose(near[:2], (0.0, 2.0), atol=0.05) and np.allclose(near[2:4], (0.0, -1.0), atol=0.05)
    assert near[4] == pytest.approx(1 / (1 + 1.5), abs=0.02) and near[5] == 1
    assert np.allclose(second[:2], (-3.0, 0.0), atol=0.05) and np.allclose(second[2:4], 0, atol=1e-3)
    assert second[5] == 1
    # agent 3's nearest (agent 0) is 7 m away: out of range, both slots empty
    assert not social[3].any()
    # agent 1 faces -x: agent 0 is straight ahead of it (from agent 1's first seed frame, 3 cm
    # further back), and approaches at 1 m/s (agent 1's own speed)
    assert np.allclose(social[1, 0, :2], (0.0, 2.03), atol=0.05) and np.allclose(social[1, 0, 2:4], (0, -1), atol=0.05)


def test_a_policy_gets_the_environment_it_was_trained_with(parts):
    from types import SimpleNamespace

    from egogen.sim.env import match_policy

    cfg = EnvConfig(scenes=("floor",), num_agents=2, agents_per_scene=2)
    for social in (0, 3):
        trained = WalkEnv(EnvConfig(scenes=("floor",), num_agents=2, agents_per_scene=2, social=social), *parts)
        assert match_policy(cfg, trained).social == social
    with pytest.raises(ValueError, match="retrain"):
        match_policy(cfg, SimpleNamespace(observation_space=SimpleNamespace(shape=(100,))))


def test_a_shown_waypoint_changes_only_that_persons_goal_inputs(parts):
    env = WalkEnv(EnvConfig(scenes=("floor",), num_agents=2, agents_per_scene=2, max_steps=5, auto_reset=False),
                  *parts)
    obs = env.reset()
    real_rewards_target = env.target().copy()
    shown = np.full((2, 2), np.nan)
    shown[1] = env.target()[1] + [0.0, 1.5]  # person 1 is shown a waypoint 1.5 m to the side
    steered = env.observe(target=shown, goal=shown)
    np.testing.assert_array_equal(steered[0], obs[0])
    changed = np.flatnonzero(steered[1] != obs[1])
    body_inputs = 2 * 67 * 3  # the seed frames' markers come first, the 2 x 5 goal inputs next
    assert len(changed) and changed.min() >= body_inputs and changed.max() < body_inputs + 10
    np.testing.assert_array_equal(env.observe(target=env.target(), goal=env.goal), obs)  # the real ones: same
    # from the state's observation only the goal inputs are redone (no second ray cast): same values
    np.testing.assert_array_equal(env.observe(target=shown, goal=shown, obs=obs), steered)
    np.testing.assert_array_equal(env.target(), real_rewards_target)  # the path itself is unchanged
