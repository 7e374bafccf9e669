"""Contact sheets: render streams side by side as one picture (for people, not for data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def colourise(name: str, image: np.ndarray, max_depth: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of a stream: rgb as is, depth with the turbo colour map
    (0 = black), normals as (n + 1) / 2, instance/semantic ids with fixed hashed colours
    (-1 = black)."""
    if name == "rgb":
        return np.asarray(image, dtype=np.uint8)
    if name == "depth":
        import matplotlib

        d = np.asarray(image, dtype=np.float64)
        top = max_depth or (float(d.max()) if d.max() > 0 else 1.0)
        rgb = matplotlib.colormaps["turbo"](np.clip(d / top, 0, 1))[..., :3]
        rgb[d <= 0] = 0
        return (rgb * 255).astype(np.uint8)
    if name == "normal":
        n = np.asarray(image, dtype=np.float64)
        rgb = (n + 1) / 2
        rgb[np.linalg.norm(n, axis=-1) == 0] = 0
        return (rgb * 255).astype(np.uint8)
    ids = np.asarray(image, dtype=np.int64)
    h = (ids * 2654435761) & 0xFFFFFF
    rgb = np.stack([(h >> 16) & 255, (h >> 8) & 255, h & 255], -1).astype(np.uint8) | 48
    rgb[ids < 0] = 0
    return rgb


def contact_sheet(rows: dict[str, dict[str, np.ndarray]], path: str | Path,
                  streams=("rgb", "depth", "normal", "instance", "semantic")) -> Path:
    """Write a PNG with one row per engine and one column per stream (grey where an engine
    lacks a stream); row labels drawn at the left.

    Args:
        rows: ``{engine name: outputs dict}``; all images the same size.
        path: PNG file to write.
    Returns:
        the path written.
    """
    from PIL import Image, ImageDraw

    first = next(iter(rows.values()))
    H, W = first["depth"].shape
    max_depth = max(float(o["depth"].max()) for o in rows.values())
    pad = 70
    sheet = Image.new("RGB", (pad + W * len(streams), 16 + H * len(rows)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for j, s in enumerate(streams):
        draw.text((pad + j * W + 4, 2), s, fill=(255, 255, 255))
    for i, (name, out) in enumerate(rows.items()):
        draw.text((4, 16 + i * H + H // 2), name, fill=(255, 255, 255))
        for j, s in enumerate(streams):
            if s in out:
                sheet.paste(Image.fromarray(colourise(s, out[s], max_depth)), (pad + j * W, 16 + i * H))
    path = Path(path)
    sheet.save(path)
    return path
