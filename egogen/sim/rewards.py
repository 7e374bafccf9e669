"""Reward terms of the walking policy, after EgoGen (CVPR 2024, Sec. 3.3 and its code).

Every term is a pure function of one decoded primitive per agent: SSM2 markers
``(N, T, 67, 3)`` in the Z-up world frame, metres, at ``fps``. Terms are in [0, 1] (higher
is better) except progress (metres). :func:`reward_terms` evaluates them all and
:data:`DEFAULT_WEIGHTS` gives EgoGen's room-scene weights, plus an agent-agent collision
term EgoGen did not train with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

# one definition with the motion model's contact measures: the SSM2 foot markers, and the
# speed (m/s) a foot in contact may slide (DIMOS)
from egogen.motion.physical import CONTACT_SPEED as SKATE_SPEED, FOOT_MARKERS

FLOOR_HEIGHT = 0.02  # m, target height of the lowest foot marker (EgoGen)
BODY_RADIUS = 0.25  # m, radius of a person's pelvis disc: two people touch closer than 2 x this
HORIZON = 1.0  # s, how far ahead the anticipate term extrapolates people's walking

DEFAULT_WEIGHTS = {"skate": 0.3, "floor": 0.1, "face": 0.1, "look": 0.3, "goal": 5.0, "progress": 1.0,
                   "pene": 1.0, "collide": 1.0, "anticipate": 0.0, "prior": 0.1}
"""EgoGen's stage-1 room weights (skate 0.3, floor 0.1, face 0.1, look 0.3, progress 1.0,
penetration 1.0), a goal bonus of 5 (EgoGen: 0.5 per step spent at the goal; here the
episode ends at the goal, so the bonus is paid once), egogen's agent-agent collision weight,
its anticipation term (off by default; ``--weight anticipate=W``) and a latent-prior term
(EgoGen keeps z near N(0, I) with a KL-style penalty)."""


def latent_prior(z: np.ndarray) -> np.ndarray:
    """(N,) latent-prior term of actions ``z`` (N, latent): exp(-max(0, mean(z^2) - 2)).

    1 while z looks like a draw from the C-VAE prior N(0, I) (mean square 1; for a 32-D z it
    exceeds 2 with probability ~1e-4), decaying as the policy pushes z to where the decoder
    was never trained (unnatural motion).
    """
    return np.exp(-np.clip(np.mean(np.square(z), axis=-1) - 2.0, 0, None))


@dataclass(frozen=True)
class MarkerGroups:
    """Indices of the SSM2 markers the rewards read, from a marker name list."""

    feet: np.ndarray
    non_feet: np.ndarray
    left_hip: np.ndarray
    right_hip: np.ndarray
    head_front: np.ndarray
    head_back: np.ndarray

    @classmethod
    def from_names(cls, names: Sequence[str]) -> "MarkerGroups":
        """Raises KeyError naming a missing SSM2 marker."""
        idx = {n: i for i, n in enumerate(names)}

        def ids(*ns):
            missing = [n for n in ns if n not in idx]
            if missing:
                raise KeyError(f"marker set lacks SSM2 markers {missing}")
            return np.array([idx[n] for n in ns])

        feet = ids(*FOOT_MARKERS)
        return cls(feet, np.setdiff1d(np.arange(len(names)), feet), ids("LFWT", "LBWT"), ids("RFWT", "RBWT"),
                   ids("LFHD", "RFHD"), ids("LBHD", "RBHD"))


def _unit2(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def foot_skate(markers: np.ndarray, g: MarkerGroups, fps: float) -> np.ndarray:
    """(N,) mean over frames of max(0, min horizontal foot-marker speed - 0.075 m/s), m/s."""
    feet = markers[:, :, g.feet, :2]
    speed = np.linalg.norm(np.diff(feet, axis=1), axis=-1) * fps  # (N, T-1, F)
    return np.clip(speed.min(axis=-1) - SKATE_SPEED, 0, None).mean(axis=1)


def floor_error(markers: np.ndarray, g: MarkerGroups) -> np.ndarray:
    """(N,) mean over frames of |lowest foot-marker height - 0.02 m|, metres."""
    return np.abs(markers[:, :, g.feet, 2].min(axis=-1) - FLOOR_HEIGHT).mean(axis=1)


def body_forward(markers: np.ndarray, g: MarkerGroups) -> np.ndarray:
    """(..., 2) unit horizontal forward of the pelvis: up x (right hip - left hip)."""
    right = markers[..., g.right_hip, :2].mean(axis=-2) - markers[..., g.left_hip, :2].mean(axis=-2)
    return _unit2(np.stack([-right[..., 1], right[..., 0]], axis=-1))


def head_forward(markers: np.ndarray, g: MarkerGroups) -> np.ndarray:
    """(..., 2) unit horizontal forward of the head: front-head minus back-head markers."""
    return _unit2(markers[..., g.head_front, :2].mean(axis=-2) - markers[..., g.head_back, :2].mean(axis=-2))


def pelvis_xy(markers: np.ndarray, g: MarkerGroups) -> np.ndarray:
    """(..., 2) horizontal pelvis position: mean of the four waist markers."""
    return markers[..., np.concatenate([g.left_hip, g.right_hip]), :2].mean(axis=-2)


def predicted_gap(pelvis: np.ndarray, others_xy: np.ndarray, fps: float, horizon: float = HORIZON,
                  lag: int = 6) -> np.ndarray:
    """(N, A) least distance, metres, between an agent's pelvis and each other person's over
    the next ``horizon`` seconds, both walking on at their current velocity (the time to
    closest approach of the constant-velocity model used by social navigation, e.g.
    Karamouzas et al., PRL 2014, "Universal power law governing pedestrian interactions").

    Args:
        pelvis: (N, T, 2) the agent's pelvis track over the step, metres.
        others_xy: (N, T, A, 2) the other people's pelvis tracks (NaN where absent).
        fps: frame rate, Hz.
        horizon: seconds to look ahead.
        lag: frames between the two positions that give each velocity (T > lag).
    Returns:
        (N, A) distances; inf where a person is absent.
    """
    dt = lag / fps
    p = others_xy[:, -1] - pelvis[:, -1, None]  # (N, A, 2) relative position now
    v = (others_xy[:, -1] - others_xy[:, -1 - lag] - (pelvis[:, -1] - pelvis[:, -1 - lag])[:, None]) / dt
    t = np.clip(-(p * v).sum(-1) / np.maximum((v * v).sum(-1), 1e-9), 0.0, horizon)
    return np.nan_to_num(np.linalg.norm(p + v * t[..., None], axis=-1), nan=np.inf)


def reward_terms(markers: np.ndarray, g: MarkerGroups, goal_xy: np.ndarray, prev_dist: np.ndarray, fps: float,
                 sdf=None, others_xy: Optional[np.ndarray] = None, radius: float = BODY_RADIUS,
                 goal_radius: float = 0.2, latents: Optional[np.ndarray] = None,
                 sdf_values: Optional[np.ndarray] = None, personal_space: float = 0.0) -> dict[str, np.ndarray]:
    """All reward terms of one primitive step.

    Args:
        markers: (N, T, M, 3) world markers of the decoded primitive, metres.
        g: marker groups.
        goal_xy: (N, 2) goal positions.
        prev_dist: (N,) pelvis-goal distance before this step, metres.
        fps: marker frame rate, Hz.
        sdf: optional callable (K, 3) points -> (K,) signed distance to the static scene (e.g.
            ``PreparedScene.sdf``)
            (negative inside furniture); penetration counts non-foot markers inside.
        others_xy: (N, T, A, 2) positions of the other agents' pelvises over the step
            (NaN where absent), or None.
        radius: body radius for agent-agent contact, metres.
        personal_space: extra gap, metres, the collide term asks for between two people's
            body discs (0: only contact is penalised); ``overlap`` stays the contact overlap.
        goal_radius: success radius (DIMOS: 0.2 m), metres.
        latents: (N, latent) the actions z that decoded this step, or None (prior term 1).
        sdf_values: (N, T, P) ``sdf`` of the non-foot markers ``markers[:, :, g.non_feet]``
            when already known (then ``sdf`` is not called), metres.
    Returns:
        dict of (N,) arrays: skate, floor, face, look, progress, goal, pene, collide, prior (terms),
        and dist (new pelvis-goal distance), n_inside (mean non-foot markers inside per frame),
        overlap (mean summed disc overlap with others, metres), bumped (1 where the pelvis
        came within two body radii of another person's in some frame, else 0), anticipate
        (``exp(-o / radius)``, o = summed shortfall of :func:`predicted_gap` below two body
        radii plus ``personal_space``: 1 when nobody is on a course to touch within
        ``HORIZON`` s).
    """
    N, T = markers.shape[:2]
    to_goal = _unit2(goal_xy - pelvis_xy(markers[:, -1], g))
    dist = np.linalg.norm(goal_xy - pelvis_xy(markers[:, -1], g), axis=-1)
    out = {
        "skate": np.exp(-foot_skate(markers, g, fps)),
        "floor": np.exp(-floor_error(markers, g)),
        "face": (1 + (body_forward(markers[:, -1], g) * to_goal).sum(-1)) / 2,
        "look": (1 + (head_forward(markers[:, -1], g) * to_goal).sum(-1)) / 2,
        "progress": prev_dist - dist,
        "goal": (dist < goal_radius).astype(np.float64),
        "dist": dist,
    }
    n_inside = np.zeros(N)
    if sdf_values is None and sdf is not None:
        sdf_values = np.asarray(sdf(markers[:, :, g.non_feet].reshape(-1, 3))).reshape(N, T, -1)
    if sdf_values is not None:
        n_inside = (sdf_values < 0).sum(-1).mean(-1)
    out["n_inside"] = n_inside
    out["pene"] = np.exp(-n_inside)
    overlap, crowding, bumped, ahead = np.zeros(N), np.zeros(N), np.zeros(N), np.zeros(N)
    if others_xy is not None and others_xy.shape[2]:
        pel = pelvis_xy(markers, g)
        d = np.nan_to_num(np.linalg.norm(pel[:, :, None] - others_xy, axis=-1), nan=np.inf)
        overlap = np.clip(2 * radius - d, 0, None).sum(-1).mean(-1)  # d: (N, T, A)
        crowding = np.clip(2 * radius + personal_space - d, 0, None).sum(-1).mean(-1)
        bumped = (d < 2 * radius).any(axis=(1, 2)).astype(np.float64)
        ahead = np.clip(2 * radius + personal_space - predicted_gap(pel, others_xy, fps, HORIZON), 0, None).sum(-1)
    out["overlap"] = overlap
    out["bumped"] = bumped
    out["collide"] = np.exp(-crowding / radius)
    out["anticipate"] = np.exp(-ahead / radius)
    out["prior"] = np.ones(N) if latents is None else latent_prior(latents)
    return out


QUALITY_TERMS = ("skate", "floor", "face", "look", "pene", "collide", "anticipate", "prior")


def total_reward(terms: dict[str, np.ndarray], weights: dict[str, float] = DEFAULT_WEIGHTS) -> np.ndarray:
    """(N,) weighted reward of one step.

    Quality terms (skate, floor, face, look, pene, collide, prior; 1 = perfect) enter as
    ``w * (term - 1)``, a penalty that is 0 for perfect motion; progress (metres) and goal
    enter as ``w * term``. EgoGen sums the raw terms, which pays an agent for every step it
    stays alive (standing still earns 2.8 per step with these weights) and so rewards
    dawdling; as penalties, only progress and reaching the goal earn reward.
    """
    return sum(w * (terms[k] - 1.0 if k in QUALITY_TERMS else terms[k]) for k, w in weights.items())
