"""Ray-cast engine: the geometric reference (walls at known distances, fisheye, own hand)."""

import numpy as np
import pytest
import torch

from egogen.body import JOINT_INDEX, head_camera_pose, load_body_model
from egogen.render.bodies import wearer_faces
from egogen.render.camera import CameraModel, load_rig
from egogen.render.demo import look_at, standing_transl, upright_orient
from egogen.render.frame import BodyMesh, Frame
from egogen.render.labels import SEMANTIC_ID, person_id_base
from egogen.render.raycast import RaycastRenderer
from egogen.scene.model import Material, Scene, SceneObject


def wall_scene(x=3.0, half=5.0, top=None):
    """One square wall in the plane x = ``x`` (instance 0), optionally cut at z = ``top``."""
    zt = half if top is None else top
    v = np.array([[x, -half, -half], [x, half, -half], [x, half, zt], [x, -half, zt]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    obj = SceneObject(0, "wall", Material((0.8, 0.8, 0.8)), ((x, -half, -half), (x, half, zt)))
    return Scene(v, f, np.zeros(2, np.int32), [obj])


CAM_AT_ORIGIN_LOOKING_X = look_at([0, 0, 0], [1, 0, 0])


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_wall_ahead_appears_at_its_distance_as_planar_depth(model):
    cam = CameraModel(model, 64, 48, 30, 30, 31.5, 23.5)
    out = RaycastRenderer().render(Frame(wall_scene(3.0, half=50), cam, CAM_AT_ORIGIN_LOOKING_X))
    assert out["depth"].dtype == np.float32 and out["depth"].shape == (48, 64)
    assert np.allclose(out["depth"], 3.0, atol=1e-5)  # planar: the same everywhere on a fronto-parallel wall
    assert (out["instance"] == 0).all() and (out["semantic"] == SEMANTIC_ID["wall"]).all()
    assert np.allclose(out["normal"], [0, 0, -1], atol=1e-5)  # facing the camera


def test_a_known_point_projects_to_its_pixel_and_is_seen_there_at_its_depth():
    cam = CameraModel("pinhole", 96, 64, 60, 60, 47.5, 31.5)
    T = look_at([0.2, -0.1, 0.3], [3, 0.4, 0.5])
    point = np.array([3.0, 0.9, -0.4])  # on the wall x = 3
    p_cam = np.linalg.inv(T) @ np.append(point, 1)
    uv, ok = cam.project(p_cam[:3])
    u, v = np.round(uv).astype(int)
    out = RaycastRenderer().render(Frame(wall_scene(3.0), cam, T))
    assert ok and 0 <= u < 96 and 0 <= v < 64
    assert out["depth"][v, u] == pytest.approx(p_cam[2], abs=0.02)


def test_fisheye_bends_straight_edges_and_pinhole_keeps_them_straight():
    rows = {}
    for model, f in (("pinhole", 40.0), ("fisheye", 40.0)):
        cam = CameraModel(model, 96, 96, f, f, 47.5, 47.5)
        T = look_at([0, 0, 0], [1, 0, 0])
        out = RaycastRenderer().render(Frame(wall_scene(2.0, half=50, top=-0.8), cam, T))  # edge 0.8 m below
        wall = out["instance"] == 0
        rows[model] = np.array([np.flatnonzero(wall[:, c])[0] for c in range(96)])  # first wall row per column
    lin = np.polyfit(np.arange(96), rows["pinhole"], 1)
    assert np.abs(np.polyval(lin, np.arange(96)) - rows["pinhole"]).max() <= 1.0
    # the fisheye edge sags towards the image centre at the sides (barrel distortion)
    assert rows["fisheye"][48] - rows["fisheye"][2] >= 5


def test_rendering_twice_gives_identical_streams():
    cam = load_rig("aria").camera.scaled(64)
    fr = Frame(wall_scene(2.5), cam, look_at([0, 0, 0], [1, 0.3, 0.1]))
    r = RaycastRenderer()
    a, b = r.render(fr), r.render(fr)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def test_the_wearers_own_raised_hand_appears_in_the_lower_image(body):
    scene = wall_scene(8.0)
    pose = np.zeros(63, np.float32)
    s = (JOINT_INDEX["right_shoulder"] - 1) * 3
    pose[s:s + 3] = [0.0, 1.3, 0.35]  # right arm swung forward from the T-pose and lowered a little
    go = upright_orient(0.0)  # facing +x, towards the wall
    betas = np.zeros(body.num_betas, np.float32)
    transl = standing_transl(body, betas, go, (0.0, 0.0))
    with torch.no_grad():
        o = body(global_orient=torch.as_tensor(go, dtype=torch.float32)[None], body_pose=torch.as_tensor(pose)[None],
                 transl=torch.as_tensor(transl, dtype=torch.float32)[None])
    T = head_camera_pose(o.joints, go[None], pose[None])[0]
    wearer = BodyMesh(o.vertices[0].numpy(), wearer_faces(body), person_index=0)
    cam = load_rig("pinhole").camera.scaled(96)
    out = RaycastRenderer().render(Frame(scene, cam, T, [wearer]))
    own = out["instance"] == person_id_base(scene)
    rows, cols = np.nonzero(own)
    assert own.sum() > 30, "the wearer's arm is not in view"
    assert np.median(rows) > 48  # lower half of the image
    assert np.median(cols) > 48  # right arm on the right (OpenCV x right)
    assert out["depth"][own].max() < 1.0  # an arm's length away
