"""Episode -> shard samples (one per wearer) and back, following :data:`egogen.data.schema.MEMBERS`.

Every npz is written with :func:`egogen.npz.npz_bytes` (fixed zip time stamps) and JSON with
sorted keys, so the same episode gives the same bytes.
"""

from __future__ import annotations

import io
import json
from typing import Optional

import numpy as np

from egogen.body.kinematics import smplx_local_rotations
from egogen.body.skeleton import JOINT_INDEX, PARENTS
from egogen.data.schema import MEMBERS, SCHEMA_VERSION
from egogen.npz import npz_bytes


def joint_world_transforms(global_orient: np.ndarray, body_pose: np.ndarray, joints: np.ndarray,
                           names=("head", "left_wrist", "right_wrist")) -> dict[str, np.ndarray]:
    """World transforms of SMPL-X joint frames.

    Args:
        global_orient: (T, 3), body_pose: (T, 63) world-frame axis-angle, radians.
        joints: (T, 55, 3) posed world joints, metres.
        names: SMPL-X joint names.
    Returns:
        name -> (T, 4, 4) float64 joint frame -> world (rotation = the joint's global
        rotation; its axes are SMPL-X's canonical axes carried by the pose).
    """
    local = smplx_local_rotations(np.asarray(global_orient, np.float64), np.asarray(body_pose, np.float64))
    out = {}
    for name in names:
        chain, j = [], JOINT_INDEX[name]
        while j >= 0:
            chain.insert(0, j)
            j = PARENTS[j]
        R = local[:, chain[0]]
        for j in chain[1:]:
            R = R @ local[:, j]
        T = np.tile(np.eye(4), (len(R), 1, 1))
        T[:, :3, :3] = R
        T[:, :3, 3] = joints[:, JOINT_INDEX[name]]
        out[name] = T
    return out


def _json(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=1) + "\n").encode()


def _zeros_if_none(a, T, n):
    return np.zeros((T, n), np.float32) if a is None else np.asarray(a, np.float32)


def episode_samples(ep, scene, rig=None, gaze: Optional[dict] = None, text: Optional[dict] = None,
                    versions: Optional[dict] = None) -> list[tuple[str, dict[str, bytes]]]:
    """Shard samples of every wearer of an episode.

    Args:
        ep: the :class:`~egogen.sim.episode.Episode`.
        scene: its :class:`~egogen.scene.PreparedScene` (gaze, text).
        rig: :class:`~egogen.render.camera.RigPreset` (default ``load_rig(ep.rig)``).
        gaze: wearer -> :class:`~egogen.sim.gaze.GazeTrack`; computed when None.
        text: wearer -> text dict (:func:`egogen.sim.text.describe`); computed when None.
        versions: extra version facts for ``meta.json`` (checkpoint hashes ...).
    Returns:
        [(key, {member name: bytes})] in wearer order; keys ``Episode.key(wearer)``.
    Raises:
        ValueError: the episode fails :meth:`Episode.check`.
    """
    from egogen import __version__
    from egogen.render.camera import load_rig
    from egogen.sim.gaze import simulate_gaze
    from egogen.sim.text import describe

    ep.check()
    rig = rig if rig is not None else load_rig(ep.rig)
    cam = rig.camera
    ts = ep.timestamps_ns
    T = ep.num_frames
    out = []
    for w, p in enumerate(ep.people):
        g = (gaze or {}).get(w) or simulate_gaze(ep, scene, w, rig)
        tx = (text or {}).get(w) or describe(ep, scene, w, g)
        motion = {"timestamps_ns": ts, "betas": np.asarray(p.betas, np.float32), "gender": np.array(p.gender),
                  "global_orient": p.global_orient.astype(np.float32), "body_pose": p.body_pose.astype(np.float32),
                  "left_hand_pose": _zeros_if_none(p.left_hand_pose, T, 45),
                  "right_hand_pose": _zeros_if_none(p.right_hand_pose, T, 45),
                  "transl": p.transl.astype(np.float32), "joints": p.joints.astype(np.float32)}
        if p.markers is not None:
            motion["markers"] = p.markers.astype(np.float32)
        camera = {"timestamps_ns": ts, "T_world_camera": p.T_world_camera.astype(np.float64),
                  "model": np.array(cam.model), "image_size": np.array([cam.width, cam.height], np.int32),
                  "intrinsics": np.array([cam.fx, cam.fy, cam.cx, cam.cy, *cam.k], np.float64),
                  "rig": np.array(rig.name)}
        s = g.segments
        gz = {"timestamps_ns": ts, "direction": g.direction, "pixel": g.pixel, "depth": g.depth,
              "object_id": g.object_id.astype(np.int32), "event": g.event.astype(np.uint8),
              "target_kind": g.target_kind.astype(np.uint8), "target_world": g.target_world,
              "target_visible": g.target_visible.astype(bool),
              "seg_start": s["start"], "seg_end": s["end"], "seg_event": s["event"],
              "seg_target_kind": s["target_kind"], "seg_object_id": s["object_id"],
              "seg_amplitude_deg": s["amplitude_deg"]}
        others = [q for q in ep.people if q.person_id != p.person_id]
        nb = len(p.betas)
        oth = {"timestamps_ns": ts, "person_id": np.array([q.person_id for q in others], np.int32),
               "betas": np.array([q.betas for q in others], np.float32).reshape(len(others), nb),
               "gender": np.array([q.gender for q in others], dtype="<U8"),
               **{k: np.array([_zeros_if_none(getattr(q, k), T, n) for q in others], np.float32).reshape(len(others), T, n)
                  for k, n in (("global_orient", 3), ("body_pose", 63), ("left_hand_pose", 45),
                               ("right_hand_pose", 45), ("transl", 3))}}
        jt = joint_world_transforms(p.global_orient, p.body_pose, p.joints)
        sensors = {"timestamps_ns": ts, "T_world_head": jt["head"], "T_world_left_wrist": jt["left_wrist"],
                   "T_world_right_wrist": jt["right_wrist"]}
        meta = {"scene": ep.scene, "episode": int(ep.index), "seed": int(ep.seed), "wearer": w,
                "person_id": int(p.person_id), "num_people": len(ep.people), "fps": float(ep.fps),
                "num_frames": T, "duration_s": T / ep.fps, "rig": rig.name,
                "generator": ep.meta.get("generator", "policy"),
                "goals": [{"label": gl.label, "room": gl.room, "instance_id": int(gl.instance_id),
                           "xy": [float(v) for v in gl.xy], "reached_frame": int(gl.reached_frame)} for gl in p.goals],
                "versions": {"egogen": __version__, "schema": SCHEMA_VERSION, **(versions or {})},
                "episode_meta": ep.meta}
        members = {"motion.npz": npz_bytes({k: motion[k] for k in _order("motion.npz", motion)}),
                   "camera.npz": npz_bytes(camera), "gaze.npz": npz_bytes(gz), "others.npz": npz_bytes(oth),
                   "sensors.npz": npz_bytes(sensors), "text.json": _json(tx), "meta.json": _json(meta)}
        out.append((ep.key(w), members))
    return out


def _order(member: str, arrays: dict) -> list[str]:
    return [a.name for a in MEMBERS[member].arrays if a.name in arrays]


def decode_sample(members: dict[str, bytes]) -> dict:
    """Decode a sample's members (from ``iter_samples`` or a ``webdataset`` row).

    Args:
        members: member name -> bytes (extra keys such as ``__key__`` are ignored).
    Returns:
        member name -> dict of numpy arrays (npz) or parsed JSON; unknown members are
        returned as bytes.
    """
    out = {}
    for name, data in members.items():
        if name.startswith("__"):
            continue
        if name.endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                out[name] = {k: z[k] for k in z.files}
        elif name.endswith(".json"):
            out[name] = json.loads(data)
        else:
            out[name] = data
    return out


def sample_person_track(sample: dict):
    """Rebuild the wearer's :class:`~egogen.sim.episode.PersonTrack` from a decoded sample."""
    from egogen.sim.episode import Goal, PersonTrack

    m, c, meta = sample["motion.npz"], sample["camera.npz"], sample["meta.json"]
    goals = [Goal(np.array(g["xy"]), g["label"], g["room"], g["instance_id"], g["reached_frame"]) for g in meta["goals"]]
    return PersonTrack(person_id=meta["person_id"], betas=m["betas"], gender=str(m["gender"]),
                       global_orient=m["global_orient"], body_pose=m["body_pose"], transl=m["transl"],
                       joints=m["joints"], T_world_camera=c["T_world_camera"], markers=m.get("markers"),
                       left_hand_pose=m["left_hand_pose"], right_hand_pose=m["right_hand_pose"], goals=goals)


def write_episodes(episodes, scene, out, config: Optional[dict] = None, samples_per_shard: int = 64,
                   resume: bool = False) -> dict:
    """Write the samples of episodes into shards (:class:`~egogen.data.ShardWriter`).

    Args:
        episodes: iterable of Episodes (all in ``scene``).
        scene: the PreparedScene.
        out: dataset folder.
        config: run configuration stored in the index.
        samples_per_shard, resume: as :class:`~egogen.data.ShardWriter`.
    Returns:
        The index (dict).
    """
    from egogen.data.shards import ShardWriter

    with ShardWriter(out, samples_per_shard, config, resume) as w:
        done = w.completed_keys()
        for ep in episodes:
            if all(ep.key(i) in done for i in range(len(ep.people))):
                continue
            for key, members in episode_samples(ep, scene):
                if key not in done:
                    w.add(key, members)
    return w.close()
