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


def _reference_cast(frame):
    """All rays against the scene plus every front-facing body face: what the culled
    per-frame body cast must reproduce."""
    import open3d as o3d

    from egogen.render.raycast import pixel_rays

    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(frame.scene.vertices.astype(np.float32)),
                     o3d.core.Tensor(frame.scene.faces.astype(np.uint32)))
    c = frame.camera_centre
    ids = [-2]
    for b in frame.bodies:
        tri = b.vertices[b.faces]
        front = np.einsum("ij,ij->i", tri[:, 0] - c, np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])) < 0
        rc.add_triangles(o3d.core.Tensor(b.vertices.astype(np.float32)),
                         o3d.core.Tensor(b.faces[front].astype(np.uint32)))
        ids.append(person_id_base(frame.scene) + b.person_index)
    d = pixel_rays(frame.camera).reshape(-1, 3) @ frame.T_world_camera[:3, :3].T
    rays = np.concatenate([np.broadcast_to(c, d.shape), d], axis=1).astype(np.float32)
    hit = rc.cast_rays(o3d.core.Tensor(rays))
    t = hit["t_hit"].numpy()
    geo = hit["geometry_ids"].numpy().astype(np.int64)
    person = np.isfinite(t) & (geo > 0)
    return t, np.where(person, np.asarray(ids)[np.minimum(geo, len(ids) - 1)], -2)


@pytest.mark.parametrize("rig", ["pinhole", "aria"])
def test_culled_body_cast_matches_casting_every_front_face(body, rig):
    """Culling body faces (off-image, between pixel centres, behind the camera) and casting
    only the pixels of their windows changes nothing: the wearer (camera inside the head,
    faces crossing the camera plane) and a person across the room."""
    from egogen.render.demo import demo_frame
    from egogen.scene import load_scene

    scene = load_scene("apartment:0").scene
    cam = load_rig(rig).camera.scaled(96)
    other = demo_frame(scene, body, cam)
    go = upright_orient(float(np.arctan2(*(other.bodies[0].vertices.mean(0) - other.camera_centre)[1::-1])))
    pose = np.zeros((1, 63), np.float32)
    transl = standing_transl(body, np.zeros(body.num_betas, np.float32), go, other.camera_centre[:2])
    with torch.no_grad():
        o = body(global_orient=torch.as_tensor(go, dtype=torch.float32)[None], body_pose=torch.as_tensor(pose),
                 transl=torch.as_tensor(transl, dtype=torch.float32)[None])
    r = RaycastRenderer()
    for pitch in (0.0, 0.6, 1.2):  # looking ahead, down, and at the feet
        T = head_camera_pose(o.joints, go[None], pose)[0]
        T[:3, :3] = T[:3, :3] @ np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)],
                                          [0, -np.sin(pitch), np.cos(pitch)]])
        wearer = BodyMesh(o.vertices[0].numpy(), wearer_faces(body), person_index=1)
        fr = Frame(scene, cam, T, [other.bodies[0], wearer])
        out = r.render(fr)
        t, person = _reference_cast(fr)
        ref_depth = np.where(np.isfinite(t), t * pixel_z(cam), 0).astype(np.float32).reshape(out["depth"].shape)
        assert np.array_equal(out["depth"], ref_depth)
        got_person = np.where(out["instance"] >= person_id_base(scene), out["instance"], -2).reshape(-1)
        assert np.array_equal(got_person, person)
        if pitch == 1.2:
            assert (got_person == person_id_base(scene) + 1).sum() > 20  # the wearer sees their body


def pixel_z(cam):
    from egogen.render.raycast import pixel_rays

    return pixel_rays(cam).reshape(-1, 3)[:, 2]


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_culled_cast_matches_on_big_triangles_crossing_the_camera_plane(model):
    """Triangles around the camera, many with corners behind it, seen at a slant: their
    windows (the parts in front of the camera) must hold every pixel they cover."""
    rng = np.random.default_rng(3)
    cam = CameraModel(model, 80, 60, 40, 40, 39.5, 29.5)  # fisheye: 72 degrees off-axis at the corners
    T = CAM_AT_ORIGIN_LOOKING_X
    v = rng.uniform(-1.5, 1.5, (300, 3))
    f = np.arange(300).reshape(-1, 3)
    crossing = 0
    for k, tri in enumerate(f):
        a, b, c = v[tri] - T[:3, 3]
        if a @ np.cross(b, c) > 0:  # make every face front-facing as seen from the camera
            f[k] = tri[[0, 2, 1]]
        crossing += np.ptp(np.sign(v[tri, 0])) > 0  # camera looks along +x
    assert crossing > 30
    fr = Frame(wall_scene(8.0, half=50), cam, T, [BodyMesh(v, f, person_index=0)])
    out = RaycastRenderer().render(fr)
    t, person = _reference_cast(fr)
    ref_depth = np.where(np.isfinite(t), t * pixel_z(cam), 0).astype(np.float32).reshape(out["depth"].shape)
    assert np.array_equal(out["depth"], ref_depth)
    assert np.array_equal(np.where(out["instance"] >= 1000, out["instance"], -2).reshape(-1), person)
    assert (person >= 1000).mean() > 0.3
