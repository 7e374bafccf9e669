"""A picture of a body for people to check: shaded mesh, SSM2 markers, head-camera frustum."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from egogen.body.head_rig import head_camera_pose
from egogen.body.model import BodyModel
from egogen.render.camera import RigPreset


def _view(yaw_deg: float) -> np.ndarray:
    """(3, 3) rows = image right, image up, towards the viewer; viewer circles the body by yaw."""
    a = np.radians(yaw_deg)
    toward = np.array([np.sin(a), 0.0, np.cos(a)])  # from body to viewer (canonical frame, y up)
    up = np.array([0.0, 1.0, 0.0])
    right = np.cross(up, toward)
    return np.stack([right, up, toward])


def frustum_lines(T_world_camera: np.ndarray, rig: RigPreset, length: float = 0.25) -> list[np.ndarray]:
    """Line segments (each (2, 3), world frame) outlining the camera's view pyramid: the rays
    through the four image corners, ``length`` metres long, and the edges joining their ends."""
    cam = rig.camera
    corners_px = np.array([[0, 0], [cam.width, 0], [cam.width, cam.height], [0, cam.height]], dtype=float)
    rays = cam.unproject(corners_px)
    rays = rays * length
    pts = (T_world_camera[:3, :3] @ rays.T).T + T_world_camera[:3, 3]
    c = T_world_camera[:3, 3]
    lines = [np.stack([c, p]) for p in pts]
    lines += [np.stack([pts[i], pts[(i + 1) % 4]]) for i in range(4)]
    return lines


def draw_body(body: BodyModel, rig: RigPreset, out: Path, betas: Optional[torch.Tensor] = None,
              title: str = "") -> Path:
    """Draw the rest-pose body from three sides with markers and the head-camera frustum.

    Args:
        body: the body model.
        rig: the head-camera rig whose frustum is drawn.
        out: PNG path to write (parent folders are created).
        betas: (1, num_betas) shape; ``None`` is the mean shape.
        title: figure title.
    Returns:
        ``out``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    with torch.no_grad():
        o = body(betas=betas) if betas is not None else body()
        verts = o.vertices[0].numpy().astype(np.float64)
        markers = body.marker_positions(o.vertices)[0].numpy() if body.markers is not None else np.zeros((0, 3))
        T = head_camera_pose(o.joints, np.zeros((1, 3)), np.zeros((1, 63)), rig.mount_offset_m)[0]
    faces = body.faces
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    centre = verts.mean(axis=0)
    mnorm = np.zeros_like(markers)
    if len(markers):
        mnorm = markers - verts[np.argmin(((verts[None] - markers[:, None]) ** 2).sum(-1), axis=1)]

    views = [("front", 0.0), ("three-quarter", 40.0), ("side", 90.0)]
    fig, axes = plt.subplots(1, 3, figsize=(14, 6), gridspec_kw={"width_ratios": [1.6, 1.4, 0.8]})
    light = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
    for ax, (name, yaw) in zip(axes, views):
        M = _view(yaw)
        p = (tri - centre) @ M.T
        facing = n @ M[2] > 0
        order = np.argsort(p[facing][:, :, 2].mean(axis=1))
        shade = np.clip(n[facing] @ (M.T @ light), 0, 1)[order]
        colours = np.outer(0.25 + 0.7 * shade, [0.93, 0.78, 0.66])
        ax.add_collection(PolyCollection(p[facing][order][:, :, :2], facecolors=colours, edgecolors="none"))
        if len(markers):
            mp = (markers - centre) @ M.T
            vis = (mnorm @ M[2]) > -0.002
            ax.scatter(mp[vis, 0], mp[vis, 1], s=14, c="crimson", zorder=5, label="SSM2 markers")
        for seg in frustum_lines(T, rig):
            s = (seg - centre) @ M.T
            ax.plot(s[:, 0], s[:, 1], color="royalblue", lw=1.4, zorder=6)
        c = (T[:3, 3] - centre) @ M.T
        fwd = (T[:3, 2] * 0.12) @ M.T
        ax.annotate("", xy=(c[0] + fwd[0], c[1] + fwd[1]), xytext=(c[0], c[1]),
                    arrowprops=dict(arrowstyle="->", color="navy", lw=1.5), zorder=7)
        ax.set_aspect("equal")
        lo, hi = p[..., :2].reshape(-1, 2).min(axis=0), p[..., :2].reshape(-1, 2).max(axis=0)
        ax.set_xlim(lo[0] - 0.35, hi[0] + 0.35)
        ax.set_ylim(lo[1] - 0.05, hi[1] + 0.12)
        ax.set_title(f"{name} view")
        ax.axis("off")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(title or f"{body.source}: {body.num_vertices} vertices, "
                 f"{len(markers)} SSM2 markers (red), '{rig.name}' head camera frustum (blue)", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
