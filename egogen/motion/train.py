"""Training of the motion models: C-VAE, roll-out fine-tuning, marker -> SMPL-X regressor.

Stages run in order (EgoGen "Motion-primitive C-VAE" and "Marker -> SMPL-X regressor"):
1. ``cvae``: primitives (2 + 13 frames, stride 2) of the training clips; Adam, LR flat for the
   first 20 % of epochs then linear decay to 5 % (EgoGen: flat 60 of 300 epochs).
2. ``rollout``: chains of primitives where every later seed is the model's own prediction
   re-canonicalised, loss against the ground truth (reduces drift).
3. ``prior``: the ``rollout`` loss plus, with weight ``prior_weight``, chains with latents
   drawn from the prior N(0, I), which have no ground truth, penalised for feet that slide or
   leave the floor and for a body that tilts or sinks
   (:func:`egogen.motion.physical.prior_rollout_loss`). It starts from the roll-out-tuned
   model: on a model whose own chains still drift the prior loss dominates and costs
   reconstruction (model card). A run with ``rollout`` or ``prior`` but no ``cvae`` stage
   fine-tunes ``out/cvae.pt``.
4. ``regressor``: marker L1 through the body (:class:`MarkerBody`) of each iteration's
   estimate + 0.1 x L1 to the retargeted parameters (6D rotations, transl). Besides the mocap
   frames it sees markers it meets in use and mocap lacks (:func:`regressor_extra_markers`):
   C-VAE roll-outs from training seeds (the markers simulated people are made of, which no
   body fits exactly) and the standing pose of random shapes (the seed pose of every
   simulated person); these have no parameter target, only the marker loss.
Deterministic for a seed: shuffles come from generators seeded by (seed, stage, epoch); the
global torch RNG (reparameterisation noise) is saved with every checkpoint, so ``resume``
continues the same run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from egogen.body.skeleton import JOINT_INDEX
from egogen.motion.checkpoint import save_cvae, save_regressor
from egogen.motion.cvae import CVAEConfig, MotionCVAE, cvae_loss
from egogen.motion.dataset import MotionDataset
from egogen.motion.markers import MarkerBody
from egogen.motion.physical import FOOT_MARKERS, prior_rollout_loss
from egogen.motion.regressor import MarkerRegressor, RegressorConfig, unpack
from egogen.motion.resample import TARGET_FPS
from egogen.motion.rot6d import mat_to_rot6d
from egogen.motion.rollout import MarkerJoints, _to_c, canonical_frame_t, primitive_windows, rollout
from egogen.rotations import aa_to_mat

__all__ = ["TrainConfig", "train_motion", "prior_chain_loss", "STAGES"]

STAGES = ("cvae", "rollout", "prior", "regressor")
_STAGES_V1 = ("cvae", "rollout", "regressor")


@dataclass
class TrainConfig:
    """Hyperparameters of :func:`train_motion` (all recorded in the model card)."""

    seed: int = 0
    cvae: CVAEConfig = field(default_factory=CVAEConfig)
    regressor: RegressorConfig = field(default_factory=RegressorConfig)
    cvae_epochs: int = 100
    cvae_lr: float = 1e-3
    cvae_batch: int = 128
    window_stride: int = 2
    w_diff: float = 3.0
    w_kl: float = 0.01  # EgoGen 1.0 collapses the latent on metre-scale markers (MODEL_CARD.md)
    rollout_epochs: int = 10
    rollout_primitives: int = 4
    rollout_lr: float = 1e-4
    rollout_batch: int = 64
    prior_epochs: int = 10
    prior_weight: float = 0.1  # weight of the prior roll-outs' contact + posture loss
    prior_primitives: int = 8  # primitives per prior roll-out
    regressor_epochs: int = 100
    regressor_lr: float = 1e-3
    regressor_batch: int = 512
    regressor_param_weight: float = 0.1
    regressor_rollout_primitives: int = 2  # C-VAE roll-out primitives per seed added (0 = mocap only)
    regressor_rollout_stride: int = 26  # one roll-out seed every this many training frames
    regressor_rest_poses: int = 512  # standing rest-pose samples added (0 = none)
    checkpoint_every: int = 5
    stages: tuple = STAGES

    def to_dict(self) -> dict:
        return asdict(self)


def _lr_factor(epoch: int, total: int) -> float:
    flat = max(1, int(0.2 * total))
    if epoch < flat:
        return 1.0
    return max(0.05, 1.0 - (epoch - flat) / max(1, total - flat))


def _batches(n: int, bs: int, seed: int, stage: int, epoch: int):
    g = torch.Generator().manual_seed(seed * 1_000_003 + stage * 10_007 + epoch)
    perm = torch.randperm(n, generator=g)
    for a in range(0, n, bs):
        yield perm[a:a + bs]


def _cvae_data(ds: MotionDataset, split: str, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    fr, sq = ds.windows(split, stride)
    m = ds.canonical_windows(fr, sq)["markers"]
    N, L = m.shape[:2]
    m = m.reshape(N, L, -1)
    return m[:, :2].contiguous(), m[:, 2:].contiguous()


def _rollout_data(ds: MotionDataset, K: int) -> torch.Tensor:
    fr, _ = ds.windows("train", stride=13, length=2 + 13 * K)
    return torch.as_tensor(ds.markers[fr])  # world (N, L, M, 3)


def _prior_seeds(ds: MotionDataset) -> torch.Tensor:
    """(N, 2, M, 3) world seed frame pairs of the prior roll-outs: every 13th training frame."""
    fr, _ = ds.windows("train", stride=13, length=2)
    return torch.as_tensor(ds.markers[fr])


def _out_cvae(out: Path, dev, why: str):
    """The motion models of ``out/cvae.pt``, which a run without the ``cvae`` stage needs.

    Raises:
        FileNotFoundError: no ``out/cvae.pt``; ``why`` says what needed it.
    """
    p = out / "cvae.pt"
    if not p.is_file():
        raise FileNotFoundError(f"{why} {p}, which does not exist: train the C-VAE first (--stages "
                                "cvae,rollout,prior,...) or copy a cvae.pt into the output folder")
    from egogen.motion.checkpoint import load_motion_models

    return load_motion_models(out, device=str(dev))


def _init_from(cvae: MotionCVAE, out: Path, dev) -> MarkerJoints:
    """Load ``out/cvae.pt`` into ``cvae`` (a roll-out or prior stage without a ``cvae`` stage
    fine-tunes it); returns its :class:`MarkerJoints`.

    Raises:
        FileNotFoundError: no ``out/cvae.pt``; ValueError: its sizes differ from ``cvae``'s.
    """
    m = _out_cvae(out, dev, "the roll-out and prior stages without the cvae stage fine-tune")
    if m.cvae.cfg != cvae.cfg:
        raise ValueError(f"{out / 'cvae.pt'} has C-VAE sizes {m.cvae.cfg}, this run {cvae.cfg}: fine-tune it with "
                         "the sizes it was trained with, or add the cvae stage to train a new one")
    cvae.load_state_dict(m.cvae.state_dict())
    return m.marker_joints


def _reg_data(ds: MotionDataset, split: str) -> dict[str, torch.Tensor]:
    fr, sq = ds.windows(split, stride=13)
    w = ds.canonical_windows(fr, sq)
    N, L = fr.shape
    R = torch.as_tensor(aa_to_mat(ds.body_pose[fr].reshape(N, L, 21, 3).astype(np.float64)), dtype=torch.float32)
    R = torch.cat([w["global_orient_mat"][:, :, None], R], dim=2)
    x = torch.cat([mat_to_rot6d(R).reshape(N, L, -1), w["transl"]], dim=-1)
    return {"markers": w["markers"].reshape(N * L, -1, 3), "x": x.reshape(N * L, -1),
            "betas": w["betas"][:, None].expand(N, L, -1).reshape(N * L, -1)}


@torch.no_grad()
def regressor_extra_markers(ds: MotionDataset, cvae: MotionCVAE, mj: MarkerJoints, mb: MarkerBody,
                            cfg: "TrainConfig", device=None) -> dict[str, torch.Tensor]:
    """Canonical markers the regressor meets in simulation but the mocap frames lack.

    - C-VAE roll-outs: seeds = 2 training frames every ``cfg.regressor_rollout_stride``
      frames, ``cfg.regressor_rollout_primitives`` primitives with z ~ N(0, I) (the first
      from a mocap seed, later ones from the model's own seeds, as in use), each primitive
      window (2 + 13 frames) in its canonical frame with the sequence's betas. The C-VAE's
      markers are not exactly those of any body; fitting them is the regressor's job in use
      (on held-out roll-outs the mocap-only regressor was 37 mm off, against 16 mm on mocap).
    - Standing poses: ``cfg.regressor_rest_poses`` bodies standing at ease
      (:func:`egogen.body.skeleton.standing_body_pose`), betas cycling over the training
      sequences', lowest marker 2 cm above the floor (as
      :func:`egogen.sim.env.standing_markers`, the seed pose of simulated people).

    Args:
        ds: the primitive dataset; cvae / mj: the trained C-VAE and its marker->joint map;
        mb: :class:`MarkerBody` of the data's body; cfg: the training configuration (seeds
        the latent draws); device: where the results go.
    Returns:
        ``markers`` (N, M, 3) float32 canonical (z up, +y forward, metres) and ``betas``
        (N, NB) float32; N = 0 when both sources are off.
    """
    dev = device or mb.v_template.device
    M = ds.markers.shape[1]
    out_m, out_b = [torch.zeros(0, M, 3, device=dev)], [torch.zeros(0, ds.betas.shape[1], device=dev)]
    K = cfg.regressor_rollout_primitives
    F = cvae.cfg.future
    if K > 0:
        fr, sq = ds.windows("train", stride=cfg.regressor_rollout_stride, length=2)
        g = torch.Generator().manual_seed(cfg.seed * 7919 + 17)
        was = cvae.training
        cvae.eval()
        for a in range(0, len(fr), 256):
            seed = torch.as_tensor(ds.markers[fr[a:a + 256]]).to(dev)
            bt = torch.as_tensor(ds.betas[sq[a:a + 256]]).to(dev)
            win = primitive_windows(rollout(cvae, mj, seed, K, generator=g), mj, F)  # (b, K, 2 + F, M, 3)
            out_m.append(win.transpose(0, 1).reshape(-1, M, 3))  # primitive-major, as trained
            out_b.append(bt.repeat_interleave(win.shape[2], 0).repeat(K, 1))
        cvae.train(was)
    n = cfg.regressor_rest_poses
    if n > 0:
        from egogen.body.skeleton import standing_body_pose
        from egogen.motion.mocap import Y_UP_TO_Z_UP

        tr = ds.sequences("train")
        bt = torch.as_tensor(ds.betas[tr[np.arange(n) % len(tr)]]).to(dev)
        rot = torch.eye(3, device=dev).repeat(n, 22, 1, 1)
        rot[:, 0] = torch.as_tensor(Y_UP_TO_Z_UP, dtype=torch.float32, device=dev)
        rot[:, 1:] = torch.as_tensor(aa_to_mat(standing_body_pose().reshape(21, 3)), dtype=torch.float32, device=dev)
        mk, _ = mb(bt, rot, torch.zeros(n, 3, device=dev))
        mk[..., 2] -= mk[..., 2].min(dim=1, keepdim=True).values - 0.02
        R, o = canonical_frame_t(mj(mk))
        out_m.append(_to_c(mk[:, None], R, o)[:, 0])
        out_b.append(bt)
    return {"markers": torch.cat(out_m), "betas": torch.cat(out_b)}


def regressor_loss(reg: MarkerRegressor, mb: MarkerBody, markers: torch.Tensor, betas: torch.Tensor,
                   x_target: Optional[torch.Tensor] = None, param_weight: float = 0.1,
                   has_target: Optional[torch.Tensor] = None):
    """Sum over iterations of marker L1 (metres) + param_weight * L1 to ``x_target``.

    Args: markers (B, M, 3) canonical; betas (B, NB); x_target (B, 135) or None;
        has_target (B,) bool: rows that have a parameter target (default all).
    Returns: (loss, final marker error in mm (mean Euclidean)).
    """
    loss = markers.new_zeros(())
    w = None if has_target is None else has_target.to(markers.dtype)[:, None]
    for x in reg(markers, betas):
        Rm, t = unpack(x)
        mk, _ = mb(betas, Rm, t)
        loss = loss + (mk - markers).abs().mean()
        if x_target is not None and param_weight:
            d = (x - x_target).abs()
            if w is None:
                loss = loss + param_weight * d.mean()
            else:
                loss = loss + param_weight * (d * w).sum() / (w.sum() * d.shape[1]).clamp(min=1)
    err = (mk - markers).norm(dim=-1).mean() * 1000
    return loss, float(err.detach())


def prior_chain_loss(cvae: MotionCVAE, mj: MarkerJoints, seed: torch.Tensor, z: torch.Tensor,
                     foot_index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The prior stage's loss of one batch of chains (egogen; no EgoGen equivalent).

    Args:
        cvae, mj: the C-VAE and its :class:`MarkerJoints`.
        seed: (B, 2, M, 3) world seed markers (metres, Z up).
        z: (B, K, latent) latents, one per primitive (drawn from N(0, I) in training).
        foot_index: indices of :data:`~egogen.motion.physical.FOOT_MARKERS` among the M markers.
    Returns:
        ``contact``, ``posture`` scalars of :func:`egogen.motion.physical.prior_rollout_loss` for the
        chained roll-out at 30 Hz, pelvis band around the first seed frame's pelvis height.
        Differentiable in the C-VAE's weights.
    """
    roll = rollout(cvae, mj, seed, z.shape[1], z=z)
    pz = mj(seed[:, 0])[:, JOINT_INDEX["pelvis"], 2]
    return prior_rollout_loss(roll, mj(roll[:, 2:]), foot_index, TARGET_FPS, pz)


def _prior_terms(cvae: MotionCVAE, mj: MarkerJoints, seeds: torch.Tensor, foot_index: list[int],
                 cfg: "TrainConfig", epoch: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prior_chain_loss` of ``cfg.rollout_batch`` chains of ``cfg.prior_primitives``
    primitives with z ~ N(0, I) from random training seeds; seeds and latents come from a
    generator seeded by (run seed, epoch, batch), so runs and resumes repeat them."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 3 * 10_007 + epoch * 4_099 + batch)
    pick = torch.randint(0, len(seeds), (cfg.rollout_batch,), generator=g)
    z = torch.randn(cfg.rollout_batch, cfg.prior_primitives, cvae.cfg.latent, generator=g)
    return prior_chain_loss(cvae, mj, seeds[pick.to(seeds.device)], z.to(seeds.device), foot_index)


def _trained_cvae(cvae: MotionCVAE, mj: MarkerJoints, out: Path, cfg: "TrainConfig", dev):
    """The C-VAE whose roll-outs the regressor learns from: the one trained in this run, or
    ``out/cvae.pt`` when the run trains only the regressor (``--stages regressor``)."""
    if cfg.regressor_rollout_primitives <= 0 or {"cvae", "rollout", "prior"} & set(cfg.stages):
        return cvae, mj
    m = _out_cvae(out, dev, "the regressor learns from the roll-outs of")
    return m.cvae, m.marker_joints


def train_motion(ds: MotionDataset, body, out: Path, cfg: TrainConfig = TrainConfig(),
                 resume: bool = False, device: str = "cpu",
                 on_epoch: Optional[Callable[[str, int, int, dict], None]] = None,
                 meta: Optional[dict] = None) -> dict:
    """Train all stages, writing ``out/train_state.pt`` (resumable), ``out/cvae.pt``,
    ``out/regressor.pt`` and ``out/train_log.jsonl``.

    Args:
        ds: primitive dataset (:func:`egogen.motion.dataset.load_or_build`).
        body: the :class:`egogen.body.BodyModel` the data was posed with.
        out: output folder.
        cfg: hyperparameters; resume: continue from ``out/train_state.pt``.
        device: ``cpu`` or ``cuda``.
        on_epoch: called as ``on_epoch(stage, epoch_done, total_epochs, metrics)``.
        meta: extra metadata stored in the checkpoints (clip list, acknowledgement ...).
    Returns:
        summary dict: final losses per stage and wall time (s).
    Raises:
        FileNotFoundError: ``resume`` without a state file; ValueError: no training windows.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    dev = torch.device(device)
    cvae = MotionCVAE(cfg.cvae).to(dev)
    reg = MarkerRegressor(cfg.regressor).to(dev)
    mb = MarkerBody(body).to(dev)
    fr_all = ds.sequences("train")
    idx = np.concatenate([np.arange(ds.seq_start[s], ds.seq_start[s + 1], 3) for s in fr_all])
    mj = MarkerJoints.fit(ds.markers[idx], ds.joints[idx]).to(dev)
    if {"rollout", "prior"} & set(cfg.stages) and "cvae" not in cfg.stages:
        mj = _init_from(cvae, out, dev)
    foot_index = [body.markers.names.index(n) for n in FOOT_MARKERS]
    opt_c = torch.optim.Adam(cvae.parameters(), lr=cfg.cvae_lr)
    opt_r = torch.optim.Adam(reg.parameters(), lr=cfg.regressor_lr)
    state_path = out / "train_state.pt"
    stage_i, epoch, summary, wall0 = 0, 0, {}, 0.0
    if resume:
        if not state_path.is_file():
            raise FileNotFoundError(f"--resume: no {state_path}")
        st = torch.load(state_path, map_location=dev, weights_only=False)
        cvae.load_state_dict(st["cvae"])
        reg.load_state_dict(st["regressor"])
        opt_c.load_state_dict(st["opt_cvae"])
        opt_r.load_state_dict(st["opt_regressor"])
        torch.set_rng_state(st["torch_rng"])
        # the stage is stored by name (an index stored by earlier releases counts the 3 stages they had)
        name = st.get("stage_name") or (*_STAGES_V1, "done")[st["stage"]]
        stage_i = STAGES.index(name) if name in STAGES else len(STAGES)
        epoch, summary, wall0 = st["epoch"], st["summary"], st["wall_s"]
    from egogen.motion.evaluate import heldout_seeds

    meta = {**(meta or {}), "train_config": cfg.to_dict(), "held_out": ds.held_out,
            "seed_markers": heldout_seeds(ds, 8),
            "train_clips": sorted({ds.seq_clip[s] for s in fr_all})}
    t0 = time.time()
    log = open(out / "train_log.jsonl", "a")

    def checkpoint(si, ep):
        torch.save({"cvae": cvae.state_dict(), "regressor": reg.state_dict(),
                    "opt_cvae": opt_c.state_dict(), "opt_regressor": opt_r.state_dict(),
                    "torch_rng": torch.get_rng_state(), "stage": si, "epoch": ep,
                    "stage_name": STAGES[si] if si < len(STAGES) else "done",
                    "summary": summary, "wall_s": wall0 + time.time() - t0}, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)

    totals = (cfg.cvae_epochs, cfg.rollout_epochs, cfg.prior_epochs, cfg.regressor_epochs)
    data = None
    unknown = set(cfg.stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown training stage(s) {sorted(unknown)}; choose from {STAGES}")
    while stage_i < len(STAGES):
        stage, total = STAGES[stage_i], totals[stage_i]
        if stage not in cfg.stages:
            stage_i, epoch = stage_i + 1, 0
            continue
        if data is None or data[0] != stage:
            if stage == "cvae":
                h, f = _cvae_data(ds, "train", cfg.window_stride)
                if len(h) == 0:
                    raise ValueError("no training primitives (clips shorter than 15 frames at 30 Hz?)")
                data = (stage, h.to(dev), f.to(dev))
            elif stage in ("rollout", "prior"):
                seeds = _prior_seeds(ds).to(dev) if stage == "prior" else None
                data = (stage, _rollout_data(ds, cfg.rollout_primitives).to(dev), seeds)
            else:
                d = {k: v.to(dev) for k, v in _reg_data(ds, "train").items()}
                src, src_mj = _trained_cvae(cvae, mj, out, cfg, dev)
                extra = regressor_extra_markers(ds, src, src_mj, mb, cfg, dev)
                n0, n1 = len(d["markers"]), len(extra["markers"])
                d = {"markers": torch.cat([d["markers"], extra["markers"]]),
                     "betas": torch.cat([d["betas"], extra["betas"]]),
                     "x": torch.cat([d["x"], d["x"].new_zeros(n1, d["x"].shape[1])]),
                     "has_x": torch.arange(n0 + n1, device=dev) < n0}
                data = (stage, d)
        while epoch < total:
            sums, n = {}, 0
            if stage == "cvae":
                for g in opt_c.param_groups:
                    g["lr"] = cfg.cvae_lr * _lr_factor(epoch, total)
                cvae.train()
                for b in _batches(len(data[1]), cfg.cvae_batch, cfg.seed, 0, epoch):
                    hist, fut = data[1][b.to(dev)], data[2][b.to(dev)]
                    pred, mu, lv = cvae(hist, fut)
                    loss, parts = cvae_loss(pred, fut, hist, mu, lv, cfg.w_diff, cfg.w_kl)
                    opt_c.zero_grad()
                    loss.backward()
                    opt_c.step()
                    for k, v in {"loss": float(loss.detach()), **parts}.items():
                        sums[k] = sums.get(k, 0.0) + v
                    n += 1
            elif stage in ("rollout", "prior"):
                for g in opt_c.param_groups:
                    g["lr"] = cfg.rollout_lr * _lr_factor(epoch, total)
                cvae.train()
                for b in _batches(len(data[1]), cfg.rollout_batch, cfg.seed, 1, epoch):
                    seq = data[1][b.to(dev)]
                    pred = rollout(cvae, mj, seq[:, :2], cfg.rollout_primitives, future=seq[:, 2:])
                    rec = (pred[:, 2:] - seq[:, 2:]).abs().mean()
                    diff = (torch.diff(pred[:, 1:], dim=1) - torch.diff(seq[:, 1:], dim=1)).abs().mean()
                    loss = rec + cfg.w_diff * diff
                    parts = {"rec": float(rec.detach())}
                    if stage == "prior":
                        contact, posture = _prior_terms(cvae, mj, data[2], foot_index, cfg, epoch, n)
                        loss = loss + cfg.prior_weight * (contact + posture)
                        parts.update(prior_contact=float(contact.detach()), prior_posture=float(posture.detach()))
                    opt_c.zero_grad()
                    loss.backward()
                    opt_c.step()
                    for k, v in {"loss": float(loss.detach()), **parts}.items():
                        sums[k] = sums.get(k, 0.0) + v
                    n += 1
            else:
                for g in opt_r.param_groups:
                    g["lr"] = cfg.regressor_lr * _lr_factor(epoch, total)
                reg.train()
                d = data[1]
                for b in _batches(len(d["markers"]), cfg.regressor_batch, cfg.seed, 2, epoch):
                    b = b.to(dev)
                    loss, err = regressor_loss(reg, mb, d["markers"][b], d["betas"][b], d["x"][b],
                                               cfg.regressor_param_weight, d["has_x"][b])
                    opt_r.zero_grad()
                    loss.backward()
                    opt_r.step()
                    for k, v in {"loss": float(loss.detach()), "marker_err_mm": err}.items():
                        sums[k] = sums.get(k, 0.0) + v
                    n += 1
            epoch += 1
            metrics = {k: v / max(n, 1) for k, v in sums.items()}
            summary[stage] = {"epochs": epoch, **metrics}
            log.write(json.dumps({"stage": stage, "epoch": epoch, **metrics}) + "\n")
            log.flush()
            if on_epoch:
                on_epoch(stage, epoch, total, metrics)
            if epoch % cfg.checkpoint_every == 0 or epoch == total:
                checkpoint(stage_i, epoch)
        # stage finished: export
        m = {**meta, "wall_s": wall0 + time.time() - t0, "summary": summary}
        if stage != "regressor":
            save_cvae(out / "cvae.pt", cvae, mj, m)
        else:
            save_regressor(out / "regressor.pt", reg, m)
        stage_i, epoch = stage_i + 1, 0
        checkpoint(stage_i, 0)
    log.close()
    summary["wall_s"] = wall0 + time.time() - t0
    return summary
