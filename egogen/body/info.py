"""A summary of a body model, for ``egogen body info``."""

from __future__ import annotations

from typing import Optional

import torch

from egogen.body.model import BodyModel
from egogen.body.skeleton import NUM_JOINTS


def body_info(body: BodyModel, betas: Optional[torch.Tensor] = None) -> dict:
    """Facts about a loaded body model.

    Args:
        body: the model.
        betas: (1, num_betas) shape to measure; ``None`` = mean shape.
    Returns:
        JSON-ready dict: model_type, num_vertices, num_faces, num_joints, num_betas,
        height_m (rest pose, top of head to sole, metres), num_markers, source, licence, path.
    """
    with torch.no_grad():
        height = float(body.rest_height(betas)[0])
    return {
        "model_type": "smplx",
        "num_vertices": body.num_vertices,
        "num_faces": int(body.faces.shape[0]),
        "num_joints": NUM_JOINTS,
        "num_betas": body.num_betas,
        "betas": None if betas is None else [round(float(b), 4) for b in betas[0]],
        "height_m": round(height, 4),
        "num_markers": 0 if body.markers is None else len(body.markers.names),
        "source": body.source,
        "licence": body.licence,
        "path": str(body.path),
    }
