"""Save / load the shipped motion models (policies/motion/cvae.pt, regressor.pt)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from egogen.motion.cvae import CVAEConfig, MotionCVAE
from egogen.motion.regressor import MarkerRegressor, RegressorConfig
from egogen.motion.rollout import MarkerJoints

__all__ = ["MotionModels", "load_motion_models", "save_cvae", "save_regressor", "default_checkpoint_dir"]

FORMAT = 1


def default_checkpoint_dir() -> Path:
    """``policies/motion``: the shipped motion models (checkout or installed wheel)."""
    from egogen.resources import resource_dir

    return resource_dir("policies") / "motion"


@dataclass
class MotionModels:
    """The loaded motion models (eval mode). ``regressor`` is None if not trained yet."""

    cvae: MotionCVAE
    marker_joints: MarkerJoints
    regressor: MarkerRegressor | None
    meta: dict


def save_cvae(path: Path, cvae: MotionCVAE, mj: MarkerJoints, meta: dict) -> None:
    """Write the C-VAE (float32 weights, config, marker->joint weights, metadata) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, "kind": "egogen-motion-cvae", "config": cvae.cfg.to_dict(),
                "state_dict": {k: v.detach().cpu() for k, v in cvae.state_dict().items()},
                "marker_joints": mj.weights.cpu(), "meta": meta}, tmp)
    tmp.replace(path)


def save_regressor(path: Path, reg: MarkerRegressor, meta: dict) -> None:
    """Write the marker -> SMPL-X regressor atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, "kind": "egogen-motion-regressor", "config": reg.cfg.to_dict(),
                "state_dict": {k: v.detach().cpu() for k, v in reg.state_dict().items()},
                "meta": meta}, tmp)
    tmp.replace(path)


def load_motion_models(folder: str | Path | None = None, device: str = "cpu") -> MotionModels:
    """Load ``cvae.pt`` (required) and ``regressor.pt`` (optional) from ``folder``.

    Args:
        folder: checkpoint folder; default :func:`default_checkpoint_dir`.
    Raises:
        FileNotFoundError: no ``cvae.pt`` there (train with ``egogen train-motion``).
        ValueError: a file that is not an egogen motion checkpoint.
    """
    folder = Path(folder) if folder else default_checkpoint_dir()
    p = folder / "cvae.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no cvae.pt in {folder}; train one with "
                                f"`egogen train-motion --bvh-dir DIR --out {folder}`")
    ck = torch.load(p, map_location=device, weights_only=True)
    if ck.get("kind") != "egogen-motion-cvae":
        raise ValueError(f"{p} is not an egogen motion C-VAE checkpoint")
    cvae = MotionCVAE(CVAEConfig(**ck["config"])).to(device)
    cvae.load_state_dict(ck["state_dict"])
    reg = None
    pr = folder / "regressor.pt"
    if pr.is_file():
        cr = torch.load(pr, map_location=device, weights_only=True)
        if cr.get("kind") != "egogen-motion-regressor":
            raise ValueError(f"{pr} is not an egogen marker regressor checkpoint")
        reg = MarkerRegressor(RegressorConfig(**cr["config"])).to(device)
        reg.load_state_dict(cr["state_dict"])
        reg.eval()
    return MotionModels(cvae.eval(), MarkerJoints(ck["marker_joints"]).to(device), reg, ck["meta"])
