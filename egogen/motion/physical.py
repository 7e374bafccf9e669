"""Physical plausibility of marker motion: foot contact (DIMOS) and posture, per frame.

One definition serves two users: evaluation turns the per-frame excesses into scores
(:func:`egogen.motion.evaluate.foot_metrics`, ``posture_metrics``) and the C-VAE's prior
training stage turns them into losses on random roll-outs (:func:`prior_rollout_loss`, via
:func:`egogen.motion.train.prior_chain_loss`). DIMOS contact score (Zhao et al., "Synthesizing Diverse Human
Motions in 3D Indoor Scenes", ICCV 2023, locomotion evaluation) =
mean over frames of ``exp(-speed_excess) * exp(-height_excess)``, so
``speed_excess + height_excess`` is its negative log per frame.
"""

from __future__ import annotations

import math

import torch

from egogen.body.skeleton import JOINT_INDEX

__all__ = ["FOOT_MARKERS", "CONTACT_SPEED", "CONTACT_HEIGHT", "contact_excess", "pelvis_neck_cos",
           "prior_rollout_loss"]

FOOT_MARKERS = ("LHEE", "LTOE", "LMT1", "LMT5", "RHEE", "RTOE", "RMT1", "RMT5")
"""SSM2 foot markers (heels, toes, metatarsals) of the contact measures."""
CONTACT_SPEED = 0.075
"""m/s: the slowest foot marker may move this fast before the contact score drops (DIMOS)."""
CONTACT_HEIGHT = 0.05
"""m: the lowest foot marker may be this far from the floor before the contact score drops."""


def contact_excess(feet: torch.Tensor, fps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame excesses of the DIMOS contact score.

    Args:
        feet: (B, T, F, 3) world foot markers (metres, Z up, floor z = 0), T >= 2, any float dtype.
        fps: frame rate (Hz).
    Returns:
        ``speed_excess`` (B, T - 1) = relu(min over markers of |velocity| - 0.075 m/s) and
        ``height_excess`` (B, T - 1) = relu(|min marker height| - 0.05 m), for frames 1..T-1
        (velocity by backward difference). Differentiable.
    """
    v = (feet[:, 1:] - feet[:, :-1]) * fps
    speed = v.norm(dim=-1).min(dim=-1).values
    hmin = feet[:, 1:, :, 2].min(dim=-1).values
    return torch.relu(speed - CONTACT_SPEED), torch.relu(hmin.abs() - CONTACT_HEIGHT)


def pelvis_neck_cos(joints: torch.Tensor) -> torch.Tensor:
    """Cosine between the pelvis -> neck axis and world up: (..., 22, 3) joints -> (...)."""
    axis = joints[..., JOINT_INDEX["neck"], :] - joints[..., JOINT_INDEX["pelvis"], :]
    return axis[..., 2] / axis.norm(dim=-1).clamp(min=1e-9)


def prior_rollout_loss(markers: torch.Tensor, joints: torch.Tensor, foot_index: list[int], fps: float,
                       seed_pelvis_z: torch.Tensor, max_tilt_deg: float = 30.0,
                       pelvis_band: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Losses of a roll-out with latents drawn from the prior (egogen's prior training stage).

    The C-VAE's posterior roll-outs are trained against mocap; its *prior* roll-outs, which the
    policy's latents start from and ``egogen eval-motion`` measures, have no ground truth.
    These terms ask them to be physically plausible instead: feet planted (the DIMOS contact
    score's negative log) and the body upright at the seed's pelvis height.

    Args:
        markers: (B, 2 + T, M, 3) world markers of the roll-out, seed frames first (metres, Z up).
        joints: (B, T, 22, 3) world joints of the predicted frames (e.g. ``MarkerJoints``).
        foot_index: indices of :data:`FOOT_MARKERS` among the M markers.
        fps: frame rate (Hz).
        seed_pelvis_z: (B,) pelvis height of the first seed frame (m).
        max_tilt_deg: pelvis -> neck tilt from vertical allowed without loss.
        pelvis_band: metres the pelvis may move up or down from the seed height without loss.
    Returns:
        ``contact`` (scalar): mean speed + height excess over the predicted frames (the step from
        the last seed frame included); ``posture`` (scalar): mean tilt excess (in cosine) + mean
        pelvis height excess (m). Both differentiable, zero for a still, upright person.
    """
    speed, height = contact_excess(markers[:, 1:, foot_index], fps)
    contact = speed.mean() + height.mean()
    tilt = torch.relu(math.cos(math.radians(max_tilt_deg)) - pelvis_neck_cos(joints))
    pz = joints[..., JOINT_INDEX["pelvis"], 2]
    drop = torch.relu((pz - seed_pelvis_z[:, None]).abs() - pelvis_band)
    return contact, tilt.mean() + drop.mean()
