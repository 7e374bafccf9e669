"""A standard test/benchmark frame: a person standing in a room of a scene, seen by a
camera at eye height (used by tests, benchmarks/bench_render.py and previews)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from egogen.body.model import Y_UP_TO_Z_UP
from egogen.render.bodies import pose_bodies
from egogen.render.camera import CameraModel
from egogen.render.frame import Frame
from egogen.scene.model import Scene


def upright_orient(yaw: float) -> np.ndarray:
    """(3,) axis-angle ``global_orient`` of a standing body facing world direction
    (cos yaw, sin yaw) in the floor plane (the Y-up -> Z-up turn included)."""
    # Y_UP_TO_Z_UP alone makes the body face world -y (yaw = -pi/2).
    R = Rotation.from_euler("z", yaw + np.pi / 2) * Rotation.from_rotvec(Y_UP_TO_Z_UP)
    return R.as_rotvec()


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) float64 ``T_world_camera`` (OpenCV axes) of a camera at ``eye`` looking at
    ``target`` with image-up towards ``up`` (world, metres)."""
    eye, target, up = (np.asarray(x, dtype=np.float64) for x in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = eye
    return T


def standing_transl(body_model, betas, global_orient, xy) -> np.ndarray:
    """(3,) ``transl`` that puts a body's lowest vertex on the floor at world ``xy``."""
    import torch

    with torch.no_grad():
        v = body_model(betas=torch.as_tensor(betas, dtype=torch.float32)[None],
                       global_orient=torch.as_tensor(global_orient, dtype=torch.float32)[None]).vertices[0]
    return np.array([xy[0], xy[1], -float(v[:, 2].min())])


def demo_frame(scene: Scene, body_model, camera: CameraModel, room: str | None = None,
               distance: float = 2.2, seed: int = 0) -> Frame:
    """A person facing a camera at 1.6 m height, ``distance`` metres ahead along the
    room's long axis, in ``room`` (default: the living room, else the largest room).

    Raises:
        ValueError: if the scene has no rooms (imported meshes) or ``room`` is unknown.
    """
    import torch

    if not scene.rooms:
        raise ValueError("demo_frame needs a scene with rooms (a generated apartment)")
    rooms = {r.name: r for r in scene.rooms}
    if room is None:
        r = rooms.get("living_room") or max(scene.rooms, key=lambda r: r.area)
    elif room in rooms:
        r = rooms[room]
    else:
        raise ValueError(f"unknown room {room!r}; rooms: {sorted(rooms)}")
    x0, y0, x1, y1 = r.rect
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    axis = np.array([1.0, 0.0]) if x1 - x0 >= y1 - y0 else np.array([0.0, 1.0])
    eye_xy = c - axis * distance / 2
    person_xy = c + axis * distance / 2
    yaw = float(np.arctan2(-axis[1], -axis[0]))  # facing the camera
    betas = np.zeros(body_model.num_betas, dtype=np.float32)
    go = upright_orient(yaw)
    transl = standing_transl(body_model, betas, go, person_xy)
    bodies = pose_bodies(body_model, appearance_seed=seed, betas=torch.zeros(1, body_model.num_betas),
                         global_orient=torch.as_tensor(go, dtype=torch.float32)[None],
                         transl=torch.as_tensor(transl, dtype=torch.float32)[None])
    T = look_at([*eye_xy, 1.6], [*person_xy, 1.0])
    return Frame(scene, camera, T, bodies, seed)
