"""Exact SSM2 markers (and joints) of an SMPL-X body without posing the whole mesh.

``BodyModel.marker_positions`` needs all 13718 posed vertices of the default body (about
12 ms per frame on one core). Markers only depend on the marker vertices and the 1-ring faces
around them (for the area-weighted normals), so :class:`MarkerBody` runs smplx's linear blend
skinning (``smplx.lbs``: shape blend, pose correctives, rigid transforms, skinning) on that
vertex subset and the 22 body joints only (hands, jaw and eyes at rest). Same maths, same
result up to float rounding; a few hundred times faster than the full mesh.
Used for the primitive dataset (EgoGen "Motion primitives") and the regressor's marker loss
(EgoGen "Marker -> SMPL-X regressor").
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MarkerBody"]


class MarkerBody(torch.nn.Module):
    """Markers and joints of an SMPL-X body for body joints 0..21 (hands, jaw, eyes at rest).

    Args:
        body: an :class:`egogen.body.BodyModel` with a marker table.
    Raises:
        egogen.body.BodyModelError: if the body has no marker table.
    """

    def __init__(self, body):
        super().__init__()
        s = body.smplx
        if body.markers is None:
            body.marker_positions(s.v_template[None])  # raises the explanatory error
        ids = torch.as_tensor(body.markers.vertex_ids, dtype=torch.long)
        faces = s.faces_tensor.long()
        ring = faces[torch.isin(faces, ids).any(dim=1)]  # faces touching a marker vertex
        sub, inv = torch.unique(ring.flatten(), return_inverse=True)
        self.num_betas = int(s.num_betas)
        self.distance = float(body.markers.distance_from_skin)
        dt = s.v_template.dtype
        V = s.v_template.shape[0]
        self.register_buffer("v_template", s.v_template[sub].clone())
        self.register_buffer("shapedirs", s.shapedirs[sub].clone())  # (S, 3, NB)
        pd = s.posedirs.reshape(s.posedirs.shape[0], V, 3)[:, sub]  # (P, S, 3)
        self.register_buffer("posedirs", pd.reshape(pd.shape[0], -1).clone())
        self.register_buffer("faces", inv.reshape(-1, 3))
        self.register_buffer("marker_sub", torch.searchsorted(sub, ids))
        Jr = s.J_regressor.to(dt)
        self.register_buffer("J_template", Jr @ s.v_template)  # (55, 3)
        self.register_buffer("J_shapedirs", torch.einsum("jv,vck->jck", Jr, s.shapedirs))
        parents = s.parents.clone()
        self.register_buffer("parents", parents)
        # Joints 22..54 (jaw, eyes, fingers) stay at rest, so each one's skinning transform
        # equals that of its nearest ancestor among joints 0..21: fold their weights there.
        anc = list(range(55))
        for j in range(22, 55):
            a = j
            while a >= 22:
                a = int(parents[a])
            anc[j] = a
        w = torch.zeros(len(sub), 22, dtype=dt)
        w.index_add_(1, torch.as_tensor(anc), s.lbs_weights[sub])
        self.register_buffer("weights", w)
        self.register_buffer("posedirs", self.posedirs[: 21 * 9].clone())  # rows of joints 1..21
        # full rest mesh pieces, for sole heights (not saved in checkpoints)
        self.register_buffer("full_template", s.v_template.clone(), persistent=False)
        self.register_buffer("full_shapedirs", s.shapedirs.clone(), persistent=False)

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """(B, NB) betas -> (B, 55, 3) rest joints, SMPL-X canonical (Y up, T-pose), metres."""
        return self.J_template + torch.einsum("jck,bk->bjc", self.J_shapedirs, betas)

    def rest_vertices(self, betas: torch.Tensor) -> torch.Tensor:
        """(B, NB) betas -> (B, V, 3) full rest mesh, SMPL-X canonical, metres."""
        return self.full_template + torch.einsum("vck,bk->bvc", self.full_shapedirs, betas)

    def forward(self, betas: torch.Tensor, rotmats: torch.Tensor,
                transl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pose the body (hands, jaw and eyes at rest, expression zero).

        Args:
            betas: (B, NB) shape coefficients.
            rotmats: (B, 22, 3, 3) local rotations of joints 0..21 (0 = global orient, body
                canonical Y-up -> world), same dtype as the model.
            transl: (B, 3) SMPL-X ``transl``, metres.
        Returns:
            markers (B, M, 3) equal to ``BodyModel.marker_positions(body(...).vertices)``;
            joints (B, 22, 3) equal to ``body(...).joints[:, :22]``; world frame, metres.
        """
        B = betas.shape[0]
        eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
        v = self.v_template + torch.einsum("sck,bk->bsc", self.shapedirs, betas)
        J = self.rest_joints(betas)[:, :22]
        v = v + ((rotmats[:, 1:] - eye).reshape(B, -1) @ self.posedirs).reshape(B, -1, 3)
        G, P = [rotmats[:, 0]], [J[:, 0]]
        for j in range(1, 22):
            p = int(self.parents[j])
            G.append(G[p] @ rotmats[:, j])
            P.append(P[p] + (G[p] @ (J[:, j] - J[:, p])[..., None])[..., 0])
        G, P = torch.stack(G, 1), torch.stack(P, 1)  # (B, 22, 3, 3), (B, 22, 3)
        t = P - (G @ J[..., None])[..., 0]  # skinning transform x -> G x + t
        Gv = torch.einsum("sj,bjxy->bsxy", self.weights, G)
        tv = torch.einsum("sj,bja->bsa", self.weights, t)
        v = (Gv @ v[..., None])[..., 0] + tv + transl[:, None]
        tri = v[:, self.faces]
        fn = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
        vn = torch.zeros_like(v)
        for k in range(3):
            vn = vn.index_add(1, self.faces[:, k], fn)
        vn = torch.nn.functional.normalize(vn[:, self.marker_sub], dim=-1)
        return v[:, self.marker_sub] + self.distance * vn, P + transl[:, None]

    @staticmethod
    def sole_height(rest_vertices: np.ndarray) -> float:
        """Lowest rest-mesh height (canonical Y) = the sole, metres."""
        return float(np.asarray(rest_vertices)[:, 1].min())
