"""Pinhole and fisheye camera models: projection and unprojection agree."""

import numpy as np
import pytest

from egogen.render.camera import CameraModel, load_rig


@pytest.mark.parametrize("preset", ["pinhole", "hololens2", "aria"])
def test_unproject_then_project_returns_the_pixel(preset):
    cam = load_rig(preset).camera
    rng = np.random.default_rng(0)
    uv = rng.uniform([0, 0], [cam.width, cam.height], size=(200, 2))
    rays = cam.unproject(uv)
    assert np.allclose(np.linalg.norm(rays, axis=1), 1.0)
    back, valid = cam.project(rays * rng.uniform(0.5, 5.0, size=(200, 1)))
    assert valid.all()
    assert np.abs(back - uv).max() < 1e-6


def test_principal_point_is_the_optical_axis_and_points_behind_are_invalid():
    cam = CameraModel("pinhole", 640, 480, 500, 500, 320, 240)
    uv, valid = cam.project(np.array([[0, 0, 2.0], [0.1, 0, -1.0]]))
    assert np.allclose(uv[0], [320, 240]) and valid.tolist() == [True, False]
    assert cam.horizontal_fov_deg() == pytest.approx(2 * np.degrees(np.arctan(320 / 500)))


def test_fisheye_sees_wider_than_a_pinhole_of_the_same_focal_length():
    fish = CameraModel("fisheye", 1000, 1000, 300, 300, 500, 500)
    pin = CameraModel("pinhole", 1000, 1000, 300, 300, 500, 500)
    assert fish.horizontal_fov_deg() > pin.horizontal_fov_deg() + 20
    p = np.array([[np.sin(np.radians(80)), 0, np.cos(np.radians(80))]])  # 80 deg off axis
    uv, valid = fish.project(p)
    assert valid[0] and uv[0, 0] == pytest.approx(500 + 300 * np.radians(80))  # r = f * theta


def test_bad_intrinsics_are_rejected():
    with pytest.raises(ValueError, match="unknown camera model"):
        CameraModel("orthographic", 10, 10, 1, 1, 5, 5)
    with pytest.raises(ValueError, match="positive"):
        CameraModel("pinhole", 0, 10, 1, 1, 5, 5)
