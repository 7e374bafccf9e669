"""Policy episodes: people driven by the PPO walking policy (the product's motion source).

Each person gets a body shape, a chain of goals with planned paths and a start pose (the
standing markers of that body, facing the first waypoint). All people of an episode walk in
one :class:`~egogen.sim.env.WalkEnv` (they sense and avoid each other): every step the policy
picks a latent code per person, the motion-primitive C-VAE decodes 13 frames of SSM2 markers
(0.43 s at 30 Hz), and the env follows the planned waypoints of the current leg. When a
person reaches a goal the next leg is planned from where it stands; after its last goal it
stands still, holding its last frame (the env keeps it in place so others still see it there),
while the others finish. Paths keep to the middle of corridors and doorways
(:meth:`~egogen.scene.PreparedScene.plan_path`), goal chains fit ``max_duration_s`` at
``PLAN_SPEED``, and each leg gets at least the time budget the policy was trained with
(``leg_steps`` primitives) or the time its path takes at ``PLAN_SPEED``. The episode ends when
everyone is done, someone falls (head below 1 m) or runs out of a leg's time (both recorded in
``meta``; the quality gate rejects such attempts), or at ``max_duration_s``.

Search (:mod:`egogen.sim.search`): every step each walking person's next primitive is the best
of ``candidates`` latent codes drawn around the policy's action. A step that would make the
episode fail the quality gate anyway (a fall, a head ending more than ``HEAD_DRIFT_M`` off its
standing height, two people closer than ``min_person_distance``,
a non-foot marker more than ``penetration_depth`` inside furniture) is undone: the episode
rewinds ``rewind`` primitives (more when the same stretch keeps failing) and draws again, at
most ``max_backtracks`` times. After that a fall or a collision ends the episode there
(``meta["abandoned"]`` = the reason; the gate rejects it without simulating the rest); other
breaks are kept, as the gate tolerates a few frames of them. Each next primitive is seeded
through EgoGen's seed re-projection (``reproject``; :class:`~egogen.motion.reproject.SeedProjector`
with the person's betas), which keeps the marker chains on a human shape. On the apartment
with 3 people (shipped models) 46 of 48 episodes pass the gate at the first attempt (28 without
re-projection; 0 of 16 with the policy's action only and neither; docs/policy.md).

Markers become SMPL-X with the motion models' marker regressor, primitive by primitive in the
primitive's canonical frame (as the C-VAE saw it), then back to the world frame. Policy
roll-outs drift off a human shape (a window's first-frame hips can be short or twisted), so a
window whose marker heading is more than ``HEADING_CHECK_DEG`` from the previous window's
regressed hips is regressed in both headings and the better marker fit is kept: on 10 policy
episodes (30 people) this took the people whose head moved faster than 5 m/s in a frame from
4 to 1 (the worst 34 -> 8.5 m/s) and the mean marker error from 108 to 104 mm. At the seams
between primitives the two regressions of the shared seed frames are cross-faded and all
parameters are low-pass filtered (Gaussian, sigma 1 frame): on C-VAE roll-outs this halves the
seam acceleration of the body's markers (5.6 -> 2.9 mm/frame^2, within-primitive 1.5) without
moving the body (mean marker error unchanged). Refining the parameters with Adam through
:class:`~egogen.motion.markers.MarkerBody` (``refine_steps``) lowered the marker error of the
shipped models' roll-outs by 6 mm (42 -> 36 mm, 25 steps) at ~50x the cost of the regression, with
no gain in foot skating; it is off by default.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from egogen.resources import default_policy_path
from egogen.sim.episode import FPS, Episode
from egogen.sim.people import (START_CLEARANCE_M, START_SEPARATION_M, closest_approach,
                               person_track, plan_chain, resolve_scene, sample_betas, smooth, taken_points)

__all__ = ["load_policy", "markers_to_smplx", "policy_episode"]

PRIMITIVE_FRAMES = 13
SEED_FRAMES = 2
PLAN_SPEED = 0.5  # m/s: goal chains fit max_duration_s at this speed; legs get time for it
HEAD_DRIFT_M = 0.3  # a step whose head ends further below or above standing height is rewound


def load_policy(path: str | Path | None = None):
    """Load a walking policy (stable-baselines3 PPO zip) on the CPU.

    Args:
        path: ``policy.zip``; default :func:`default_policy_path`.
    Raises:
        FileNotFoundError: no file there; the message says how to train one.
    """
    from stable_baselines3 import PPO

    path = Path(path) if path else default_policy_path()
    if not path.is_file():
        raise FileNotFoundError(f"no walking policy at {path}; train one with `egogen train-policy --out DIR` and "
                                "pass --policy DIR/policy.zip, or use the procedural walkers (--source scripted)")
    return PPO.load(path, device="cpu")


def _regressor(motion):
    if motion.regressor is None:
        raise ValueError("the motion models have no marker regressor (regressor.pt); train one with "
                         "`egogen train-motion`")
    return motion.regressor


def _rest_joints(body, betas: torch.Tensor) -> torch.Tensor:
    """(3, 3) rest pelvis, left hip and right hip joints of the body with ``betas`` (SMPL-X
    canonical frame, metres): a posed body's pelvis is the rest pelvis plus ``transl``,
    whatever ``global_orient`` is, and its hips are the pelvis plus ``global_orient`` times
    their rest offsets."""
    from smplx.lbs import blend_shapes

    m = body.smplx
    v = m.v_template[None] + blend_shapes(betas[None], m.shapedirs)
    return m.J_regressor[:3] @ v[0]


def _rest_pelvis(body, betas: torch.Tensor) -> torch.Tensor:
    """(3,) rest pelvis joint of the body with ``betas`` (SMPL-X canonical frame, metres)."""
    return _rest_joints(body, betas)[0]


HEADING_CHECK_DEG = 30.0
"""A window whose canonical heading (from its markers' hips) is further than this from the
hips of the previous window's regressed body is also regressed in the heading of those hips;
the regression whose markers fit better is kept."""
HEADING_FIT_STRIDE = 4  # the marker fit that picks a heading is measured on every 4th frame
HEADING_PASSES = 3  # a window turned to its predecessor's hips can make the next one disagree


def _marker_body(body):
    """The body's :class:`~egogen.motion.markers.MarkerBody`, built once per body."""
    from egogen.motion.markers import MarkerBody

    if body not in _MARKER_BODIES:
        _MARKER_BODIES[body] = MarkerBody(body)
    return _MARKER_BODIES[body]


_MARKER_BODIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def markers_to_smplx(markers: np.ndarray, betas: np.ndarray, motion, body, smooth_sigma: float = 1.0,
                     refine_steps: int = 0, refine_lr: float = 0.003) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World-frame SMPL-X parameters of a marker track made of chained primitives.

    Frames ``[13 k, 13 k + 15)`` form primitive window k (2 seed frames + 13 new ones, as
    :func:`~egogen.motion.rollout.rollout` chains them). Each window is regressed in its
    canonical frame (built on its first frame with the motion models' marker->joint map) and
    brought back to the world frame; the 2 frames shared by consecutive windows are
    cross-faded (weights 1/3, 2/3) and all parameters are Gaussian-filtered along time.

    Markers that drift off a human shape (policy roll-outs do) can give a window's first frame
    a hip line that is short or twisted, so its canonical heading is off by up to 180 degrees;
    the regressor, trained on windows facing +y, then returns a body turned away from the
    previous window's and the cross-fade of the shared frames flips the body for a few frames
    (the head camera jumps up to ~1 m). So a window whose marker heading is more than
    ``HEADING_CHECK_DEG`` from the hips of the previous window's regressed body (at the shared
    frame) is also regressed in the frame of those hips, and the regression with the smaller
    mean marker error over the window is kept.

    Args:
        markers: (T, M, 3) world markers, metres (any T >= 1).
        betas: (NB,) body shape; NB must match the regressor.
        motion: :class:`~egogen.motion.checkpoint.MotionModels` with a regressor.
        body: the :class:`~egogen.body.BodyModel` the regressor was trained for.
        smooth_sigma: Gaussian low-pass, frames (0 = only the seam cross-fade).
        refine_steps: Adam steps fitting the parameters to the markers through
            :class:`~egogen.motion.markers.MarkerBody` (0 = off), with a small acceleration
            penalty that keeps them smooth.
        refine_lr: Adam learning rate of the refinement.
    Returns:
        global_orient (T, 3), body_pose (T, 63), transl (T, 3), float32, world frame.
    Raises:
        ValueError: no regressor in ``motion`` or a betas size it was not trained for.
    """
    from egogen.motion.regressor import unpack
    from egogen.motion.rollout import canonical_frame_t
    from egogen.motion.rot6d import mat_to_rot6d, rot6d_to_mat
    from egogen.rotations import mat_to_aa

    reg = _regressor(motion)
    b = torch.as_tensor(np.asarray(betas, np.float32))
    if b.shape != (reg.cfg.num_betas,):
        raise ValueError(f"betas of size {tuple(b.shape)}; the regressor takes {reg.cfg.num_betas} "
                         f"(load the body with load_body_model(num_betas={reg.cfg.num_betas}))")
    m = torch.as_tensor(np.asarray(markers), dtype=torch.float32)
    T = len(m)
    starts = list(range(0, max(T - SEED_FRAMES, 1), PRIMITIVE_FRAMES))
    ends = [min(s + PRIMITIVE_FRAMES + SEED_FRAMES, T) for s in starts]
    rj = _rest_joints(body, b)
    rp = rj[0]

    def regress(frame: torch.Tensor, Rw: torch.Tensor, ow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames ``frame`` (n,) regressed in the canonical frames (Rw (n, 3, 3), ow (n, 3)) ->
        world rotations (n, 22, 3, 3) and transl (n, 3)."""
        local = torch.einsum("nji,nmj->nmi", Rw, m[frame] - ow[:, None])
        rot, t = unpack(reg(local, b.expand(len(frame), -1))[-1])
        rot[:, 0] = Rw @ rot[:, 0]  # global orient: canonical -> world
        t = torch.einsum("nij,nj->ni", Rw, t + rp) + ow - rp  # the pelvis moves rigidly with the frame
        return rot, t

    def fit(ks: list[int], rot: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(len(ks),) mean distance of the markers of a regression of windows ``ks`` (their
        rows stacked in ``rot``, ``t``) to the markers, on every HEADING_FIT_STRIDE-th frame."""
        sub, i = [], 0
        for k in ks:
            sub.append(torch.arange(i, i + len(rows[k]), HEADING_FIT_STRIDE))
            i += len(rows[k])
        sub = torch.cat(sub)
        r = torch.cat([rows[k] for k in ks])[sub]
        d = (_marker_body(body)(b.expand(len(sub), -1), rot[sub], t[sub])[0] - m[frame[r]]).norm(dim=-1).mean(-1)
        return torch.stack([q.mean() for q in d.split([len(range(0, len(rows[k]), HEADING_FIT_STRIDE)) for k in ks])])

    with torch.no_grad():
        R, o = canonical_frame_t(motion.marker_joints(m[starts]))
        win = torch.cat([torch.full((e - s,), k) for k, (s, e) in enumerate(zip(starts, ends))])
        frame = torch.cat([torch.arange(s, e) for s, e in zip(starts, ends)])
        rot, t = regress(frame, R[win], o[win])
        offs = np.cumsum([0] + [e - s for s, e in zip(starts, ends)])
        rows = [torch.arange(offs[k], offs[k + 1]) for k in range(len(starts))]  # rows of each window
        err: dict[int, float] = {}  # marker fit (metres) of the kept regression of the windows checked
        todo = list(range(1, len(starts)))
        for _ in range(HEADING_PASSES):
            if not todo:
                break
            # the hips of window k-1's body at window k's first frame: window k's heading
            g = rot[torch.stack([rows[k - 1][PRIMITIVE_FRAMES] for k in todo]), 0]
            Rc, _ = canonical_frame_t(torch.einsum("kij,nj->kni", g, rj))
            keep = torch.einsum("ki,ki->k", Rc[:, :2, 0], R[todo, :2, 0]) < np.cos(np.radians(HEADING_CHECK_DEG))
            check, Rc = [k for k, c in zip(todo, keep) if c], Rc[keep]
            if not check:
                break
            new = [k for k in check if k not in err]
            if new:
                r = torch.cat([rows[k] for k in new])
                err.update(zip(new, fit(new, rot[r], t[r]).tolist()))
            r = torch.cat([rows[k] for k in check])
            lens = [len(rows[k]) for k in check]
            rot2, t2 = regress(frame[r], Rc.repeat_interleave(torch.as_tensor(lens), 0), o[win[r]])
            f = fit(check, rot2, t2).tolist()
            todo = []
            for k, Rk, rk, tk, fk in zip(check, Rc, rot2.split(lens), t2.split(lens), f):
                if fk < err[k]:
                    rot[rows[k]], t[rows[k]], R[k], err[k] = rk, tk, Rk, fk
                    if k + 1 < len(starts):
                        todo.append(k + 1)
        x = torch.cat([mat_to_rot6d(rot).reshape(len(frame), -1), t], 1).double().numpy()
    # cross-fade the seed frames shared by window k-1 (its last two) and window k (its first two)
    w = []
    for k, (s, e) in enumerate(zip(starts, ends)):
        wk = np.ones(e - s)
        if k > 0:
            wk[:SEED_FRAMES] = (1 / 3, 2 / 3)
        if k < len(starts) - 1:
            wk[-SEED_FRAMES:] = (2 / 3, 1 / 3)
        w.append(wk)
    w = np.concatenate(w)
    acc = np.zeros((T, x.shape[1]))
    np.add.at(acc, frame.numpy(), w[:, None] * x)
    acc = smooth(acc, smooth_sigma)
    if refine_steps > 0:
        acc = _refine(acc, m, b, body, refine_steps, refine_lr)
    Rm = rot6d_to_mat(torch.as_tensor(acc[:, :132]).reshape(T, 22, 6)).numpy()
    aa = mat_to_aa(Rm)
    return (aa[:, 0].astype(np.float32), aa[:, 1:].reshape(T, 63).astype(np.float32),
            acc[:, 132:].astype(np.float32))


def _refine(x: np.ndarray, markers: torch.Tensor, betas: torch.Tensor, body, steps: int, lr: float) -> np.ndarray:
    """Adam on (T, 135) 6D rotations + transl: mean marker distance + L1 of their acceleration."""
    from egogen.motion.markers import MarkerBody
    from egogen.motion.regressor import unpack

    mb = MarkerBody(body)
    xt = torch.as_tensor(x, dtype=torch.float32).requires_grad_(True)
    opt = torch.optim.Adam([xt], lr=lr)
    bt = betas.expand(len(xt), -1)
    for _ in range(steps):
        mk, _ = mb(bt, *unpack(xt))
        loss = (mk - markers).norm(dim=-1).mean()
        if len(xt) > 2:
            loss = loss + (xt[2:] - 2 * xt[1:-1] + xt[:-2]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return xt.detach().double().numpy()


def policy_episode(scene, seed: int, num_people: int = 3, index: int = 0, num_goals: Sequence[int] = (1, 3),
                   max_duration_s: float = 30.0, rig: str = "aria", body=None, policy=None, motion=None,
                   scene_spec: Optional[str] = None, object_goal_p: float = 0.7, smooth_sigma: float = 1.0,
                   refine_steps: int = 0, leg_steps: int = 30, candidates: int = 16,
                   spread: float = 1.5, max_backtracks: int = 30, rewind: int = 2,
                   min_person_distance: float = 0.3, penetration_depth: float = 0.03,
                   pene_frames: int = 0, reproject: float = 0.5, prior_fraction: float = 0.0,
                   anticipate: float = 0.0, personal_space: float = 0.0, steering=None) -> Episode:
    """An episode of ``num_people`` people walking chains of goals, driven by the policy.

    Args:
        scene: a :class:`~egogen.scene.PreparedScene`, or a SCENE spec (``"apartment:0"``).
        seed: the episode's seed (same seed, same episode, bit for bit: run torch with one
            thread, as ``egogen simulate`` does).
        num_people: K people, all in one environment (they see and avoid each other).
        index: episode index stored in the Episode (used in shard keys).
        num_goals: (min, max) goals per person, inclusive.
        max_duration_s: cap on the episode length, seconds.
        rig: head-camera rig preset whose mount offset places the camera.
        body: :class:`~egogen.body.BodyModel` with as many betas as the regressor takes
            (default: the default body, loaded with that many).
        policy: object with ``predict(obs, deterministic=True)`` (SB3 PPO); default
            :func:`load_policy` of the shipped policy.
        motion: :class:`~egogen.motion.checkpoint.MotionModels` with a regressor (default:
            the shipped ones).
        scene_spec: scene spec stored in the Episode when ``scene`` is a PreparedScene.
        object_goal_p: probability that a goal is a named object rather than a floor point.
        smooth_sigma, refine_steps: markers -> SMPL-X options (:func:`markers_to_smplx`).
        leg_steps: least primitives allowed per leg, as in training (``EnvConfig.max_steps``);
            longer legs get their length at ``PLAN_SPEED``. A person who has not reached its
            goal by then ends the attempt (the gate rejects it).
        candidates, spread: the search's codes per person and step and their spread
            (:func:`~egogen.sim.search.search_latents`; 1 = the policy's action, no search).
        max_backtracks, rewind: how often and how far (primitives) failing steps are undone.
        min_person_distance, penetration_depth, pene_frames: what counts as a failing step
            (pelvis distance, metres; depth inside furniture, metres; frames of a primitive
            allowed inside), as the quality gate of ``egogen simulate`` judges it.
        reproject: weight of EgoGen's seed re-projection (``EnvConfig.reproject``; 0 = off).
        prior_fraction, anticipate: the search's share of codes from the C-VAE prior and its
            weight on predicted collisions (:func:`~egogen.sim.search.search_latents`).
        personal_space: metres of gap the search's crowding and anticipation terms ask for
            between two people's body discs (``EnvConfig.personal_space``).
        steering: a :class:`~egogen.sim.steering.SteeringConfig`: people on course to touch
            someone are shown a waypoint that gives way (:mod:`egogen.sim.steering`); None =
            the policy sees its real path.
    Returns:
        :class:`Episode` at 30 Hz, ``2 + 13 * steps`` frames (the 2 standing seed frames
        first). A person who reached its last goal stands still, holding its last frame, until
        the others are done. ``meta["generator"] == "policy"``, ``meta["fallen"]`` the ids of people who fell
        (the attempt ended there), ``meta["timed_out"]`` the ids of people whose leg ran out of
        time, ``meta["steps"]`` the primitives stepped, ``meta["backtracks"]`` the rewinds.
    Raises:
        ValueError: the policy's observation size differs from the environment's, or the
            motion models have no regressor.
        FileNotFoundError: no shipped policy (``policy=None``).
    """
    from egogen.body import load_body_model
    from egogen.motion.checkpoint import load_motion_models
    from egogen.render.camera import load_rig
    from egogen.sim.env import EnvConfig, WalkEnv, match_policy, place_markers, standing_markers
    from egogen.sim.rewards import pelvis_xy
    from egogen.sim.search import search_latents
    from egogen.sim.steering import pelvis_velocity, steered_observation

    ps, scene_spec = resolve_scene(scene, scene_spec)
    motion = motion or load_motion_models()
    nb = _regressor(motion).cfg.num_betas
    body = body or load_body_model(num_betas=nb)
    if body.num_betas != nb:
        raise ValueError(f"the body has {body.num_betas} betas, the marker regressor takes {nb}: "
                         f"load it with load_body_model(num_betas={nb})")
    policy = policy or load_policy()
    mount = load_rig(rig).mount_offset_m
    rng = np.random.default_rng(seed)
    search_rng = np.random.default_rng([seed, 1])
    plans = []
    for _ in range(num_people):
        n_goals = int(rng.integers(num_goals[0], num_goals[1] + 1))
        path, goals, _ = plan_chain(ps, rng, n_goals, object_goal_p, min_dist=2.0,
                                    max_length=max_duration_s * PLAN_SPEED,
                                    away_from=taken_points(plans), separation=START_SEPARATION_M,
                                    start_clearance=START_CLEARANCE_M)
        plans.append(dict(path=path, goals=goals, betas=sample_betas(rng, body.num_betas)))

    K = num_people
    max_steps = max(1, int((max_duration_s * FPS - SEED_FRAMES) // PRIMITIVE_FRAMES))
    # each leg gets the time budget the policy was trained with (its remaining-time input)
    cfg = match_policy(EnvConfig(scenes=(scene_spec,), num_agents=K, agents_per_scene=K, auto_reset=False,
                                 max_steps=leg_steps, seed=int(seed), reproject=reproject,
                                 personal_space=personal_space), policy)
    env = WalkEnv(cfg, motion, standing_markers(body), body.markers.names, scenes={scene_spec: ps}, body=body)

    def leg(i: int, from_xy: np.ndarray) -> tuple[np.ndarray, int]:
        """Waypoints of person i's current leg and its time budget (primitives)."""
        goal = plans[i]["goals"][current[i]].xy
        res = ps.plan_path(from_xy, goal)
        way = res.waypoints[1:] if res.reachable and len(res.waypoints) > 1 else goal[None]
        length = res.length if res.reachable else float(np.linalg.norm(goal - from_xy))
        step_s = PRIMITIVE_FRAMES / FPS
        return way, max(leg_steps, int(np.ceil(length / (PLAN_SPEED * step_s))))

    tracks: list[list[np.ndarray]] = []
    current = [0] * K  # index of the goal each person walks to
    held: list[Optional[np.ndarray]] = [None] * K  # seed frames of people who are done
    for i, p in enumerate(plans):
        start = p["path"][0]
        ahead = p["path"][1] - start if len(p["path"]) > 1 else np.array([1.0, 0.0])
        m = place_markers(standing_markers(body, p["betas"]), start, float(np.arctan2(ahead[1], ahead[0])))
        seed_m = np.repeat(m[None], SEED_FRAMES, 0)
        tracks.append([seed_m])
        if p["goals"]:
            env.assign(i, seed_m, *leg(i, start), betas=p["betas"])
        else:  # no reachable goal: stands where it is
            env.assign(i, seed_m, start[None], betas=p["betas"])
            held[i] = seed_m
    head_height = np.array([t[0][0, :, 2].max() for t in tracks])  # standing, metres

    def snapshot() -> dict:
        return dict(env=(env.seed_m.copy(), [w.copy() for w in env.waypoints], env.goal.copy(), env.dist.copy(),
                         env.steps.copy(), env.budget.copy()),
                    tracks=[len(t) for t in tracks], current=list(current), held=list(held),
                    reached=[[g.reached_frame for g in p["goals"]] for p in plans], frames=frames, steps=steps)

    def restore(snap: dict) -> None:
        nonlocal frames, steps
        env.seed_m, env.waypoints, env.goal, env.dist, env.steps, env.budget = (
            a.copy() if isinstance(a, np.ndarray) else [w.copy() for w in a] for a in snap["env"])
        for t, n in zip(tracks, snap["tracks"]):
            del t[n:]
        current[:], held[:] = snap["current"], snap["held"]
        for p, r in zip(plans, snap["reached"]):
            for g, f in zip(p["goals"], r):
                g.reached_frame = f
        frames, steps = snap["frames"], snap["steps"]

    def breaks(active: np.ndarray, infos) -> str:
        """Why this step makes the episode fail the quality gate ("" if it does not): a fall,
        a head more than ``HEAD_DRIFT_M`` below or above standing height (a crouch, or markers
        stretching off a human shape, that takes the head camera out of its plausible height),
        two people closer than ``min_person_distance`` or a
        body more than ``penetration_depth`` inside furniture in more than ``pene_frames`` of its
        frames."""
        if any(infos[i].get("fallen", False) for i in np.flatnonzero(active)):
            return "person fell"
        top = env.last_markers[..., 2].max(axis=-1)  # (K, 13) head height per frame
        drift = np.abs(top - head_height[:, None]).max(axis=-1)
        if (active & (drift > HEAD_DRIFT_M)).any():
            return "head height"
        now = np.where(active[:, None, None, None], env.last_markers,
                       np.stack([h[-1:] if h is not None else env.seed_m[i, -1:] for i, h in enumerate(held)]))
        if closest_approach(pelvis_xy(now, env.g)) < min_person_distance:  # pelvises (K, 13, 2)
            return "people collide"
        for i in np.flatnonzero(active):  # env.last_sdf: the scene SDF at the non-foot markers
            if (env.last_sdf[i] < -penetration_depth).any(axis=-1).sum() > pene_frames:
                return "penetration"
        return ""

    obs = env.observe()
    frames, steps, fallen, backtracks, stuck, furthest = SEED_FRAMES, 0, [], 0, 0, 0
    timed_out: list[int] = []
    abandoned = ""
    history: list[dict] = []  # snapshot before each step
    while steps < max_steps and any(h is None for h in held) and not fallen and not timed_out:
        active = np.array([h is None for h in held])
        if steering is not None:  # velocity over each walking person's last primitive (0 standing)
            velocity = np.stack([pelvis_velocity(t[-1][None], env.g, FPS)[0] if a else np.zeros(2)
                                 for t, a in zip(tracks, active)])
            shown, _ = steered_observation(env, velocity, steering, active, obs=obs)
        else:
            shown = obs
        actions = search_latents(policy, shown, env, search_rng, candidates, spread, active=active,
                                 head_height=head_height, prior_fraction=prior_fraction, anticipate=anticipate)
        history.append(snapshot())
        obs, _, _, infos = env.step(actions)
        why = breaks(active, infos)
        if why and backtracks >= max_backtracks:
            if why in ("person fell", "people collide"):  # the gate rejects it: stop here
                abandoned = why
                break
            why = ""  # a few frames inside furniture or a low head may still pass the gate
        if why:
            # rewind a few primitives and draw other candidates from there; deeper each time
            # the same stretch fails again (the trouble may have started earlier)
            backtracks += 1
            stuck += 1
            k = max(0, len(history) - 1 - rewind * (1 + stuck // 4))
            back = history[k]
            del history[k:]
            restore(back)
            obs = env.observe()
            continue
        steps += 1
        if steps > furthest:
            furthest, stuck = steps, 0
        frames += PRIMITIVE_FRAMES
        changed = False
        for i in range(K):
            if held[i] is not None:  # done: keep it where it stands (others still sense it there)
                env.seed_m[i] = held[i]
                changed = True
                continue
            tracks[i].append(env.last_markers[i])
            if infos[i].get("fallen", False):
                fallen.append(i)
            elif infos[i].get("TimeLimit.truncated", False):
                timed_out.append(i)
            elif infos[i]["is_success"]:
                plans[i]["goals"][current[i]].reached_frame = frames - 1
                current[i] += 1
                if current[i] == len(plans[i]["goals"]):
                    held[i] = env.seed_m[i].copy()
                else:
                    env.assign(i, env.seed_m[i].copy(), *leg(i, pelvis_xy(env.seed_m[i, -1], env.g)))
                changed = True
        if changed:
            obs = env.observe()

    people = []
    for i, p in enumerate(plans):
        mk = np.concatenate(tracks[i])
        go, bp, tr = markers_to_smplx(mk, p["betas"], motion, body, smooth_sigma, refine_steps)
        hold = frames - len(mk)  # stands still on its last frame while the others finish
        go, bp, tr = (np.concatenate([a, np.repeat(a[-1:], hold, 0)]) for a in (go, bp, tr))
        people.append(person_track(body, i, p["betas"], go, bp, tr, p["goals"], p["path"], mount))
    ep = Episode(scene=scene_spec, index=int(index), seed=int(seed), people=people, rig=rig, fps=FPS,
                 meta={"generator": "policy", "body_model": str(body.source), "steps": steps, "fallen": fallen,
                       "timed_out": timed_out, "backtracks": backtracks, "abandoned": abandoned})
    ep.check()
    return ep
