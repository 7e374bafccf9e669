"""The head-mounted camera: at the eyes, looking where the head looks, OpenCV convention."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from egogen.body import JOINT_INDEX, Y_UP_TO_Z_UP, head_camera_pose, load_body_model
from egogen.body.skeleton import body_pose_slice
from egogen.render.camera import available_rigs, load_rig


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def _pose(body, go=None, bp=None, transl=None):
    go = torch.zeros(1, 3) if go is None else go
    bp = torch.zeros(1, 63) if bp is None else bp
    out = body(global_orient=go, body_pose=bp, transl=transl)
    return out, head_camera_pose(out.joints, go, bp)[0]


def test_camera_at_eye_height_looking_forward_on_the_upright_rest_pose(body):
    go = torch.tensor([Y_UP_TO_Z_UP], dtype=torch.float32)
    out, T = _pose(body, go=go)
    v = out.vertices[0].numpy()
    floor = v[:, 2].min()
    eye_h = T[2, 3] - floor
    height = v[:, 2].max() - floor
    assert 1.4 < eye_h < 1.8 and 0.88 < eye_h / height < 0.97  # eyes ~93% of stature
    R = T[:3, :3]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)
    forward, down = R[:, 2], R[:, 1]
    assert np.allclose(down, [0, 0, -1], atol=1e-6)  # image y points down to the floor
    nose = out.joints[0, 55].numpy()  # the body faces where the camera looks
    assert np.dot(nose - T[:3, 3], forward) > 0
    assert forward[2] == pytest.approx(0.0, abs=1e-6)
    assert T.dtype == np.float64


@pytest.mark.parametrize("angle_deg,axis", [(30, "y"), (-45, "y"), (20, "x")])
def test_rotating_the_head_joint_rotates_the_camera_by_the_same_angle(body, angle_deg, axis):
    _, T0 = _pose(body)
    bp = torch.zeros(1, 63)
    bp[0, body_pose_slice("head")] = torch.tensor(Rotation.from_euler(axis, angle_deg, degrees=True).as_rotvec())
    _, T1 = _pose(body, bp=bp)
    rel = T1[:3, :3] @ T0[:3, :3].T
    assert np.degrees(np.linalg.norm(Rotation.from_matrix(rel).as_rotvec())) == pytest.approx(abs(angle_deg), abs=1e-3)
    # turning the head left (+y) turns the view to the body's left (+x)
    if axis == "y":
        assert np.sign(T1[0, 2]) == np.sign(angle_deg)


def test_mount_offset_is_in_camera_axes(body):
    out = body()
    zero3, zero63 = np.zeros((1, 3)), np.zeros((1, 63))
    T = head_camera_pose(out.joints, zero3, zero63, mount_offset_m=(-0.04, -0.01, 0.02))[0]
    eyes = 0.5 * (out.joints[0, JOINT_INDEX["left_eye_smplhf"]] + out.joints[0, JOINT_INDEX["right_eye_smplhf"]]).numpy()
    d = T[:3, 3] - eyes
    # camera -x is the wearer's left (+x canonical), camera -y is up (+y), +z forward (+z)
    assert np.allclose(d, [0.04, 0.01, 0.02], atol=1e-6)


def test_rig_presets_are_data_files_with_the_documented_cameras():
    assert {"pinhole", "hololens2", "aria"} <= set(available_rigs())
    hl = load_rig("hololens2")
    assert (hl.camera.width, hl.camera.height) == (1920, 1080) and abs(hl.camera.fx - 1466) < 20
    aria = load_rig("aria")
    assert aria.camera.model == "fisheye" and aria.fps == 30
    assert aria.camera.horizontal_fov_deg() == pytest.approx(110, abs=3)
    with pytest.raises(ValueError, match="available"):
        load_rig("kinect9")
