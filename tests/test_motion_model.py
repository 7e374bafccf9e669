"""Motion model: exact sparse markers, C-VAE and regressor shapes, roll-out helpers, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from egogen.body import load_body_model
from egogen.motion.canonical import canonical_frame
from egogen.motion.cvae import CVAEConfig, MotionCVAE, cvae_loss, robust_kl
from egogen.motion.evaluate import foot_metrics, posture_metrics
from egogen.motion.markers import MarkerBody
from egogen.motion.regressor import MarkerRegressor, RegressorConfig, unpack
from egogen.motion.rollout import MarkerJoints, canonical_frame_t, rollout
from egogen.motion.rot6d import mat_to_rot6d, rot6d_to_mat


@pytest.fixture(scope="module")
def body():
    return load_body_model(num_betas=16)


@pytest.fixture(scope="module")
def mbody(body):
    return MarkerBody(body)


def _random_pose(B, seed=0):
    g = torch.Generator().manual_seed(seed)
    betas = torch.randn(B, 16, generator=g)
    aa = torch.randn(B, 22, 3, generator=g) * 0.4
    R = torch.as_tensor(Rotation.from_rotvec(aa.reshape(-1, 3).numpy()).as_matrix(), dtype=torch.float32)
    return betas, aa, R.reshape(B, 22, 3, 3), torch.randn(B, 3, generator=g)


def test_sparse_marker_body_equals_the_full_body_model(body, mbody):
    betas, aa, R, tr = _random_pose(4)
    out = body(betas=betas, global_orient=aa[:, 0], body_pose=aa[:, 1:].reshape(4, 63), transl=tr)
    m, j = mbody(betas, R, tr)
    assert m.shape == (4, 67, 3) and j.shape == (4, 22, 3)
    torch.testing.assert_close(m, body.marker_positions(out.vertices), atol=2e-5, rtol=0)
    torch.testing.assert_close(j, out.joints[:, :22], atol=2e-5, rtol=0)


def test_rot6d_round_trip():
    _, _, R, _ = _random_pose(5, seed=1)
    torch.testing.assert_close(rot6d_to_mat(mat_to_rot6d(R)), R, atol=1e-5, rtol=0)


def test_cvae_shapes_and_residual_start():
    cfg = CVAEConfig(hidden=16, latent=4)
    m = MotionCVAE(cfg)
    hist, fut = torch.randn(3, 2, 201), torch.randn(3, 13, 201)
    pred, mu, lv = m(hist, fut)
    assert pred.shape == (3, 13, 201) and mu.shape == lv.shape == (3, 4)
    assert m.decode(hist, torch.zeros(3, 4), steps=5).shape == (3, 5, 201)
    # zero-initialised output layer: an untrained decoder holds the last history frame
    torch.testing.assert_close(m.sample(hist), hist[:, -1:].expand(-1, 13, -1))
    loss, parts = cvae_loss(pred, fut, hist, mu, lv)
    assert loss.ndim == 0 and set(parts) == {"rec", "diff", "kl"}


def test_robust_kl_is_zero_at_the_prior_and_grows():
    z = torch.zeros(2, 8)
    assert float(robust_kl(z, z)) == 0.0
    assert float(robust_kl(z + 1, z)) > float(robust_kl(z + 0.5, z)) > 0


def test_regressor_shapes_and_neutral_start_faces_forward(mbody):
    reg = MarkerRegressor(RegressorConfig(hidden=32, blocks=1))
    outs = reg(torch.randn(2, 67, 3), torch.zeros(2, 16))
    assert len(outs) == 3 and all(o.shape == (2, 135) for o in outs)
    R, t = unpack(outs[-1])
    assert R.shape == (2, 22, 3, 3) and t.shape == (2, 3)
    m, j = mbody(torch.zeros(2, 16), R, t)  # untrained: the neutral start pose
    R0, _ = canonical_frame(j[0].detach().double().numpy())
    np.testing.assert_allclose(R0, np.eye(3), atol=1e-5)  # canonical: right hip +x, facing +y, z up


def test_marker_joints_are_rigid_equivariant_and_fit_joints(mbody):
    betas, _, R, tr = _random_pose(64, seed=2)
    R = R.clone()
    R[:, 1:] = torch.eye(3) + 0.3 * (R[:, 1:] - torch.eye(3))  # moderate poses
    R[:, 1:] = rot6d_to_mat(mat_to_rot6d(R[:, 1:]))
    m, j = mbody(betas * 0.3, R, tr)
    mj = MarkerJoints.fit(m.numpy(), j.numpy())
    torch.testing.assert_close(mj.weights.sum(1), torch.ones(22), atol=1e-4, rtol=0)
    assert float((mj(m) - j).norm(dim=-1).mean()) < 0.02
    Q = torch.as_tensor(Rotation.from_euler("z", 70, degrees=True).as_matrix(), dtype=torch.float32)
    moved = m @ Q.T + torch.tensor([1.0, -2.0, 0.0])
    torch.testing.assert_close(mj(moved), mj(m) @ Q.T + torch.tensor([1.0, -2.0, 0.0]), atol=1e-4, rtol=0)


def test_torch_canonical_frame_matches_numpy():
    j = np.random.default_rng(3).normal(size=(4, 22, 3))
    R, o = canonical_frame(j)
    Rt, ot = canonical_frame_t(torch.as_tensor(j))
    np.testing.assert_allclose(Rt.numpy(), R, atol=1e-12)
    np.testing.assert_allclose(ot.numpy(), o, atol=1e-12)


def test_rollout_chains_primitives_through_two_seed_frames():
    torch.manual_seed(0)
    cvae = MotionCVAE(CVAEConfig(hidden=16, latent=4))
    W = torch.zeros(22, 67)
    W[0, 0], W[1, 1], W[2, 2] = 1, 1, 1  # pelvis, left hip, right hip = markers 0, 1, 2
    seed = torch.randn(2, 2, 67, 3)
    seed[:, :, 1] = seed[:, :, 0] + torch.tensor([-0.1, 0, 0])
    seed[:, :, 2] = seed[:, :, 0] + torch.tensor([0.1, 0, 0])
    out = rollout(cvae, MarkerJoints(W), seed, 3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 2 + 39, 67, 3)
    torch.testing.assert_close(out[:, :2], seed)
    # untrained decoder holds the last frame: the world motion is frozen, frames stay world
    torch.testing.assert_close(out[:, -1], seed[:, -1], atol=1e-5, rtol=0)


def test_foot_metrics_static_and_sliding_feet(body):
    names = body.markers.names
    T = 10
    m = torch.zeros(1, T, 67, 3)
    m[..., 2] = 1.0
    feet = [names.index(n) for n in ("LHEE", "LTOE", "LMT1", "LMT5", "RHEE", "RTOE", "RMT1", "RMT5")]
    m[:, :, feet, 2] = 0.02
    r = foot_metrics(m, names)
    assert r["foot_skating_cm_s"] == 0 and r["contact_score"] == pytest.approx(1.0)
    m[:, :, feet, 0] = torch.arange(T)[:, None] * 0.5 / 30  # feet slide at 0.5 m/s
    r = foot_metrics(m, names)
    assert r["foot_skating_cm_s"] == pytest.approx(50, rel=1e-5)
    assert r["contact_score"] == pytest.approx(np.exp(-(0.5 - 0.075)), rel=1e-5)


def test_posture_metrics_detect_a_fall():
    j = torch.zeros(2, 5, 22, 3)
    j[:, :, 0, 2] = 0.9
    j[:, :, 12, 2] = 1.4  # neck above pelvis
    j[1, 3:, 12] = torch.tensor([0.5, 0.0, 0.95])  # second sequence topples
    r = posture_metrics(j)
    assert r["upright_fraction"] == 0.5 and r["pelvis_height_std_cm"] == pytest.approx(0.0)


def test_prior_rollout_loss_is_zero_for_a_still_upright_person_and_grows_with_slide_tilt_and_sink(body):
    from egogen.motion.physical import FOOT_MARKERS, contact_excess, prior_rollout_loss

    names = body.markers.names
    feet = [names.index(n) for n in FOOT_MARKERS]
    T = 12
    m = torch.zeros(1, 2 + T, 67, 3, requires_grad=False)
    m[:, :, feet, 2] = 0.02
    j = torch.zeros(1, T, 22, 3)
    j[..., 0, 2] = 0.9
    j[..., 12, 2] = 1.4
    seed_pz = torch.tensor([0.9])
    contact, posture = prior_rollout_loss(m, j, feet, 30.0, seed_pz)
    assert float(contact) == 0.0 and float(posture) == 0.0
    # the excesses are the DIMOS contact score's negative log: sliding at 0.5 m/s
    slide = m.clone()
    slide[:, :, feet, 0] = torch.arange(2 + T)[:, None] * 0.5 / 30
    sp, ht = contact_excess(slide[:, :, feet], 30.0)
    torch.testing.assert_close(sp, torch.full_like(sp, 0.5 - 0.075))
    assert float(ht.abs().max()) == 0.0
    assert float(prior_rollout_loss(slide, j, feet, 30.0, seed_pz)[0]) == pytest.approx(0.425, rel=1e-5)
    # a floating foot (lowest marker 0.3 m up) and a tilted, sunk body are penalised, with gradients
    float_m = m.clone()
    float_m[:, :, feet, 2] = 0.3
    assert float(prior_rollout_loss(float_m, j, feet, 30.0, seed_pz)[0]) == pytest.approx(0.25, rel=1e-5)
    bad = j.clone().requires_grad_(True)
    with torch.no_grad():
        bad[:, 6:, 12] = torch.tensor([0.5, 0.0, 0.9])  # neck 60+ deg from vertical
        bad[:, 6:, 0, 2] = 0.6  # pelvis 0.3 m below the seed
    _, posture = prior_rollout_loss(m, bad, feet, 30.0, seed_pz)
    assert float(posture) > 0.1
    posture.backward()
    assert float(bad.grad[:, 6:, 0, 2].abs().sum()) > 0
