"""Eye gaze of a walking wearer: fixation targets, fixations, saccades, pursuit, VOR.

An observer of an :class:`~egogen.sim.episode.Episode`: it reads the wearer's head-camera
trajectory, path and goals, the other people and the scene, and writes per frame a unit
gaze direction in the camera frame, the pixel it falls on in the rig's image, the fixation
depth and the fixated object. The model and its sources are in docs/gaze.md; in short:

- A gaze sequence alternates saccades and fixations. At each fixation onset the model draws
  a fixation duration (log-normal, median 280 ms, clipped to 100-1000 ms; walking and scene
  viewing studies report means of 250-350 ms) and picks a target among candidates the way
  walkers do: the path ahead 1-2 s away (Patla & Vickers 2003; Matthis et al. 2018), the next
  turn of the path, the goal object (more often when it is near: Land & Hayhoe 2001),
  approaching people (Jovancevic-Misic & Hayhoe 2009) and other objects in view (salient
  objects, Foulsham et al. 2011). A candidate must stay visible (ray cast, other people
  occlude) and inside the eye's comfortable range in the head (|yaw| <= 35 deg, pitch -40 to
  +25 deg) for the whole fixation; candidate weights are multiplied by a preference for
  short saccades, exp(-A / 15 deg), with 1 <= A <= 45 deg (Bahill et al. 1975: most natural
  saccades are under 15 deg).
- Saccade duration follows the main sequence D = 21 ms + 2.2 ms/deg * A (Carpenter 1988;
  Baloh et al. 1975 for peak velocity) with a minimum-jerk profile between the two targets.
- During a fixation the target point is held fixed in the world (vestibulo-ocular reflex:
  the eye counter-rotates the head, so the direction in the camera frame changes while the
  world point does not); a person target is followed (smooth pursuit).
- Eyes lead head turns: targets on the path 1-2 s ahead reach a turn before the head does
  (head anticipation is only ~0.2-0.3 s, Grasso et al. 1998; Imai et al. 2001).

Everything is deterministic per (episode seed, wearer).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from egogen.body.skeleton import JOINT_INDEX
from egogen.scene.collision import DYNAMIC_ID_BASE, Capsules
from egogen.scene.model import STRUCTURE_LABELS

#: Per-frame eye-movement events.
FIXATION, SACCADE, PURSUIT, HEAD_FIXED = 0, 1, 2, 3
EVENT_NAMES = ("fixation", "saccade", "pursuit", "head_fixed")
"""``head_fixed``: no target fits (e.g. during a fast turn on the spot); the eyes stay near the
orbit's centre (10 deg down) and the head carries the gaze, as in large combined eye-head
gaze shifts (Freedman 2008); the gaze point then moves over the surfaces."""

#: Kinds of fixation targets (``GazeTrack.target_kind``).
TARGET_KINDS = ("path_ahead", "waypoint", "goal_object", "person", "object", "straight_ahead")
PATH_AHEAD, WAYPOINT, GOAL_OBJECT, PERSON, OBJECT, STRAIGHT_AHEAD = range(len(TARGET_KINDS))

#: ``object_id`` of a fixated person ``k``: ``PERSON_ID_BASE + k`` (as the collision world's
#: dynamic obstacles); -1 means no object.
PERSON_ID_BASE = DYNAMIC_ID_BASE


@dataclass(frozen=True)
class GazeParams:
    """Parameters of the gaze model (units: seconds, degrees, metres). See docs/gaze.md.

    Attributes:
        fix_median_s, fix_sigma: log-normal fixation duration (median, log-space sigma).
        fix_min_s, fix_max_s: clip of the fixation duration.
        lookahead_s: (min, max) look-ahead time of path targets.
        eye_yaw_max_deg, eye_pitch_min_deg, eye_pitch_max_deg: eye-in-head range.
        sacc_min_deg, sacc_max_deg: smallest / largest saccade the model makes.
        sacc_pref_deg: scale of the preference exp(-A / scale) for short saccades.
        main_seq_a_ms, main_seq_b_ms_per_deg: saccade duration D = a + b A.
        weights: base weight per target kind (path_ahead, waypoint, goal_object, person,
            object); ``turn_weight`` for the path just after a turn that starts within
            1.5 s (anticipatory fixation, eyes lead the head into turns); the goal weight is raised to ``goal_near_weight`` within
            ``goal_near_m`` of the goal, a person's weight doubles when approaching.
        person_range_m, object_range_m: farthest people / objects considered.
        walking_speed_mps: below this the wearer counts as standing (no path targets).
    """

    fix_median_s: float = 0.28
    fix_sigma: float = 0.35
    fix_min_s: float = 0.10
    fix_max_s: float = 1.0
    lookahead_s: tuple = (1.2, 2.5)
    eye_yaw_max_deg: float = 35.0
    eye_pitch_min_deg: float = -45.0
    eye_pitch_max_deg: float = 25.0
    sacc_min_deg: float = 1.0
    sacc_max_deg: float = 45.0
    sacc_pref_deg: float = 15.0
    main_seq_a_ms: float = 21.0
    main_seq_b_ms_per_deg: float = 2.2
    weights: tuple = (0.45, 0.10, 0.15, 0.25, 0.15)
    goal_near_weight: float = 0.35
    turn_weight: float = 0.6
    goal_near_m: float = 3.0
    person_range_m: float = 6.0
    object_range_m: float = 7.0
    walking_speed_mps: float = 0.3


@dataclass
class GazeTrack:
    """Gaze of one wearer over T frames (camera = the rig's head camera, OpenCV axes).

    Attributes:
        direction: (T, 3) float32 unit gaze direction in the camera frame, from the camera
            centre to the fixated point.
        pixel: (T, 2) float32 pixel (column, row) of ``direction`` in the rig's image.
        depth: (T,) float32 distance from the camera centre to the fixated point, metres.
        object_id: (T,) int32 scene instance id of the fixated surface (floor included),
            ``PERSON_ID_BASE + k`` for person k, -1 for none (during saccades: the target's).
        event: (T,) uint8 FIXATION / SACCADE / PURSUIT.
        target_kind: (T,) uint8 index into :data:`TARGET_KINDS`.
        target_world: (T, 3) float32 world point being fixated (saccade frames: the next
            target), metres.
        target_visible: (T,) bool, the target is unoccluded and inside the image.
        segments: per-segment arrays (S,): ``start``, ``end`` (frames, end exclusive) int32,
            ``event`` uint8, ``target_kind`` uint8, ``object_id`` int32, ``amplitude_deg``
            float32 (saccades; 0 otherwise).
        stats: diagnostics: ``rejected`` counts of candidate targets dropped, by
            ``kind/reason`` (eye_range, occluded, amplitude<min, amplitude>max) and fallbacks.
    """

    direction: np.ndarray
    pixel: np.ndarray
    depth: np.ndarray
    object_id: np.ndarray
    event: np.ndarray
    target_kind: np.ndarray
    target_world: np.ndarray
    target_visible: np.ndarray
    segments: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def fixation_durations_s(self, fps: float, events=(FIXATION, PURSUIT), complete_only: bool = True) -> np.ndarray:
        """Durations (s) of fixation (and pursuit) segments; ``complete_only`` drops the
        last one if the episode cut it short."""
        s = self.segments
        keep = np.isin(s["event"], events)
        if complete_only and len(keep):
            keep &= s["end"] < len(self.event)
        return (s["end"][keep] - s["start"][keep]) / fps

    def saccade_amplitudes_deg(self) -> np.ndarray:
        """Amplitudes (deg) of the saccades."""
        s = self.segments
        return s["amplitude_deg"][s["event"] == SACCADE]


@dataclass
class _Cand:
    kind: int
    obj: int
    points: np.ndarray  # (n, 3) world points over the candidate frames
    person: int = -1
    weight: float = 1.0
    head_fixed: bool = False
    objs: Optional[np.ndarray] = None  # (n,) per-frame ids of a head-fixed gaze


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip((_unit(a) * _unit(b)).sum(-1), -1.0, 1.0)))


def _min_jerk(s):
    return s * s * s * (10 - 15 * s + 6 * s * s)


class _Wearer:
    """Per-wearer context: camera, path, other people, scene queries."""

    def __init__(self, ep, ps, wearer: int, cam, params: GazeParams):
        self.p = ep.people[wearer]
        self.ps, self.cam, self.prm, self.fps = ps, cam, params, ep.fps
        self.T = ep.num_frames
        self.C = self.p.T_world_camera[:, :3, 3]
        self.R = self.p.T_world_camera[:, :3, :3]
        self.xy = self.p.transl[:, :2].astype(np.float64)
        v = np.gradient(self.xy, axis=0) * self.fps if self.T > 1 else np.zeros_like(self.xy)
        self.speed = np.linalg.norm(v, axis=1)
        self.heading = np.arctan2(v[:, 1], v[:, 0])  # walking direction (meaningless when standing)
        self.others = [q for q in ep.people if q.person_id != self.p.person_id]
        self.other_ids = np.array([q.person_id for q in self.others], int)
        self.other_xy = np.stack([q.transl[:, :2] for q in self.others]) if self.others else np.zeros((0, self.T, 2))
        hid = JOINT_INDEX["head"]
        self.other_head = np.stack([q.joints[:, hid] for q in self.others]) if self.others else np.zeros((0, self.T, 3))
        self.furniture = [o for o in ps.scene.objects if o.label not in STRUCTURE_LABELS]
        # closest frame of each path waypoint (for "next turn" targets)
        path = np.asarray(self.p.path, float).reshape(-1, 2)
        self.turns = []
        for i in range(1, len(path) - 1):
            a, b = path[i] - path[i - 1], path[i + 1] - path[i]
            turn = np.degrees(abs(np.arctan2(a[0] * b[1] - a[1] * b[0], a @ b)))
            if turn > 20:
                fr = int(np.argmin(np.linalg.norm(self.xy - path[i], axis=1)))
                self.turns.append((fr, path[i]))

    def capsules(self, f: int, exclude: int = -1) -> Optional[Capsules]:
        keep = [i for i in range(len(self.others)) if i != exclude]
        if not keep:
            return None
        return Capsules.people(self.other_xy[keep, f], radius=0.22, height=float(self.other_head[keep, f, 2].max() + 0.15))

    def cam_dirs(self, frames, points):
        """Camera-frame unit directions and distances of world points at frames."""
        d = points - self.C[frames]
        dist = np.linalg.norm(d, axis=-1)
        return np.einsum("nji,nj->ni", self.R[frames], d) / np.maximum(dist, 1e-9)[:, None], dist

    def in_range(self, dcam) -> np.ndarray:
        """Eye-in-head range and image bounds of camera-frame directions."""
        pr = self.prm
        yaw = np.degrees(np.arctan2(dcam[:, 0], dcam[:, 2]))
        pitch = np.degrees(np.arctan2(-dcam[:, 1], np.hypot(dcam[:, 0], dcam[:, 2])))
        uv, ok = self.cam.project(dcam)
        m = 0.02 * self.cam.width
        inside = (uv[:, 0] >= m) & (uv[:, 0] <= self.cam.width - m) & (uv[:, 1] >= m) & (uv[:, 1] <= self.cam.height - m)
        return ok & inside & (np.abs(yaw) <= pr.eye_yaw_max_deg) & (pitch >= pr.eye_pitch_min_deg) & \
            (pitch <= pr.eye_pitch_max_deg)

    def visible(self, frames, points, person: int = -1, obj: int = -1) -> np.ndarray:
        """(n,) bool: the world points are the first thing a ray from the camera hits."""
        frames = np.asarray(frames)
        d = points - self.C[frames]
        dist = np.linalg.norm(d, axis=-1)
        dirs = d / np.maximum(dist, 1e-9)[:, None]
        out = np.zeros(len(frames), bool)
        for f in np.unique(frames):  # capsules differ per frame
            sel = frames == f
            caps = self.capsules(int(f))
            hits = self.ps.collision.cast_rays(self.C[[f] * int(sel.sum())], dirs[sel], dynamic=caps)
            if person >= 0:
                k = int(np.nonzero(self.other_ids == person)[0][0])
                # the capsule we hit is the target's own (index in the capsule list = k)
                ok = (hits.instance == DYNAMIC_ID_BASE + k) | (hits.t >= dist[sel] - 0.3)
            elif obj >= 0 and obj not in self._floor_ids():
                ok = (hits.instance == obj) | (hits.t >= dist[sel] - 0.05)
            else:
                ok = hits.t >= dist[sel] - 0.05 - 0.02 * dist[sel]
            out[sel] = ok
        return out

    def _floor_ids(self):
        if not hasattr(self, "_floors"):
            self._floors = {o.instance_id for o in self.ps.scene.objects if o.label == "floor"}
        return self._floors

    def surface_point(self, f: int, toward: np.ndarray):
        """First hit (point, instance) of a ray from the camera at frame f toward a point."""
        d = _unit(toward - self.C[f])
        h = self.ps.collision.cast_rays(self.C[f][None], d[None], dynamic=self.capsules(f))
        if not np.isfinite(h.t[0]):
            return None, -1
        inst = int(h.instance[0])
        if inst >= DYNAMIC_ID_BASE:  # capsule k of the others -> that person's id
            inst = PERSON_ID_BASE + int(self.other_ids[inst - DYNAMIC_ID_BASE])
        return h.points[0].astype(np.float64), inst


def _candidates(w: _Wearer, f: int, n: int, rng: np.random.Generator, prm: GazeParams) -> list[_Cand]:
    T, fr = w.T, np.arange(f, f + n)
    out: list[_Cand] = []
    wk = prm.weights
    walking = w.speed[f] > prm.walking_speed_mps
    if walking:  # the path ahead, 1-2 s away, on the floor
        for _ in range(2):
            la = int(round(rng.uniform(*prm.lookahead_s) * w.fps))
            j = min(f + la, T - 1)
            if np.linalg.norm(w.xy[j] - w.xy[f]) < 0.8:
                continue
            p = np.array([*(w.xy[j] + rng.normal(0, 0.08, 2)), 0.0])
            out.append(_Cand(PATH_AHEAD, -1, np.repeat(p[None], n, 0), weight=wk[0] / 2))
        # a turn of the walking direction within 1.5 s: look where the path goes after it
        h = w.heading
        ahead = np.arange(f + int(0.3 * w.fps), min(f + int(1.5 * w.fps), T))
        if len(ahead):
            dh = np.abs((h[ahead] - h[f] + np.pi) % (2 * np.pi) - np.pi)
            k = np.nonzero(dh > np.radians(25))[0]
            if len(k):
                j = min(int(ahead[k[0]] + 0.6 * w.fps), T - 1)
                p = np.array([*w.xy[j], 0.0])
                out.append(_Cand(WAYPOINT, -1, np.repeat(p[None], n, 0), weight=prm.turn_weight))
        for tf, xy in w.turns:  # the next turn of the path, within 4 s
            if f + 0.3 * w.fps < tf < f + 4 * w.fps:
                p = np.array([xy[0], xy[1], 0.0])
                out.append(_Cand(WAYPOINT, -1, np.repeat(p[None], n, 0), weight=wk[1]))
                break
    goal = next((g for g in w.p.goals if g.reached_frame < 0 or g.reached_frame + w.fps > f), None)
    if goal is not None and goal.instance_id >= 0:
        o = w.ps.scene.objects[goal.instance_id]
        b = np.asarray(o.bounds)
        aim = np.array([*b[:, :2].mean(0), min(b[1, 2] - 0.05, b[0, 2] + 0.7 * (b[1, 2] - b[0, 2]))])
        p, inst = w.surface_point(f, aim)
        if p is not None and inst == goal.instance_id:
            near = np.linalg.norm(goal.xy - w.xy[f]) < prm.goal_near_m
            out.append(_Cand(GOAL_OBJECT, inst, np.repeat(p[None], n, 0),
                             weight=prm.goal_near_weight if near else wk[2]))
    for k in range(len(w.others)):  # people within range; approaching ones weigh double
        rel = w.other_xy[k, f] - w.xy[f]
        dist = np.linalg.norm(rel)
        if dist > prm.person_range_m or dist < 0.3:
            continue
        vrel = (np.gradient(w.other_xy[k], axis=0)[f] - np.gradient(w.xy, axis=0)[f]) * w.fps
        approaching = (rel @ vrel) < -0.2 * dist
        pts = w.other_head[k, fr].astype(np.float64) + np.array([0, 0, 0.05])
        out.append(_Cand(PERSON, PERSON_ID_BASE + int(w.other_ids[k]), pts, person=int(w.other_ids[k]),
                         weight=wk[3] * (2.0 if approaching else 1.0)))
    objs = [o for o in w.furniture
            if np.linalg.norm(np.asarray(o.bounds).mean(0)[:2] - w.xy[f]) < prm.object_range_m]
    if objs:  # a few salient objects in view
        fwd = w.R[f][:, 2]
        pick = rng.permutation(len(objs))[:6]
        objc = []
        for i in pick:
            b = np.asarray(objs[i].bounds)
            aim = b[0] + (b[1] - b[0]) * np.array([rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.5, 0.95)])
            if _angle_deg(aim - w.C[f], fwd) > 40:
                continue
            p, inst = w.surface_point(f, aim)
            if p is not None and inst == objs[i].instance_id:
                objc.append(_Cand(OBJECT, inst, np.repeat(p[None], n, 0)))
        for c in objc:
            c.weight = wk[4] / len(objc)
        out.extend(objc)
    return out


def _saccade_frames(amp_deg: float, prm: GazeParams, fps: float) -> int:
    """Frames a saccade of ``amp_deg`` spans: main sequence D = a + b A (Carpenter 1988), >= 1."""
    if amp_deg <= 0:
        return 0
    return max(1, int(round((prm.main_seq_a_ms + prm.main_seq_b_ms_per_deg * amp_deg) / 1000.0 * fps)))


def _fallback(w: _Wearer, f: int, n: int, gaze_now, prm: GazeParams):
    """The surface ahead of the head (walkers' default gaze) when no candidate fits.

    Tries directions on a grid in the head (yaw 0, +-10, +-20, +-30 deg; 15, 8, 0 deg down)
    and keeps the one that stays longest in the eye's range, with a saccade amplitude in the
    model's range, preferring small saccades. Returns (candidate, frames in range, amplitude).
    """
    best, best_key = None, None
    for down in (15.0, 8.0, 0.0):
        for yaw in (0.0, 10.0, -10.0, 20.0, -20.0, 30.0, -30.0):
            y, p_ = np.radians(yaw), np.radians(down)
            d_cam = np.array([np.sin(y) * np.cos(p_), np.sin(p_), np.cos(y) * np.cos(p_)])
            p, inst = w.surface_point(f, w.C[f] + w.R[f] @ d_cam)
            if p is None:
                p, inst = w.C[f] + 3.0 * (w.R[f] @ d_cam), -1
            amp = 0.0 if gaze_now is None else float(_angle_deg(gaze_now, p - w.C[f]))
            amp_ok = gaze_now is None or prm.sacc_min_deg <= amp <= prm.sacc_max_deg
            c = _Cand(STRAIGHT_AHEAD, inst, np.repeat(p[None], n, 0))
            dcam, _ = w.cam_dirs(f + np.arange(n), c.points)
            bad = np.nonzero(~w.in_range(dcam))[0]
            span = int(bad[0]) if len(bad) else n
            key = (amp_ok, min(span, 12), -amp)
            if best_key is None or key > best_key:
                best, best_key = (c, span, amp), key
    c, span, amp = best
    amp_ok = gaze_now is None or prm.sacc_min_deg <= amp <= prm.sacc_max_deg
    if amp_ok and span >= _saccade_frames(amp, prm, w.fps) + int(np.ceil(prm.fix_min_s * w.fps - 1e-6)):
        return best
    # nothing world-fixed lasts: the head carries the gaze (eyes 10 deg down, centred)
    frames = np.minimum(f + np.arange(n), w.T - 1)
    d_cam = np.array([0.0, np.sin(np.radians(10)), np.cos(np.radians(10))])
    dirs = w.R[frames] @ d_cam
    h = w.ps.collision.cast_rays(w.C[frames], dirs)
    t = np.where(np.isfinite(h.t), h.t, 3.0)[:, None]
    pts = w.C[frames] + t * dirs
    objs = np.where(np.isfinite(h.t), h.instance, -1).astype(np.int32)
    amp = 0.0 if gaze_now is None else float(_angle_deg(gaze_now, dirs[0]))
    return _Cand(STRAIGHT_AHEAD, int(objs[0]), pts, head_fixed=True, objs=objs), n, amp


def simulate_gaze(ep, ps, wearer: int, rig=None, params: GazeParams = GazeParams(),
                  seed: Optional[int] = None) -> GazeTrack:
    """Eye gaze of one wearer of an episode (see the module docstring and docs/gaze.md).

    Args:
        ep: the :class:`~egogen.sim.episode.Episode` (30 Hz, world frame Z up).
        ps: its :class:`~egogen.scene.PreparedScene` (ray casts, objects).
        wearer: index of the person wearing the rig.
        rig: :class:`~egogen.render.camera.RigPreset` or preset name (default ``ep.rig``);
            its camera gives the pixels and the image bounds.
        params: model parameters.
        seed: default ``ep.seed``; the wearer's stream is seeded by (seed, wearer).
    Returns:
        :class:`GazeTrack` with T = ``ep.num_frames`` frames.
    Raises:
        IndexError: ``wearer`` is not a person of the episode.
    """
    from egogen.render.camera import load_rig

    rig = load_rig(rig or ep.rig) if not hasattr(rig, "camera") else rig
    cam = rig.camera
    prm = params
    w = _Wearer(ep, ps, wearer, cam, prm)
    T, fps = w.T, ep.fps
    rng = np.random.default_rng([int(ep.seed if seed is None else seed), int(wearer), 0x6A2E])
    direction = np.zeros((T, 3))
    target = np.zeros((T, 3))
    obj_id = np.full(T, -1, np.int32)
    event = np.zeros(T, np.uint8)
    kind = np.zeros(T, np.uint8)
    seg = {k: [] for k in ("start", "end", "event", "target_kind", "object_id", "amplitude_deg")}

    def add_seg(a, b, ev, kd, ob, amp=0.0):
        for k, v in zip(seg, (a, b, ev, kd, ob, amp)):
            seg[k].append(v)

    f, prev = 0, None
    reject = Counter()
    min_fix = max(1, int(np.ceil(prm.fix_min_s * fps - 1e-6)))
    while f < T:
        dur_s = float(np.clip(rng.lognormal(np.log(prm.fix_median_s), prm.fix_sigma), prm.fix_min_s, prm.fix_max_s))
        n_fix = max(min_fix, int(round(dur_s * fps)))
        n_look = min(n_fix + 5, T - f)  # fixation plus the saccade before it (<= 4 frames)
        cands = _candidates(w, f, n_look, rng, prm)
        # the eye's direction at the end of the last fixation (in range there), world frame
        gaze_now = None if prev is None else w.R[f - 1] @ direction[f - 1]
        ok, weights, amps, spans = [], [], [], []
        for c in cands:
            amp = 0.0 if gaze_now is None else float(_angle_deg(gaze_now, c.points[0] - w.C[f]))
            if gaze_now is not None and not (prm.sacc_min_deg <= amp <= prm.sacc_max_deg):
                reject[(TARGET_KINDS[c.kind], "amplitude<min" if amp < prm.sacc_min_deg else "amplitude>max")] += 1
                continue
            n_sac_c = _saccade_frames(amp, prm, fps) if gaze_now is not None else 0
            n_need = min(n_look, n_sac_c + n_fix)
            dcam, _ = w.cam_dirs(f + np.arange(n_need), c.points[:n_need])
            bad = np.nonzero(~w.in_range(dcam))[0]
            span = int(bad[0]) if len(bad) else n_need  # the fixation ends when the target leaves the range
            if span < min(n_need, n_sac_c + min_fix):
                reject[(TARGET_KINDS[c.kind], "eye_range")] += 1
                continue
            check = np.unique([0, span // 2, span - 1])
            if not w.visible(f + check, c.points[check], c.person, c.obj).all():
                reject[(TARGET_KINDS[c.kind], "occluded")] += 1
                continue
            spans.append(span - n_sac_c)
            ok.append(c)
            amps.append(amp)
            weights.append(c.weight * np.exp(-amp / prm.sacc_pref_deg))
        if ok:
            wts = np.asarray(weights)
            i = int(rng.choice(len(ok), p=wts / wts.sum()))
            c, amp, n_fix = ok[i], amps[i], min(n_fix, spans[i])
        else:
            reject[("fallback", "walking" if w.speed[f] > prm.walking_speed_mps else "standing")] += 1
            c, span, amp = _fallback(w, f, n_look, gaze_now, prm)
            n_fix = min(n_fix, max(min_fix, span - _saccade_frames(amp, prm, fps)))
        # saccade (main sequence duration), then the fixation
        n_sac = 0
        if prev is not None and amp > 0:
            n_sac = min(_saccade_frames(amp, prm, fps), T - f)
            a = direction[f - 1]  # eye-in-head direction where the saccade starts
            for k in range(n_sac):
                j = f + k
                s = _min_jerk((k + 0.5) / n_sac)
                b = _unit(w.R[j].T @ (c.points[k] - w.C[j]))
                om = np.arccos(np.clip(a @ b, -1, 1))  # spherical interpolation in the head
                direction[j] = a if om < 1e-9 else (np.sin((1 - s) * om) * a + np.sin(s * om) * b) / np.sin(om)
                target[j] = c.points[k]
                obj_id[j], event[j], kind[j] = c.obj, SACCADE, c.kind
            add_seg(f, f + n_sac, SACCADE, c.kind, c.obj, amp)
        # at least one frame of progress: near the episode's end a target can fit no fixation
        # after its saccade (n_fix <= 0), which must not stall the loop, step it backwards or
        # resume it inside the saccade just written (segments would overlap)
        a0 = f + n_sac
        a1 = max(a0, min(f + max(n_sac + n_fix, 1), T, f + n_look))
        if a1 > a0:
            pts = c.points[n_sac:n_sac + (a1 - a0)]
            dcam, _ = w.cam_dirs(np.arange(a0, a1), pts)
            direction[a0:a1] = dcam
            target[a0:a1] = pts
            ev = HEAD_FIXED if c.head_fixed else PURSUIT if c.kind == PERSON else FIXATION
            obj_id[a0:a1] = c.objs[n_sac:n_sac + (a1 - a0)] if c.objs is not None else c.obj
            event[a0:a1], kind[a0:a1] = ev, c.kind
            add_seg(a0, a1, ev, c.kind, c.obj)
        prev = c
        f = a1
    direction = _unit(direction)
    depth = np.linalg.norm(target - w.C, axis=1)
    # saccade frames: depth blends toward the next target along the rotation
    uv, _ = cam.project(direction)
    vis = np.zeros(T, bool)
    floor_pts = (obj_id < 0) & np.isin(kind, (PATH_AHEAD, WAYPOINT))
    if floor_pts.any():  # floor targets: the instance id of the floor under them
        obj_id[floor_pts] = ps.collision.instance_at(target[floor_pts]).astype(np.int32)
    frames = np.arange(T)
    person_of = np.where(obj_id >= PERSON_ID_BASE, obj_id - PERSON_ID_BASE, -1)
    for pid in np.unique(person_of):
        sel = person_of == pid
        vis[sel] = w.visible(frames[sel], target[sel], int(pid), -1)
    dcam_t, _ = w.cam_dirs(frames, target)
    uv_t, okp = cam.project(dcam_t)
    vis &= okp & (uv_t[:, 0] >= 0) & (uv_t[:, 0] <= cam.width) & (uv_t[:, 1] >= 0) & (uv_t[:, 1] <= cam.height)
    segments = {k: np.asarray(v, dt) for (k, v), dt in
                zip(seg.items(), (np.int32, np.int32, np.uint8, np.uint8, np.int32, np.float32))}
    stats = {"rejected": {f"{k}/{r}": int(v) for (k, r), v in sorted(reject.items())}}
    return GazeTrack(direction.astype(np.float32), uv.astype(np.float32), depth.astype(np.float32), obj_id,
                     event, kind, target.astype(np.float32), vis, segments, stats)
