"""Training floors for the policy curriculum: an open floor, optionally with a few boxes.

``floor`` is an empty 10 x 10 m floor; ``floor:SEED`` adds 1-3 boxes (0.3-1.2 m wide,
0.4-1.2 m tall) drawn from SEED, with enough free floor between them to walk around.
The curriculum of the policy (EgoGen trains on random box-obstacle floors) goes open
floor -> single boxes -> the apartment -> crowds.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from egogen.scene import furniture
from egogen.scene.builder import SceneBuilder
from egogen.scene.model import Material, Room, Scene

FLOOR_SIZE = 10.0
LIFT = 0.001  # boxes stand 1 mm above the floor so their bottoms never coincide with it


def generate_training_floor(seed: Optional[int] = None, size: float = FLOOR_SIZE) -> Scene:
    """An open square floor (``seed=None``) or one with 1-3 boxes drawn from ``seed``.

    Args:
        seed: box seed, or None for no boxes.
        size: side of the floor, metres (floor spans [0, size] in x and y, top at z = 0).
    Returns:
        A :class:`Scene` (labels ``floor`` and ``box``), deterministic per seed.
    """
    b = SceneBuilder()
    b.add(furniture._box(0, 0, -0.1, size, size, 0.0), "floor", Material((0.6, 0.6, 0.58), "plaster"), "floor")
    if seed is not None:
        rng = np.random.default_rng([int(seed), 0xF100])
        placed: list[np.ndarray] = []
        for _ in range(int(rng.integers(1, 4))):
            for _attempt in range(50):
                w, d = rng.uniform(0.3, 1.2, 2)
                h = rng.uniform(0.4, 1.2)
                c = rng.uniform(2.0, size - 2.0, 2)
                if all(np.abs(c - p[:2]).max() > (max(w, d) + p[2]) / 2 + 0.9 for p in placed):
                    break
            else:
                continue
            placed.append(np.array([c[0], c[1], max(w, d)]))
            colour = tuple(float(v) for v in rng.uniform(0.2, 0.8, 3))
            b.add(furniture._box(c[0] - w / 2, c[1] - d / 2, LIFT, c[0] + w / 2, c[1] + d / 2, h + LIFT),
                  "box", Material(colour, "solid"), "floor")
    name = "floor" if seed is None else f"floor-{int(seed)}"
    return b.scene(rooms=[Room("floor", "floor", (0.0, 0.0, size, size))], name=name, source="floor",
                   seed=None if seed is None else int(seed))
