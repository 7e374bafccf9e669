"""The precomputed SDF grid agrees with open3d's exact signed distance."""

import numpy as np

from egogen.scene import load_scene


def test_grid_matches_exact_distance_and_sign_inside_and_outside_a_box():
    ps = load_scene("floor:0", use_cache=False)
    box = np.asarray(next(o for o in ps.scene.objects if o.label == "box").bounds)
    c = box.mean(axis=0)
    inside = c + np.array([[0, 0, 0.0], [0.05, -0.05, 0.05]])
    outside = np.array([[c[0], c[1], box[1, 2] + 0.3], [box[1, 0] + 0.4, c[1], 0.5], [1.0, 1.0, 1.0]])
    grid = ps.sdf
    assert (grid(inside) < 0).all() and (grid(outside) > 0).all()
    rng = np.random.default_rng(0)
    pts = rng.uniform([0.5, 0.5, 0.1], [9.5, 9.5, 2.0], (2000, 3))
    exact = ps.collision.signed_distance(pts)
    far = np.abs(exact) > 0.1
    assert np.median(np.abs(grid(pts) - exact)) < 0.01
    assert ((grid(pts) < 0) == (exact < 0))[far].mean() > 0.99
    assert grid(pts.reshape(2, 1000, 3)).shape == (2, 1000)
