"""Rendered frames for the image tokenizers: read ``egogen render`` output beside a dataset and
cut it into the same 2 s windows as the 30 Hz streams.

``egogen render DIR`` writes sibling folders ``DIR/render-<engine>/`` whose samples have the
keys of ``DIR`` (docs/dataset.md, "Rendered frames"): ``rgb.npz`` (R, H, W, 3) uint8,
``depth.npz`` (R, H, W) float16 planar depth in metres (0 = nothing), and ``frames.json``
(``frame_index``: the 30 Hz frame each rendered frame shows, ``source_num_frames``).

Here every rendered frame is resized once, at load, to the tokenizer's ``size`` x ``size``
(:func:`resize_rgb`, :func:`resize_inverse_depth`), and an :class:`ImageWindows` maps each
30 Hz frame of a sample to its nearest rendered frame, so an image window starts at the same
30 Hz frame as the motion / camera / gaze windows it is joined with (stage ``pretrain``).
A window's ``frames`` images are the rendered frames nearest to ``frames`` evenly spaced 30 Hz
frames from its first to its last.

Depth is carried as inverse depth (1/m; 0 where nothing was hit): bounded, smooth near the
camera, and "nothing" is simply infinitely far. :func:`depth_errors` turns it back into
metres for AbsRel and delta < 1.25 (Eigen et al. 2014).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["IMAGE_MODALITIES", "IMAGE_CHANNELS", "ImageWindows", "render_folders", "read_render_sample",
           "resize_rgb", "resize_inverse_depth", "window_frame_offsets", "image_windows", "psnr_db",
           "depth_errors", "MIN_DEPTH_M", "MAX_DEPTH_M"]

IMAGE_MODALITIES = ("rgb", "depth")
"""Windowed image modalities (tokenized by :class:`egogen.models.imagevq.ImageVQVAE`)."""

IMAGE_CHANNELS = {"rgb": 3, "depth": 1}
"""Channels per pixel of each image modality's features (rgb in [0, 1]; inverse depth, 1/m)."""

MIN_DEPTH_M, MAX_DEPTH_M = 0.05, 20.0
"""Depth predictions are clamped to this range, metres (an inverse depth near 0 means far)."""

_MEMBER = {"rgb": ("rgb.npz", "rgb"), "depth": ("depth.npz", "depth")}


def render_folders(data_dir: str | Path) -> list[Path]:
    """The ``egogen render`` output folders of a dataset: ``DIR/render-*/`` holding an
    ``index.json`` of kind ``render``, sorted by name.

    A sample's image modality is read from the first of these folders that holds it (so
    ``render-cycles`` wins over ``render-pyrender``, which wins over ``render-raycast``).
    """
    out = []
    for d in sorted(Path(data_dir).glob("render-*")):
        idx = d / "index.json"
        if not idx.is_file():
            continue
        try:
            kind = json.loads(idx.read_text()).get("config", {}).get("kind")
        except (json.JSONDecodeError, OSError):
            continue
        if kind == "render":
            out.append(d)
    return out


def resize_rgb(rgb: np.ndarray, size: int) -> np.ndarray:
    """(R, H, W, 3) uint8 -> (R, size, size, 3) uint8 by area averaging (rounded).

    Non-square frames are resized to a square (the aspect is not kept).
    """
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).double()
    y = F.interpolate(x, size=(size, size), mode="area")
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def resize_inverse_depth(depth: np.ndarray, size: int) -> np.ndarray:
    """(R, H, W) planar depth in metres (0 = nothing) -> (R, size, size) float16 inverse depth
    (1/m, 0 = nothing): the average inverse depth of the valid pixels of each output pixel's
    area; 0 where fewer than half of them are valid."""
    d = torch.from_numpy(np.asarray(depth, np.float64))[:, None]
    valid = (d > 0).double()
    inv = torch.where(d > 0, 1.0 / d.clamp(min=1e-6), torch.zeros_like(d))
    s = F.interpolate(inv, size=(size, size), mode="area")
    v = F.interpolate(valid, size=(size, size), mode="area")
    out = torch.where(v >= 0.5, s / v.clamp(min=1e-9), torch.zeros_like(s))
    return out[:, 0].numpy().astype(np.float16)


def read_render_sample(members: dict[str, bytes], sizes: dict[str, int], where: str) -> dict:
    """The image streams of one rendered sample, resized.

    Args:
        members: the sample's members in a render folder (``frames.json``, ``rgb.npz``, ...).
        sizes: modality -> ``size`` to resize to (only these modalities are read).
        where: shard path, for messages.
    Returns:
        ``frame_index`` (R,) int64 30 Hz frame of each rendered frame, ``source_num_frames``
        (int), and per modality present: rgb (R, size, size, 3) uint8, depth (R, size, size)
        float16 inverse depth. Empty dict when there is no ``frames.json``.
    Raises:
        ValueError: an unreadable member (the message names it).
    """
    if "frames.json" not in members:
        return {}
    try:
        fr = json.loads(members["frames.json"])
        out = {"frame_index": np.asarray(fr["frame_index"], np.int64),
               "source_num_frames": int(fr["source_num_frames"])}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{where}: frames.json is not valid ({e})") from e
    for mod, size in sizes.items():
        member, array = _MEMBER[mod]
        if member not in members:
            continue
        try:
            with np.load(io.BytesIO(members[member]), allow_pickle=False) as z:
                a = z[array]
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            raise ValueError(f"{where}: {member} is not a readable npz with {array!r} ({e})") from e
        if len(a) != len(out["frame_index"]):
            raise ValueError(f"{where}: {member} holds {len(a)} frames, frames.json {len(out['frame_index'])}")
        out[mod] = resize_rgb(a, size) if mod == "rgb" else resize_inverse_depth(a, size)
    return out


def window_frame_offsets(length: int, frames: int) -> np.ndarray:
    """(frames,) int64 30 Hz offsets within a window of ``length`` frames: evenly spaced from
    0 to ``length - 1`` (one frame: 0)."""
    if frames == 1:
        return np.zeros(1, np.int64)
    return np.round(np.linspace(0, length - 1, frames)).astype(np.int64)


def _nearest_rendered(frame_index: np.ndarray, num_frames: int) -> np.ndarray:
    """(num_frames,) index of the rendered frame nearest in time to each 30 Hz frame (the
    earlier one on ties)."""
    t = np.arange(num_frames)
    j = np.clip(np.searchsorted(frame_index, t), 1, len(frame_index) - 1) if len(frame_index) > 1 else \
        np.zeros(num_frames, np.int64)
    if len(frame_index) == 1:
        return j
    prev = j - 1
    return np.where(np.abs(frame_index[prev] - t) <= np.abs(frame_index[j] - t), prev, j)


@dataclass
class ImageWindows:
    """Windows of one image modality: the :class:`~egogen.models.data.Windows` interface over
    rendered frames.

    Attributes:
        name: ``rgb`` or ``depth``.
        frames: (F,) int64, for every 30 Hz frame of every sample (concatenated), the row of
            ``images`` showing it (nearest rendered frame).
        images: rgb (R, S, S, 3) uint8; depth (R, S, S) float16 inverse depth (1/m).
        starts: (N,) int64 first 30 Hz frame (index into ``frames``) of each window.
        sample: (N,) int64 index into ``keys``; keys: sample keys; length: frames per window.
        offsets: (K,) int64 30 Hz offsets of a window's images (:func:`window_frame_offsets`).
    """

    name: str
    frames: np.ndarray
    images: np.ndarray
    starts: np.ndarray
    sample: np.ndarray
    keys: list
    length: int
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def dim(self) -> int:
        """Channels per pixel."""
        return IMAGE_CHANNELS[self.name]

    def get(self, idx) -> dict[str, torch.Tensor]:
        """Windows ``idx``: ``x`` (n, K, S, S, C) float32 (rgb in [0, 1]; inverse depth, 1/m)."""
        idx = np.asarray(idx, np.int64).reshape(-1)
        rows = self.frames[self.starts[idx][:, None] + self.offsets[None]]
        im = self.images[rows]
        x = torch.from_numpy(im.astype(np.float32))
        return {"x": x / 255.0 if self.name == "rgb" else x[..., None]}


def image_windows(name: str, per_sample: list, length: int, stride: int, frames: int, size: int) -> ImageWindows:
    """Cut windows of one image modality.

    Args:
        name: ``rgb`` or ``depth``.
        per_sample: [(key, stream)] with stream = :func:`read_render_sample` output holding ``name``.
        length, stride: window length and stride in 30 Hz frames (as the other modalities).
        frames: images per window; size: their side in px.
    """
    fmap, images, starts, sample, keys = [], [], [], [], []
    off30 = off_img = 0
    for key, st in per_sample:
        n = st["source_num_frames"]
        s = np.arange(0, n - length + 1, stride, dtype=np.int64)
        if len(s) == 0:
            continue
        keys.append(key)
        fmap.append(_nearest_rendered(st["frame_index"], n) + off_img)
        images.append(st[name])
        starts.append(s + off30)
        sample.append(np.full(len(s), len(keys) - 1, np.int64))
        off30 += n
        off_img += len(st[name])
    shape = (0, size, size, 3) if name == "rgb" else (0, size, size)
    return ImageWindows(
        name=name,
        frames=np.concatenate(fmap) if fmap else np.zeros(0, np.int64),
        images=np.concatenate(images) if images else np.zeros(shape, np.uint8 if name == "rgb" else np.float16),
        starts=np.concatenate(starts) if starts else np.zeros(0, np.int64),
        sample=np.concatenate(sample) if sample else np.zeros(0, np.int64),
        keys=keys, length=length, offsets=window_frame_offsets(length, frames))


def psnr_db(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-window PSNR (dB) of (N, K, S, S, 3) RGB in [0, 1] (prediction clamped to [0, 1])."""
    mse = ((pred.clamp(0, 1) - gt) ** 2).flatten(1).mean(1).clamp(min=1e-10)
    return -10.0 * torch.log10(mse)


def depth_errors(pred_inv: torch.Tensor, gt_inv: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-window depth errors over the valid ground-truth pixels (Eigen et al. 2014).

    Args:
        pred_inv, gt_inv: (N, K, S, S, 1) inverse depth (1/m); ground truth 0 = nothing (not
            scored); predictions are clamped to depths in [:data:`MIN_DEPTH_M`, :data:`MAX_DEPTH_M`] m.
    Returns:
        ``abs_rel``: mean |d - d*| / d*; ``delta1``: share of pixels with max(d/d*, d*/d) <
        1.25; ``rmse_m``: root mean squared error, m. (N,) each; windows without a valid pixel
        give NaN.
    """
    valid = (gt_inv > 0).flatten(1)
    g = 1.0 / gt_inv.clamp(min=1e-6).flatten(1).double()
    p = 1.0 / pred_inv.flatten(1).double().clamp(min=1.0 / MAX_DEPTH_M, max=1.0 / MIN_DEPTH_M)
    n = valid.sum(1).double()
    rel = torch.where(valid, (p - g).abs() / g, torch.zeros_like(g)).sum(1) / n
    ratio = torch.maximum(p / g, g / p)
    d1 = torch.where(valid, (ratio < 1.25).double(), torch.zeros_like(g)).sum(1) / n
    rmse = (torch.where(valid, (p - g) ** 2, torch.zeros_like(g)).sum(1) / n).sqrt()
    return {"abs_rel": rel.float(), "delta1": d1.float(), "rmse_m": rmse.float()}
