"""People in an episode: what every motion source (scripted gait, PPO policy) shares.

Chains of goals with planned paths, body shapes, posing SMPL-X for joints and markers, and the
head camera: a motion source only decides the body parameters over time.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from egogen.body import head_camera_pose
from egogen.scene.model import STRUCTURE_LABELS
from egogen.sim.episode import Goal, PersonTrack

#: Labels never chosen as goals (structure and things people rarely walk up to).
_NO_GOAL = set(STRUCTURE_LABELS)


def resolve_scene(scene, scene_spec: Optional[str] = None):
    """(PreparedScene, spec) from a SCENE spec or a PreparedScene (whose spec defaults to
    ``"apartment:<seed>"`` for apartments, else the scene name)."""
    from egogen.scene import load_scene

    if isinstance(scene, str):
        return load_scene(scene), scene
    if scene_spec is None:
        sc = scene.scene
        scene_spec = f"apartment:{sc.seed}" if sc.source == "apartment" else sc.name
    return scene, scene_spec


def sample_betas(rng: np.random.Generator, num_betas: int) -> np.ndarray:
    """(num_betas,) float32 body shape: N(0, 0.6^2) per coefficient, clipped to [-1.5, 1.5]."""
    return np.clip(rng.normal(0.0, 0.6, num_betas), -1.5, 1.5).astype(np.float32)


def room_of(scene, xy) -> Optional[str]:
    """Name of the room whose rectangle holds world point ``xy`` ((2,) metres), or None."""
    x, y = float(xy[0]), float(xy[1])
    best, best_area = None, np.inf
    for r in scene.rooms:
        x0, y0, x1, y1 = r.rect
        if x0 <= x <= x1 and y0 <= y <= y1 and r.area < best_area:
            best, best_area = r.name, r.area
    return best


def smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with edge padding."""
    if sigma_frames <= 0 or len(x) < 3:
        return x
    r = int(np.ceil(3 * sigma_frames))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)])
    out = np.stack([np.convolve(pad[:, i], k, mode="valid") for i in range(x.shape[1])], 1) if x.ndim == 2 \
        else np.convolve(pad, k, mode="valid")
    return out


START_SEPARATION_M = 1.0  # people start (and stop at goals) at least this far apart, pelvis to pelvis
START_CLEARANCE_M = 0.45  # ... and start this far from furniture (hands hang 0.3 m out from the pelvis)


def plan_chain(ps, rng: np.random.Generator, num_goals: int, object_goal_p: float, min_dist: float,
               max_length: float = np.inf, away_from: Sequence[np.ndarray] = (), separation: float = 0.0,
               start_clearance: float = 0.0):
    """One person's chain of goals: a start point, then ``num_goals`` goals (named furniture with
    probability ``object_goal_p``, else free floor points), each at least ``min_dist`` metres from
    the previous point and reachable from it; goals after the first keep the planned path
    within ``max_length`` metres in all (those that would not are re-drawn or dropped). The
    start is re-drawn (up to 20 times) while it lies closer than ``separation`` metres to one
    of the ``away_from`` points (other people's starts and goals: nobody starts inside someone
    else) or closer than ``start_clearance`` metres to an obstacle (hands hanging into a
    table); a goal that close to an ``away_from`` point is re-drawn like one too near the
    previous point (two people sent to the same sofa would stand in each other).

    Returns:
        path (K, 2) float64: the start, then the planned waypoints of every leg;
        goals: the :class:`Goal` s (fewer than ``num_goals`` where none could be found);
        goal_idx: index in ``path`` of each goal.
    """
    sc = ps.scene
    labels = sorted({o.label for o in sc.objects if o.label not in _NO_GOAL})
    start = ps.sample_start_goal(rng, min_dist=min_dist).start
    others = np.asarray(away_from, float).reshape(-1, 2)
    for _ in range(20):
        apart = not len(others) or np.linalg.norm(others - start[:2], axis=1).min() >= separation
        if apart and float(ps.walkable.clearance_at(np.asarray(start[:2], float))) >= start_clearance:
            break
        start = ps.sample_start_goal(rng, min_dist=min_dist).start
    goals, pts, here, goal_idx, length = [], [start], start, [], 0.0
    for _ in range(num_goals):
        for _try in range(10):
            if labels and rng.random() < object_goal_p:
                try:
                    og = ps.object_goal(labels[int(rng.integers(len(labels)))], seed=rng, start=here)
                except ValueError:
                    continue
                room = sc.objects[og.instance_id].room or room_of(sc, og.point)
                g = Goal(np.asarray(og.point, float), og.label, room, int(og.instance_id))
            else:
                p = ps.sample_start_goal(rng, min_dist=0.0).start
                g = Goal(np.asarray(p, float), room_of(sc, p) or "point", room_of(sc, p), -1)
            if np.linalg.norm(g.xy - here) < min_dist:
                continue
            if len(others) and np.linalg.norm(others - g.xy[:2], axis=1).min() < separation:
                continue
            if goals and length + np.linalg.norm(g.xy - here) > max_length:
                continue  # no path is shorter than the straight line: skip planning it
            res = ps.plan_path(here, g.xy)
            if res.reachable and (not goals or length + res.length <= max_length):
                length += res.length
                goals.append(g)
                pts.extend(res.waypoints[1:])
                goal_idx.append(len(pts) - 1)
                here = g.xy
                break
    return np.asarray(pts, float), goals, goal_idx


def taken_points(plans: Sequence[dict]) -> list[np.ndarray]:
    """(2,) start and goal points of the people planned so far (dicts with ``path`` (K, 2) and
    ``goals``), for :func:`plan_chain`'s ``away_from``."""
    return [np.asarray(p["path"][0][:2], float) for p in plans] + [g.xy[:2] for p in plans for g in p["goals"]]


def closest_approach(xy: np.ndarray) -> float:
    """Least distance between two people at the same frame, metres (inf for fewer than 2).

    Args:
        xy: (K, T, 2) world positions (e.g. pelvises) of K people over T frames, metres.
    """
    K = len(xy)
    if K < 2:
        return float("inf")
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)  # (K, K, T)
    d[np.arange(K), np.arange(K)] = np.inf
    return float(d.min())


def frames_inside(sdf, points: np.ndarray, depth: float) -> np.ndarray:
    """(T,) bool: frames in which any of the points is more than ``depth`` metres inside the
    scene's furniture or walls.

    Args:
        sdf: callable (P, 3) world points -> (P,) signed distance, metres, negative inside
            (``PreparedScene.sdf``).
        points: (T, M, 3) world points per frame (e.g. non-foot SSM2 markers), metres.
        depth: metres of penetration tolerated.
    """
    T = len(points)
    return (np.asarray(sdf(np.asarray(points).reshape(-1, 3))).reshape(T, -1) < -depth).any(axis=1)


def posed_joints_and_markers(body, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                             transl: np.ndarray, with_markers: bool = True):
    """SMPL-X joints and SSM2 markers of one body over T frames, skinning only what is needed.

    Same result as ``body(...).joints[:, :55]`` and ``body.marker_positions(vertices)`` (zero
    hands, jaw, eyes and expression) but skins only the marker vertices and their one-ring
    (for the normals): ~50x faster than the full 10 k-vertex forward pass on a CPU.

    Args:
        body: :class:`~egogen.body.BodyModel`.
        betas: (B,) float32 shape.
        global_orient, body_pose, transl: (T, 3), (T, 63), (T, 3) float32 world-frame
            parameters (axis-angle radians, metres).
        with_markers: also return markers (None if False or the mesh has no marker table).
    Returns:
        joints (T, 55, 3) float32 metres; markers (T, M, 3) float32 metres or None.
    """
    from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes

    m = body.smplx
    T = len(global_orient)
    with torch.no_grad():
        b = torch.as_tensor(np.asarray(betas, np.float32))[None]
        v_shaped_full = m.v_template[None] + blend_shapes(b, m.shapedirs)
        J_rest = torch.einsum("jv,bvc->bjc", m.J_regressor, v_shaped_full)  # (1, 55, 3)
        pose = np.zeros((T, 55, 3), np.float32)
        pose[:, 0] = global_orient
        pose[:, 1:22] = np.asarray(body_pose, np.float32).reshape(T, 21, 3)
        rot = batch_rodrigues(torch.as_tensor(pose).view(-1, 3)).view(T, 55, 3, 3)
        J, A = batch_rigid_transform(rot, J_rest.expand(T, -1, -1), m.parents)
        tr = torch.as_tensor(np.asarray(transl, np.float32))
        joints = (J + tr[:, None]).numpy()
        if not with_markers or body.markers is None:
            return joints.astype(np.float32), None
        ids = body._marker_ids
        faces = m.faces_tensor
        ring = torch.isin(faces, ids).any(1)
        sub_faces = faces[ring]
        S, inv = torch.unique(sub_faces, return_inverse=True)
        v_sh = v_shaped_full[0, S]  # (|S|, 3)
        ident = torch.eye(3)
        pose_feature = (rot[:, 1:] - ident).reshape(T, -1)
        pd = m.posedirs.view(-1, m.v_template.shape[0], 3)[:, S].reshape(pose_feature.shape[1], -1)
        v_posed = v_sh[None] + (pose_feature @ pd).view(T, -1, 3)
        W = m.lbs_weights[S]  # (|S|, 55)
        Tm = torch.einsum("sj,tjab->tsab", W, A)
        v = torch.einsum("tsab,tsb->tsa", Tm[..., :3, :3], v_posed) + Tm[..., :3, 3] + tr[:, None]
        tri = v[:, inv]  # (T, F', 3, 3)
        fn = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
        vn = torch.zeros_like(v)
        for k in range(3):
            vn.index_add_(1, inv[:, k], fn)
        vn = torch.nn.functional.normalize(vn, dim=-1)
        pos = torch.searchsorted(S, ids)
        markers = v[:, pos] + body.markers.distance_from_skin * vn[:, pos]
    return joints.astype(np.float32), markers.numpy().astype(np.float32)


def person_track(body, person_id: int, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                 transl: np.ndarray, goals: list, path: np.ndarray, mount_offset_m, with_markers: bool = True
                 ) -> PersonTrack:
    """A :class:`PersonTrack` from world-frame SMPL-X parameters: joints and markers
    (:func:`posed_joints_and_markers`), the head camera (``head_camera_pose`` with the rig's
    mount offset), zero hands."""
    go, bp = np.asarray(global_orient, np.float32), np.asarray(body_pose, np.float32)
    transl = np.asarray(transl, np.float32)
    J, markers = posed_joints_and_markers(body, betas, go, bp, transl, with_markers)
    T = len(go)
    return PersonTrack(
        person_id=person_id, betas=np.asarray(betas, np.float32), gender="neutral", global_orient=go, body_pose=bp,
        transl=transl, joints=J, T_world_camera=head_camera_pose(J, go, bp, mount_offset_m), markers=markers,
        left_hand_pose=np.zeros((T, 45), np.float32), right_hand_pose=np.zeros((T, 45), np.float32),
        goals=goals, path=path)
