"""Check a dataset folder against its index and the modality table (``egogen validate``).

Checks per shard: present, sha256 and sample count / keys as in ``index.json``, readable tar.
Per sample: every member of :data:`~egogen.data.schema.MEMBERS` present; npz arrays present
with the declared dtype and shape (symbols ``T``, ``B``, ``M``, ``K``, ``S`` consistent within
the sample, ``T`` = ``meta.json`` ``num_frames``); float values finite; time stamps strictly
increasing from 0, identical across members and spaced 1/fps; rotations orthonormal; camera
height 1.0-2.1 m above the floor (z = 0); gaze direction unit and, where its target is
visible, inside the image and at the pixel the direction projects to.

Rendered folders (``egogen render``, index config ``kind`` = ``render``) are checked against
:data:`~egogen.data.schema.RENDER_MEMBERS` instead: members present (``rgb.npz`` /
``normal.npz`` where ``frames.json`` lists them), dtypes and shapes (``F`` frames, ``H`` x
``W`` as in ``frames.json``), frame indices inside the 30 Hz streams and increasing, time
stamps those of the indexed frames and equal in every member, depth finite and >= 0, normals
unit or zero, instance ids in the sample's id table, semantic ids those of the instances
and background (-1) exactly where the depth is 0. :func:`render_folders` finds the
``render-*`` folders beside a dataset's shards.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egogen.data.schema import MEMBERS, RENDER_MEMBERS
from egogen.data.shards import ShardError, read_index

CAMERA_HEIGHT_M = (1.0, 2.1)
"""Plausible head-camera height above the floor, metres (children to tall adults)."""

MAX_ERRORS_LISTED = 200


@dataclass
class ValidationReport:
    """Counts and problems found by :func:`validate_dataset`.

    Attributes:
        folder: the dataset folder.
        shards, episodes, wearers, frames: counts over valid-to-read samples.
        hours: wearer-hours of 30 Hz data (frames / fps / 3600, summed over wearers).
        errors: list of ``{"shard", "key", "member", "message"}`` (first 200).
        num_errors: total number of errors.
    """

    folder: str
    shards: int = 0
    episodes: int = 0
    wearers: int = 0
    frames: int = 0
    hours: float = 0.0
    num_errors: int = 0
    errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.num_errors == 0

    def error(self, shard: str, key: str | None, member: str | None, message: str) -> None:
        """Record one problem (the first 200 are listed, all are counted)."""
        self.num_errors += 1
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append({"shard": shard, "key": key, "member": member, "message": message})

    def to_dict(self) -> dict:
        """The report as printed by ``egogen validate --json``."""
        return {"folder": self.folder, "ok": self.ok, "shards": self.shards, "episodes": self.episodes,
                "wearers": self.wearers, "frames": self.frames, "hours": round(self.hours, 6),
                "errors": self.num_errors, "error_list": self.errors}

    def summary(self) -> str:
        """A human-readable report: counts, then one line per listed error."""
        s = (f"{self.folder}: {self.shards} shards, {self.episodes} episodes, {self.wearers} wearers, "
             f"{self.frames} frames, {self.hours:.4f} h, {self.num_errors} errors")
        return s + "".join(f"\n  {e['shard']} {e['key'] or ''} {e['member'] or ''}: {e['message']}" for e in self.errors)


def _check_array(rep, shard, key, member, spec, arr, sizes: dict) -> None:
    if spec.dtype == "str":
        if arr.dtype.kind != "U":
            rep.error(shard, key, member, f"{spec.name}: dtype {arr.dtype}, expected a unicode string array")
            return
    elif arr.dtype != np.dtype(spec.dtype):
        rep.error(shard, key, member, f"{spec.name}: dtype {arr.dtype}, expected {spec.dtype}")
        return
    if arr.ndim != len(spec.shape):
        rep.error(shard, key, member, f"{spec.name}: shape {arr.shape}, expected {spec.shape}")
        return
    for dim, want in zip(arr.shape, spec.shape):
        if isinstance(want, str):
            have = sizes.setdefault(want, dim)
            if have != dim:
                rep.error(shard, key, member, f"{spec.name}: shape {arr.shape}, expected {spec.shape} with "
                          f"{want}={have}")
                return
        elif dim != want:
            rep.error(shard, key, member, f"{spec.name}: shape {arr.shape}, expected {spec.shape}")
            return
    if spec.finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).sum())
        rep.error(shard, key, member, f"{spec.name}: {bad} NaN or inf values")


def _rot_ok(T: np.ndarray, tol: float = 1e-3) -> bool:
    R = T[..., :3, :3].astype(np.float64)
    err = np.abs(R @ np.swapaxes(R, -1, -2) - np.eye(3)).max() if len(R) else 0.0
    return err < tol and (np.linalg.det(R) > 0).all() and np.allclose(T[..., 3, :], [0, 0, 0, 1], atol=1e-9)


def validate_sample(rep: ValidationReport, shard: str, key: str, members: dict[str, bytes]) -> None:
    """Check one sample's members (see module docstring); problems go to ``rep``."""
    missing = [m for m in MEMBERS if m not in members]
    for m in missing:
        rep.error(shard, key, m, "member missing")
    arrays: dict[str, dict] = {}
    meta = None
    for name, spec in MEMBERS.items():
        if name not in members:
            continue
        data = members[name]
        if spec.kind == "json":
            try:
                obj = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                rep.error(shard, key, name, f"not valid JSON ({e})")
                continue
            lost = [k for k in spec.keys if k not in obj]
            if lost:
                rep.error(shard, key, name, f"missing keys {lost}")
            if name == "meta.json":
                meta = obj
            continue
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays[name] = {k: z[k] for k in z.files}
        except Exception as e:  # zip / npy errors of a corrupted member
            rep.error(shard, key, name, f"unreadable npz ({type(e).__name__}: {e})")
    sizes: dict = {}
    if meta is not None and isinstance(meta.get("num_frames"), int):
        sizes["T"] = meta["num_frames"]
    for name, arrs in arrays.items():
        for spec in MEMBERS[name].arrays:
            if spec.name not in arrs:
                if not spec.optional:
                    rep.error(shard, key, name, f"array {spec.name} missing")
                continue
            _check_array(rep, shard, key, name, spec, arrs[spec.name], sizes)
    fps = float(meta.get("fps", 30.0)) if meta else 30.0
    # time stamps: 0, strictly increasing, 1/fps apart, equal across members
    ref = None
    for name, arrs in arrays.items():
        ts = arrs.get("timestamps_ns")
        if ts is None or ts.ndim != 1 or ts.dtype != np.int64:
            continue
        if len(ts) and (ts[0] != 0 or np.any(np.diff(ts) <= 0)):
            rep.error(shard, key, name, "timestamps_ns not strictly increasing from 0")
        elif len(ts) > 1 and np.abs(np.diff(ts) - 1e9 / fps).max() > 1e6:
            rep.error(shard, key, name, f"timestamps_ns not spaced 1/{fps:g} s")
        if ref is None:
            ref = ts
        elif len(ts) != len(ref) or np.any(ts != ref):
            rep.error(shard, key, name, "timestamps_ns differ from the other members'")
    cam = arrays.get("camera.npz", {})
    Tw = cam.get("T_world_camera")
    if Tw is not None and Tw.ndim == 3 and Tw.shape[1:] == (4, 4) and np.all(np.isfinite(Tw)):
        if not _rot_ok(Tw):
            rep.error(shard, key, "camera.npz", "T_world_camera is not a rigid transform")
        z = Tw[:, 2, 3]
        lo, hi = CAMERA_HEIGHT_M
        if len(z) and (z.min() < lo or z.max() > hi):
            rep.error(shard, key, "camera.npz", f"camera height {z.min():.2f}-{z.max():.2f} m outside the "
                      f"plausible {lo}-{hi} m above the floor")
    sens = arrays.get("sensors.npz", {})
    for k in ("T_world_head", "T_world_left_wrist", "T_world_right_wrist"):
        a = sens.get(k)
        if a is not None and a.ndim == 3 and a.shape[1:] == (4, 4) and np.all(np.isfinite(a)) and not _rot_ok(a):
            rep.error(shard, key, "sensors.npz", f"{k} is not a rigid transform")
    gz = arrays.get("gaze.npz", {})
    if gz and cam and all(k in gz for k in ("direction", "pixel", "target_visible")) and \
            all(k in cam for k in ("model", "image_size", "intrinsics")):
        _check_gaze(rep, shard, key, gz, cam)
    rep.wearers += 1
    if meta is not None:
        T = int(sizes.get("T", 0))
        rep.frames += T
        rep.hours += T / fps / 3600.0


def _check_gaze(rep, shard, key, gz, cam) -> None:
    from egogen.render.camera import CameraModel

    d, px, vis = gz["direction"], gz["pixel"], gz["target_visible"]
    if d.ndim != 2 or d.shape[1:] != (3,) or px.shape != (len(d), 2) or vis.shape != (len(d),):
        return  # shape errors are reported already
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(px))):
        return
    n = np.linalg.norm(d, axis=1)
    if len(n) and np.abs(n - 1).max() > 1e-3:
        rep.error(shard, key, "gaze.npz", f"direction not unit (|d| in {n.min():.3f}-{n.max():.3f})")
        return
    try:
        w, h = (int(v) for v in cam["image_size"])
        i = cam["intrinsics"]
        model = CameraModel(str(cam["model"]), w, h, *(float(v) for v in i[:4]), tuple(float(v) for v in i[4:8]))
    except (ValueError, TypeError) as e:
        rep.error(shard, key, "camera.npz", f"invalid intrinsics ({e})")
        return
    sel = np.asarray(vis, bool)
    if not sel.any():
        return
    uv, ok = model.project(d[sel].astype(np.float64))
    inside = ok & (uv[:, 0] >= -0.5) & (uv[:, 0] <= w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= h - 0.5)
    if not inside.all():
        rep.error(shard, key, "gaze.npz", f"{int((~inside).sum())} frames with a visible target have gaze "
                  "outside the field of view")
    off = np.linalg.norm(uv - px[sel], axis=1)
    if off.max() > 1.0:
        rep.error(shard, key, "gaze.npz", f"pixel differs from the projected direction by up to {off.max():.1f} px")


def _load_npz(rep, shard, key, name, data) -> dict | None:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # zip / npy errors of a corrupted member
        rep.error(shard, key, name, f"unreadable npz ({type(e).__name__}: {e})")
        return None


def validate_render_sample(rep: ValidationReport, shard: str, key: str, members: dict[str, bytes]) -> None:
    """Check one rendered sample (see the module docstring); problems go to ``rep``."""
    from egogen.render.labels import BACKGROUND, semantic_id

    try:
        fr = json.loads(members["frames.json"])
    except KeyError:
        rep.error(shard, key, "frames.json", "member missing")
        return
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        rep.error(shard, key, "frames.json", f"not valid JSON ({e})")
        return
    lost = [k for k in RENDER_MEMBERS["frames.json"].keys if k not in fr]
    if lost:
        rep.error(shard, key, "frames.json", f"missing keys {lost}")
        return
    idx = np.asarray(fr["frame_index"], dtype=np.int64)
    ts = np.asarray(fr["timestamps_ns"], dtype=np.int64)
    if not len(idx) or idx.shape != ts.shape:
        rep.error(shard, key, "frames.json", f"{len(idx)} frame indices and {len(ts)} time stamps")
        return
    if idx[0] < 0 or idx[-1] >= fr["source_num_frames"] or np.any(np.diff(idx) <= 0):
        rep.error(shard, key, "frames.json", f"frame_index not increasing inside 0..{fr['source_num_frames'] - 1}")
    want = np.round(idx * (1e9 / float(fr["source_fps"]))).astype(np.int64)
    if np.abs(ts - want).max() > 1:
        rep.error(shard, key, "frames.json", "timestamps_ns are not those of the frames in frame_index")
    sizes = {"F": len(idx), "H": int(fr["height"]), "W": int(fr["width"])}
    arrays: dict[str, dict] = {}
    for name, spec in RENDER_MEMBERS.items():
        if spec.kind != "npz":
            continue
        if name not in members:
            if not spec.optional or name.split(".")[0] in fr["outputs"]:
                rep.error(shard, key, name, "member missing")
            continue
        arrs = _load_npz(rep, shard, key, name, members[name])
        if arrs is None:
            continue
        arrays[name] = arrs
        for a in spec.arrays:
            if a.name not in arrs:
                rep.error(shard, key, name, f"array {a.name} missing")
                continue
            n = rep.num_errors
            _check_array(rep, shard, key, name, a, arrs[a.name], sizes)
            if rep.num_errors > n:
                arrs.pop(a.name)  # checked no further
        t = arrs.get("timestamps_ns")
        if t is not None and not np.array_equal(t, ts):
            rep.error(shard, key, name, "timestamps_ns differ from frames.json")
    depth = arrays.get("depth.npz", {}).get("depth")
    if depth is not None and np.any(depth < 0):
        rep.error(shard, key, "depth.npz", f"depth: {int((depth < 0).sum())} negative values")
    normal = arrays.get("normal.npz", {}).get("normal")
    if normal is not None:
        n = np.linalg.norm(normal.astype(np.float32), axis=-1)
        if np.any((n > 0.02) & (np.abs(n - 1) > 0.02)):
            rep.error(shard, key, "normal.npz", "normal: vectors neither unit length nor zero")
    seg = arrays.get("seg.npz", {})
    inst, sem = seg.get("instance"), seg.get("semantic")
    if inst is not None:
        table = {int(k): v for k, v in fr["instances"].items()}
        ids = np.unique(inst)
        unknown = [int(i) for i in ids if i != BACKGROUND and int(i) not in table]
        if unknown:
            rep.error(shard, key, "seg.npz", f"instance ids {unknown[:5]} are not in frames.json instances")
        elif sem is not None:
            labels = list(fr["semantic_labels"])
            want_sem = np.full(len(ids), BACKGROUND, np.int64)
            for j, i in enumerate(ids):
                if i != BACKGROUND:
                    want_sem[j] = semantic_id(table[int(i)])
            expected = want_sem[np.searchsorted(ids, inst)]
            if sem.min(initial=0) < BACKGROUND or sem.max(initial=0) >= len(labels):
                rep.error(shard, key, "seg.npz", f"semantic ids outside -1..{len(labels) - 1}")
            elif np.any(sem != expected):
                rep.error(shard, key, "seg.npz", f"semantic ids differ from their instances' labels at "
                          f"{int((sem != expected).sum())} pixels")
        if depth is not None and depth.shape == inst.shape and np.any((depth == 0) != (inst == BACKGROUND)):
            rep.error(shard, key, "seg.npz", f"background (-1) and zero depth disagree at "
                      f"{int(((depth == 0) != (inst == BACKGROUND)).sum())} pixels")
    rep.wearers += 1
    rep.frames += len(idx)
    rep.hours += len(idx) / float(fr["fps"]) / 3600.0


def render_folders(folder) -> list[Path]:
    """The rendered folders beside a dataset's shards: ``folder/render-*`` with an index."""
    return sorted(p for p in Path(folder).glob("render-*") if (p / "index.json").is_file())


def validate_dataset(folder) -> ValidationReport:
    """Validate every shard and sample of a dataset folder (see the module docstring).

    Args:
        folder: folder with ``index.json`` and ``shard-*.tar`` (simulated samples, or
            rendered ones: the index config's ``kind`` is ``render``).
    Returns:
        :class:`ValidationReport` (``ok`` is False when any error was found). A missing or
        corrupt index is reported as an error, not raised.
    """
    folder = Path(folder)
    rep = ValidationReport(str(folder))
    try:
        index = read_index(folder)
    except ShardError as e:
        rep.error("index.json", None, None, str(e))
        return rep
    rendered = index.get("config", {}).get("kind") == "render"
    check, meta_member = (validate_render_sample, "frames.json") if rendered else (validate_sample, "meta.json")
    episodes = set()
    for s in index["shards"]:
        name = s["name"]
        rep.shards += 1
        path = folder / name
        if not path.is_file():
            rep.error(name, None, None, "shard listed in index.json is missing")
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != s["sha256"]:
            rep.error(name, None, None, "sha256 differs from index.json (corrupted or modified shard)")
        samples: dict[str, dict[str, bytes]] = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for m in tar.getmembers():
                    k, _, member = m.name.partition(".")
                    samples.setdefault(k, {})[member] = tar.extractfile(m).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            rep.error(name, None, None, f"not a readable tar ({e})")
            continue
        if list(samples) != list(s.get("keys", samples)) or len(samples) != s["count"]:
            rep.error(name, None, None, f"holds {len(samples)} samples {list(samples)[:3]}..., index says "
                      f"{s['count']} {s.get('keys', [])[:3]}...")
        for key, members in samples.items():
            check(rep, name, key, members)
            try:
                meta = json.loads(members.get(meta_member, b"{}"))
                episodes.add((meta.get("scene"), meta.get("episode")))
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass
    rep.episodes = len(episodes)
    return rep
