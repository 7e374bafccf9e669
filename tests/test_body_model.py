"""The default body: an SMPL-X-format model that behaves like SMPL-X."""

import numpy as np
import pytest
import smplx
import torch

from egogen.body import JOINT_INDEX, JOINT_NAMES, PARENTS, load_body_model
from egogen.body.kinematics import smplx_fk, smplx_local_rotations
from egogen.body.skeleton import body_pose_slice
from egogen.npz import npz_bytes


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def test_default_body_is_a_plain_smplx_model_and_forward_runs_batched(body):
    assert isinstance(body.smplx, smplx.SMPLX)
    B = 3
    torch.manual_seed(0)
    betas, pose = torch.randn(1, 10).expand(B, 10) * 0.5, torch.randn(1, 63).expand(B, 63) * 0.1
    out = body(betas=betas, body_pose=pose, transl=torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 2, 0]]))
    assert out.vertices.shape == (B, body.num_vertices, 3)
    assert out.joints.shape[0] == B and out.joints.shape[1] >= 55
    assert torch.isfinite(out.vertices).all()
    # the same body with another transl is the same mesh moved rigidly
    assert torch.allclose(out.vertices[1] - out.vertices[0], torch.tensor([1.0, 0, 0]).expand(body.num_vertices, 3), atol=1e-5)
    assert not torch.allclose(out.vertices[0], body().vertices[0], atol=1e-3)  # betas and pose took effect


def test_kinematic_tree_equals_smplx(body, shared_dir):
    import json

    ref = json.loads((shared_dir / "reference" / "smplx_skeleton.json").read_text())
    assert list(JOINT_NAMES) == ref["names"]
    parents = body.parents.tolist()
    assert parents == ref["parents"] == list(PARENTS)
    assert body.smplx.J_regressor.shape[0] == 55


def test_mean_shape_height_and_rest_pose_is_upright_t_pose(body):
    out = body()
    v = out.vertices[0].numpy()
    J = out.joints[0].numpy()
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.55 <= height <= 1.90
    feet = [JOINT_INDEX[n] for n in ("left_foot", "right_foot", "left_ankle", "right_ankle")]
    assert J[:55, 1].argmin() in feet  # feet lowest (Y up)
    assert v[:, 1].argmax() in np.flatnonzero(body.smplx.lbs_weights[:, JOINT_INDEX["head"]].numpy() > 0.5)
    # T-pose: arms horizontal along +-x (x = the body's left), face forward (+z)
    for side, sign in (("left", 1), ("right", -1)):
        arm = J[JOINT_INDEX[f"{side}_wrist"]] - J[JOINT_INDEX[f"{side}_shoulder"]]
        assert arm[0] * sign > 0.4 and abs(arm[1]) < 0.03 and abs(arm[2]) < 0.03
    nose = J[55]  # first extra keypoint is the nose
    assert nose[2] > J[JOINT_INDEX["head"], 2] + 0.05
    # pelvis joint at the canonical origin for any shape (world pelvis = transl)
    out2 = body(betas=torch.randn(4, 10))
    assert out2.joints[:, 0].abs().max() < 5e-3


def test_sampled_betas_change_height_both_ways(body):
    torch.manual_seed(0)
    h = body.rest_height(torch.randn(64, 10)).numpy()
    h0 = float(body.rest_height()[0])
    assert h.min() < h0 - 0.1 and h.max() > h0 + 0.1
    assert h.min() > 0.9 and h.max() < 2.3  # children to tall adults, no monsters


def test_elbow_rotation_bends_forearm_as_smplx_defines(body):
    """Local joint frames equal the canonical frame at rest, so a body_pose rotation R at the
    left elbow turns the forearm direction d into R d: -90 deg about y swings the left forearm
    (+x) to point forward (+z), as on SMPL-X."""
    pose = torch.zeros(1, 63)
    pose[0, body_pose_slice("left_elbow")] = torch.tensor([0.0, -np.pi / 2, 0.0])
    rest, bent = body().joints[0], body(body_pose=pose).joints[0]
    e, w, s = JOINT_INDEX["left_elbow"], JOINT_INDEX["left_wrist"], JOINT_INDEX["left_shoulder"]
    d0 = (rest[w] - rest[e]) / (rest[w] - rest[e]).norm()
    d1 = (bent[w] - bent[e]) / (bent[w] - bent[e]).norm()
    assert torch.allclose(d0, torch.tensor([1.0, 0, 0]), atol=0.02)
    assert torch.allclose(d1, torch.tensor([0.0, 0, 1]), atol=0.02)
    assert torch.allclose(rest[e], bent[e], atol=1e-5) and torch.allclose(rest[s], bent[s], atol=1e-5)
    # only vertices skinned to the forearm and hand move; the hand moves a lot
    shift = (body(body_pose=pose).vertices[0] - body().vertices[0]).norm(dim=1)
    w_arm = body.smplx.lbs_weights[:, [e, w] + list(range(25, 40))].sum(1)
    assert shift[w_arm == 0].max() < 1e-5
    assert shift[body.smplx.lbs_weights[:, w] > 0.9].min() > 0.2


def test_numpy_forward_kinematics_matches_smplx(body):
    torch.manual_seed(1)
    go, bp, tr = torch.randn(2, 3) * 0.3, torch.randn(2, 63) * 0.3, torch.randn(2, 3)
    out = body(global_orient=go, body_pose=bp, transl=tr)
    rest = body().joints[0, :55].numpy().astype(np.float64)
    P, _ = smplx_fk(smplx_local_rotations(go.numpy(), bp.numpy()), tr.numpy(), rest, np.array(PARENTS))
    assert np.abs(P[:, :22] - out.joints[:, :22].numpy()).max() < 1e-4


def test_extra_keypoints_sit_on_the_right_body_parts(body):
    out = body()
    J = out.joints[0].numpy()
    v = out.vertices[0].numpy()
    extra = J[55:76]  # nose, reye, leye, rear, lear, LBigToe, LSmallToe, LHeel, RBigToe, RSmallToe, RHeel, tips
    assert np.isin(np.round(extra, 5), np.round(v, 5)).all(axis=1).all()  # all are mesh vertices
    nose, reye, leye, rear, lear = extra[:5]
    assert leye[0] > 0 > reye[0] and lear[0] > 0.05 and rear[0] < -0.05
    l_big, l_small, l_heel = extra[5:8]
    assert l_big[2] > l_heel[2] + 0.15 and l_small[0] > l_big[0]  # little toe outside the big toe
    l_thumb, l_index, l_middle = extra[11:14]
    assert l_middle[0] > J[JOINT_INDEX["left_middle3"], 0]


def test_shipped_default_body_is_small_and_reproducible_format():
    from egogen.body.model import default_body_dir

    path = default_body_dir() / "SMPLX_NEUTRAL.npz"
    assert path.stat().st_size < 20 * 2**20
    with np.load(path) as z:
        assert str(z["egogen_license"]).startswith("Apache-2.0")
        arrays = {k: z[k] for k in z.files}
    assert npz_bytes(arrays) == npz_bytes(arrays)  # fixed time stamps: same arrays, same bytes
