"""Render throughput at 256 x 256 on the apartment with a person in view.

    python benchmarks/bench_render.py [--size 256] [--frames 20] [--engines raycast,workbench,cycles,pyrender]
        [--baseline REV] [--samples 8]

Prints seconds per frame (median and best), frames/s and each engine's speed relative to
the ray caster. Cycles: --samples samples (8), OpenImageDenoise; it renders a quarter of
--frames. Each engine runs in its own process (Blender and pyrender do not share one
well, docs/render.md) and renders one warm-up frame first (scene build, excluded).

--baseline REV also runs the egogen of git revision REV (its package extracted to a
temporary folder) on the same frame, in a second process, and the two alternate frame by
frame, so that load from other jobs on the machine hits both alike; the last column is
then baseline time / current time (> 1: the current code is faster). The machine's load
average (1 minute, at the start and the end) is printed with the table: other jobs' load
moves these figures by up to 2x on a small machine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _worker(conn, tree: str | None, engine: str, size: int, samples: int) -> None:
    """Child process: build the engine and frame, then render on request (seed in, s out)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # Blender prints a line per saved pass
    if tree:
        sys.path.insert(0, tree)
    import time

    import torch

    torch.set_num_threads(1)
    from egogen.body import load_body_model
    from egogen.render.camera import load_rig
    from egogen.render.demo import demo_frame
    from egogen.render.engines import make_renderer
    from egogen.scene import load_scene

    try:
        r = make_renderer(engine, **({"samples": samples, "denoise": True} if engine == "cycles" else {}))
    except ImportError as e:
        conn.send(("skip", str(e)))
        return
    frame = demo_frame(load_scene("apartment:0").scene, load_body_model(), load_rig("pinhole").camera.scaled(size))
    t0 = time.perf_counter()
    r.render(frame)
    conn.send(("ready", time.perf_counter() - t0))
    while (seed := conn.recv()) is not None:
        frame.seed = seed  # new light draw per frame (Blender), same geometry
        t0 = time.perf_counter()
        r.render(frame)
        conn.send(time.perf_counter() - t0)
    r.close()


def _baseline_tree(rev: str, tmp: str) -> str:
    """Extract egogen/ of git revision ``rev`` into ``tmp``, with links to the data folders."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "egogen"], check=True,
                          capture_output=True).stdout
    path = Path(tmp) / "tree.tar"
    path.write_bytes(data)
    with tarfile.open(path) as tf:
        tf.extractall(tmp, filter="data")
    for name in ("policies", "render", "scenes"):
        os.symlink(ROOT / name, Path(tmp) / name)
    return tmp


def _start(ctx, tree, engine, size, samples):
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_worker, args=(child, tree, engine, size, samples), daemon=True)
    p.start()
    child.close()  # the worker holds the only other end: its death reads as EOF here, not a hang
    try:
        msg = parent.recv()
    except EOFError:
        p.join()
        raise RuntimeError(f"{engine} worker died before its first frame (exit code {p.exitcode})") from None
    if msg[0] == "skip":
        p.join()
        return None, msg[1]
    return (p, parent), msg[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=20, help="frames per fast engine (Cycles: a quarter)")
    ap.add_argument("--engines", default="raycast,workbench,cycles,pyrender")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel")
    ap.add_argument("--baseline", default=None, help="git revision to compare with, e.g. HEAD~3")
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    load0 = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tree = _baseline_tree(args.baseline, tmp) if args.baseline else None
        for name in args.engines.split(","):
            cur, first = _start(ctx, None, name, args.size, args.samples)
            if cur is None:
                print(f"{name:10s} skipped: {first}")
                continue
            base = _start(ctx, tree, name, args.size, args.samples)[0] if tree else None
            n = max(2, args.frames // 4) if name == "cycles" else args.frames
            times, btimes = [], []
            for i in range(n):
                for w, out in ((cur, times), (base, btimes)):
                    if w is not None:
                        w[1].send(i)
                        out.append(w[1].recv())
            for w in (cur, base):
                if w is not None:
                    w[1].send(None)
                    w[0].join()
            results[name] = (float(np.median(times)), float(np.min(times)), first,
                             float(np.median(btimes)) if btimes else None)
    print(f"load average {load0:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    ref = results.get("raycast", (None,))[0]
    head = f"{'engine':10s} {'s/frame':>9s} {'best':>9s} {'frames/s':>9s} {'x raycast':>10s} {'first frame s':>14s}"
    if tree:
        head += f" {'baseline s/frame':>17s} {'speed-up':>9s}"
    print(head)
    for name, (med, best, first, bmed) in results.items():
        ratio = f"{med / ref:10.1f}" if ref else f"{'-':>10s}"
        line = f"{name:10s} {med:9.4f} {best:9.4f} {1 / med:9.1f} {ratio} {first:14.2f}"
        if tree:
            line += f" {bmed:17.4f} {bmed / med:9.2f}"
        print(line)


if __name__ == "__main__":
    main()
