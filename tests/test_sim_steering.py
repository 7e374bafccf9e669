"""The steering layer: time to collision, velocity choice, the waypoints shown to the policy."""

import numpy as np
import pytest

from egogen.sim.steering import SteeringConfig, choose_velocities, observed_targets, time_to_collision


def open_floor(xy):
    return np.full(np.shape(xy)[:-1], 10.0)


def test_time_to_collision_of_two_people_walking_head_on():
    # the other 2 m ahead, closing at 2 m/s: 0.5 m apart after 0.75 s
    assert time_to_collision(np.array([2.0, 0.0]), np.array([2.0, 0.0]), 0.5) == pytest.approx(0.75)
    # walking apart, side by side at the same velocity, or passing 1 m to the side: never
    assert np.isinf(time_to_collision(np.array([2.0, 0.0]), np.array([-1.0, 0.0]), 0.5))
    assert np.isinf(time_to_collision(np.array([0.0, 1.0]), np.array([0.0, 0.0]), 0.5))
    assert np.isinf(time_to_collision(np.array([3.0, 1.0]), np.array([2.0, 0.0]), 0.5))
    # already closer than the radius: 0 while closing in, never while moving apart
    assert time_to_collision(np.array([0.3, 0.0]), np.array([1.0, 0.0]), 0.5) == 0.0
    assert np.isinf(time_to_collision(np.array([0.3, 0.0]), np.array([-1.0, 0.0]), 0.5))


def test_a_person_alone_keeps_its_way_and_speed():
    v, steered = choose_velocities(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[4.0, 0.0]]),
                                   np.array([0]), open_floor)
    assert not steered[0]
    np.testing.assert_allclose(v[0], [SteeringConfig().preferred_speed, 0.0])


def test_two_people_head_on_2_5_m_apart_both_give_way_to_their_right():
    pos = np.array([[0.0, 0.0], [2.5, 0.05]])
    vel = np.array([[1.1, 0.0], [-1.1, 0.0]])
    target = np.array([[6.0, 0.0], [-3.0, 0.0]])
    v, steered = choose_velocities(pos, vel, target, np.array([0, 0]), open_floor)
    assert steered.all()
    assert v[0, 1] < -0.1 and v[1, 1] > 0.1, v  # right of +x is -y, right of -x is +y
    # the chosen velocities take each out of the other's way (time to collision beyond the horizon
    # or later than walking straight on)
    for i, j in ((0, 1), (1, 0)):
        straight = time_to_collision(pos[j] - pos[i], vel[i] - vel[j], SteeringConfig().radius)
        chosen = time_to_collision(pos[j] - pos[i], v[i] - vel[j], SteeringConfig().radius)
        assert chosen > straight


def test_people_of_different_scenes_do_not_avoid_each_other():
    pos = np.array([[0.0, 0.0], [2.5, 0.05]])
    vel = np.array([[1.1, 0.0], [-1.1, 0.0]])
    target = np.array([[6.0, 0.0], [-3.0, 0.0]])
    _, steered = choose_velocities(pos, vel, target, np.array([0, 1]), open_floor)
    assert not steered.any()


def test_a_wall_on_the_right_rules_out_stepping_into_it():
    def wall_right(xy):  # a wall along y = -0.45: clearance is the distance to it
        return np.asarray(xy)[..., 1] + 0.45

    cfg = SteeringConfig()
    pos = np.array([[0.0, 0.0], [2.5, 0.0]])
    vel = np.array([[1.1, 0.0], [-1.1, 0.0]])
    target = np.array([[6.0, 0.0], [-3.0, 0.0]])
    v, steered = choose_velocities(pos, vel, target, np.array([0, 0]), wall_right, cfg)
    assert steered[0]
    for t in cfg.look_ahead:  # person 0 would have to step towards the wall: it goes left or slows
        assert wall_right(pos[0] + v[0] * t) >= cfg.wall_clearance
    free, _ = choose_velocities(pos, vel, target, np.array([0, 0]), open_floor, cfg)
    assert free[0, 1] < 0 and not np.allclose(v[0], free[0])


def test_observed_targets_turn_slow_down_or_stop():
    cfg = SteeringConfig()
    pos = np.zeros((4, 2))
    target = np.tile([4.0, 0.0], (4, 1))
    goal = np.tile([8.0, 0.0], (4, 1))
    velocity = np.array([[0.0, -cfg.preferred_speed], [0.6, 0.0], [0.0, 0.0], [1.1, 0.0]])
    steered = np.array([True, True, True, False])
    t, g = observed_targets(pos, velocity, steered, target, goal, cfg)
    np.testing.assert_allclose(t[0], [0.0, -cfg.ahead])  # a turn at full speed: new waypoint, same goal
    assert np.isnan(g[0]).all()
    np.testing.assert_allclose(t[1], [cfg.ahead * 0.6 / cfg.preferred_speed, 0.0])  # slower: goal comes close
    np.testing.assert_allclose(g[1], t[1])
    np.testing.assert_allclose(t[2], [cfg.stop_ahead, 0.0])  # a stop: both just ahead
    np.testing.assert_allclose(g[2], t[2])
    assert np.isnan(t[3]).all() and np.isnan(g[3]).all()  # not steered: the real path


def test_a_wall_margin_makes_people_give_way_away_from_furniture():
    def wall_right(xy):  # a wall along y = -0.9: a side step to the right is allowed, but close
        return np.asarray(xy)[..., 1] + 0.9

    pos = np.array([[0.0, 0.0], [2.5, 0.0]])
    vel = np.array([[1.1, 0.0], [-1.1, 0.0]])
    target = np.array([[6.0, 0.0], [-3.0, 0.0]])

    def closest(cfg):
        v, steered = choose_velocities(pos, vel, target, np.array([0, 0]), wall_right, cfg)
        assert steered[0]
        return v[0], min(float(wall_right(pos[0] + v[0] * t)) for t in cfg.look_ahead)

    v_hard, near_hard = closest(SteeringConfig(wall_margin=0.0))
    v_soft, near_soft = closest(SteeringConfig(wall_margin=0.5))
    assert v_hard[1] < 0 and near_hard < 0.5  # without the margin it steps right, within 0.5 m of the wall
    assert near_soft > near_hard + 0.1 and near_soft >= 0.5, (v_soft, near_soft)  # it gives way on the free side
    # on open floor the margin changes nothing
    free = [choose_velocities(pos, vel, target, np.array([0, 0]), open_floor, SteeringConfig(wall_margin=m))[0]
            for m in (0.0, 0.5)]
    np.testing.assert_allclose(free[0], free[1])
