"""Animated picture of a random roll-out (``egogen motion show``): stick figure (joints from
markers) and SSM2 markers, matplotlib, written as GIF (Pillow) or MP4 (ffmpeg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from egogen.body.skeleton import PARENTS
from egogen.motion.rollout import rollout

__all__ = ["random_rollout", "save_animation"]


@torch.no_grad()
def random_rollout(models, seconds: float = 10.0, seed: int = 0, seed_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Roll out z ~ N(0, I) primitives from one of the checkpoint's held-out seed pairs.

    Args:
        models: :class:`egogen.motion.checkpoint.MotionModels` whose meta holds ``seed_markers``
            (S, 2, M, 3) world markers.
        seconds: motion length (30 Hz; rounded up to whole primitives).
        seed: torch seed of the latents; seed_index: which stored seed pair.
    Returns:
        markers (T, M, 3) and joints (T, 22, 3), world, metres, float32 numpy.
    Raises:
        KeyError: checkpoint without stored seeds.
    """
    seeds = torch.as_tensor(models.meta["seed_markers"])
    s = seeds[seed_index % len(seeds)][None]
    n = int(np.ceil((seconds * 30 - 2) / models.cvae.cfg.future))
    m = rollout(models.cvae, models.marker_joints, s, n, generator=torch.Generator().manual_seed(seed))[0]
    return m.numpy(), models.marker_joints(m).numpy()


def save_animation(markers: np.ndarray, joints: np.ndarray, out: str | Path, fps: float = 30.0,
                   step: int = 3) -> Path:
    """Write an animation of (T, M, 3) markers and (T, 22, 3) joints (world, Z up) to ``out``
    (``.gif`` via Pillow, ``.mp4`` via ffmpeg), drawing every ``step``-th frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

    out = Path(out)
    fig = plt.figure(figsize=(4, 4), dpi=64)
    ax = fig.add_subplot(projection="3d")
    idx = list(range(0, len(markers), step))
    path = joints[:, 0]

    def draw(k):
        t = idx[k]
        ax.cla()
        c = path[t]
        ax.set_xlim(c[0] - 1, c[0] + 1)
        ax.set_ylim(c[1] - 1, c[1] + 1)
        ax.set_zlim(0, 2)
        ax.set_box_aspect((1, 1, 1))
        ax.plot(path[:, 0], path[:, 1], 0 * path[:, 0], color="0.7", lw=1)
        j = joints[t]
        for c_, p in enumerate(PARENTS[:22]):
            if p >= 0:
                ax.plot(*zip(j[p], j[c_]), color="tab:blue", lw=2)
        ax.scatter(*markers[t].T, s=3, color="tab:red")
        ax.set_title(f"egogen C-VAE roll-out  t = {t / fps:4.1f} s")
        return []

    anim = FuncAnimation(fig, draw, frames=len(idx), blit=False)
    writer = FFMpegWriter(fps=fps / step) if out.suffix == ".mp4" else PillowWriter(fps=fps / step)
    out.parent.mkdir(parents=True, exist_ok=True)
    anim.save(out, writer=writer)
    plt.close(fig)
    return out
