"""Primitive dataset: mocap clips -> default-body SSM2 markers at 30 Hz -> canonical windows.

Pipeline per clip (EgoGen "Motion primitives", adapted to 30 Hz): BVH -> retarget onto the
body for each sampled shape (betas augmentation: the body's own rest joints and sole, so feet
stay on the floor for every shape) -> 30 Hz (slerp) -> original and left-right mirrored copy
-> SMPL-X forward (:class:`egogen.motion.markers.MarkerBody`) -> world markers and joints.
Primitives (2 + 13 frames) are cut at run time and expressed in the canonical frame of their
first frame. Train / held-out split is by clip (all copies of a clip on one side).
The frames are cached to disk under :func:`cache_dir` (never in the repository).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from egogen.body.skeleton import PARENTS
from egogen.motion.augment import mirror_smplx, split_clips
from egogen.motion.canonical import canonical_frame, primitive_windows, HISTORY_FRAMES, FUTURE_FRAMES
from egogen.motion.markers import MarkerBody
from egogen.motion.resample import resample_positions, resample_rotvecs
from egogen.rotations import aa_to_mat

__all__ = ["MotionDataset", "build_dataset", "load_or_build", "cache_dir", "EXCLUDED_CLIPS",
           "DatasetConfig"]

CACHE_VERSION = 1
EXCLUDED_CLIPS = {
    "003_01": "walk on uneven terrain: climbs steps, one floor shift per clip leaves feet floating",
    "003_02": "walk on uneven terrain: climbs steps, one floor shift per clip leaves feet floating",
}
"""Clips left out of the primitive dataset, with the reason."""


@dataclass(frozen=True)
class DatasetConfig:
    """Augmentation and split settings (part of the cache key).

    Attributes:
        num_shapes: extra random body shapes per clip (betas ~ N(0, beta_std^2 I)), besides
            the default shape (betas = 0).
        beta_std: standard deviation of sampled betas (the default body's betas are unit-
            variance PCA coefficients of 600 adult and child Anny phenotypes).
        mirror: add the left-right mirrored copy of every sequence.
        held_out_fraction, split_seed: see :func:`egogen.motion.augment.split_clips`.
        seed: seed of the betas sampling.
    """

    num_shapes: int = 3
    beta_std: float = 0.5
    mirror: bool = True
    held_out_fraction: float = 0.2
    split_seed: int = 0
    seed: int = 0


@dataclass
class MotionDataset:
    """World-frame frames of all sequences (one sequence = clip x shape x mirror), 30 Hz.

    Attributes:
        markers: (F, M, 3) float32 SSM2 markers, world (Z up, floor z = 0), metres.
        joints: (F, 22, 3) float32 SMPL-X body joints, world, metres.
        global_orient: (F, 3) float32 axis-angle (body canonical Y-up -> world).
        body_pose: (F, 63) float32 axis-angle; transl: (F, 3) float32 metres.
        betas: (S, NB) float32 per sequence; rest_pelvis: (S, 3) float32 per sequence.
        seq_start: (S + 1,) int64 frame offsets; seq_clip: (S,) clip names;
        seq_mirror: (S,) bool; held_out: names of held-out clips.
    """

    markers: np.ndarray
    joints: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    rest_pelvis: np.ndarray
    seq_start: np.ndarray
    seq_clip: list[str]
    seq_mirror: np.ndarray
    held_out: list[str]
    report: dict = field(default_factory=dict)

    @property
    def clips(self) -> list[str]:
        return sorted(set(self.seq_clip))

    def sequences(self, split: str) -> np.ndarray:
        """Sequence ids of ``split``: ``train``, ``held_out`` or ``all``."""
        if split not in ("train", "held_out", "all"):
            raise ValueError(f"split must be train, held_out or all, got {split!r}")
        ho = np.array([c in self.held_out for c in self.seq_clip])
        keep = np.ones_like(ho) if split == "all" else (ho if split == "held_out" else ~ho)
        return np.flatnonzero(keep)

    def windows(self, split: str, stride: int = 2, length: int = HISTORY_FRAMES + FUTURE_FRAMES,
                mirror: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Primitive windows of a split.

        Returns:
            frames (N, length) int64 global frame ids; seq (N,) int64 sequence ids.
        """
        fr, sq = [], []
        for s in self.sequences(split):
            if not mirror and self.seq_mirror[s]:
                continue
            a, b = self.seq_start[s], self.seq_start[s + 1]
            w = primitive_windows(int(b - a), HISTORY_FRAMES, length - HISTORY_FRAMES, stride)
            fr.append(w + a)
            sq.append(np.full(len(w), s))
        if not fr:
            return np.zeros((0, length), np.int64), np.zeros(0, np.int64)
        return np.concatenate(fr).astype(np.int64), np.concatenate(sq).astype(np.int64)

    def canonical_windows(self, frames: np.ndarray, seq: np.ndarray) -> dict[str, torch.Tensor]:
        """Windows in their canonical frames (EgoGen: built on the window's first frame).

        Args:
            frames: (N, L) global frame ids; seq: (N,) sequence ids.
        Returns:
            dict of float32 tensors: ``markers`` (N, L, M, 3), ``joints`` (N, L, 22, 3)
            canonical (z up, origin = first-frame pelvis on the floor, +y forward);
            ``global_orient_mat`` (N, L, 3, 3) canonical; ``body_pose`` (N, L, 63);
            ``transl`` (N, L, 3) canonical SMPL-X transl; ``betas`` (N, NB);
            ``R`` (N, 3, 3) world-from-canonical; ``origin`` (N, 3).
        """
        R, o = canonical_frame(self.joints[frames[:, 0]].astype(np.float64))
        R32, o32 = torch.as_tensor(R, dtype=torch.float32), torch.as_tensor(o, dtype=torch.float32)

        def canon(p):
            p = torch.as_tensor(p)
            return torch.einsum("nji,nt...j->nt...i", R32, p - o32[:, None, None])

        G = torch.as_tensor(aa_to_mat(self.global_orient[frames].astype(np.float64)), dtype=torch.float32)
        rp = torch.as_tensor(self.rest_pelvis[seq])
        pel = torch.as_tensor(self.transl[frames]) + rp[:, None]
        return {
            "markers": canon(self.markers[frames]),
            "joints": canon(self.joints[frames]),
            "global_orient_mat": torch.einsum("nji,ntjk->ntik", R32, G),
            "body_pose": torch.as_tensor(self.body_pose[frames]),
            "transl": torch.einsum("nji,ntj->nti", R32, pel - o32[:, None]) - rp[:, None],
            "betas": torch.as_tensor(self.betas[seq]),
            "R": R32, "origin": o32,
        }

    def save(self, path: Path) -> None:
        """Write to ``path`` (.npz) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, markers=self.markers, joints=self.joints, global_orient=self.global_orient,
                 body_pose=self.body_pose, transl=self.transl, betas=self.betas,
                 rest_pelvis=self.rest_pelvis, seq_start=self.seq_start,
                 seq_clip=np.array(self.seq_clip), seq_mirror=self.seq_mirror,
                 held_out=np.array(self.held_out, dtype=str), report=json.dumps(self.report))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "MotionDataset":
        """Read a dataset written by :meth:`save`.

        Raises:
            OSError, KeyError, ValueError: a missing, truncated or foreign file
                (:func:`load_or_build` rebuilds it then).
        """
        d = np.load(path, allow_pickle=False)
        return cls(markers=d["markers"], joints=d["joints"], global_orient=d["global_orient"],
                   body_pose=d["body_pose"], transl=d["transl"], betas=d["betas"],
                   rest_pelvis=d["rest_pelvis"], seq_start=d["seq_start"],
                   seq_clip=[str(c) for c in d["seq_clip"]], seq_mirror=d["seq_mirror"],
                   held_out=[str(c) for c in d["held_out"]], report=json.loads(str(d["report"])))


def cache_dir() -> Path:
    """``$EGOGEN_CACHE/motion`` or ``~/.cache/egogen/motion`` (user cache, never the repo)."""
    root = os.environ.get("EGOGEN_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "egogen") / "motion"


def _source_files(bvh_dirs, amass_dirs) -> list[tuple[str, Path]]:
    from egogen.motion.mocap import list_bvh

    out = []
    for d in bvh_dirs or []:
        out += [("bvh", p) for p in list_bvh(d) if p.stem not in EXCLUDED_CLIPS]
    for d in amass_dirs or []:
        files = sorted(Path(d).rglob("*.npz"))
        if not files:
            raise FileNotFoundError(f"no AMASS .npz files under {d}")
        out += [("amass", p) for p in files]
    names = [p.stem for _, p in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"clip names must be unique (they key the train/held-out split): {sorted(dup)}")
    return out


def _key(files, body_path: Path, cfg: DatasetConfig) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION}:{cfg}".encode())
    for kind, p in files:
        st = p.stat()
        h.update(f"{kind}:{p.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode())
    h.update(hashlib.sha1(Path(body_path).read_bytes()).digest())
    return h.hexdigest()[:16]


def _clip_params(kind: str, path: Path, rest: np.ndarray, rest_verts: np.ndarray):
    """(global_orient, body_pose, transl) at 30 Hz on the body with ``betas``, feet on z = 0."""
    if kind == "bvh":
        from egogen.motion.mocap import load_bvh
        from egogen.motion.retarget import retarget

        clip = load_bvh(path)
        res = retarget(clip.joints, rest, np.asarray(PARENTS), clip.fps, rotations=clip.rotations,
                       rest_vertices=rest_verts)
        fps, go, bp, tr = clip.fps, res.global_orient, res.body_pose, res.transl
        shift = 0.0
    else:
        from egogen.motion.amass import read_amass

        m = read_amass(path)
        fps, go, bp, tr = m.fps, m.global_orient, m.body_pose, m.transl
        shift = None  # floor found from the markers below
    T = go.shape[0]
    go30 = resample_rotvecs(go, fps)
    bp30 = resample_rotvecs(bp.reshape(T, 21, 3), fps).reshape(-1, 63)
    tr30 = resample_positions(tr, fps)
    return go30, bp30, tr30, shift


def _pose(mb: MarkerBody, betas: np.ndarray, go, bp, tr, chunk: int = 4096):
    T = go.shape[0]
    R = aa_to_mat(np.concatenate([go[:, None], bp.reshape(T, 21, 3)], axis=1))
    mk, jt = [], []
    with torch.no_grad():
        for a in range(0, T, chunk):
            b = min(a + chunk, T)
            m, j = mb(torch.as_tensor(np.repeat(betas[None], b - a, 0), dtype=torch.float32),
                      torch.as_tensor(R[a:b], dtype=torch.float32),
                      torch.as_tensor(tr[a:b], dtype=torch.float32))
            mk.append(m.numpy())
            jt.append(j.numpy())
    return np.concatenate(mk), np.concatenate(jt)


def build_dataset(bvh_dirs: list[Path], body, cfg: DatasetConfig = DatasetConfig(),
                  amass_dirs: Optional[list[Path]] = None,
                  progress: Optional[Callable[[str], None]] = None) -> MotionDataset:
    """Retarget, augment and pose every clip (see the module docstring).

    Args:
        bvh_dirs: folders searched recursively for ``.bvh`` (CMU schemes of
            :mod:`egogen.motion.skeletons`); clips in :data:`EXCLUDED_CLIPS` are skipped.
        body: :class:`egogen.body.BodyModel` (the default body or a user's SMPL-X).
        cfg: augmentation / split settings.
        amass_dirs: folders of AMASS-style SMPL-X ``.npz``; their rotations are applied to
            ``body`` as they are and the clip is shifted so its lowest marker touches z = 0.
        progress: called with each clip name as it is processed.
    Returns:
        :class:`MotionDataset`.
    Raises:
        FileNotFoundError: no clips; ValueError: duplicate clip names.
    """
    files = _source_files(bvh_dirs, amass_dirs)
    if not files:
        raise FileNotFoundError("no mocap clips given (--bvh-dir / --amass-dir)")
    mb = MarkerBody(body)
    names = [p.stem for _, p in files]
    train, held = split_clips(names, cfg.held_out_fraction, cfg.split_seed)
    out = {k: [] for k in ("markers", "joints", "global_orient", "body_pose", "transl")}
    betas_l, pel_l, clip_l, mir_l, starts = [], [], [], [], [0]
    for kind, path in files:
        if progress:
            progress(path.stem)
        seed = int(hashlib.sha1(f"{cfg.seed}:{path.stem}".encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        shapes = [np.zeros(mb.num_betas)] + [rng.normal(0, cfg.beta_std, mb.num_betas)
                                             for _ in range(cfg.num_shapes)]
        for betas in shapes:
            bt = torch.as_tensor(betas[None], dtype=torch.float32)
            with torch.no_grad():
                rest = mb.rest_joints(bt)[0].double().numpy()
                rverts = mb.rest_vertices(bt)[0].double().numpy()
            go, bp, tr, shift = _clip_params(kind, path, rest, rverts)
            variants = [(go, bp, tr, False)]
            if cfg.mirror:
                variants.append((*mirror_smplx(go, bp, tr, rest[0]), True))
            for g, b, t, mirrored in variants:
                t = t.copy()
                mk, jt = _pose(mb, betas, g, b, t)
                if shift is None or mirrored:
                    # AMASS: floor at the lowest marker; mirrored: keep the sole on the floor
                    dz = mk[..., 2].min() - (0.0 if shift is None else
                                               float(out["markers"][-1][..., 2].min()))
                    mk[..., 2] -= dz
                    jt[..., 2] -= dz
                    t[:, 2] -= dz
                for k, v in zip(out, (mk, jt, g, b, t)):
                    out[k].append(np.asarray(v, dtype=np.float32))
                betas_l.append(betas.astype(np.float32))
                pel_l.append(rest[0].astype(np.float32))
                clip_l.append(path.stem)
                mir_l.append(mirrored)
                starts.append(starts[-1] + g.shape[0])
    return MotionDataset(**{k: np.concatenate(v) for k, v in out.items()},
                         betas=np.stack(betas_l), rest_pelvis=np.stack(pel_l),
                         seq_start=np.asarray(starts, np.int64), seq_clip=clip_l,
                         seq_mirror=np.asarray(mir_l), held_out=held,
                         report={"clips": names, "train": train, "held_out": held,
                                 "excluded": EXCLUDED_CLIPS, "config": cfg.__dict__})


def load_or_build(bvh_dirs: list[Path], body, cfg: DatasetConfig = DatasetConfig(),
                  amass_dirs: Optional[list[Path]] = None, cache: Optional[Path] = None,
                  progress: Optional[Callable[[str], None]] = None) -> tuple[MotionDataset, Path]:
    """:func:`build_dataset` through a disk cache keyed by the source files, body and config.

    Returns:
        (dataset, cache file path). A corrupt cache file is rebuilt.
    """
    files = _source_files(bvh_dirs, amass_dirs)
    path = (cache or cache_dir()) / f"primitives-{_key(files, body.path, cfg)}.npz"
    if path.is_file():
        try:
            return MotionDataset.load(path), path
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt
            path.unlink()
    ds = build_dataset(bvh_dirs, body, cfg, amass_dirs, progress)
    ds.save(path)
    return ds, path
