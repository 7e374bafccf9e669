"""Batched collision queries: rays (depth, instance, normal), SDF/occupancy, dynamic people."""

import numpy as np
import pytest

from egogen.scene import Capsules, CollisionWorld, load_apartment
from egogen.scene.collision import DYNAMIC_ID_BASE, NO_HIT


@pytest.fixture(scope="module")
def apt():
    return load_apartment(2, use_cache=False)


def test_sdf_is_negative_inside_furniture_and_positive_on_open_floor(apt):
    inside = []
    for o in apt.scene.objects:
        if o.label in ("bed", "wardrobe", "kitchen_counter", "fridge", "tv_stand"):
            c = o.centre.copy()
            c[2] = 0.3  # solid part of each of these
            inside.append(c)
    assert len(inside) >= 3
    wm = apt.walkable
    open_xy = wm.cell_to_world(np.argwhere(wm.walkable)[::200])
    open_pts = np.column_stack([open_xy, np.full(len(open_xy), 1.0)])
    sd_in = apt.collision.signed_distance(np.array(inside))
    sd_out = apt.collision.signed_distance(open_pts)
    assert (sd_in < 0).all(), sd_in
    assert (sd_out > wm.radius - 0.05).all()
    assert apt.collision.occupancy(np.array(inside)).all()
    assert not apt.collision.occupancy(open_pts).any()


def test_eye_height_ray_hits_the_wall_at_the_right_distance(apt):
    structure = CollisionWorld(apt.scene.select(lambda o: o.label in ("wall", "floor", "ceiling")))
    t_half = 0.05
    checked = 0
    for room in apt.scene.rooms:
        x0, y0, x1, y1 = room.rect
        c = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.6])
        dirs = {"+x": ([1, 0, 0], x1 - t_half - c[0], 1), "-x": ([-1, 0, 0], c[0] - x0 - t_half, 1),
                "+y": ([0, 1, 0], y1 - t_half - c[1], 0), "-y": ([0, -1, 0], c[1] - y0 - t_half, 0)}
        for d, expected, along in dirs.values():
            if any(abs(dc[along] - c[along]) < w / 2 + 0.05 and abs(dc[1 - along] - (c[1 - along] + np.sign(sum(d)) * (expected + t_half))) < 1e-6
                   for dc, w, _, _ in room.doors):
                continue  # the ray leaves through a door opening
            hit = structure.cast_rays(c[None], np.array([d], float))
            assert hit.t[0] == pytest.approx(expected, abs=1e-4)
            assert apt.scene.objects[hit.instance[0]].label == "wall"
            assert np.dot(hit.normal[0], d) == pytest.approx(-1.0, abs=1e-5)  # faces the viewer
            checked += 1
    assert checked >= 8


def test_batched_casts_keep_leading_shape_and_report_misses(apt):
    o = np.zeros((4, 3, 3))
    o[..., :2] = apt.walkable.cell_to_world(np.argwhere(apt.walkable.walkable)[0])
    o[..., 2] = 1.0
    d = np.zeros((4, 3, 3))
    d[..., 2] = 1.0  # straight up: hits the ceiling
    hits = apt.collision.cast_rays(o, d)
    assert hits.t.shape == (4, 3) and hits.normal.shape == (4, 3, 3)
    assert np.allclose(hits.t, 2.6 - 1.0, atol=1e-4)
    assert {apt.scene.objects[i].label for i in hits.instance.ravel()} == {"ceiling"}
    miss = apt.collision.cast_rays(np.array([[0.0, 0.0, 50.0]]), np.array([[0.0, 0.0, 1.0]]))
    assert miss.instance[0] == NO_HIT and np.isinf(miss.t[0])


def test_dynamic_people_are_hit_before_the_static_scene_without_rebuild(apt):
    wm = apt.walkable
    xy = wm.cell_to_world(np.argwhere(wm.clearance > 0.9)[0])
    me = np.array([*xy, 1.6])
    other = xy + np.array([0.8, 0.0])
    people = Capsules.people(np.array([xy, other]), radius=0.2, height=1.9)
    rays_o = np.array([me, me])
    rays_d = np.array([[1.0, 0, 0], [1.0, 0, 0]])
    hits = apt.collision.cast_rays(rays_o, rays_d, dynamic=people, ignore=np.array([0, -1]))
    # ray 0 ignores its own capsule and sees the other person 0.8 - 0.2 m away
    assert hits.instance[0] == DYNAMIC_ID_BASE + 1 and hits.t[0] == pytest.approx(0.6, abs=1e-5)
    # ray 1 starts inside its own capsule, which is not reported; it also sees person 1
    assert hits.instance[1] == DYNAMIC_ID_BASE + 1
    assert np.allclose(hits.normal[0], [-1, 0, 0], atol=1e-5)
    static = apt.collision.cast_rays(rays_o, rays_d)
    assert (static.t > 0.6).all()  # nothing static in between: the capsule is what was hit
    sd = apt.collision.signed_distance(np.array([[*other, 1.0], [*other, 2.5]]), dynamic=people)
    assert sd[0] == pytest.approx(-0.2, abs=1e-5) and sd[1] > 0


def test_ray_over_capsule_top_misses_it(apt):
    people = Capsules.people(np.array([[0.0, 0.0]]), radius=0.25, height=1.75)
    t = people.intersect(np.array([[-2.0, 0.0, 1.80], [-2.0, 0.0, 1.70], [-2.0, 0.0, 0.1]]),
                         np.array([[1.0, 0, 0]] * 3))
    assert np.isinf(t[0, 0])
    assert t[1, 0] == pytest.approx(2.0 - np.sqrt(0.25 ** 2 - 0.2 ** 2), abs=1e-6)  # top cap
    assert t[2, 0] == pytest.approx(2.0 - np.sqrt(0.25 ** 2 - 0.15 ** 2), abs=1e-6)  # bottom cap
