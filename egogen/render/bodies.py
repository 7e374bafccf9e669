"""Posed people for rendering: body meshes, the wearer's own body without its head, and
varied procedural appearance (skin tone, clothing colours and patterns; no textures).

Body regions come from the body model's skinning weights (the joint that moves a vertex
most), so they work for the default body and for licensed SMPL-X files alike.
"""

from __future__ import annotations

import colorsys

import numpy as np

from egogen.body.skeleton import JOINT_NAMES
from egogen.render.frame import BodyAppearance, BodyMesh

HEAD_JOINTS = ("head", "jaw", "left_eye_smplhf", "right_eye_smplhf")
"""Joints whose vertices the wearer does not see (the camera sits inside the head)."""

SKIN_TONES = np.array([  # linear RGB, light to dark (roughly Fitzpatrick I-VI)
    [0.80, 0.58, 0.47], [0.72, 0.49, 0.37], [0.60, 0.39, 0.27],
    [0.45, 0.27, 0.17], [0.27, 0.15, 0.09], [0.13, 0.07, 0.045],
])

CLOTH_PATTERNS = ("solid", "fabric_weave", "stripes")


def dominant_joint(body_model) -> np.ndarray:
    """(V,) int64 index (SMPL-X joint order) of the joint with the largest skinning weight."""
    return body_model.smplx.lbs_weights.detach().cpu().numpy().argmax(axis=1)


def wearer_faces(body_model) -> np.ndarray:
    """(F', 3) int64 faces of the body without the head (for the camera wearer's own view).

    The head-mounted camera sits at the eyes, inside the head mesh; dropping every face that
    touches a head/jaw/eye vertex lets the wearer see their own torso, arms, hands and legs.
    """
    dom = dominant_joint(body_model)
    head = np.isin(dom, [JOINT_NAMES.index(j) for j in HEAD_JOINTS])
    faces = body_model.faces
    return faces[~head[faces].any(axis=1)]


def random_appearance(body_model, seed: int) -> BodyAppearance:
    """A random look: skin tone, top and trousers colours, sleeve/leg length, cloth pattern.

    Args:
        body_model: the :class:`egogen.body.BodyModel` whose vertices will be coloured.
        seed: integer seed; the same seed gives the same look.
    Returns:
        :class:`BodyAppearance` with (V, 3) float32 linear vertex colours.
    """
    rng = np.random.default_rng(seed)
    names = [JOINT_NAMES[j] for j in dominant_joint(body_model)]
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.1)

    def cloth():
        h, s, v = rng.uniform(0, 1), rng.uniform(0.1, 0.8), rng.uniform(0.08, 0.85)
        return np.array(colorsys.hsv_to_rgb(h, s, v)) ** 2.2  # sRGB-ish -> linear

    top, bottom, shoes = cloth(), cloth(), cloth() * 0.4
    long_sleeves, long_legs = rng.random() < 0.5, rng.random() < 0.8
    top_joints = {"spine1", "spine2", "spine3", "left_collar", "right_collar", "left_shoulder",
                  "right_shoulder"} | ({"left_elbow", "right_elbow"} if long_sleeves else set())
    bottom_joints = {"pelvis", "left_hip", "right_hip"} | (
        {"left_knee", "right_knee", "left_ankle", "right_ankle"} if long_legs else set())
    shoe_joints = {"left_foot", "right_foot"}
    colours = np.empty((len(names), 3))
    cloth_mask = np.zeros(len(names), dtype=bool)
    for i, n in enumerate(names):
        if n in top_joints:
            colours[i], cloth_mask[i] = top, True
        elif n in bottom_joints:
            colours[i], cloth_mask[i] = bottom, True
        elif n in shoe_joints:
            colours[i] = shoes
        else:
            colours[i] = skin
    return BodyAppearance(np.clip(colours, 0, 1).astype(np.float32), float(rng.uniform(0.45, 0.8)),
                          CLOTH_PATTERNS[rng.integers(len(CLOTH_PATTERNS))], cloth_mask)


def pose_bodies(body_model, person_indices=None, wearer: int | None = None, appearance_seed: int = 0,
                **params) -> list[BodyMesh]:
    """Run the body model and wrap each posed body as a :class:`BodyMesh`.

    Args:
        body_model: :class:`egogen.body.BodyModel`.
        person_indices: (B,) person index of each body (default 0..B-1).
        wearer: person index of the camera wearer (its head is removed), or None.
        appearance_seed: person k gets ``random_appearance(body_model, appearance_seed + k)``.
        **params: SMPL-X parameters as torch tensors with batch B (``betas``,
            ``global_orient``, ``body_pose``, ``transl`` ...), world frame.
    Returns:
        B body meshes, world-frame vertices in metres.
    """
    import torch

    with torch.no_grad():
        verts = body_model(**params).vertices.detach().cpu().numpy().astype(np.float64)
    idx = list(range(len(verts))) if person_indices is None else [int(i) for i in person_indices]
    out = []
    for v, k in zip(verts, idx):
        faces = wearer_faces(body_model) if k == wearer else body_model.faces
        out.append(BodyMesh(v, faces, k, random_appearance(body_model, appearance_seed + k)))
    return out
