"""Similarity alignment (Umeyama) and ATE, as the COLMAP benchmark uses them."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from egogen.render.trajectory import ate, fit_rotation, rotation_errors_deg, umeyama


def _walk(n=50, seed=0):
    """A walking-like camera track: 10 m of wandering path at head height, metres."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 10, n)
    return np.stack([t, np.sin(t / 2) * 2 + 0.05 * rng.standard_normal(n), 1.6 + 0.03 * np.sin(6 * t)], 1)


def test_a_known_similarity_is_recovered_exactly():
    truth = _walk()
    R = Rotation.from_euler("xyz", [30, -50, 110], degrees=True).as_matrix()
    s, t = 0.37, np.array([4.0, -2.0, 9.0])
    est = (truth - t) @ R / s  # truth = s R est + t
    T = umeyama(est, truth)
    assert T.s == pytest.approx(s, rel=1e-10)
    assert np.allclose(T.R, R, atol=1e-10) and np.allclose(T.t, t, atol=1e-9)
    assert np.allclose(T.matrix()[:3, :3], s * R)
    rmse, _, err = ate(est, truth)
    assert rmse < 1e-9 and err.shape == (50,)


def test_isotropic_noise_gives_its_expected_ate():
    truth = _walk(2000, seed=1)
    sigma = 0.02  # 2 cm per axis -> RMSE of the 3D error ~ sigma * sqrt(3) (minus the 7 fitted dof)
    rng = np.random.default_rng(2)
    R = Rotation.from_rotvec([0.3, 0.2, -1.0]).as_matrix()
    est = ((truth + sigma * rng.standard_normal(truth.shape)) - 1.0) @ R / 2.5
    rmse, T, _ = ate(est, truth)
    assert rmse == pytest.approx(sigma * np.sqrt(3), rel=0.05)
    assert T.s == pytest.approx(2.5, rel=0.01)


def test_a_reflection_is_never_returned():
    truth = np.random.default_rng(3).uniform(-2, 2, (40, 3))  # spread in 3D: a mirror is not a rotation
    mirrored = truth * np.array([1.0, -1.0, 1.0])
    T = umeyama(mirrored, truth)
    assert np.linalg.det(T.R) == pytest.approx(1.0)
    assert ate(mirrored, truth)[0] > 0.1  # a mirror image cannot be rotated onto the track


def test_rigid_alignment_keeps_the_scale():
    truth = _walk()
    rmse, T, _ = ate(truth * 2.0, truth, with_scale=False)
    assert T.s == 1.0 and rmse > 1.0


def test_rotation_errors_after_alignment():
    R_true = Rotation.from_euler("z", np.linspace(0, 90, 5)[:, None], degrees=True).as_matrix()
    A = Rotation.from_euler("x", 40, degrees=True).as_matrix()
    R_est = np.einsum("ij,njk->nik", A.T, R_true)  # the estimate's frame is turned by A^T
    T = umeyama(_walk(5) @ A, _walk(5))
    assert np.allclose(rotation_errors_deg(R_est, R_true, T.R), 0, atol=1e-6)
    assert np.allclose(fit_rotation(R_est, R_true), A)  # fitted from the orientations alone
    assert np.allclose(rotation_errors_deg(R_est, R_true), 0, atol=1e-6)
    wobble = Rotation.from_rotvec([[np.radians(2.0) * (-1) ** i, 0.0, 0.0] for i in range(5)]).as_matrix()
    assert np.allclose(rotation_errors_deg(np.einsum("nij,njk->nik", R_est, wobble), R_true, A), 2.0)


@pytest.mark.parametrize("src,dst", [(np.zeros((2, 3)), np.zeros((2, 3))), (np.zeros((5, 3)), np.ones((5, 3))),
                                     (np.ones((5, 2)), np.ones((5, 2))), (np.ones((5, 3)), np.ones((4, 3)))])
def test_degenerate_inputs_raise(src, dst):
    with pytest.raises(ValueError):
        umeyama(src, dst)
