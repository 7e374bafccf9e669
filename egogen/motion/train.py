"""Training of the motion models: C-VAE, roll-out fine-tuning, marker -> SMPL-X regressor.

Stages run in order (EgoGen "Motion-primitive C-VAE" and "Marker -> SMPL-X regressor"):
1. ``cvae``: primitives (2 + 13 frames, stride 2) of the training clips; Adam, LR flat for the
   first 20 % of epochs then linear decay to 5 % (EgoGen: flat 60 of 300 epochs).
2. ``rollout``: chains of primitives where every later seed is the model's own prediction
   re-canonicalised, loss against the ground truth (reduces drift).
3. ``regressor``: marker L1 through the body (:class:`MarkerBody`) of each iteration's
   estimate + 0.1 x L1 to the retargeted parameters (6D rotations, transl).
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

from egogen.motion.checkpoint import save_cvae, save_regressor
from egogen.motion.cvae import CVAEConfig, MotionCVAE, cvae_loss
from egogen.motion.dataset import MotionDataset
from egogen.motion.markers import MarkerBody
from egogen.motion.regressor import MarkerRegressor, RegressorConfig, unpack
from egogen.motion.rot6d import mat_to_rot6d
from egogen.motion.rollout import MarkerJoints, rollout
from egogen.rotations import aa_to_mat

__all__ = ["TrainConfig", "train_motion", "STAGES"]

STAGES = ("cvae", "rollout", "regressor")


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
    regressor_epochs: int = 40
    regressor_lr: float = 1e-3
    regressor_batch: int = 512
    regressor_param_weight: float = 0.1
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


def _reg_data(ds: MotionDataset, split: str) -> dict[str, torch.Tensor]:
    fr, sq = ds.windows(split, stride=13)
    w = ds.canonical_windows(fr, sq)
    N, L = fr.shape
    R = torch.as_tensor(aa_to_mat(ds.body_pose[fr].reshape(N, L, 21, 3).astype(np.float64)), dtype=torch.float32)
    R = torch.cat([w["global_orient_mat"][:, :, None], R], dim=2)
    x = torch.cat([mat_to_rot6d(R).reshape(N, L, -1), w["transl"]], dim=-1)
    return {"markers": w["markers"].reshape(N * L, -1, 3), "x": x.reshape(N * L, -1),
            "betas": w["betas"][:, None].expand(N, L, -1).reshape(N * L, -1)}


def regressor_loss(reg: MarkerRegressor, mb: MarkerBody, markers: torch.Tensor, betas: torch.Tensor,
                   x_target: Optional[torch.Tensor] = None, param_weight: float = 0.1):
    """Sum over iterations of marker L1 (metres) + param_weight * L1 to ``x_target``.

    Args: markers (B, M, 3) canonical; betas (B, NB); x_target (B, 135) or None.
    Returns: (loss, final marker error in mm (mean Euclidean)).
    """
    loss = markers.new_zeros(())
    for x in reg(markers, betas):
        Rm, t = unpack(x)
        mk, _ = mb(betas, Rm, t)
        loss = loss + (mk - markers).abs().mean()
        if x_target is not None and param_weight:
            loss = loss + param_weight * (x - x_target).abs().mean()
    err = (mk - markers).norm(dim=-1).mean() * 1000
    return loss, float(err.detach())


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
        stage_i, epoch, summary, wall0 = st["stage"], st["epoch"], st["summary"], st["wall_s"]
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
                    "summary": summary, "wall_s": wall0 + time.time() - t0}, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)

    totals = (cfg.cvae_epochs, cfg.rollout_epochs, cfg.regressor_epochs)
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
            elif stage == "rollout":
                data = (stage, _rollout_data(ds, cfg.rollout_primitives).to(dev))
            else:
                data = (stage, {k: v.to(dev) for k, v in _reg_data(ds, "train").items()})
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
            elif stage == "rollout":
                for g in opt_c.param_groups:
                    g["lr"] = cfg.rollout_lr * _lr_factor(epoch, total)
                cvae.train()
                for b in _batches(len(data[1]), cfg.rollout_batch, cfg.seed, 1, epoch):
                    seq = data[1][b.to(dev)]
                    pred = rollout(cvae, mj, seq[:, :2], cfg.rollout_primitives, future=seq[:, 2:])
                    rec = (pred[:, 2:] - seq[:, 2:]).abs().mean()
                    diff = (torch.diff(pred[:, 1:], dim=1) - torch.diff(seq[:, 1:], dim=1)).abs().mean()
                    loss = rec + cfg.w_diff * diff
                    opt_c.zero_grad()
                    loss.backward()
                    opt_c.step()
                    for k, v in {"loss": float(loss.detach()), "rec": float(rec.detach())}.items():
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
                                               cfg.regressor_param_weight)
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
        if stage in ("cvae", "rollout"):
            save_cvae(out / "cvae.pt", cvae, mj, m)
        else:
            save_regressor(out / "regressor.pt", reg, m)
        stage_i, epoch = stage_i + 1, 0
        checkpoint(stage_i, 0)
    log.close()
    summary["wall_s"] = wall0 + time.time() - t0
    return summary
