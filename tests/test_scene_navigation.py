"""Walkable map, path planning, start/goal sampling and named-object goals on the apartment."""

import numpy as np
import pytest

from egogen.scene import CollisionWorld, NoSolution, load_apartment


@pytest.fixture(scope="module")
def apt():
    return load_apartment(0, use_cache=False)


@pytest.fixture(scope="module")
def obstacles(apt):
    """Collision world of everything but floor and ceiling (walls and furniture)."""
    return CollisionWorld(apt.scene.select(lambda o: o.label not in ("floor", "ceiling")))


def _dense(waypoints, step=0.02):
    pts = [waypoints[0]]
    for a, b in zip(waypoints[:-1], waypoints[1:]):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        pts += list(a + (b - a) * np.linspace(0, 1, n + 1)[1:, None])
    return np.array(pts)


def test_sampled_start_goal_pairs_are_connected_and_paths_keep_the_agent_radius(apt, obstacles):
    r = apt.walkable.radius
    tol = apt.walkable.cell * 0.75  # grid discretisation
    for seed in range(6):
        task = apt.sample_start_goal(seed, min_dist=2.0, max_dist=8.0)
        assert 2.0 <= task.distance <= 8.0
        path = apt.plan_path(task.start, task.goal)
        assert path.reachable, path.reason
        assert np.allclose(path.waypoints[0], task.start) and np.allclose(path.waypoints[-1], task.goal)
        assert path.length >= task.distance - 1e-9
        pts = _dense(path.waypoints)
        for z in (0.15, 0.5, 1.0, 1.7):  # every obstacle height band an agent can hit
            d = obstacles.distance(np.column_stack([pts, np.full(len(pts), z)]))
            assert d.min() >= r - tol, (seed, z, d.min())


def test_sampling_is_deterministic_per_seed_and_varies_across_seeds(apt):
    a, b, c = (apt.sample_start_goal(s, min_dist=1.0) for s in (7, 7, 8))
    assert np.array_equal(a.start, b.start) and np.array_equal(a.goal, b.goal)
    assert not (np.array_equal(a.start, c.start) and np.array_equal(a.goal, c.goal))


def test_geodesic_sampling_respects_path_length(apt):
    t = apt.sample_start_goal(1, min_dist=5.0, max_dist=6.0, metric="geodesic")
    assert 5.0 <= t.geodesic <= 6.0


def test_impossible_distance_raises_no_solution(apt):
    with pytest.raises(NoSolution, match="no start/goal pair"):
        apt.sample_start_goal(0, min_dist=200.0)


def test_goal_inside_furniture_is_reported_unreachable(apt):
    bed = apt.scene.objects_with_label("bed")[0]
    start = apt.sample_start_goal(0).start
    res = apt.plan_path(start, bed.centre[:2])
    assert not res.reachable and "not walkable" in res.reason and len(res.waypoints) == 0


def test_goal_in_another_component_is_reported_unreachable(apt):
    wm = apt.walkable
    if wm.n_components < 2:
        pytest.skip("single component")
    rc = np.argwhere(wm.components == 2)[0]
    start = apt.sample_start_goal(0).start
    res = apt.plan_path(start, wm.cell_to_world(rc))
    assert not res.reachable and "component" in res.reason


def test_named_object_goal_is_a_reachable_standing_point_in_front_of_it(apt):
    start = apt.sample_start_goal(0).start
    for label in ("sofa", "kitchen counter", "bed"):
        g = apt.object_goal(label, seed=0, start=start)
        assert apt.walkable.is_walkable(g.point)
        assert apt.plan_path(start, g.point).reachable
        assert g.distance <= apt.walkable.radius + 0.6 + 1e-9
        obj = apt.scene.objects[g.instance_id]
        v = obj.centre[:2] - g.point
        assert np.dot(v / np.linalg.norm(v), [np.cos(g.yaw), np.sin(g.yaw)]) > 0.99  # faces it
        assert np.dot(g.point - obj.centre[:2], obj.front) > 0  # in front, not behind


def test_unknown_object_label_lists_the_known_labels(apt):
    with pytest.raises(NoSolution, match="sofa"):
        apt.object_goal("spaceship")


def test_walkable_map_blocks_furniture_and_keeps_radius_from_walls(apt):
    wm = apt.walkable
    for o in apt.scene.objects:
        if o.label in ("bed", "sofa", "kitchen_counter", "wardrobe"):
            assert not wm.is_walkable(o.centre[:2]) and not wm.free[tuple(wm.world_to_cell(o.centre[:2]))]
    assert (wm.clearance[wm.walkable] >= wm.radius).all()
    assert not (wm.walkable & ~wm.floor).any()


def test_paths_keep_to_the_middle_where_there_is_room_and_stay_near_shortest(apt):
    from egogen.scene.planning import GridGraph, plan_path

    wm = apt.walkable
    shortest_graph = GridGraph(wm)
    gained = []
    for seed in range(8):
        task = apt.sample_start_goal(seed, min_dist=3.0, max_dist=9.0)
        comfy = apt.plan_path(task.start, task.goal)  # PreparedScene: clearance-weighted
        short = plan_path(wm, task.start, task.goal, shortest_graph)
        assert comfy.reachable and short.reachable
        assert wm.is_walkable(_dense(comfy.waypoints)).all()
        assert short.length - 1e-9 <= comfy.length <= 1.5 * short.length
        c_comfy = wm.clearance_at(_dense(comfy.waypoints)[5:-5])
        c_short = wm.clearance_at(_dense(short.waypoints)[5:-5])
        gained.append(np.mean(c_comfy) - np.mean(c_short))
    # on average the comfortable path is clearly farther from walls and furniture
    assert np.mean(gained) > 0.05, gained
