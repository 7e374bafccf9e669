"""Scripted episodes: people walking planned paths with a procedural gait.

A baseline and a test fixture, not the simulator: the real motion comes from the RL policy
(motion-primitive C-VAE + PPO, issue "policy"). Here each person walks a chain of planned
paths between sampled goals (named furniture or free floor points) at a constant speed with
a sine-curve gait (hips, knees, shoulders, elbows), a pelvis bob, and a head that anticipates
turns of the path (~0.3 s, Grasso et al. 1998, "Eye-head coordination for the steering of
locomotion in humans: an anticipatory synergy", Neurosci. Lett. 253) plus a slow scan. The
output is a valid :class:`~egogen.sim.episode.Episode` that every observer (gaze, text,
shards) can read exactly as it will read policy episodes.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from egogen.body import Y_UP_TO_Z_UP, head_camera_pose, load_body_model
from egogen.body.skeleton import body_pose_slice
from egogen.rotations import aa_to_mat, mat_to_aa
from egogen.scene.model import STRUCTURE_LABELS
from egogen.sim.episode import FPS, Episode, Goal, PersonTrack

#: Labels never chosen as goals (structure and things people rarely walk up to).
_NO_GOAL = set(STRUCTURE_LABELS)


def room_of(scene, xy) -> Optional[str]:
    """Name of the room whose rectangle holds world point ``xy`` ((2,) metres), or None."""
    x, y = float(xy[0]), float(xy[1])
    best, best_area = None, np.inf
    for r in scene.rooms:
        x0, y0, x1, y1 = r.rect
        if x0 <= x <= x1 and y0 <= y <= y1 and r.area < best_area:
            best, best_area = r.name, r.area
    return best


def _smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
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


def _plan_chain(ps, rng: np.random.Generator, num_goals: int, object_goal_p: float, min_dist: float):
    """Start point, goals and the concatenated waypoints of one person's chain of goals."""
    sc = ps.scene
    labels = sorted({o.label for o in sc.objects if o.label not in _NO_GOAL})
    start = ps.sample_start_goal(rng, min_dist=min_dist).start
    goals, pts, here, goal_idx = [], [start], start, []
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
            res = ps.plan_path(here, g.xy)
            if res.reachable:
                goals.append(g)
                pts.extend(res.waypoints[1:])
                goal_idx.append(len(pts) - 1)
                here = g.xy
                break
    return np.asarray(pts, float), goals, goal_idx


def _walk(path: np.ndarray, goal_idx: list[int], speed: float, pause_s: float, fps: float):
    """(N, 2) positions along ``path`` at ``speed`` with a pause at each goal; goal arrival frames."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    goal_s = [cum[i] for i in goal_idx]
    s_list, arrive = [], []
    s, step = 0.0, speed / fps
    for gs in goal_s:
        while s < gs:
            s_list.append(s)
            s = min(s + step, gs)
        arrive.append(len(s_list))
        s_list.extend([gs] * max(1, int(round(pause_s * fps))))
    s_arr = np.asarray(s_list if s_list else [0.0])
    xy = np.stack([np.interp(s_arr, cum, path[:, 0]), np.interp(s_arr, cum, path[:, 1])], 1)
    return xy, s_arr, arrive


def _aa(axis: str, angle: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(angle) + (3,))
    out[..., "xyz".index(axis)] = angle
    return out


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


def scripted_episode(scene, seed: int, num_people: int = 3, index: int = 0, num_goals: Sequence[int] = (1, 3),
                     duration_s: Optional[float] = None, max_duration_s: float = 30.0, speed: tuple = (1.0, 1.4),
                     rig: str = "aria", body=None, object_goal_p: float = 0.7, with_markers: bool = True,
                     scene_spec: Optional[str] = None) -> Episode:
    """An episode of ``num_people`` people walking chains of planned paths (baseline / fixture).

    Args:
        scene: a :class:`~egogen.scene.PreparedScene`, or a SCENE spec (``"apartment:0"``).
        seed: the episode's seed (same seed, same episode, bit for bit).
        num_people: K people; each walks 1-3 goals (``num_goals`` range, inclusive).
        index: episode index stored in the Episode (used in shard keys).
        duration_s: fixed length in seconds; default: until the slowest person has walked
            its chain (capped at ``max_duration_s``). People who finish early stand still.
        speed: (min, max) walking speed in m/s, drawn per person (~1.2 m/s indoors).
        rig: head-camera rig preset (``render/rigs``) whose mount offset places the camera.
        body: a :class:`~egogen.body.BodyModel` to reuse (default body if None).
        object_goal_p: probability that a goal is a named object rather than a floor point.
        with_markers: compute SSM2 markers (needs the full mesh; slower).
        scene_spec: scene spec stored in the Episode when ``scene`` is a PreparedScene
            (default ``"apartment:<seed>"`` for apartments, else the scene name).
    Returns:
        :class:`Episode` at 30 Hz; world frame Z up; ``meta["generator"] == "scripted"``.
    Raises:
        egogen.scene.NoSolution: the scene has no walkable area to sample in.
    """
    from egogen.render.camera import load_rig
    from egogen.scene import load_scene

    if isinstance(scene, str):
        scene_spec, ps = scene, load_scene(scene)
    else:
        ps = scene
        if scene_spec is None:
            sc = ps.scene
            scene_spec = f"apartment:{sc.seed}" if sc.source == "apartment" else sc.name
    body = body or load_body_model()
    mount = load_rig(rig).mount_offset_m
    rng = np.random.default_rng(seed)
    fps = FPS
    plans = []
    for k in range(num_people):
        n_goals = int(rng.integers(num_goals[0], num_goals[1] + 1))
        path, goals, goal_idx = _plan_chain(ps, rng, n_goals, object_goal_p, min_dist=2.0)
        v = float(rng.uniform(*speed))
        xy, s_arr, arrive = _walk(path, goal_idx, v, float(rng.uniform(0.5, 1.0)), fps)
        betas = np.clip(rng.normal(0.0, 0.6, body.num_betas), -1.5, 1.5).astype(np.float32)
        plans.append(dict(path=path, goals=goals, xy=xy, s=s_arr, arrive=arrive, speed=v, betas=betas,
                          stride=float(rng.uniform(1.2, 1.45)), phase0=float(rng.uniform(0, 2 * np.pi)),
                          scan=(float(rng.uniform(0.1, 0.3)), float(rng.uniform(0, 2 * np.pi)))))
    T = int(round(duration_s * fps)) if duration_s else min(max(len(p["xy"]) for p in plans),
                                                           int(round(max_duration_s * fps)))
    T = max(T, 2)
    people = []
    for k, p in enumerate(plans):
        xy, s_arr = p["xy"], p["s"]
        if len(xy) < T:  # stand still at the end
            xy = np.concatenate([xy, np.repeat(xy[-1:], T - len(xy), 0)])
            s_arr = np.concatenate([s_arr, np.repeat(s_arr[-1:], T - len(s_arr))])
        xy, s_arr = _smooth(xy[:T], 4.0), s_arr[:T]
        vel = np.gradient(xy, axis=0) * fps
        spd = np.linalg.norm(vel, axis=1)
        # heading: direction of travel, held while standing, unwrapped and smoothed
        raw = np.arctan2(vel[:, 1], vel[:, 0])
        moving = spd > 0.05
        if moving.any():
            idx = np.where(moving, np.arange(T), 0)
            np.maximum.accumulate(idx, out=idx)
            first = int(np.argmax(moving))
            idx[:first] = first
            raw = raw[idx]
        heading = np.empty(T)  # turn at most ~2.5 rad/s (a 180 deg turn on the spot takes ~1.3 s)
        heading[0], step = raw[0], 2.5 / fps
        for i in range(1, T):
            d = (raw[i] - heading[i - 1] + np.pi) % (2 * np.pi) - np.pi
            heading[i] = heading[i - 1] + np.clip(d, -step, step)
        heading = _smooth(heading, 3.0)
        # head anticipates the heading ~0.3 s ahead (Grasso et al. 1998), plus a slow scan
        lead = int(round(0.3 * fps))
        ahead = np.concatenate([heading[lead:], np.repeat(heading[-1:], lead)])
        t = np.arange(T) / fps
        f_scan, ph = p["scan"]
        head_yaw = np.clip(ahead - heading, -0.7, 0.7) + 0.10 * np.sin(2 * np.pi * f_scan * t + ph)
        head_pitch = 0.26 + 0.03 * np.sin(2 * np.pi * 0.13 * t + ph)  # ~15 deg down while walking
        walk = np.clip(spd / max(p["speed"], 1e-6), 0, 1)  # 1 walking, 0 standing
        phase = p["phase0"] + 2 * np.pi * s_arr / p["stride"]
        bp = np.zeros((T, 63))
        hip = 0.35 * walk * np.sin(phase)
        bp[:, body_pose_slice("left_hip")] = _aa("x", -hip)
        bp[:, body_pose_slice("right_hip")] = _aa("x", hip)
        bp[:, body_pose_slice("left_knee")] = _aa("x", walk * (0.15 + 0.45 * np.maximum(0, np.sin(phase + 1.2))))
        bp[:, body_pose_slice("right_knee")] = _aa("x", walk * (0.15 + 0.45 * np.maximum(0, np.sin(phase + 1.2 + np.pi))))
        arm = 0.30 * walk * np.sin(phase)
        for side, sgn, swing in (("left", -1.0, arm), ("right", 1.0, -arm)):
            R = aa_to_mat(_aa("x", swing)) @ aa_to_mat(_aa("z", np.full(T, sgn * 1.25)))
            bp[:, body_pose_slice(f"{side}_shoulder")] = mat_to_aa(R)
            bp[:, body_pose_slice(f"{side}_elbow")] = _aa("y", np.full(T, sgn * 0.35))
        bp[:, body_pose_slice("spine2")] = _aa("y", -0.08 * walk * np.sin(phase))
        Rn = aa_to_mat(_aa("y", 0.4 * head_yaw)) @ aa_to_mat(_aa("x", 0.4 * head_pitch))
        Rh = aa_to_mat(_aa("y", 0.6 * head_yaw)) @ aa_to_mat(_aa("x", 0.6 * head_pitch))
        bp[:, body_pose_slice("neck")] = mat_to_aa(Rn)
        bp[:, body_pose_slice("head")] = mat_to_aa(Rh)
        # world orientation: yaw about +Z after the Y-up -> Z-up turn; body faces canonical +z
        Rg = aa_to_mat(_aa("z", heading + np.pi / 2)) @ aa_to_mat(np.asarray(Y_UP_TO_Z_UP)[None].repeat(T, 0))
        go = mat_to_aa(Rg)
        p.update(T=T, xy=xy, go=go, bp=bp, walk=walk, phase=phase)
        people.append(p)

    # rest pelvis height per person (sole on the floor), one batched forward
    with torch.no_grad():
        rest = body(betas=torch.as_tensor(np.stack([p["betas"] for p in people])))
    pelvis_h = -rest.vertices[..., 1].min(dim=1).values.numpy().astype(np.float64)

    tracks = []
    for k, p in enumerate(people):
        # knee flexion shortens the leg a little; the bob is twice per stride
        z = pelvis_h[k] - 0.012 * p["walk"] + 0.018 * p["walk"] * np.cos(2 * p["phase"])
        transl = np.concatenate([p["xy"], z[:, None]], 1).astype(np.float32)
        go, bp = p["go"].astype(np.float32), p["bp"].astype(np.float32)
        J, markers = posed_joints_and_markers(body, p["betas"], go, bp, transl, with_markers)
        Tw = head_camera_pose(J, go, bp, mount)
        goals = p["goals"]
        for g, fr in zip(goals, p["arrive"]):
            g.reached_frame = int(fr) if fr < T else -1
        tracks.append(PersonTrack(
            person_id=k, betas=p["betas"], gender="neutral", global_orient=go, body_pose=bp, transl=transl,
            joints=J, T_world_camera=Tw, markers=markers,
            left_hand_pose=np.zeros((T, 45), np.float32), right_hand_pose=np.zeros((T, 45), np.float32),
            goals=goals, path=p["path"]))
    ep = Episode(scene=scene_spec, index=int(index), seed=int(seed), people=tracks, rig=rig, fps=fps,
                 meta={"generator": "scripted", "body_model": str(body.source)})
    ep.check()
    return ep
