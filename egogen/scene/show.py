"""Top-down map picture of a prepared scene: rooms, furniture with labels, walkable area
and one sampled path (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egogen.scene.model import STRUCTURE_LABELS
from egogen.scene.prepared import PreparedScene
from egogen.scene.sampling import NoSolution


def draw_map(ps: PreparedScene, out: str | Path, seed: int = 0, min_dist: float = 3.0,
             dpi: int = 110) -> dict:
    """Write a PNG map of the scene.

    Args:
        ps: the prepared scene.
        out: PNG path (parent folders are created).
        seed: seed of the start/goal pair drawn as the example path.
        min_dist: minimum start-goal distance of that pair, metres.
        dpi: resolution.
    Returns:
        dict with ``out`` (path), ``path_length`` (m, or None) and ``start``/``goal``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = map_figure(ps, 10.0, 0.9)
    draw_floor_plan(ax, ps)

    result = {"out": str(out), "path_length": None, "start": None, "goal": None}
    try:
        task = ps.sample_start_goal(seed, min_dist=min_dist)
    except NoSolution:
        try:
            task = ps.sample_start_goal(seed, min_dist=0.0)
        except NoSolution:
            task = None
    if task is not None:
        path = ps.plan_path(task.start, task.goal)
        if path.reachable:
            p = path.waypoints
            ax.plot(p[:, 0], p[:, 1], "-", color="#d62728", lw=2.2, zorder=5)
            ax.plot(p[1:-1, 0], p[1:-1, 1], "o", color="#d62728", ms=3, zorder=6)
            ax.plot(*task.start, "o", color="#2ca02c", ms=9, mec="k", zorder=7, label="start")
            ax.plot(*task.goal, "*", color="#d62728", ms=14, mec="k", zorder=7, label="goal")
            result.update(path_length=path.length, start=task.start.tolist(), goal=task.goal.tolist())
    info = ps.info()
    from matplotlib.patches import Patch

    handles = [Patch(color="#bfe3c0", label=f"walkable (r = {ps.walkable.radius:.2f} m)"),
               Patch(color="#f1d9a7", label="walkable, other component"),
               Patch(color="#e4e0d8", label="floor, blocked / too close"),
               Patch(color="#3b3b3b", label="wall"), Patch(color="#c9a66b", label="door opening")]
    if task is not None and result["path_length"] is not None:
        handles.append(plt.Line2D([], [], color="#d62728", lw=2, label=f"path {result['path_length']:.1f} m"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.06), ncol=3, fontsize=7, frameon=False)
    ax.set_title(f"{ps.scene.name}: floor {info['floor_area_m2']:.1f} m², walkable {info['walkable_area_m2']:.1f} m² "
                 f"({100 * info['walkable_fraction']:.0f} %), {info['walkable_components']} component(s)",
                 fontsize=9)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return result


def map_figure(ps, width_in: float = 10.0, extra_height_in: float = 0.9):
    """A matplotlib figure sized to the scene's walkable-map extent (longest side ``width_in``
    inches, plus ``extra_height_in`` for titles and legends). Returns ``(fig, ax)``."""
    import matplotlib.pyplot as plt

    wm = ps.walkable
    h, w = wm.shape
    size = (w * wm.cell, h * wm.cell)
    scale = width_in / max(size)
    return plt.subplots(figsize=(max(size[0] * scale, 4) + 0.5, max(size[1] * scale, 4) + extra_height_in))


def draw_floor_plan(ax, ps, muted: bool = False) -> None:
    """Draw a prepared scene top-down into ``ax`` (world xy, metres): floor and walkable area,
    walls with door lintels, labelled furniture, room names. Sets equal aspect and the axis
    limits to the walkable map's extent.

    Args:
        ax: matplotlib axes.
        ps: the :class:`~egogen.scene.PreparedScene`.
        muted: a quiet background for drawing episodes on top (one walkable colour, paler
            furniture, no front ticks or room areas) instead of ``egogen scene show``'s map
            (walkable components, facing ticks, room areas).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    wm, sc = ps.walkable, ps.scene
    h, w = wm.shape
    ext = [wm.origin[0], wm.origin[0] + w * wm.cell, wm.origin[1], wm.origin[1] + h * wm.cell]
    img = np.zeros((h, w), np.int8)
    img[wm.floor] = 1
    if muted:
        img[wm.walkable] = 2
        cmap = ListedColormap(["#ffffff", "#e6e2da", "#f4f1ea"])
    else:  # 0 outside, 1 floor (blocked or too close), 2 walkable, 3 walkable but not the largest component
        img[wm.walkable] = 3
        img[wm.components == 1] = 2
        cmap = ListedColormap(["#ffffff", "#e4e0d8", "#bfe3c0", "#f1d9a7"])
    ax.imshow(img, origin="lower", extent=ext, cmap=cmap, vmin=0, vmax=cmap.N - 1, interpolation="nearest")
    ax.set_aspect("equal")
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])

    for o in sc.objects:
        (x0, y0, _), (x1, y1, _) = o.bounds
        if o.label == "wall":  # a wall piece that starts high up is the lintel of a door
            door = o.bounds[0][2] > 1.0
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, lw=0, color="#c9a66b" if door else "#3b3b3b"))
    for o in (o for o in sc.objects if o.label not in STRUCTURE_LABELS):
        (x0, y0, _), (x1, y1, _) = o.bounds
        name = o.label.replace("_", " ")
        if muted:
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=o.material.colour, alpha=0.6,
                                   edgecolor="#444444", lw=0.5))
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, name, fontsize=5.5, ha="center", va="center", color="#222222")
            continue
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=o.material.colour, alpha=0.85,
                               edgecolor="#222222", lw=0.6))
        if o.front is not None:  # small tick on the front side
            c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
            half = np.array([(x1 - x0) / 2, (y1 - y0) / 2])
            tip = c + o.front * (np.abs(o.front) @ half)
            ax.plot([c[0], tip[0]], [c[1], tip[1]], color="#222222", lw=0.6)
        big = (x1 - x0) * (y1 - y0) > 0.3
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, name, ha="center", va="center",
                fontsize=6.5 if big else 5.5, color="#111111",
                rotation=90 if (y1 - y0) > 1.3 * (x1 - x0) and big else 0,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.55))
    for r in sc.rooms:
        x0, y0, x1, y1 = r.rect
        if muted:
            ax.text(x0 + 0.15, y1 - 0.3, r.name.replace("_", " "), fontsize=7, color="#777777", style="italic")
        else:
            ax.text(x0 + 0.15, y1 - 0.15, f"{r.name.replace('_', ' ')}\n{r.area:.1f} m²", ha="left", va="top",
                    fontsize=8, weight="bold", color="#1f3a60")
