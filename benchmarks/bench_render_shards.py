"""Throughput of `egogen render` per engine: frames/s on a simulated sample, end to end.

    python benchmarks/bench_render_shards.py [--frames 16] [--size 256] [--rig pinhole]
        [--engines workbench,cycles,raycast,pyrender] [--cycles-frames 2] [--samples 8]

Simulates one short scripted episode (apartment:2, two people), then renders the first
--frames frames of wearer 0 with each engine through the same code as `egogen render`
(posing both bodies, rendering, float16 / npz encoding), after one warm-up frame (scene
build). The rig is pinhole by default so that every engine can draw it. Blender engines
run before pyrender (one process; docs/render.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16, help="frames per engine (Cycles: --cycles-frames)")
    ap.add_argument("--cycles-frames", type=int, default=2)
    ap.add_argument("--size", type=int, default=256, help="image width, px")
    ap.add_argument("--rig", default="pinhole")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel")
    ap.add_argument("--engines", default="workbench,cycles,raycast,pyrender")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)  # posing: one thread, as a render worker
    from egogen.data import iter_samples
    from egogen.render.dataset import RenderConfig, SampleRenderer, check_engine
    from egogen.sim.simulate import SimulateConfig, simulate

    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulateConfig(scene="apartment:2", source="scripted", n=1, agents=2, goals=(1, 1),
                                max_duration_s=10.0, require_goals=False, max_penetration_frames=1.0,
                                min_person_distance=0.0), tmp)
        key, members = next(iter_samples(tmp))
    print(f"sample {key}, {args.size} px wide, rig {args.rig}, 8 fps")
    print(f"{'engine':10s} {'frames':>6s} {'s/frame':>9s} {'frames/s':>9s} {'warm-up s':>10s}")
    for name in args.engines.split(","):
        try:
            check_engine(name)
        except ImportError as e:
            print(f"{name:10s} skipped: {e}")
            continue
        cfg = RenderConfig(engine=name, resolution=args.size, rig=args.rig,
                           samples=args.samples if name == "cycles" else None)
        r = SampleRenderer(cfg)
        t0 = time.perf_counter()
        r.render(members, max_frames=1)
        warm = time.perf_counter() - t0
        n = args.cycles_frames if name == "cycles" else args.frames
        t0 = time.perf_counter()
        _, done = r.render(members, max_frames=n)
        dt = time.perf_counter() - t0
        r.close()
        print(f"{name:10s} {done:6d} {dt / done:9.4f} {done / dt:9.2f} {warm:10.2f}")


if __name__ == "__main__":
    main()
