"""Top-down picture of one episode of a dataset: paths, camera frusta, gaze rays (``egogen view``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egogen.data.samples import decode_sample
from egogen.data.shards import ShardError, iter_samples

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def load_episode_samples(folder, episode: int) -> list[dict]:
    """Decoded samples (all wearers) of episode number ``episode`` (``meta.json`` ``episode``).

    Raises:
        ShardError: the dataset has no such episode (message lists the first few it has).
    """
    found, seen = [], []
    for key, members in iter_samples(folder):
        s = decode_sample({k: v for k, v in members.items() if k == "meta.json"})
        ep = s["meta.json"]["episode"]
        if ep == episode:
            found.append(decode_sample(members))
        elif ep not in seen:
            seen.append(ep)
    if not found:
        raise ShardError(f"episode {episode} is not in {folder}; it holds episodes {seen[:10]}"
                         f"{' ...' if len(seen) > 10 else ''}")
    return sorted(found, key=lambda s: s["meta.json"]["wearer"])


def draw_episode(folder, episode: int, out, frustum_every_s: float = 1.0, gaze_every_s: float = 0.5,
                 dpi: int = 110) -> dict:
    """Write a PNG of one episode over the scene map.

    Draws the floor (walkable area), furniture with labels, each wearer's head path (colour
    per person, start dot, goals as stars), the camera's horizontal field of view as a
    frustum every ``frustum_every_s`` seconds, and gaze rays (camera centre to the fixated
    point, top-down) every ``gaze_every_s`` seconds.

    Args:
        folder: dataset folder; episode: ``meta.json`` episode number; out: PNG path.
    Returns:
        dict with ``out``, ``scene``, ``wearers``, ``frames``.
    Raises:
        ShardError: unknown episode or unreadable dataset.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    from egogen.render.camera import CameraModel
    from egogen.scene import load_scene
    from egogen.scene.show import draw_floor_plan, map_figure

    samples = load_episode_samples(folder, episode)
    meta0 = samples[0]["meta.json"]
    ps = load_scene(meta0["scene"])
    fig, ax = map_figure(ps, 11.0, 1.0)
    draw_floor_plan(ax, ps, muted=True)
    frames = 0
    for s in samples:
        meta, cam = s["meta.json"], s["camera.npz"]
        gz = s["gaze.npz"]
        col = _COLOURS[meta["wearer"] % len(_COLOURS)]
        Tw = cam["T_world_camera"]
        frames = len(Tw)
        c = Tw[:, :3, 3]
        ax.plot(c[:, 0], c[:, 1], "-", color=col, lw=1.4, label=f"wearer {meta['wearer']}")
        ax.plot(c[0, 0], c[0, 1], "o", color=col, ms=5)
        for g in meta["goals"]:
            ax.plot(*g["xy"], "*", color=col, ms=11, mec="k", mew=0.5)
        fps = meta["fps"]
        wi, hi = (int(v) for v in cam["image_size"])
        i = cam["intrinsics"]
        model = CameraModel(str(cam["model"]), wi, hi, *(float(v) for v in i[:4]), tuple(float(v) for v in i[4:8]))
        edge = model.unproject(np.array([[0.0, model.cy], [float(wi), model.cy]]))
        for t in range(0, len(Tw), max(1, int(round(frustum_every_s * fps)))):
            R = Tw[t, :3, :3]
            a, b = (R @ edge[0])[:2], (R @ edge[1])[:2]
            L = 0.6
            ax.add_patch(Polygon([c[t, :2], c[t, :2] + L * a / max(np.linalg.norm(a), 1e-6),
                                  c[t, :2] + L * b / max(np.linalg.norm(b), 1e-6)], closed=True,
                                 facecolor=col, alpha=0.18, edgecolor=col, lw=0.6))
        for t in range(0, len(Tw), max(1, int(round(gaze_every_s * fps)))):
            p = gz["target_world"][t]
            ax.plot([c[t, 0], p[0]], [c[t, 1], p[1]], "-", color=col, lw=0.6, alpha=0.8)
            ax.plot(p[0], p[1], ".", color=col, ms=3)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(f"{meta0['scene']} episode {episode}: {len(samples)} wearers, {frames / meta0['fps']:.1f} s; "
                 f"frusta every {frustum_every_s:g} s, gaze rays every {gaze_every_s:g} s", fontsize=8)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return {"out": str(out), "scene": meta0["scene"], "wearers": len(samples), "frames": frames}
