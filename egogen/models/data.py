"""Training windows for the tokenizers, read from a dataset folder of shards.

One sample (one wearer of one episode, ``<scene>-<episode:06d>-<wearer>``) gives, per
modality it holds, windows of ``length`` frames (30 Hz) every ``stride`` frames:

- ``motion``: (L, 136) features of the wearer's SMPL-X body (:func:`motion_features`: 6D
  rotations of the pelvis in its heading frame and the 21 body joints, pelvis velocity in the
  heading frame, yaw rate, height), plus the body's rest joints for forward kinematics;
- ``camera``: (L, 9) head-camera pose relative to the window's first frame (6D + metres,
  EgoM2P);
- ``gaze``: (L, 2) gaze yaw / pitch, rad, OpenCV camera frame;
- ``wrists``: (L, 18) both wrists' poses relative to the window's first head frame
  (``sensors.npz``, EgoLM's 3-point sensors; :func:`~egogen.models.features.wrist_window_features`);
- ``text``: the strings of ``text.json`` (instruction, description, caption texts) for BPE;
- ``rgb``, ``depth``: rendered frames of the sample from the dataset's ``render-*`` folders
  (``egogen render``), resized, K per window (:mod:`egogen.models.images`); only when asked
  for (``images``).

Samples are read with :func:`egogen.data.shards.read_shard` (sha256 checked against
``index.json``), so a corrupted or missing shard stops loading with an error that names the
shard and the fix (or is skipped and reported with ``skip_corrupt``). A sample that lacks a
member (or an array of it) simply lacks that modality; samples shorter than a window give no
windows. Both are counted in :attr:`TokenizerData.report`.

Split: by episode (``<scene>-<episode>``, all wearers of an episode on the same side), by a
hash of the episode id (:func:`heldout_episodes`), so the split of an episode does not depend
on which other episodes the folder holds or on their order.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from egogen.data.shards import ShardError, read_index, read_shard
from egogen.models.features import (CAMERA_DIM, FPS, GAZE_DIM, MOTION_DIM, MOTION_JOINTS, WRISTS_DIM,
                                    camera_window_features, gaze_features, motion_features, wrist_window_features)

__all__ = ["TokenizerDataError", "Windows", "TokenizerData", "load_tokenizer_data", "episode_id",
           "heldout_episodes", "MODALITIES", "sample_texts", "caption_spans"]

MODALITIES = ("motion", "camera", "gaze", "wrists")
"""The windowed modalities the VQ-VAE tokenizers train on (text is handled by BPE)."""

_NEEDS = {"motion": ("motion.npz", ("global_orient", "body_pose", "betas")),
          "camera": ("camera.npz", ("T_world_camera",)),
          "gaze": ("gaze.npz", ("direction",)),
          "wrists": ("sensors.npz", ("T_world_head", "T_world_left_wrist", "T_world_right_wrist"))}
_DIMS = {"motion": MOTION_DIM, "camera": CAMERA_DIM, "gaze": GAZE_DIM, "wrists": WRISTS_DIM}


class TokenizerDataError(RuntimeError):
    """A dataset folder cannot be read for tokenizer training (the message names the shard,
    sample or member and says what to do)."""


def episode_id(key: str) -> str:
    """``<scene>-<episode>`` of a sample key ``<scene>-<episode:06d>-<wearer>``."""
    return key.rsplit("-", 1)[0] if key.count("-") >= 2 else key


def _unit_hash(s: str) -> float:
    return int(hashlib.sha256(s.encode()).hexdigest()[:12], 16) / float(16 ** 12)


def heldout_episodes(episodes, fraction: float) -> set[str]:
    """The held-out episodes: those whose sha256-derived number in [0, 1) is below
    ``fraction``.

    With at least 2 episodes and ``fraction`` > 0, at least one episode is held out (the one
    with the smallest number) and at least one is kept for training (the largest), so tiny
    datasets still have both sides.

    Args:
        episodes: episode ids (``<scene>-<episode>``).
        fraction: target share of held-out episodes, 0..1.
    Returns:
        set of held-out ids.
    """
    eps = sorted(set(episodes), key=_unit_hash)
    held = {e for e in eps if _unit_hash(e) < fraction}
    if len(eps) >= 2 and fraction > 0:
        if not held:
            held = {eps[0]}
        if len(held) == len(eps):
            held.discard(eps[-1])
    return held


@dataclass
class Windows:
    """Windows of one modality over many samples, cut from per-frame streams on demand.

    Attributes:
        name: ``motion``, ``camera``, ``gaze`` or ``wrists``.
        frames: per-frame streams of all samples, concatenated: motion (F, 136) float32
            features, gaze (F, 2) float32, camera (F, 4, 4) float64 ``T_world_camera``,
            wrists (F, 3, 4, 4) float64 head, left and right wrist joint frames -> world.
        starts: (N,) int64 first frame (index into ``frames``) of each window.
        sample: (N,) int64 index into ``keys`` of each window's sample.
        keys: sample keys.
        length: frames per window L.
        rest_joints: motion only: (len(keys), 22, 3) float32 rest joints of each sample's
            body (SMPL-X canonical frame, m), for :func:`egogen.models.features.motion_to_joints`.
    """

    name: str
    frames: np.ndarray
    starts: np.ndarray
    sample: np.ndarray
    keys: list
    length: int
    rest_joints: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def dim(self) -> int:
        """Feature channels per frame."""
        return _DIMS[self.name]

    def get(self, idx) -> dict[str, torch.Tensor]:
        """Windows ``idx`` as tensors.

        Args:
            idx: (n,) window indices (int array or tensor).
        Returns:
            ``x``: (n, L, dim) float32 features (camera relative to each window's first
            frame, wrists to its first head frame); motion also ``rest_joints``: (n, 22, 3) float32.
        """
        idx = np.asarray(idx, np.int64).reshape(-1)
        rows = self.starts[idx][:, None] + np.arange(self.length)[None]
        raw = self.frames[rows]
        x = (camera_window_features(raw) if self.name == "camera" else wrist_window_features(raw)
             if self.name == "wrists" else torch.from_numpy(np.ascontiguousarray(raw)))
        out = {"x": x}
        if self.rest_joints is not None:
            out["rest_joints"] = torch.from_numpy(self.rest_joints[self.sample[idx]])
        return out


@dataclass
class TokenizerData:
    """Train and held-out windows of every modality, and the text corpus.

    Attributes:
        train, heldout: modality -> :class:`Windows` (every modality in :data:`MODALITIES`
            is present; it may hold 0 windows).
        text: ``train`` / ``heldout`` -> list of strings.
        episodes: ``train`` / ``heldout`` -> sorted episode ids.
        captions: sample key -> :func:`caption_spans` of its ``text.json`` (samples without
            one are absent).
        report: counts: samples, episodes, windows per split and modality, members missing
            (member -> samples), samples too short, shards skipped.
    """

    train: dict
    heldout: dict
    text: dict
    episodes: dict
    report: dict = field(default_factory=dict)
    captions: dict = field(default_factory=dict)


def sample_texts(text: dict) -> list[str]:
    """The strings of a ``text.json``: instruction, description and every caption's text."""
    out = [text.get("instruction"), text.get("description")]
    out += [c.get("text") for c in text.get("captions") or [] if isinstance(c, dict)]
    return [s for s in out if isinstance(s, str) and s.strip()]


def caption_spans(text: dict) -> dict:
    """The timed text of a ``text.json``, for per-window text (stage ``pretrain``).

    Returns:
        ``instruction`` (str or None) and ``captions``: [(start_s, end_s, text)] in episode
        seconds, in file order.
    """
    caps = []
    for c in text.get("captions") or []:
        if isinstance(c, dict) and isinstance(c.get("text"), str) and c["text"].strip():
            caps.append((float(c.get("start_ns", 0)) * 1e-9, float(c.get("end_ns", 0)) * 1e-9, c["text"]))
    inst = text.get("instruction")
    return {"instruction": inst if isinstance(inst, str) and inst.strip() else None, "captions": caps}


def _load_npz(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class _RestJoints:
    """Rest joints 0..21 per (gender, betas), one body model per (gender, number of betas)."""

    def __init__(self, body_model):
        self.body_model = body_model
        self.models, self.cache = {}, {}

    def __call__(self, betas: np.ndarray, gender: str) -> np.ndarray:
        from egogen.body import load_body_model

        betas = np.asarray(betas, np.float32).reshape(-1)
        key = (gender, betas.tobytes())
        if key not in self.cache:
            mk = (gender, len(betas))
            if mk not in self.models:
                self.models[mk] = load_body_model(self.body_model, gender=gender, num_betas=len(betas))
            with torch.no_grad():
                out = self.models[mk](betas=torch.from_numpy(betas)[None])
            self.cache[key] = out.joints[0, :MOTION_JOINTS].numpy().astype(np.float32)
        return self.cache[key]


def _check_rate(key: str, member: str, ts: Optional[np.ndarray]) -> None:
    if ts is None or len(ts) < 2:
        return
    dt = np.median(np.diff(ts.astype(np.int64))) * 1e-9
    if abs(dt * FPS - 1) > 0.01:
        raise TokenizerDataError(f"sample {key}: {member} runs at {1 / dt:.2f} Hz; the tokenizers expect "
                                 f"{FPS:.0f} Hz streams (DESIGN.md). Resample the data to 30 Hz.")


def _sample_streams(key: str, members: dict, rest: _RestJoints, missing: Counter, where: str) -> dict:
    """Per-frame streams of one sample: modality -> array (+ motion rest joints), text."""
    out = {}
    for mod, (member, arrays) in _NEEDS.items():
        if member not in members:
            missing[member] += 1
            continue
        try:
            z = _load_npz(members[member])
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            raise TokenizerDataError(f"{where}: sample {key}: {member} is not a readable npz ({e}); the shard "
                                     "was written broken. Regenerate it (delete it, rerun egogen simulate "
                                     "--resume) or check the folder with `egogen validate`.") from e
        lacking = [a for a in arrays if a not in z]
        if lacking:
            missing[f"{member}:{','.join(lacking)}"] += 1
            continue
        _check_rate(key, member, z.get("timestamps_ns"))
        if mod == "motion":
            gender = str(z["gender"]) if "gender" in z else "neutral"
            rj = rest(z["betas"], gender)
            pelvis = z["joints"][:, 0] if "joints" in z else (z["transl"] + rj[0] if "transl" in z else None)
            if pelvis is None:
                missing[f"{member}:joints,transl"] += 1
                continue
            if len(z["global_orient"]) < 2:
                continue
            out["motion"] = motion_features(z["global_orient"], z["body_pose"], pelvis)
            out["rest_joints"] = rj
        elif mod == "camera":
            out["camera"] = np.asarray(z["T_world_camera"], np.float64)
        elif mod == "wrists":
            out["wrists"] = np.stack([np.asarray(z[a], np.float64) for a in arrays], axis=1)
        else:
            out["gaze"] = gaze_features(z["direction"])
    if "text.json" in members:
        try:
            tj = json.loads(members["text.json"])
            out["text"] = sample_texts(tj)
            out["captions"] = caption_spans(tj)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise TokenizerDataError(f"{where}: sample {key}: text.json is not valid JSON ({e}); regenerate the "
                                     "shard or check it with `egogen validate`.") from e
    else:
        missing["text.json"] += 1
    return out


def _windows(name: str, per_sample: list, length: int, stride: int, rest: Optional[list]) -> Windows:
    frames, starts, sample, keys, rj = [], [], [], [], []
    offset = 0
    for key, arr, r in per_sample:
        n = len(arr)
        s = np.arange(0, n - length + 1, stride, dtype=np.int64)
        if len(s) == 0:
            continue
        i = len(keys)
        keys.append(key)
        frames.append(arr)
        starts.append(s + offset)
        sample.append(np.full(len(s), i, np.int64))
        if r is not None:
            rj.append(r)
        offset += n
    shape = {"motion": (0, MOTION_DIM), "gaze": (0, GAZE_DIM), "camera": (0, 4, 4), "wrists": (0, 3, 4, 4)}[name]
    dtype = np.float64 if name in ("camera", "wrists") else np.float32
    return Windows(
        name=name,
        frames=np.concatenate(frames) if frames else np.zeros(shape, dtype),
        starts=np.concatenate(starts) if starts else np.zeros(0, np.int64),
        sample=np.concatenate(sample) if sample else np.zeros(0, np.int64),
        keys=keys, length=length,
        rest_joints=(np.stack(rj) if rj else np.zeros((0, MOTION_JOINTS, 3), np.float32)) if name == "motion" else None)


def _read_shards(folder: Path, skip_corrupt: bool, skipped: list, fix: str):
    """Yield (shard path, {key: members}) of a dataset folder, reporting or raising on bad shards."""
    for entry in read_index(folder)["shards"]:
        try:
            samples = read_shard(folder, entry)
        except ShardError as e:
            if skip_corrupt:
                skipped.append(f"{folder / entry['name']}: {e}")
                continue
            raise TokenizerDataError(f"{e}. {fix}, check the folder with `egogen validate`, or pass --skip-corrupt to "
                                     "train without it.") from e
        except (tarfile.TarError, OSError, EOFError, ValueError) as e:
            raise TokenizerDataError(f"{folder / entry['name']} is not a readable tar ({e}); regenerate it") from e
        yield folder / entry["name"], samples


def _render_streams(folders: list, keys: set, images: dict, skip_corrupt: bool, skipped: list) -> tuple[dict, dict]:
    """Image streams per sample key from render folders (the first folder holding a modality wins)."""
    from egogen.models.images import read_render_sample

    out: dict[str, dict] = {}
    used: dict[str, int] = {}
    for folder in folders:
        try:
            shards = list(_read_shards(Path(folder), skip_corrupt, skipped,
                                       "Re-render it (delete the shard and rerun `egogen render` on the dataset)"))
        except ShardError as e:
            raise TokenizerDataError(f"{e}. Re-render the dataset with `egogen render`.") from e
        n = 0
        for where, samples in shards:
            for key, members in samples.items():
                if key not in keys:
                    continue
                want = {m: images[m][0] for m in images if m not in out.get(key, {})}
                if not want:
                    continue
                try:
                    st = read_render_sample(members, want, str(where))
                except ValueError as e:
                    raise TokenizerDataError(f"{e}; re-render the sample with `egogen render`") from e
                got = {m: st[m] for m in want if m in st}
                if got:
                    cur = out.setdefault(key, {"frame_index": st["frame_index"],
                                               "source_num_frames": st["source_num_frames"]})
                    if not np.array_equal(cur["frame_index"], st["frame_index"]):
                        # another render of the sample at another rate: keep the first folder's frames only
                        continue
                    cur.update(got)
                    n += 1
        used[Path(folder).name] = n
    return out, used


def load_tokenizer_data(data_dir: str | os.PathLike, length: int = 60, stride: int = 15,
                        heldout_stride: int = 60, heldout_fraction: float = 0.2,
                        body_model: Optional[str | os.PathLike] = None, skip_corrupt: bool = False,
                        progress: Optional[Callable[[int, int], None]] = None,
                        images: Optional[dict] = None,
                        render_dirs: Optional[list] = None) -> TokenizerData:
    """Read every sample of a dataset folder into train / held-out windows.

    Args:
        data_dir: dataset folder (``index.json`` + ``shard-*.tar``, from ``egogen simulate``).
        length: frames per window (60 = 2 s at 30 Hz).
        stride: frames between training windows; heldout_stride: between held-out windows.
        heldout_fraction: share of episodes held out (:func:`heldout_episodes`).
        body_model: SMPL-X body for the rest joints (None: as :func:`egogen.body.load_body_model`;
            use the body the data were simulated with).
        skip_corrupt: skip (and report) shards that are missing or fail their sha256 check
            instead of raising.
        progress: called as ``progress(shards_done, shards_total)``.
        images: image modality -> (size, frames per window) to read from the rendered frames
            (``{"rgb": (64, 2), "depth": (64, 2)}``); None or empty: no images.
        render_dirs: folders written by ``egogen render`` for this dataset (None: its
            ``render-*`` folders, :func:`egogen.models.images.render_folders`). Samples they
            lack simply have no image modality.
    Returns:
        :class:`TokenizerData` (``train`` / ``heldout`` also hold the asked image modalities as
        :class:`~egogen.models.images.ImageWindows`).
    Raises:
        TokenizerDataError: no index; a missing or corrupt shard (without ``skip_corrupt``); an
            unreadable member; a stream not at 30 Hz; no sample with a usable modality.
    """
    folder = Path(data_dir)
    if length < 2 or stride < 1 or heldout_stride < 1:
        raise ValueError("window length must be >= 2 and strides >= 1")
    try:
        shards = read_index(folder)["shards"]
    except ShardError as e:
        raise TokenizerDataError(f"{e}. Point --data at a folder written by `egogen simulate`.") from e
    rest = _RestJoints(body_model)
    missing: Counter = Counter()
    streams: dict[str, dict] = {}
    skipped = []
    fix = "Regenerate the shard (delete it and rerun `egogen simulate ... --resume` with the run's options)"
    for i, (where, samples) in enumerate(_read_shards(folder, skip_corrupt, skipped, fix)):
        for key, members in samples.items():
            streams[key] = _sample_streams(key, members, rest, missing, str(where))
        if progress:
            progress(i + 1, len(shards))
    images = dict(images or {})
    rendered, render_used = {}, {}
    if images:
        from egogen.models.images import render_folders

        dirs = render_folders(folder) if render_dirs is None else [Path(d) for d in render_dirs]
        rendered, render_used = _render_streams(dirs, set(streams), images, skip_corrupt, skipped)
    eps = sorted({episode_id(k) for k in streams})
    held = heldout_episodes(eps, heldout_fraction)
    splits = {"train": [k for k in streams if episode_id(k) not in held],
              "heldout": [k for k in streams if episode_id(k) in held]}
    out, too_short = {}, Counter()
    for split, keys in splits.items():
        st = stride if split == "train" else heldout_stride
        out[split] = {}
        for mod in MODALITIES:
            per = [(k, streams[k][mod], streams[k].get("rest_joints") if mod == "motion" else None)
                   for k in keys if mod in streams[k]]
            too_short[mod] += sum(1 for _, a, _ in per if len(a) < length)
            out[split][mod] = _windows(mod, per, length, st, [r for _, _, r in per] if mod == "motion" else None)
        for mod, (size, frames) in images.items():
            from egogen.models.images import image_windows

            per = [(k, rendered[k]) for k in keys if mod in rendered.get(k, {})]
            too_short[mod] += sum(1 for _, r in per if r["source_num_frames"] < length)
            out[split][mod] = image_windows(mod, per, length, st, frames, size)
    if not any(len(w) for sp in out.values() for w in sp.values()):
        raise TokenizerDataError(f"{folder}: no sample has a motion, camera, gaze or wrist stream of at least {length} "
                                 f"frames ({len(streams)} samples read; missing members: {dict(missing) or 'none'}). "
                                 "Simulate longer episodes (more --goals per person) or more of them.")
    text = {sp: [t for k in keys for t in streams[k].get("text", [])] for sp, keys in splits.items()}
    report = {
        "samples": len(streams), "episodes": {"train": len(eps) - len(held), "heldout": len(held)},
        "windows": {sp: {m: len(w) for m, w in d.items()} for sp, d in out.items()},
        "texts": {sp: len(t) for sp, t in text.items()},
        "missing_members": dict(sorted(missing.items())), "too_short": dict(too_short),
        "skipped_shards": skipped, "window_length": length,
    }
    if images:
        report["render_folders"] = render_used
    return TokenizerData(train=out["train"], heldout=out["heldout"], text=text,
                         episodes={"train": sorted(set(eps) - held), "heldout": sorted(held)}, report=report,
                         captions={k: v["captions"] for k, v in streams.items() if "captions" in v})
