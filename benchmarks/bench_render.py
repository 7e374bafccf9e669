"""Render throughput at 256 x 256 on the apartment with a person in view.

    python benchmarks/bench_render.py [--size 256] [--frames 20] [--engines raycast,pyrender,workbench,cycles]

Prints seconds per frame, frames/s and each engine's speed relative to the ray caster.
Cycles: 8 samples, OpenImageDenoise. Blender engines are built before pyrender (one
process; see docs/render.md). Each engine renders one warm-up frame first (scene build).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=20, help="frames per fast engine (Cycles: a quarter)")
    ap.add_argument("--engines", default="raycast,workbench,cycles,pyrender")
    args = ap.parse_args()

    from egogen.body import load_body_model
    from egogen.render.camera import load_rig
    from egogen.render.demo import demo_frame
    from egogen.render.engines import make_renderer
    from egogen.scene import load_scene

    frame = demo_frame(load_scene("apartment:0").scene, load_body_model(), load_rig("pinhole").camera.scaled(args.size))
    options = {"cycles": {"samples": 8, "denoise": True}}
    results = {}
    for name in args.engines.split(","):
        try:
            r = make_renderer(name, **options.get(name, {}))
        except ImportError as e:
            print(f"{name:10s} skipped: {e}")
            continue
        t0 = time.perf_counter()
        r.render(frame)
        first = time.perf_counter() - t0
        n = max(2, args.frames // 4) if name == "cycles" else args.frames
        times = []
        for i in range(n):
            frame.seed = i  # new light draw per frame (Blender), same geometry
            t0 = time.perf_counter()
            r.render(frame)
            times.append(time.perf_counter() - t0)
        r.close()
        results[name] = (float(np.median(times)), float(np.min(times)), first)
    base = results.get("raycast", (None,))[0]
    print(f"{'engine':10s} {'s/frame':>9s} {'best':>9s} {'frames/s':>9s} {'x raycast':>10s} {'first frame s':>14s}")
    for name, (med, best, first) in results.items():
        ratio = f"{med / base:10.1f}" if base else f"{'-':>10s}"
        print(f"{name:10s} {med:9.4f} {best:9.4f} {1 / med:9.1f} {ratio} {first:14.2f}")


if __name__ == "__main__":
    main()
