"""Real-world check of rendered frames and poses: COLMAP structure-from-motion on a rendered
walk, aligned to the ground-truth head camera (absolute trajectory error, ATE).

    pip install 'egogen[colmap]'        # pycolmap (a CPU wheel)
    python benchmarks/bench_colmap_ate.py [--engine cycles] [--seconds 10] [--fps 5]
        [--resolution 320] [--samples 8] [--source scripted] [--data DIR --key KEY]
        [--matching exhaustive|sequential] [--peak-threshold 0.001] [--min-inliers 15]
        [--no-mask] [--reuse] [--out runs/colmap_ate]

1. Walk: simulates one episode with one person in the apartment (``--source scripted``:
   procedural gait on a planned path; ``policy``: the shipped walkers), or reads sample
   ``--key`` of an ``egogen simulate`` folder ``--data``; keeps its first ``--seconds``.
2. Render: the wearer's head camera through the same code as ``egogen render``, with the
   ``pinhole`` rig (90 degrees horizontal field of view) at ``--resolution`` px and ``--fps``
   frames per second. Cycles (default) shades the scene's procedural textures (wood,
   tiles, fabric, plaster), which SIFT needs; pyrender draws flat colours per object.
3. COLMAP (pycolmap): SIFT features on the RGB frames, one shared PINHOLE camera with the
   rig's intrinsics (COLMAP puts pixel centres at +0.5, so cx, cy + 0.5), kept fixed in
   bundle adjustment; exhaustive (or sequential) matching; incremental mapping with
   thresholds for a plain indoor scene (SIFT peak threshold 0.001, 15 inliers to register
   a frame, 30 and 4 degrees to start a model). The
   wearer's own body (seen when looking down) and other people are masked out of feature
   extraction with the rendered instance ids (``--no-mask`` keeps them).
4. ATE: the camera centres of the largest reconstruction are aligned to the true
   ``T_world_camera`` centres by a similarity transform (Umeyama,
   :mod:`egogen.render.trajectory`); prints the RMSE in cm, the median / max error, the
   orientation error (after the best global rotation fitted to the orientations: a
   nearly straight path leaves the position fit's roll about it loose) and how many
   frames registered in the largest model; writes
   ``OUT/result.json`` (and the frames, masks and COLMAP model under OUT).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def walk_sample(args) -> tuple[str, dict]:
    """(key, members) of the sample to render: ``--data``/``--key`` or a fresh one-person episode."""
    from egogen.data import iter_samples

    if args.data:
        for k, m in iter_samples(args.data):
            if args.key is None or k == args.key:
                return k, m
        raise SystemExit(f"sample {args.key!r} is not in {args.data}")
    from egogen.sim.simulate import SimulateConfig, simulate

    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulateConfig(scene=args.scene, source=args.source, n=1, agents=1, seed=args.seed, goals=(2, 3),
                                max_duration_s=max(2 * args.seconds, 20.0)), tmp)
        return next(iter_samples(tmp))


def render_frames(members: dict, args) -> dict:
    """Render the first ``--seconds`` of the sample; returns the decoded rendered sample."""
    from egogen.data.samples import decode_sample
    from egogen.render.dataset import RenderConfig, SampleRenderer

    cfg = RenderConfig(engine=args.engine, resolution=args.resolution, fps=args.fps, rig="pinhole",
                       samples=args.samples if args.engine == "cycles" else None)
    r = SampleRenderer(cfg)
    try:
        out, _ = r.render(members, max_frames=int(round(args.seconds * args.fps)) + 1)
    finally:
        r.close()
    return decode_sample(out)


def run_colmap(image_dir: Path, mask_dir: Path | None, work: Path, camera: dict, matching: str,
               threads: int, peak_threshold: float, overlap: int, min_inliers: int) -> dict:
    """Feature extraction, matching and incremental mapping of the frames in ``image_dir``.

    Returns:
        ``{"poses": {image name: (camera centre (3,), R_world_camera (3, 3))} of the largest
        reconstruction, in COLMAP's frame and scale; "models": reconstructions made;
        "points": 3D points of the largest}``.
    """
    import pycolmap

    db = work / "database.db"
    if db.exists():
        db.unlink()
    p = camera["params"]
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "PINHOLE"
    reader.camera_params = f"{p['fx']},{p['fy']},{p['cx'] + 0.5},{p['cy'] + 0.5}"
    if mask_dir is not None:
        reader.mask_path = str(mask_dir)
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = threads
    extraction.use_gpu = False
    extraction.sift.peak_threshold = peak_threshold
    pycolmap.extract_features(db, image_dir, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader,
                              extraction_options=extraction, device=pycolmap.Device.cpu)
    mopt = pycolmap.FeatureMatchingOptions()
    mopt.num_threads = threads
    mopt.use_gpu = False
    if matching == "exhaustive":
        pycolmap.match_exhaustive(db, matching_options=mopt, device=pycolmap.Device.cpu)
    else:
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = overlap
        pycolmap.match_sequential(db, matching_options=mopt, pairing_options=pairing, device=pycolmap.Device.cpu)
    opts = pycolmap.IncrementalPipelineOptions()
    opts.ba_refine_focal_length = False
    opts.ba_refine_principal_point = False
    opts.ba_refine_extra_params = False
    m = opts.mapper
    m.abs_pose_refine_focal_length = False  # the rig's intrinsics are known
    m.abs_pose_refine_extra_params = False
    # Painted walls give a few hundred SIFT features and tens of inliers on some pairs:
    # COLMAP's defaults (100 inliers and 16 degrees to start, 30 inliers to add a frame)
    # are made for photos of richly textured scenes.
    m.init_min_num_inliers = min_inliers * 2
    m.init_min_tri_angle = 4.0
    m.abs_pose_min_num_inliers = min_inliers
    opts.min_num_matches = min_inliers
    opts.num_threads = threads
    opts.random_seed = 0
    sparse = work / "sparse"
    shutil.rmtree(sparse, ignore_errors=True)
    sparse.mkdir(parents=True)
    recs = pycolmap.incremental_mapping(db, image_dir, sparse, options=opts)
    if not recs:
        return {"poses": {}, "models": 0, "points": 0}
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    poses = {}
    for img in rec.images.values():
        if not img.has_pose:
            continue
        cw = img.cam_from_world()
        poses[img.name] = (np.asarray(img.projection_center(), dtype=np.float64),
                           np.asarray(cw.rotation.matrix(), dtype=np.float64).T)
    return {"poses": poses, "models": len(recs), "points": rec.num_points3D()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="cycles", choices=("cycles", "pyrender", "workbench"))
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the walk rendered")
    ap.add_argument("--fps", type=float, default=5.0, help="rendered frames per second")
    ap.add_argument("--resolution", type=int, default=320, help="image width = height, px (pinhole rig)")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel")
    ap.add_argument("--scene", default="apartment")
    ap.add_argument("--source", default="scripted", choices=("scripted", "policy"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="use a sample of this `egogen simulate` folder instead")
    ap.add_argument("--key", default=None, help="sample key in --data (default: the first)")
    ap.add_argument("--matching", default="exhaustive", choices=("sequential", "exhaustive"),
                    help="exhaustive (every pair; ~30 s for 51 frames; finds the loop back into the hallway) or "
                    "sequential (--overlap neighbours; for long sequences)")
    ap.add_argument("--overlap", type=int, default=10, help="sequential matching: neighbours matched per frame")
    ap.add_argument("--peak-threshold", type=float, default=0.001,
                    help="SIFT peak threshold (COLMAP's default 0.0067 finds few features on painted walls)")
    ap.add_argument("--min-inliers", type=int, default=15,
                    help="inliers to register a frame (twice this to start a model; COLMAP's defaults: 30, 100)")
    ap.add_argument("--reuse", action="store_true",
                    help="run COLMAP again on the frames and ground truth already in --out (no simulate / render)")
    ap.add_argument("--no-mask", action="store_true", help="keep people (the wearer's body) in feature extraction")
    ap.add_argument("--threads", type=int, default=1, help="COLMAP threads")
    ap.add_argument("--out", default="runs/colmap_ate")
    args = ap.parse_args()

    import torch
    from PIL import Image

    from egogen.render.trajectory import ate, rotation_errors_deg

    torch.set_num_threads(1)
    out = Path(args.out)
    images, masks = out / "images", out / "masks"
    if args.reuse:
        gt = np.load(out / "ground_truth.npz")
        fr = json.loads((out / "frames.json").read_text())
        key, T_true, t_sim, t_render = fr["key"], gt["T_world_camera"], 0.0, 0.0
        names = sorted(p.name for p in images.glob("frame_*.png"))
    else:
        t0 = time.perf_counter()
        key, members = walk_sample(args)
        t_sim = time.perf_counter() - t0
        from egogen.data.samples import decode_sample

        cam = decode_sample({"camera.npz": members["camera.npz"]})["camera.npz"]
        t0 = time.perf_counter()
        r = render_frames(members, args)
        t_render = time.perf_counter() - t0
        fr = r["frames.json"]
        if "rgb" not in r.get("rgb.npz", {}):
            raise SystemExit(f"--engine {args.engine} made no rgb")
        rgb, inst = r["rgb.npz"]["rgb"], r["seg.npz"]["instance"]
        people = np.isin(inst, [int(v) for v in fr["person_instance_ids"].values()])
        for d in (images, masks):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        names = []
        for i in range(len(rgb)):
            name = f"frame_{i:04d}.png"
            names.append(name)
            Image.fromarray(rgb[i]).save(images / name)
            Image.fromarray(np.where(people[i], 0, 255).astype(np.uint8)).save(masks / f"{name}.png")
        T_true = cam["T_world_camera"][np.asarray(fr["frame_index"])]
        np.savez(out / "ground_truth.npz", T_world_camera=T_true, frame_index=np.asarray(fr["frame_index"]),
                 timestamps_ns=np.asarray(fr["timestamps_ns"]))
        fr["key"] = key
        (out / "frames.json").write_text(json.dumps(fr) + "\n")
        print(f"{args.engine} {fr['width']}x{fr['height']}: {len(names)} frames in {t_render:.0f} s "
              f"({t_render / len(names):.2f} s/frame); people cover {people.mean() * 100:.1f} % of pixels")
    centres = T_true[:, :3, 3]
    path_m = float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())
    print(f"sample {key}: {len(names)} frames over {fr['timestamps_ns'][-1] / 1e9:.1f} s, camera path {path_m:.2f} m")
    t0 = time.perf_counter()
    res = run_colmap(images, None if args.no_mask else masks, out, fr["camera"], args.matching, args.threads,
                     args.peak_threshold, args.overlap, args.min_inliers)
    t_colmap = time.perf_counter() - t0
    got = [i for i, n in enumerate(names) if n in res["poses"]]
    result = {"key": key, "engine": fr["engine"], "samples": fr.get("samples"),
              "resolution": [fr["width"], fr["height"]], "fps": fr["fps"], "seconds": fr["timestamps_ns"][-1] / 1e9,
              "frames": len(names), "registered": len(got), "models": res["models"], "points3D": res["points"],
              "camera_path_m": round(path_m, 3), "matching": args.matching, "overlap": args.overlap,
              "peak_threshold": args.peak_threshold, "min_inliers": args.min_inliers, "masked_people": not args.no_mask,
              "wall_s": {"simulate": round(t_sim, 1), "render": round(t_render, 1), "colmap": round(t_colmap, 1)}}
    if len(got) >= 3:
        est = np.stack([res["poses"][names[i]][0] for i in got])
        R_est = np.stack([res["poses"][names[i]][1] for i in got])
        rmse, T, err = ate(est, centres[got])
        rot = rotation_errors_deg(R_est, T_true[got, :3, :3])  # after the best rotation of the orientations
        result.update({"ate_rmse_cm": round(100 * rmse, 2), "ate_median_cm": round(100 * float(np.median(err)), 2),
                       "ate_max_cm": round(100 * float(err.max()), 2), "scale": round(T.s, 4),
                       "rotation_median_deg": round(float(np.median(rot)), 3),
                       "rotation_max_deg": round(float(rot.max()), 3),
                       "registered_frames": got})
    print(f"COLMAP: {len(got)}/{len(names)} frames registered ({res['models']} model(s), {res['points']} points) "
          f"in {t_colmap:.0f} s")
    if "ate_rmse_cm" in result:
        print(f"ATE after similarity alignment: RMSE {result['ate_rmse_cm']} cm, median {result['ate_median_cm']} cm, "
              f"max {result['ate_max_cm']} cm over a {path_m:.1f} m path; rotation median "
              f"{result['rotation_median_deg']} deg, max {result['rotation_max_deg']} deg")
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
