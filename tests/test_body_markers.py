"""SSM2 surface markers on the default body: on the skin, in the right places, moving with it."""

import json

import numpy as np
import open3d as o3d
import pytest
import torch

from egogen.body import JOINT_INDEX, load_body_model
from egogen.body.skeleton import body_pose_slice


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def _surface_distance(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32)))
    return scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()


def test_default_body_has_the_67_ssm2_markers_egogen_uses(body, shared_dir):
    ref = json.loads((shared_dir / "reference" / "ssm2_smplx_markers.json").read_text())
    assert sorted(body.markers.names) == sorted(ref["indices"])
    assert len(set(body.markers.vertex_ids.tolist())) == 67  # 67 distinct vertices


@pytest.mark.parametrize("pose_seed", [None, 3])
def test_markers_lie_within_2cm_of_the_posed_surface(body, pose_seed):
    pose = None if pose_seed is None else torch.randn(1, 63, generator=torch.Generator().manual_seed(pose_seed)) * 0.4
    out = body(body_pose=pose) if pose is not None else body()
    m = body.marker_positions(out.vertices)[0].numpy()
    d = _surface_distance(out.vertices[0].numpy(), body.faces, m)
    assert d.max() < 0.02
    assert np.median(d) > 0.005  # they sit off the skin (SSM2: 9.5 mm), not on it


def test_markers_follow_the_anatomical_rules(body):
    out = body()
    m = dict(zip(body.markers.names, body.marker_positions(out.vertices)[0].numpy()))
    J = out.joints[0].numpy()
    assert m["LHEE"][2] < J[JOINT_INDEX["left_ankle"], 2] < m["LTOE"][2]  # heel behind, toe in front
    assert m["LHEE"][1] < J[JOINT_INDEX["left_ankle"], 1]
    assert m["LKNE"][0] > J[JOINT_INDEX["left_knee"], 0] > m["LKNI"][0]  # outer / inner knee
    assert m["RKNE"][0] < J[JOINT_INDEX["right_knee"], 0] < m["RKNI"][0]
    assert m["C7"][2] < J[JOINT_INDEX["neck"], 2] < m["CLAV"][2]  # back / front of the neck
    assert min(m["LFHD"][1], m["RFHD"][1]) > J[JOINT_INDEX["left_eye_smplhf"], 1] + 0.03  # forehead above the eyes
    assert m["LSHO"][1] > J[JOINT_INDEX["left_shoulder"], 1]
    for name, p in m.items():  # left markers on the left, right markers on the right
        if name[0] in "LR" and name not in ("LBHD",):
            assert np.sign(p[0]) == (1 if name[0] == "L" else -1), name


def test_markers_move_with_the_body(body):
    pose = torch.zeros(1, 63)
    pose[0, body_pose_slice("left_knee")] = torch.tensor([1.2, 0.0, 0.0])  # bend the left knee
    m0 = dict(zip(body.markers.names, body.marker_positions(body().vertices)[0]))
    m1 = dict(zip(body.markers.names, body.marker_positions(body(body_pose=pose).vertices)[0]))
    moved = {n for n in m0 if (m1[n] - m0[n]).norm() > 0.05}
    assert {"LHEE", "LTOE", "LANK", "LMT1", "LMT5"} <= moved
    assert not moved & {"RHEE", "RTOE", "C7", "LFHD", "LSHO"}
    # and they translate with transl
    m2 = body.marker_positions(body(transl=torch.tensor([[0.5, 0.0, -1.0]])).vertices)[0]
    m_rest = body.marker_positions(body().vertices)[0]
    assert torch.allclose(m2 - m_rest, torch.tensor([0.5, 0.0, -1.0]).expand_as(m2), atol=1e-5)
