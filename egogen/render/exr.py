"""Reading Blender's multilayer OpenEXR output (OpenEXR's Python reader).

Blender 5 writes one EXR part per render pass, named ``<view layer>.<pass>`` with channels
``<view layer>.<pass>.<channel>`` (DESIGN.md, "Environment facts").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_multilayer_exr(path: str | Path) -> dict[str, np.ndarray]:
    """Passes of a multilayer EXR.

    Args:
        path: the ``.exr`` file.
    Returns:
        ``{pass name: (H, W, C) float32}``, e.g. ``"Combined"`` (C = 4, RGBA, linear),
        ``"Depth"`` (C = 1), ``"Normal"`` (C = 3), ``"Object Index"`` (C = 1); channels in
        R, G, B, A / X, Y, Z / single order. The view-layer prefix is dropped.
    Raises:
        ImportError: the OpenEXR package is missing (``pip install 'egogen[render]'``).
    """
    try:
        import OpenEXR
    except ImportError as e:
        raise ImportError("reading Blender's EXR passes needs the OpenEXR package: pip install 'egogen[render]'") from e
    order = {c: i for i, c in enumerate("RGBAXYZV")}
    out: dict[str, np.ndarray] = {}
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for part in f.parts:
            chans = {}
            for name, ch in part.channels.items():
                parts = name.split(".")
                pass_name = parts[-2] if len(parts) >= 2 else part.name()
                chans.setdefault(pass_name, []).append((order.get(parts[-1], 9), np.asarray(ch.pixels, np.float32)))
            for pass_name, cs in chans.items():
                out[pass_name] = np.stack([c for _, c in sorted(cs, key=lambda t: t[0])], axis=-1)
    return out
