"""Evaluation of the motion models (``egogen eval-motion``).

Figures (issue 4; DIMOS locomotion evaluation for the contact score):
- ``reconstruction_mm``: held-out primitives, posterior-mean z, mean per-marker Euclidean
  error of the 13 predicted frames, mm.
- ``regressor_mm``: held-out frames, markers of the regressed SMPL-X body (through the body
  model) vs the input markers, mean per-marker, mm. ``regressor_rollout_mm``: the same on the
  random roll-outs below (each primitive window in its canonical frame, the seed sequence's
  betas) - the markers the regressor turns into bodies in simulation, which no body fits
  exactly; ``regressor_rest_mm``: the same on the standing pose of the mean shape (the
  seed pose of simulated people).
- roll-outs: z ~ N(0, I), chains of ``num_primitives`` primitives from held-out seeds, each
  next seed re-projected onto the regressed body as egogen (and EgoGen) run them
  (:class:`~egogen.motion.reproject.SeedProjector`, weight ``reproject``; the same figures
  of the raw C-VAE chain are under ``without_reproject``):
  ``foot_skating_cm_s`` (mean horizontal speed of foot markers below 5 cm), ``contact_score``
  (mean over frames of exp(-relu(min foot-marker speed - 0.075 m/s)) *
  exp(-relu(|min foot-marker height| - 0.05 m))), pelvis height (std over each roll-out and
  end-minus-start drift, cm), ``upright_fraction`` (pelvis-neck axis within 45 deg of vertical
  and pelvis 0.4-1.4 m high on every frame), and ``diversity_mm`` (mean pairwise distance of 10
  primitives sampled from the same seed, per marker).
The same foot / pelvis figures on the held-out mocap itself are reported as ``reference``.
"""

from __future__ import annotations

import numpy as np
import torch

from egogen.body.skeleton import JOINT_INDEX
from egogen.motion.dataset import MotionDataset
from egogen.motion.markers import MarkerBody
from egogen.motion.physical import CONTACT_HEIGHT, FOOT_MARKERS, contact_excess, pelvis_neck_cos
from egogen.motion.reproject import DEFAULT_ALPHA, SeedProjector
from egogen.motion.rollout import primitive_windows, rollout

__all__ = ["FOOT_MARKERS", "foot_metrics", "posture_metrics", "evaluate_motion", "heldout_seeds"]

FPS = 30.0


def foot_metrics(markers: torch.Tensor, names: tuple[str, ...], fps: float = FPS) -> dict:
    """Foot skating and DIMOS contact score.

    Args:
        markers: (B, T, M, 3) world markers (metres, Z up, floor z = 0), T >= 2.
        names: the M marker names (SSM2).
    Returns:
        ``foot_skating_cm_s`` (mean horizontal speed of foot markers lower than 5 cm in both
        frames of a step, cm/s), ``contact_score`` (in [0, 1], 1 = a foot is static and on
        the floor on every frame), ``min_foot_height_cm`` (mean over frames).
    """
    idx = [names.index(n) for n in FOOT_MARKERS]
    f = markers[:, :, idx].double()
    hspeed = ((f[:, 1:] - f[:, :-1]) * fps)[..., :2].norm(dim=-1)
    h = f[..., 2]
    contact = (h[:, 1:] < CONTACT_HEIGHT) & (h[:, :-1] < CONTACT_HEIGHT)
    skate = float((hspeed * contact).sum() / contact.sum().clamp(min=1)) * 100
    speed_ex, height_ex = contact_excess(f, fps)
    score = torch.exp(-speed_ex) * torch.exp(-height_ex)
    return {"foot_skating_cm_s": skate, "contact_score": float(score.mean()),
            "min_foot_height_cm": float(h[:, 1:].min(dim=-1).values.mean() * 100)}


def posture_metrics(joints: torch.Tensor) -> dict:
    """Pelvis height stability and uprightness from (B, T, 22, 3) world joints.

    Returns:
        ``pelvis_height_std_cm`` (mean over sequences of the std over time),
        ``pelvis_height_drift_cm`` (mean |end - start|), ``upright_fraction`` (sequences whose
        every frame has the pelvis-neck axis within 45 deg of vertical and pelvis z in
        [0.4, 1.4] m), ``pelvis_height_m`` (mean).
    """
    pz = joints[..., JOINT_INDEX["pelvis"], 2]
    ok = (pelvis_neck_cos(joints) > np.cos(np.radians(45))) & (pz > 0.4) & (pz < 1.4)
    return {"pelvis_height_std_cm": float(pz.std(dim=1).mean() * 100),
            "pelvis_height_drift_cm": float((pz[:, -1] - pz[:, 0]).abs().mean() * 100),
            "upright_fraction": float(ok.all(dim=1).double().mean()),
            "pelvis_height_m": float(pz.mean())}


def heldout_seeds(ds: MotionDataset, num: int) -> torch.Tensor:
    """(num, 2, M, 3) world markers of seed frame pairs spread evenly over the held-out
    sequences (their first two frames), float32."""
    seqs = ds.sequences("held_out")
    if len(seqs) == 0:
        raise ValueError("no held-out sequences")
    pick = np.linspace(0, len(seqs) - 1, num).round().astype(int)
    first = np.array([ds.seq_start[seqs[i]] for i in pick])
    return torch.as_tensor(ds.markers[first[:, None] + np.arange(2)])


def _regressor_error(reg, mb: MarkerBody, markers: torch.Tensor, betas: torch.Tensor) -> float:
    """Mean per-marker distance (mm) between (N, M, 3) canonical markers and the markers of
    the body the regressor fits to them."""
    from egogen.motion.regressor import unpack

    Rm, t = unpack(reg(markers, betas)[-1])
    return float((mb(betas, Rm, t)[0] - markers).norm(dim=-1).mean() * 1000)


@torch.no_grad()
def evaluate_motion(models, ds: MotionDataset, body, num_primitives: int = 20, num_seeds: int = 32,
                    seed: int = 0, diversity_samples: int = 10, reproject: float = DEFAULT_ALPHA) -> dict:
    """All figures of the module docstring on ``ds``'s held-out clips.

    Args:
        models: :class:`egogen.motion.checkpoint.MotionModels`.
        ds: dataset whose ``held_out`` clips were never trained on.
        body: the body model the data was posed with (for the regressor's marker error).
        num_primitives: primitives per roll-out (13 frames each, 30 Hz).
        num_seeds: roll-outs (seeds spread evenly over the held-out sequences).
        seed: torch seed of the latent samples.
        reproject: seed re-projection weight of the roll-outs (0 = raw C-VAE chains only;
            needs the regressor).
    Returns:
        dict of floats (see module docstring) plus ``reference`` (held-out mocap figures) and
        counts.
    Raises:
        ValueError: if the dataset has no held-out primitives.
    """
    names = body.markers.names
    cvae, mj = models.cvae, models.marker_joints
    fr, sq = ds.windows("held_out", stride=13)
    if len(fr) == 0:
        raise ValueError("no held-out primitives to evaluate")
    w = ds.canonical_windows(fr, sq)
    M = w["markers"].shape[2]
    m = w["markers"].reshape(len(fr), 15, -1)
    pred = cvae(m[:, :2], m[:, 2:], sample=False)[0]
    rec = (pred - m[:, 2:]).reshape(len(fr), 13, M, 3).norm(dim=-1).mean()
    res = {"reconstruction_mm": float(rec * 1000), "heldout_primitives": int(len(fr)),
           "heldout_clips": list(ds.held_out)}
    if models.regressor is not None:
        mb = MarkerBody(body)
        mk = w["markers"].reshape(-1, M, 3)
        bt = w["betas"][:, None].expand(-1, 15, -1).reshape(-1, w["betas"].shape[-1])
        res["regressor_mm"] = _regressor_error(models.regressor, mb, mk, bt)
    # roll-outs from held-out seeds (original, unmirrored sequences first)
    L = 2 + 13 * num_primitives
    seeds = heldout_seeds(ds, num_seeds)
    g = torch.Generator().manual_seed(seed)
    roll = rollout(cvae, mj, seeds, num_primitives, generator=g)
    res.update({"rollouts": int(len(seeds)), "rollout_primitives": num_primitives,
                "rollout_seconds": (L - 1) / FPS, "reproject": 0.0})
    if models.regressor is not None:
        seqs = ds.sequences("held_out")
        bt = torch.as_tensor(ds.betas[seqs[np.linspace(0, len(seqs) - 1, num_seeds).round().astype(int)]])
        if reproject > 0:
            raw = foot_metrics(roll, names) | posture_metrics(mj(roll))
            res["without_reproject"] = raw
            proj = SeedProjector(models, body, reproject)
            roll = rollout(cvae, mj, seeds, num_primitives, generator=torch.Generator().manual_seed(seed),
                           project=lambda s: proj(s, bt))
            res["reproject"] = float(reproject)
        win = primitive_windows(roll, mj, cvae.cfg.future)  # (B, K, 15, M, 3)
        res["regressor_rollout_mm"] = _regressor_error(models.regressor, mb, win.reshape(-1, M, 3),
                                                       bt.repeat_interleave(win.shape[1] * win.shape[2], 0))
        from egogen.motion.train import TrainConfig, regressor_extra_markers

        rest = regressor_extra_markers(ds, cvae, mj, mb, TrainConfig(regressor_rollout_primitives=0,
                                                                     regressor_rest_poses=1))
        res["regressor_rest_mm"] = _regressor_error(models.regressor, mb, rest["markers"], 0 * rest["betas"])
    res.update(foot_metrics(roll, names))
    res.update(posture_metrics(mj(roll)))
    # diversity: samples of one primitive from the same seed
    K = diversity_samples
    rep = seeds.repeat_interleave(K, 0)
    one = rollout(cvae, mj, rep, 1, generator=g)[:, 2:].reshape(len(seeds), K, 13, M, 3)
    d = (one[:, :, None] - one[:, None]).norm(dim=-1).mean(dim=(-1, -2))  # (S, K, K)
    res["diversity_mm"] = float(d.sum(dim=(1, 2)).mean() / (K * (K - 1)) * 1000)
    # reference: the held-out mocap itself (windows of up to L frames)
    fr2, _ = ds.windows("held_out", stride=13, length=min(L, 80))
    if len(fr2):
        gt = torch.as_tensor(ds.markers[fr2])
        ref = foot_metrics(gt, names)
        ref.update(posture_metrics(torch.as_tensor(ds.joints[fr2])))
        ref["frames_per_sequence"] = int(fr2.shape[1])
        res["reference"] = ref
    return res
