"""Stage ``tokenizers`` of ``egogen train-model``: train every tokenizer of a run and measure it.

Trained in order, each from the same seed (same initial weights for the motion variants, the
same batches at every step for all of them, so the quantizers compare like for like):

- ``motion_pq1``, ``motion_pq2``, ``motion_rq``: motion VQ-VAEs (4x down-sampling) with
  product quantization of 1 and 2 codebooks at equal code parameters (EgoLM's ablation) and
  residual quantization (VIM's RQ-VAE);
- ``camera``, ``gaze``: 60-frame windows -> 30 tokens of a 256-entry codebook (EgoM2P);
- ``wrists``: both wrist trajectories relative to the first head frame (EgoLM's 3-point
  sensors), 60 x 18 -> 30 tokens, built like the camera one;
- ``rgb``, ``depth``: 2D VQ-VAEs over the rendered frames of the dataset's ``render-*``
  folders (``egogen render``; :class:`~egogen.models.imagevq.ImageVQVAE`), K frames per window
  resized to ``size`` px, patches of ``2 ** down`` px; skipped (``metrics.json`` says so)
  when the dataset has no rendered frames;
- the text BPE (``tokenizer.json``) on the training episodes' text.

Loss: L1 of the normalised features + commitment; motion adds ``joint_loss_weight`` x L1 of
the pelvis-relative joint positions (metres) from forward kinematics with each sample's body
(EgoLM: representation + joint position terms). AdamW, cosine decay to 10 % of the rate.

A run folder holds::

    config.json   the configuration, seed, data folder and its index's sha256
    split.json    train / held-out episodes and the data report
    tokenizer.json  text BPE
    motion_pq1.pt motion_pq2.pt motion_rq.pt camera.pt gaze.pt wrists.pt rgb.pt depth.pt
                  checkpoints (model + optimiser + RNG + step + history), atomic, every
                  ``checkpoint_every`` steps; ``done`` once trained
    metrics.json  held-out metrics of every tokenizer (see :func:`train_tokenizers`)

Deterministic for a seed on one machine and thread count: batches come from generators
seeded by (seed, step), each model starts from ``torch.manual_seed(seed)``, and the global
RNG (k-means initialisation, dead-code replacement) is saved in every checkpoint, so a
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from egogen.models.configs import TokenizerConfig, load_config
from egogen.models.data import TokenizerData, load_tokenizer_data
from egogen.models.features import (camera_errors, gaze_angle_deg, motion_to_joints, mpjpe_mm, wrist_errors)
from egogen.models.images import IMAGE_MODALITIES, depth_errors, psnr_db, render_folders
from egogen.models.imagevq import ImageVQVAE
from egogen.models.vqvae import ConvVQVAE
from egogen.npz import atomic_write

__all__ = ["train_tokenizers", "model_specs", "load_tokenizer", "TokenizerRunError", "STD_FLOOR",
           "tokenizer_run_diff", "tokenizers_complete"]

STD_FLOOR = 1e-2
"""Smallest per-channel std used to normalise features (channels that barely vary in the
data, e.g. joints the walkers never bend, are not blown up)."""

RUN_FILES = ("config.json", "metrics.json", "split.json", "tokenizer.json")


class TokenizerRunError(RuntimeError):
    """A run folder cannot be started or resumed (the message says why and what to do)."""


def model_specs(cfg: TokenizerConfig) -> list[dict]:
    """The VQ-VAEs a configuration trains, in training order.

    Returns:
        [{name, modality, quantizer (pq | rq), num (codebooks), variant}] - ``motion_pq1``,
        ``motion_pq2``, ``motion_rq`` (as ``cfg.motion_quantizers`` lists), ``camera``, ``gaze``,
        ``wrists``, ``rgb``, ``depth``.
    Raises:
        ValueError: a motion quantizer name that is not ``pqN`` or ``rq[N]``.
    """
    specs = []
    for q in cfg.motion_quantizers:
        m = re.fullmatch(r"(pq|rq)(\d*)", q)
        if not m or (m.group(1) == "pq" and not m.group(2)):
            raise ValueError(f"motion quantizer {q!r}: use pq1, pq2 (pqN) or rq (rqN)")
        num = int(m.group(2)) if m.group(2) else cfg.rq_quantizers
        specs.append({"name": f"motion_{q}", "modality": "motion", "quantizer": m.group(1), "num": num, "variant": q})
    specs.append({"name": "camera", "modality": "camera", "quantizer": "pq", "num": 1, "variant": "pq1"})
    specs.append({"name": "gaze", "modality": "gaze", "quantizer": "pq", "num": 1, "variant": "pq1"})
    specs.append({"name": "wrists", "modality": "wrists", "quantizer": "pq", "num": 1, "variant": "pq1"})
    for m in IMAGE_MODALITIES:
        specs.append({"name": m, "modality": m, "quantizer": "pq", "num": 1, "variant": "pq1"})
    return specs


def _build(spec: dict, cfg: TokenizerConfig, in_dim: int) -> ConvVQVAE | ImageVQVAE:
    if spec["modality"] in IMAGE_MODALITIES:
        return ImageVQVAE(in_dim, getattr(cfg, spec["modality"]))
    return ConvVQVAE(in_dim, getattr(cfg, spec["modality"]), spec["quantizer"], spec["num"])


def image_sizes(cfg: TokenizerConfig) -> dict:
    """Image modality -> (size, frames per window) the configuration's image tokenizers read."""
    return {m: (getattr(cfg, m).size, getattr(cfg, m).frames) for m in IMAGE_MODALITIES}


def load_tokenizer(run_dir: str | os.PathLike, name: str) -> ConvVQVAE:
    """A trained tokenizer of a run folder, in eval mode.

    Args:
        run_dir: the ``--out`` folder of ``egogen train-model --stage tokenizers``.
        name: ``motion_pq1``, ``motion_pq2``, ``motion_rq``, ``camera``, ``gaze``, ``wrists``,
            ``rgb`` or ``depth``.
    Returns:
        :class:`~egogen.models.vqvae.ConvVQVAE` or, for images,
        :class:`~egogen.models.imagevq.ImageVQVAE` (``encode`` features -> tokens, ``decode``).
    Raises:
        FileNotFoundError: no such checkpoint.
    """
    from egogen.models.configs import config_from_dict

    path = Path(run_dir) / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer {name} in {run_dir}; train it with `egogen train-model --stage "
                                "tokenizers`")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = _build(ck["spec"], config_from_dict(ck["config"]), ck["in_dim"])
    model.load_state_dict(ck["model"])
    return model.eval()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _atomic_json(path: Path, obj) -> None:
    atomic_write(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def _atomic_save(path: Path, obj) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def _norm_stats(windows, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    # numpy sums along axis 0 row by row: the same result wherever the arrays sit in memory
    # (torch's vectorised sums can differ in the last bit with the buffers' alignment)
    s = s2 = 0.0
    n = 0
    for a in range(0, len(windows), chunk):
        x = windows.get(np.arange(a, min(a + chunk, len(windows))))["x"].numpy().astype(np.float64)
        x = np.ascontiguousarray(x.reshape(-1, windows.dim))
        s, s2, n = s + x.sum(0), s2 + (x * x).sum(0), n + len(x)
    mean = s / n
    std = np.maximum(np.sqrt(np.maximum(s2 / n - mean * mean, 0)), STD_FLOOR)
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


def _loss(model: ConvVQVAE, batch: dict, modality: str, cfg: TokenizerConfig) -> tuple[torch.Tensor, dict]:
    x = batch["x"]
    out = model(x)
    feat = ((out.recon - x) / model.std).abs().mean()
    loss = feat + out.commit_loss
    info = {"feat": float(feat.detach()), "commit": float(out.commit_loss.detach())}
    if modality == "motion" and cfg.joint_loss_weight:
        jr = motion_to_joints(out.recon, batch["rest_joints"])
        with torch.no_grad():
            jg = motion_to_joints(x, batch["rest_joints"])
        local = ((jr - jr[:, :, :1]) - (jg - jg[:, :, :1])).abs().mean()
        window = (jr - jg).abs().mean()
        loss = loss + cfg.joint_loss_weight * (local + cfg.window_joint_weight * window)
        info["joint_m"], info["window_joint_m"] = float(local.detach()), float(window.detach())
    info["loss"] = float(loss.detach())
    return loss, info


@torch.no_grad()
def evaluate_tokenizer(model: ConvVQVAE, windows, modality: str, chunk: int = 256) -> dict:
    """Reconstruction metrics of windows through tokens (``decode(encode(x))``), eval mode.

    Args:
        model: the VQ-VAE; windows: :class:`~egogen.models.data.Windows` of its modality.
    Returns:
        ``feature_l1`` (normalised units) and ``codes_used`` (share of codebook entries used,
        mean over codebooks) for all; motion ``mpjpe_mm`` (pelvis-relative, 22 body joints)
        and ``window_mpjpe_mm`` (window frame, with the integrated root trajectory); camera
        ``translation_cm`` and ``rotation_deg`` (wrists: the same, mean of both wrists); gaze
        ``angle_deg``; rgb ``psnr_db``; depth ``abs_rel``, ``delta1``, ``rmse_m``
        (:func:`~egogen.models.images.depth_errors`, at the tokenizer's resolution);
        ``windows`` evaluated.
        Means over windows.
    """
    was = model.training
    model.eval()
    acc: dict[str, list] = {}
    used = torch.zeros(model.quantizer.num, model.quantizer.codebook_size, dtype=torch.bool)
    for a in range(0, len(windows), chunk):
        b = windows.get(np.arange(a, min(a + chunk, len(windows))))
        x = b["x"]
        idx = model.encode(x)
        rec = model.decode(idx)
        for k in range(idx.shape[-1]):
            used[k, idx[..., k].reshape(-1)] = True
        acc.setdefault("feature_l1", []).append(((rec - x) / model.std).abs().mean(dim=(1, 2)))
        if modality == "motion":
            jr, jg = motion_to_joints(rec, b["rest_joints"]), motion_to_joints(x, b["rest_joints"])
            acc.setdefault("mpjpe_mm", []).append(mpjpe_mm(jr, jg))
            acc.setdefault("window_mpjpe_mm", []).append(mpjpe_mm(jr, jg, root_relative=False))
        elif modality in ("camera", "wrists"):
            t, r = (camera_errors if modality == "camera" else wrist_errors)(rec, x)
            acc.setdefault("translation_cm", []).append(t)
            acc.setdefault("rotation_deg", []).append(r)
        elif modality == "rgb":
            acc.setdefault("psnr_db", []).append(psnr_db(rec, x))
        elif modality == "depth":
            for k, v in depth_errors(rec, x).items():
                acc.setdefault(k, []).append(v)
        else:
            acc.setdefault("angle_deg", []).append(gaze_angle_deg(rec, x))
    model.train(was)
    out = {k: float(torch.cat(v).nanmean()) for k, v in acc.items()}
    out["codes_used"] = float(used.float().mean(dim=1).mean())
    out["windows"] = len(windows)
    return out


def _lr(step: int, total: int, lr: float) -> float:
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1))))


def _train_one(spec: dict, cfg: TokenizerConfig, data: TokenizerData, out: Path, seed: int, resume: bool,
               progress: Optional[Callable]) -> dict:
    name, modality = spec["name"], spec["modality"]
    train_w = data.train[modality]
    eval_w, eval_split = data.heldout[modality], "heldout"
    if len(eval_w) == 0:
        eval_w, eval_split = train_w, "train"
    path = out / f"{name}.pt"
    if len(train_w) == 0:
        why = (f"no rendered {modality} frames beside the dataset (render it first: `egogen render DIR`)"
               if modality in IMAGE_MODALITIES else f"no {modality} training windows")
        return {"skipped": why, "eval_split": eval_split}
    mcfg = getattr(cfg, modality)
    steps = getattr(mcfg, "steps", 0) or cfg.steps
    batch_size = getattr(mcfg, "batch_size", 0) or cfg.batch_size
    torch.manual_seed(seed)
    model = _build(spec, cfg, train_w.dim)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, history, wall0 = 0, [], 0.0
    if resume and path.is_file():
        ck = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"])
        step, history, wall0 = ck["step"], ck["history"], ck["wall_s"]
    else:
        model.set_normalization(*_norm_stats(train_w))
    t0 = time.time()

    def batch(s: int) -> dict:
        g = torch.Generator().manual_seed(seed * 1_000_003 + s)
        return train_w.get(torch.randint(len(train_w), (batch_size,), generator=g).numpy())

    def save(done: bool) -> None:
        _atomic_save(path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                            "step": step, "history": history, "done": done, "wall_s": wall0 + time.time() - t0,
                            "spec": spec, "config": cfg.to_dict(), "in_dim": train_w.dim, "seed": seed,
                            "window_length": train_w.length})

    if step == 0:
        if mcfg.kmeans_init:
            model.train()
            with torch.no_grad():  # initialise the codebooks by k-means on the first training batch
                model.quantizer(model._encode(batch(0)["x"]))
        history.append({"step": 0, **evaluate_tokenizer(model, eval_w, modality)})
    model.train()
    info = {}
    while step < steps:
        for grp in opt.param_groups:
            grp["lr"] = _lr(step, steps, cfg.lr)
        loss, info = _loss(model, batch(step), modality, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % cfg.eval_every == 0 or step == steps:
            history.append({"step": step, "train": info, **evaluate_tokenizer(model, eval_w, modality)})
        if step % cfg.checkpoint_every == 0 and step < steps:
            save(False)
        if progress:
            progress(name, step, steps, info)
    save(True)
    final = {k: v for k, v in history[-1].items() if k not in ("step", "train")}
    q = model.quantizer
    return {**final, "eval_split": eval_split, "steps": step, "quantizer": spec["quantizer"], "codebooks": q.num,
            "codebook_size": q.codebook_size, "code_dim": q.dim, "code_parameters": q.code_parameters,
            "tokens_per_window": model.tokens_per_window(train_w.length), "downsample": model.downsample,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_windows": len(train_w), "wall_s": round(wall0 + time.time() - t0, 2),
            "history": [{k: h[k] for k in h if k != "train"} | ({"train_loss": h["train"]["loss"]} if "train" in h else {})
                        for h in history]}


def _train_text(cfg: TokenizerConfig, data: TokenizerData, out: Path, resume: bool) -> dict:
    from egogen.models.text import load_bpe, train_bpe

    path = out / "tokenizer.json"
    if resume and path.is_file():
        tok = load_bpe(path)
    else:
        if not data.text["train"]:
            return {"skipped": "no text.json in the training samples"}
        tok = train_bpe(data.text["train"], cfg.text_vocab_size)
        tmp = path.with_name(".tokenizer.json.tmp")
        tok.save(str(tmp))
        tmp.replace(path)
    held = data.text["heldout"] or data.text["train"]
    ids = [tok.encode(s).ids for s in held]
    exact = sum(tok.decode(i) == s for i, s in zip(ids, held))
    n_tok = sum(len(i) for i in ids)
    return {"vocab_size": tok.get_vocab_size(), "eval_split": "heldout" if data.text["heldout"] else "train",
            "texts": len(held), "roundtrip_exact": exact / max(len(held), 1),
            "tokens_per_text": n_tok / max(len(held), 1), "chars_per_token": sum(map(len, held)) / max(n_tok, 1)}


def _run_config(cfg: TokenizerConfig, seed: int, data_dir: Path, body_model) -> dict:
    conf = {k: v for k, v in cfg.to_dict().items() if k != "pretrain"}  # the pretrain stage checks its own keys
    return {"stage": "tokenizers", "config": conf, "seed": seed, "data": str(data_dir.resolve()),
            "data_index_sha256": _sha256(data_dir / "index.json") if (data_dir / "index.json").is_file() else None,
            "render_index_sha256": {d.name: _sha256(d / "index.json") for d in render_folders(data_dir)},
            "body_model": str(body_model) if body_model else None}


def tokenizer_run_diff(out_dir: str | os.PathLike, config: str | TokenizerConfig, seed: int,
                       data_dir: str | os.PathLike, body_model: Optional[str | os.PathLike] = None) -> list[str]:
    """Which run options differ between the tokenizer run in ``out_dir`` and these.

    Returns:
        sorted keys of ``config.json`` that differ (``config``, ``seed``, ``data``,
        ``data_index_sha256``, ``render_index_sha256``, ``body_model``); ``["config.json"]`` when ``out_dir`` holds no run.
    """
    cfg = config if isinstance(config, TokenizerConfig) else load_config(config)
    path = Path(out_dir) / "config.json"
    if not path.is_file():
        return ["config.json"]
    old, run = json.loads(path.read_text()), _run_config(cfg, seed, Path(data_dir), body_model)
    return sorted(k for k in set(old) | set(run) if old.get(k) != run.get(k))


def tokenizers_complete(out_dir: str | os.PathLike) -> bool:
    """True when ``out_dir`` holds a finished tokenizer stage (``metrics.json`` is written at its end)."""
    path = Path(out_dir) / "metrics.json"
    if not path.is_file():
        return False
    m = json.loads(path.read_text())
    return all(k in m for k in ("motion", "camera", "gaze", "text"))


def train_tokenizers(data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                     config: str | TokenizerConfig = "tiny", seed: int = 0, resume: bool = False,
                     body_model: Optional[str | os.PathLike] = None, skip_corrupt: bool = False,
                     progress: Optional[Callable[[str, int, int, dict], None]] = None) -> dict:
    """Train the text BPE and every VQ-VAE tokenizer on a dataset; write ``metrics.json``.

    Args:
        data_dir: dataset folder of shards (``egogen simulate --out``).
        out_dir: run folder (created); see the module docstring for its files.
        config: ``tiny`` / ``small`` / ``base``, a .json / .yaml file, or a
            :class:`~egogen.models.configs.TokenizerConfig`.
        seed: run seed (same seed, data, machine and threads: same weights and metrics).
        resume: continue the run in ``out_dir`` (finished tokenizers are kept, an unfinished
            one continues from its last checkpoint). Needs the same config, seed and data.
        body_model: SMPL-X body for forward kinematics (None: the default / $EGOGEN_BODY_MODEL).
        skip_corrupt: skip shards that fail their checks (reported) instead of stopping.
        progress: called as ``progress(task, done, total, info)``; tasks ``load`` (shards),
            ``text``, and each model name (steps; info = last training losses).
    Returns:
        The metrics (as written to ``metrics.json``): ``motion`` {pq1, pq2, rq: mpjpe_mm,
        window_mpjpe_mm, feature_l1, codes_used, tokens_per_window, code_parameters, history
        ...}, ``camera`` and ``wrists`` {translation_cm, rotation_deg ...}, ``gaze`` {angle_deg ...}, ``text``
        {vocab_size, roundtrip_exact, tokens_per_text ...}, ``data`` (the split report),
        ``config``, ``seed``, ``wall_s``. Metrics are on held-out episodes (``eval_split``
        says ``train`` when the dataset has a single episode).
    Raises:
        TokenizerRunError: ``out_dir`` holds a run and ``resume`` is off; ``resume`` without a
            run or with other options or changed data.
        egogen.models.data.TokenizerDataError: unreadable or unusable data.
        ValueError: unknown config.
    """
    t_start = time.time()
    cfg = config if isinstance(config, TokenizerConfig) else load_config(config)
    data_dir, out = Path(data_dir), Path(out_dir)
    specs = model_specs(cfg)
    run = _run_config(cfg, seed, data_dir, body_model)
    cfg_path = out / "config.json"
    if resume:
        if not cfg_path.is_file():
            raise TokenizerRunError(f"--resume: {out} holds no tokenizer run (no config.json); start one without "
                                    "--resume")
        diff = tokenizer_run_diff(out, cfg, seed, data_dir, body_model)
        if diff:
            raise TokenizerRunError(f"--resume: {out} was started with other {', '.join(diff)}; resume with the same "
                                    "--data, --config and --seed (and unchanged data), or choose another --out")
    else:
        if out.exists() and any((out / f).exists() for f in RUN_FILES + tuple(f"{s['name']}.pt" for s in specs)):
            raise TokenizerRunError(f"{out} already holds a tokenizer run; pass --resume to continue it or choose an "
                                    "empty --out folder")
        out.mkdir(parents=True, exist_ok=True)
        _atomic_json(cfg_path, run)
    w = cfg.windows
    data = load_tokenizer_data(data_dir, w.length, w.stride, w.heldout_stride, w.heldout_fraction,
                               body_model=body_model, skip_corrupt=skip_corrupt,
                               progress=(lambda d, t: progress("load", d, t, {})) if progress else None,
                               images=image_sizes(cfg))
    _atomic_json(out / "split.json", {"episodes": data.episodes, "report": data.report})
    metrics: dict = {"config": cfg.name, "seed": seed, "data": data.report, "motion": {}}
    if progress:
        progress("text", 0, 1, {})
    metrics["text"] = _train_text(cfg, data, out, resume)
    if progress:
        progress("text", 1, 1, {})
    for spec in specs:
        m = _train_one(spec, cfg, data, out, seed, resume, progress)
        if spec["modality"] == "motion":
            metrics["motion"][spec["variant"]] = m
        else:
            metrics[spec["modality"]] = m
    metrics["wall_s"] = round(time.time() - t_start, 2)
    metrics["torch_threads"] = torch.get_num_threads()
    mpath = out / "metrics.json"
    if mpath.is_file():  # keep what later stages wrote (stage pretrain's ``pretrain`` key)
        metrics = {**{k: v for k, v in json.loads(mpath.read_text()).items() if k == "pretrain"}, **metrics}
    _atomic_json(mpath, metrics)
    return metrics
