"""Test helper: write a tiny model file in the SMPL-X v1.1 npz layout.

One small cube of 8 vertices around each of the 55 joints of an SMPL-X-like skeleton,
rigidly skinned to its joint, with a J_regressor that averages the cube. It is never a
real SMPL-X file; it only exercises the code path users' licensed files take.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egogen.body.skeleton import PARENTS
from motion_helpers import smplx_like_rest

_CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float) * 0.01
_CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def tiny_smplx_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    J = smplx_like_rest()
    v = (J[:, None] + _CUBE[None]).reshape(-1, 3)
    nv = len(v)
    f = (np.arange(55)[:, None, None] * 8 + _CUBE_FACES[None]).reshape(-1, 3)
    owner = np.repeat(np.arange(55), 8)
    weights = np.eye(55)[owner]
    jreg = weights.T / 8.0
    shapedirs = np.zeros((nv, 3, 20))
    shapedirs[:, 1, 0] = v[:, 1] * 0.05  # beta 0 stretches the body vertically
    shapedirs[:, :, 1:10] = rng.normal(0, 1e-3, (nv, 3, 9))
    return dict(
        v_template=v, f=f.astype(np.int32), J_regressor=jreg, weights=weights,
        kintree_table=np.stack([np.array(PARENTS), np.arange(55)]), shapedirs=shapedirs,
        posedirs=np.zeros((nv, 3, 486)), hands_componentsl=np.eye(45), hands_componentsr=np.eye(45),
        hands_meanl=np.zeros(45), hands_meanr=np.zeros(45),
        lmk_faces_idx=np.zeros(51, dtype=np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3),
    )


def write_tiny_smplx(folder: Path, gender: str = "NEUTRAL", **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = tiny_smplx_arrays()
    arrays.update(overrides)
    path = folder / f"SMPLX_{gender}.npz"
    np.savez(path, **arrays)
    return path
