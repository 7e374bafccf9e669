"""Ego-sensing: walls and other people show up at their distance, in the right direction."""

import numpy as np
import pytest

from egogen.scene import Capsules, load_scene
from egogen.sim.sensing import SensingConfig, ego_depth, normalise_depth


@pytest.fixture(scope="module")
def box_floor():
    ps = load_scene("floor:0", use_cache=False)
    box = next(o for o in ps.scene.objects if o.label == "box")
    return ps, np.asarray(box.bounds)


def test_box_ahead_appears_at_its_distance_and_only_in_front(box_floor):
    ps, b = box_floor
    cfg = SensingConfig(h_rays=33, v_rays=3, elevation_deg=(-10.0, 0.0))
    y = 0.5 * (b[0, 1] + b[1, 1])
    eye = np.array([[b[0, 0] - 2.0, y, min(1.0, b[1, 2] - 0.1)]])  # 2 m in front of the box's -x face
    d = ego_depth(ps.collision, eye, np.array([0.0]), cfg)  # heading +x: the box is ahead
    centre = d[0, 0, cfg.h_rays // 2]  # level row, straight ahead
    assert centre == pytest.approx(2.0, abs=0.02)
    assert d[0, 0, 0] == pytest.approx(cfg.max_range) and d[0, 0, -1] == pytest.approx(cfg.max_range)
    behind = ego_depth(ps.collision, eye, np.array([np.pi]), cfg)  # turned around: nothing ahead
    assert behind[0, 0, cfg.h_rays // 2] == pytest.approx(cfg.max_range)


def test_ray_grid_turns_with_heading_left_is_first(box_floor):
    ps, b = box_floor
    cfg = SensingConfig(h_rays=33, v_rays=1, elevation_deg=(0.0, 0.0))
    y = 0.5 * (b[0, 1] + b[1, 1])
    eye = np.array([[b[0, 0] - 2.0, y, 0.3]])
    d = ego_depth(ps.collision, eye, np.array([-np.pi / 2]), cfg)  # facing -y: the box is on the left
    hit_cols = np.flatnonzero(d[0, 0] < cfg.max_range)
    assert len(hit_cols) and hit_cols.max() < cfg.h_rays // 2  # left half of the grid
    assert d[0, 0, 0] == pytest.approx(2.0, abs=0.05)  # the leftmost ray points at +x


def test_another_person_ahead_is_seen_and_oneself_is_not():
    ps = load_scene("floor", use_cache=False)
    cfg = SensingConfig(h_rays=33, v_rays=1, elevation_deg=(0.0, 0.0))
    agents = np.array([[3.0, 5.0], [6.0, 5.0]])
    people = Capsules.people(agents, radius=0.25)
    eyes = np.array([[3.0, 5.0, 1.2], [6.0, 5.0, 1.2]])  # at chest height the capsule is a cylinder
    d = ego_depth(ps.collision, eyes, np.array([0.0, 0.0]), cfg, others=people, self_index=np.array([0, 1]))
    assert d[0, 0, 16] == pytest.approx(3.0 - 0.25, abs=0.01)  # agent 0 sees agent 1's front surface
    assert d[1, 0, 16] == pytest.approx(cfg.max_range)  # agent 1 looks away, sees nothing
    n = normalise_depth(d, cfg)
    assert n.min() >= -1 and n.max() <= 1 and n[1, 0, 16] == pytest.approx(1.0)
