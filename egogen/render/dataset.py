"""Render the samples of a simulated dataset into sibling shards (``egogen render DIR``).

A sample of ``DIR`` (one wearer of one episode, written by ``egogen simulate``) holds the
wearer's SMPL-X body, the other people of the episode (``others.npz``) and the head camera
(``camera.npz``: ``T_world_camera`` at 30 Hz, intrinsics, rig). For each sample this module

- loads the sample's scene once per scene spec (``meta.json`` ``scene`` -> ``load_scene``),
- picks the frames to render: rendered frame k is the 30 Hz frame nearest to k / fps (ties
  go to the later frame), for every k with k / fps at most the time of the last 30 Hz frame
  (:func:`frame_indices`),
- poses every person at those frames with the body model (the wearer without the head,
  :func:`egogen.render.bodies.wearer_faces`, so the camera inside the head sees the
  wearer's torso, arms and legs; person k = the episode's person id, instance id
  ``person_id_base(scene) + k``; looks from :func:`random_appearance` seeded by the episode
  seed + k, so every wearer of an episode sees the same people),
- puts the camera at the sample's ``T_world_camera`` with the sample's intrinsics (or those
  of ``RenderConfig.rig``: the pose, mount offset included, stays the sample's) scaled to
  ``resolution`` pixels wide, and renders each frame with the engine
  (:func:`egogen.render.engines.make_renderer`).

Output: shards written with :class:`~egogen.data.shards.ShardWriter` (default folder
``DIR/render-<engine>``) holding the same sample keys, in DIR's index order, with the
members of :data:`egogen.data.schema.RENDER_MEMBERS` (``frames.json``, ``depth.npz``,
``seg.npz``, plus ``rgb.npz`` / ``normal.npz`` for the engines that make them) and their own
``index.json`` (``config``: engine, resolution, fps, rig, samples, the sha256 of DIR's
configuration). Re-running continues where a run stopped: samples in complete shards are
skipped and a short last shard (a ``limit`` run) is reopened and filled, so the shards are
the same bytes as one uninterrupted run. A source shard that is missing, unreadable or
differs from DIR's index is reported and skipped as a whole (none of its samples is
rendered); once repaired, a later run renders its samples after the others.

Determinism: the output depends on DIR and the config only, never on the number of
workers (samples are rendered in worker processes and written in index order). raycast,
pyrender and workbench give the same bytes on every run; Cycles uses a fixed sampling seed,
so it repeats on the same machine and device (CPU vs GPU, or another Blender build, may
differ in the last bits of the colour).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from egogen.render.engines import ENGINE_NAMES

SOURCE_FPS = 30.0
"""Rate of the simulated streams (egogen.sim.episode.FPS)."""

PINHOLE_ONLY = ("pyrender", "workbench")
"""Engines that draw pinhole cameras only (rasterisers)."""

BLENDER_HINT = "pip install 'egogen[render]' (Blender as a Python module, bpy 5.0.1, needs Python 3.11)"

_CHUNK = 32  # frames posed per body-model call (bounds memory for long episodes)


@dataclass
class RenderConfig:
    """Options of a render run (stored in the output index; a re-run must use the same).

    Attributes:
        engine: ``cycles``, ``workbench``, ``pyrender`` or ``raycast`` (docs/render.md).
        resolution: image width in pixels (height from the rig's aspect ratio).
        fps: rendered frames per second of episode time (at most 30).
        rig: rig preset name or JSON file whose intrinsics replace the sample's; None = the
            rig stored with each sample.
        samples: Cycles samples per pixel (None: 8); other engines take none.
        samples_per_shard: rendered samples per output shard.
    """

    engine: str = "cycles"
    resolution: int = 256
    fps: float = 8.0
    rig: Optional[str] = None
    samples: Optional[int] = None
    samples_per_shard: int = 4


def frame_indices(num_frames: int, fps: float, source_fps: float = SOURCE_FPS) -> np.ndarray:
    """30 Hz frames to render at ``fps``.

    Args:
        num_frames: frames of the 30 Hz streams (T >= 1).
        fps: render rate, 0 < fps <= source_fps.
        source_fps: rate of the streams.
    Returns:
        (F,) int64 strictly increasing frame indices: frame k is the source frame nearest to
        time k / fps (ties to the later frame), for every k with k / fps <= (T - 1) /
        source_fps; F = floor((T - 1) fps / source_fps) + 1.
    Raises:
        ValueError: fps out of range or no frames.
    """
    if not 0 < fps <= source_fps:
        raise ValueError(f"the render rate must be above 0 and at most the streams' {source_fps:g} Hz, got {fps:g}")
    if num_frames < 1:
        raise ValueError("the sample has no frames")
    n = int(np.floor((num_frames - 1) * fps / source_fps + 1e-9)) + 1
    idx = np.floor(np.arange(n) * (source_fps / fps) + 0.5 + 1e-9).astype(np.int64)
    return np.minimum(idx, num_frames - 1)


def engine_install_error(engine: str, cause: object = None) -> ImportError:
    """The ImportError for an engine whose packages are missing: what to install, and
    which engines work without them."""
    why = f" ({cause})" if cause else ""
    if engine in ("cycles", "workbench"):
        return ImportError(f"--engine {engine} needs Blender as a Python module{why}: {BLENDER_HINT}. "
                           "Without Blender, render with --engine pyrender (rgb, depth, segmentation; pinhole "
                           "rigs) or --engine raycast (depth, normals, segmentation; no rgb; any rig).")
    from egogen.render.pyrender_engine import INSTALL_HINT

    return ImportError(f"--engine {engine} needs pyrender and a headless OpenGL{why}: {INSTALL_HINT}. "
                       "Or render with --engine raycast (no extra packages).")


def check_engine(engine: str) -> None:
    """Fail early (in the main process, without importing Blender) if the engine cannot run.

    Raises:
        ValueError: unknown engine.
        ImportError: its packages are missing (:func:`engine_install_error`).
    """
    if engine not in ENGINE_NAMES:
        raise ValueError(f"unknown render engine {engine!r}; use one of {', '.join(ENGINE_NAMES)}")
    needs = {"cycles": ("bpy", "OpenEXR"), "workbench": ("bpy", "OpenEXR"), "pyrender": ("pyrender",)}
    missing = [m for m in needs.get(engine, ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise engine_install_error(engine, f"{', '.join(missing)} not installed")


def check_camera(engine: str, camera_model: str, rig: str) -> None:
    """Raise ValueError if ``engine`` cannot draw the rig's camera model (rasterisers draw
    pinhole cameras only); the message names the engines and rigs that work."""
    if engine in PINHOLE_ONLY and camera_model != "pinhole":
        raise ValueError(f"--engine {engine} draws pinhole cameras only, and the rig {rig!r} is a {camera_model}: "
                         "render with --engine raycast or cycles, or pass --rig pinhole (or hololens2) for a "
                         "pinhole camera at the same pose")


@contextlib.contextmanager
def _quiet_stdout(on: bool):
    """Send the process's stdout (file descriptor 1) to /dev/null while Blender renders: it
    prints a "Saved: <exr>" line per pass, which would bury the progress display."""
    if not on:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class SampleRenderer:
    """Renders one sample's frames (see the module docstring); holds the engine, the loaded
    scenes and body models of one process.

    Args:
        cfg: the run's options.
        threads: CPU threads of the Cycles engine (0 = all).
    """

    def __init__(self, cfg: RenderConfig, threads: int = 0):
        self.cfg = cfg
        self.threads = int(threads)
        self._engine = None
        self._scenes: dict = {}
        self._bodies: dict = {}
        self._rig = None
        if cfg.rig is not None:
            from egogen.render.camera import load_rig

            self._rig = load_rig(cfg.rig)

    def engine(self):
        """The render engine (created on first use, in the process that renders).

        Raises:
            ImportError: its packages are missing (the message says what to install).
        """
        if self._engine is None:
            from egogen.render.engines import make_renderer

            opts = {"samples": self.cfg.samples or 8, "threads": self.threads} if self.cfg.engine == "cycles" else {}
            try:
                self._engine = make_renderer(self.cfg.engine, **opts)
            except ImportError as e:
                raise engine_install_error(self.cfg.engine, e) from e
            import multiprocessing as mp

            if mp.parent_process() is not None:  # a worker: release the engine when it exits
                from multiprocessing.util import Finalize

                Finalize(self, self.close, exitpriority=10)
        return self._engine

    def scene(self, spec: str):
        """The :class:`~egogen.scene.model.Scene` of a scene spec (loaded once)."""
        if spec not in self._scenes:
            from egogen.scene import load_scene

            self._scenes[spec] = load_scene(spec).scene
        return self._scenes[spec]

    def body(self, gender: str, num_betas: int):
        """The body model for a gender and number of betas (loaded once)."""
        key = (gender, int(num_betas))
        if key not in self._bodies:
            from egogen.body import load_body_model
            from egogen.render.bodies import wearer_faces

            b = load_body_model(gender=gender, num_betas=int(num_betas))
            self._bodies[key] = (b, wearer_faces(b))
        return self._bodies[key]

    def camera(self, cam: dict):
        """(CameraModel scaled to the resolution, rig name) of a sample's ``camera.npz``."""
        from egogen.render.camera import CameraModel

        if self._rig is not None:
            model, rig = self._rig.camera, self._rig.name
        else:
            w, h = (int(v) for v in cam["image_size"])
            i = [float(v) for v in cam["intrinsics"]]
            model, rig = CameraModel(str(cam["model"]), w, h, *i[:4], tuple(i[4:8])), str(cam["rig"])
        if model.width != self.cfg.resolution:
            model = model.scaled(self.cfg.resolution)
        return model, rig

    def render(self, members: dict[str, bytes], max_frames: Optional[int] = None,
               on_frame: Optional[Callable[[], None]] = None) -> tuple[dict[str, bytes], int]:
        """Render one sample.

        Args:
            members: the sample's members (bytes) as read from DIR's shards.
            max_frames: render only the first frames (benchmarks).
            on_frame: called after each rendered frame (progress).
        Returns:
            (the rendered sample's members as bytes, number of frames).
        Raises:
            ValueError: a member is missing, or the camera is a fisheye and the engine draws
                pinhole cameras only.
        """
        import torch

        from egogen.data.samples import decode_sample
        from egogen.npz import npz_bytes
        from egogen.render.bodies import random_appearance
        from egogen.render.frame import BodyMesh, Frame
        from egogen.render.labels import SEMANTIC_LABELS, person_id_base

        need = ("meta.json", "camera.npz", "motion.npz", "others.npz")
        lost = [m for m in need if m not in members]
        if lost:
            raise ValueError(f"sample lacks {', '.join(lost)}: not a sample written by egogen simulate")
        s = decode_sample({m: members[m] for m in need})
        meta, cam, mot, oth = (s[m] for m in need)
        camera, rig = self.camera(cam)
        cfg = self.cfg
        check_camera(cfg.engine, camera.model, rig)
        scene = self.scene(meta["scene"])
        T_wc = cam["T_world_camera"]
        src_fps = float(meta.get("fps", SOURCE_FPS))
        idx = frame_indices(len(T_wc), cfg.fps, src_fps)
        if max_frames is not None:
            idx = idx[:max_frames]
        seed = int(meta["seed"])
        keys = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "transl")
        people = [(int(meta["person_id"]), str(mot["gender"]), mot["betas"], {k: mot[k] for k in keys}, True)]
        for j, pid in enumerate(oth["person_id"]):
            people.append((int(pid), str(oth["gender"][j]), oth["betas"][j], {k: oth[k][j] for k in keys}, False))
        looks = []
        for pid, gender, betas, _, wearer in people:
            body, head_less = self.body(gender, len(betas))
            looks.append((body, head_less if wearer else body.faces, random_appearance(body, seed + pid)))
        engine = self.engine()
        quiet = cfg.engine in ("cycles", "workbench")
        streams: dict[str, list] = {}
        for a in range(0, len(idx), _CHUNK):
            fr = idx[a:a + _CHUNK]
            verts = []
            for (pid, _, betas, params, _), (body, _, _) in zip(people, looks):
                t = {k: torch.as_tensor(np.ascontiguousarray(v[fr]), dtype=torch.float32) for k, v in params.items()}
                t["betas"] = torch.as_tensor(np.repeat(np.asarray(betas, np.float32)[None], len(fr), 0))
                with torch.no_grad():
                    verts.append(body(**t).vertices.numpy().astype(np.float64))
            for i, f in enumerate(fr):
                bodies = [BodyMesh(v[i], faces, pid, app) for v, (pid, *_), (_, faces, app) in zip(verts, people, looks)]
                with _quiet_stdout(quiet):
                    out = engine.render(Frame(scene, camera, T_wc[f], bodies, seed))
                for k, v in out.items():
                    streams.setdefault(k, []).append(v)
                if on_frame is not None:
                    on_frame()
        ts = np.asarray(cam["timestamps_ns"], np.int64)[idx]
        base = person_id_base(scene)
        instances = {str(o.instance_id): o.label for o in scene.objects}
        instances.update({str(base + p[0]): "person" for p in people})
        frames = {"engine": cfg.engine, "fps": float(cfg.fps), "source_fps": src_fps, "source_num_frames": len(T_wc),
                  "frame_index": [int(v) for v in idx], "timestamps_ns": [int(v) for v in ts],
                  "width": camera.width, "height": camera.height, "camera": camera.to_dict(), "rig": rig,
                  "outputs": sorted(streams), "samples": (cfg.samples or 8) if cfg.engine == "cycles" else None,
                  "scene": meta["scene"], "episode": meta["episode"], "wearer": meta["wearer"],
                  "person_id": meta["person_id"], "person_instance_ids": {str(p[0]): base + p[0] for p in people},
                  "instances": instances, "semantic_labels": list(SEMANTIC_LABELS)}
        res = {"frames.json": (json.dumps(frames, sort_keys=True, indent=1) + "\n").encode()}
        if "rgb" in streams:
            res["rgb.npz"] = npz_bytes({"timestamps_ns": ts, "rgb": np.stack(streams["rgb"]).astype(np.uint8)})
        res["depth.npz"] = npz_bytes({"timestamps_ns": ts, "depth": np.stack(streams["depth"]).astype(np.float16)})
        if "normal" in streams:
            res["normal.npz"] = npz_bytes({"timestamps_ns": ts, "normal": np.stack(streams["normal"]).astype(np.float16)})
        res["seg.npz"] = npz_bytes({"timestamps_ns": ts, "instance": np.stack(streams["instance"]).astype(np.int32),
                                    "semantic": np.stack(streams["semantic"]).astype(np.int16)})
        return res, len(idx)

    def close(self) -> None:
        """Release the engine."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def index_config(cfg: RenderConfig, source_index: dict) -> dict:
    """The configuration stored in the output's ``index.json``: the options, egogen's
    version and the sha256 of the source dataset's configuration."""
    from egogen import __version__

    src = json.dumps(source_index.get("config", {}), sort_keys=True).encode()
    return {"kind": "render", **asdict(cfg), "egogen_version": __version__,
            "source_config_sha256": hashlib.sha256(src).hexdigest()}


def _source_samples(folder: Path, index: dict, wanted: set, skipped: list) -> Iterator[tuple[str, dict]]:
    """Samples of ``wanted`` keys in index order; a shard that is missing, unreadable or
    differs from the index is appended to ``skipped`` and none of its samples is yielded."""
    from egogen.data.shards import ShardError, read_shard

    for s in index["shards"]:
        keys = [k for k in s.get("keys", []) if k in wanted]
        if not keys:
            continue
        reason = None
        try:
            samples = read_shard(folder, s)
            lost = [k for k in keys if k not in samples]
            if lost:
                reason = f"samples {lost[:3]} listed in index.json are not in the shard"
        except ShardError as e:  # missing, or sha256 differs from the index
            reason = str(e)
        except Exception as e:  # unreadable file or tar
            reason = f"unreadable ({type(e).__name__}: {e})"
        if reason:
            skipped.append({"shard": s["name"], "samples": len(keys), "reason": reason})
            continue
        for k in keys:
            yield k, samples[k]


_WORKER: dict = {}  # this process's SampleRenderer and frame counter (inherited by forked workers)


def _count_frame() -> None:
    c = _WORKER["frames"]
    with c.get_lock():
        c.value += 1


def _torch_one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # the same body vertices in every process (and no oversubscription)


def _render_job(job):
    if not _WORKER.get("threads_set"):
        _torch_one_thread()
        _WORKER["threads_set"] = True
    key, members = job
    out, n = _WORKER["renderer"].render(members, on_frame=_count_frame)
    return key, out, n


def render_dataset(source: str | os.PathLike, cfg: RenderConfig, out: str | os.PathLike | None = None,
                   limit: Optional[int] = None, workers: int = 1,
                   progress: Optional[Callable[[int, int, int], None]] = None) -> dict:
    """Render the samples of a dataset folder into shards (see the module docstring).

    Args:
        source: dataset folder written by ``egogen simulate`` (``index.json`` + shards).
        cfg: render options.
        out: output folder (default ``source/render-<engine>``); a folder holding an earlier
            run with the same options is continued.
        limit: render only the first ``limit`` samples of the source (index order).
        workers: processes rendering samples (fork); the output does not depend on it.
        progress: optional ``progress(samples_done, samples_total, frames_rendered_this_run)``,
            called after every frame (``workers`` = 1) or every half second (more workers).
    Returns:
        Report: samples (targeted), rendered (this run), already (done before), frames,
        wall_s, frames_per_s, skipped_shards (list of {shard, samples, reason}), out.
    Raises:
        egogen.data.ShardError: source is not a dataset (or is a render output), or ``out``
            holds a render with other options, or cannot be written.
        ImportError: the engine's packages are missing (the message says what to install).
        ValueError: bad options (engine, resolution, fps, samples, rig), or a fisheye rig
            with a pinhole-only engine.
    """
    from egogen.data.shards import ShardError, ShardWriter, read_index

    t0 = time.time()
    source = Path(source)
    index = read_index(source)
    if index.get("config", {}).get("kind") == "render":
        raise ShardError(f"{source} is a render output; pass the dataset folder written by egogen simulate")
    if cfg.resolution < 8:
        raise ValueError(f"--resolution is the image width in pixels (at least 8), got {cfg.resolution}")
    frame_indices(2, cfg.fps)  # validates fps
    if cfg.samples is not None and (cfg.engine != "cycles" or cfg.samples < 1):
        raise ValueError("--samples (samples per pixel, at least 1) applies to --engine cycles only")
    if cfg.samples_per_shard < 1:
        raise ValueError("samples per shard must be at least 1")
    check_engine(cfg.engine)
    renderer = SampleRenderer(cfg)  # loads the rig (ValueError if unknown)
    if cfg.engine in PINHOLE_ONLY:
        from egogen.render.camera import load_rig

        name = index.get("config", {}).get("rig")
        rig = renderer._rig or (load_rig(name) if name else None)
        if rig is not None:
            check_camera(cfg.engine, rig.camera.model, rig.name)
    out = Path(out) if out is not None else source / f"render-{cfg.engine}"
    config = index_config(cfg, index)
    if (out / "index.json").exists():
        old = read_index(out).get("config", {})
        diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
        if diff:
            what = ", ".join(f"{k} {old.get(k)!r} -> {config.get(k)!r}" for k in diff)
            raise ShardError(f"{out} holds a render made with other options ({what}); choose another --out, or "
                             "delete it to render again")
    writer = ShardWriter(out, cfg.samples_per_shard, config, resume=True, extend_last=True)
    finished = writer.completed_keys()
    keys = [k for s in index["shards"] for k in s.get("keys", [])]
    if limit is not None:
        keys = keys[:max(0, int(limit))]
    todo = [k for k in keys if k not in finished]
    already = len(keys) - len(todo)
    skipped: list = []
    if progress:
        progress(already, len(keys), 0)
    jobs = _source_samples(source, index, set(todo), skipped)
    spec = index.get("config", {}).get("scene")
    if todo and spec:
        renderer.scene(spec)  # loaded once here; forked workers share it
    workers = max(1, min(int(workers), len(todo) or 1))
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    frames = ctx.Value("q", 0)  # frames rendered in this run, by every process
    _WORKER.update(renderer=renderer, frames=frames)

    def tick() -> None:
        if progress:
            progress(done, len(keys), frames.value)

    done, pool = already, None
    try:
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            renderer.threads = max(1, (os.cpu_count() or 1) // workers)
            pool = ProcessPoolExecutor(workers, mp_context=ctx)
            results = _ordered(pool, jobs, 2 * workers, tick)
        else:
            def job_here(job):  # in this process: progress after every frame
                _torch_one_thread()
                key, members = job
                res, n = renderer.render(members, on_frame=lambda: (_count_frame(), tick()))
                return key, res, n

            results = map(job_here, jobs)
        for key, members, _ in results:
            writer.add(key, members)
            done += 1
            tick()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _WORKER.clear()
        renderer.close()
    writer.close()
    wall = time.time() - t0
    return {"samples": len(keys), "rendered": done - already, "already": already,
            "frames": frames.value, "wall_s": round(wall, 2),
            "frames_per_s": round(frames.value / max(wall, 1e-9), 3), "skipped_shards": skipped,
            "skipped_samples": sum(s["samples"] for s in skipped), "engine": cfg.engine, "out": str(out)}


def _ordered(pool, jobs, window: int, tick: Callable[[], None]):
    """Results of ``_render_job`` over ``jobs`` in order, at most ``window`` submitted ahead
    (source samples are read lazily, rendered samples do not pile up); ``tick()`` every
    half second while waiting."""
    from concurrent.futures import wait

    pending: deque = deque()

    def first():
        while not wait([pending[0]], timeout=0.5).done:
            tick()
        return pending.popleft().result()

    for job in jobs:
        pending.append(pool.submit(_render_job, job))
        if len(pending) >= window:
            yield first()
    while pending:
        yield first()
