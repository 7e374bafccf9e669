"""Seed re-projection: keep chained primitives on a human body (EgoGen run-time step).

The C-VAE predicts markers, not a body, so a long chain of primitives can drift off any human
shape (hips that shorten, a torso that stretches): nothing ties one primitive's markers to a
skeleton. EgoGen therefore regresses SMPL-X from the two seed frames of every next primitive
and seeds it with ``alpha * (markers of the regressed body) + (1 - alpha) * predicted``
(EgoGen's public code: alpha = 0.5; ../shared/reference/egogen_method.md, "Marker -> SMPL-X
regressor"). :class:`SeedProjector` does that for a batch of seeds: canonical frame of the first
seed frame (as the regressor was trained), regression of both frames, markers of the regressed
body through :class:`~egogen.motion.markers.MarkerBody`, back to the world frame, blend.
"""

from __future__ import annotations

import torch

from egogen.motion.markers import MarkerBody
from egogen.motion.regressor import unpack
from egogen.motion.rollout import _from_c, _to_c, canonical_frame_t

__all__ = ["SeedProjector", "DEFAULT_ALPHA"]

DEFAULT_ALPHA = 0.5
"""EgoGen's blend weight of the re-projected markers."""


class SeedProjector(torch.nn.Module):
    """Blend seed markers with the markers of the SMPL-X body regressed from them.

    Args:
        motion: :class:`~egogen.motion.checkpoint.MotionModels` with a regressor.
        body: the :class:`~egogen.body.BodyModel` the regressor was trained for (its
            ``num_betas`` must equal the regressor's).
        alpha: weight of the re-projected markers in [0, 1] (0 = off, 1 = the body's markers
            only).
    Raises:
        ValueError: no regressor, a betas size mismatch, or ``alpha`` outside [0, 1].
    """

    def __init__(self, motion, body, alpha: float = DEFAULT_ALPHA):
        super().__init__()
        if motion.regressor is None:
            raise ValueError("seed re-projection needs the marker regressor (regressor.pt); train one with "
                             "`egogen train-motion` or set the re-projection weight to 0")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"re-projection weight {alpha} outside [0, 1]")
        nb = motion.regressor.cfg.num_betas
        if body.num_betas != nb:
            raise ValueError(f"the body has {body.num_betas} betas, the marker regressor takes {nb}: "
                             f"load it with load_body_model(num_betas={nb})")
        self.regressor, self.mj, self.alpha = motion.regressor, motion.marker_joints, float(alpha)
        self.marker_body = MarkerBody(body)
        self.num_betas = nb

    @torch.no_grad()
    def forward(self, seed: torch.Tensor, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Re-project seed frames.

        Args:
            seed: (B, S, M, 3) float32 world markers (metres, Z up) of S seed frames (S = 2 for
                the C-VAE); frame 0 defines the canonical frame.
            betas: (B, NB) body shapes of the people carrying them; default the mean shape.
        Returns:
            (B, S, M, 3) ``alpha * body markers + (1 - alpha) * seed``, world frame, same dtype.
        """
        if self.alpha == 0.0:
            return seed
        B, S, M, _ = seed.shape
        x = seed.float()
        b = torch.zeros(B, self.num_betas) if betas is None else torch.as_tensor(betas, dtype=torch.float32)
        R, o = canonical_frame_t(self.mj(x[:, 0]))
        local = _to_c(x, R, o).reshape(B * S, M, 3)
        bb = b.repeat_interleave(S, 0)
        rot, t = unpack(self.regressor(local, bb)[-1])
        body_m = self.marker_body(bb, rot, t)[0].reshape(B, S, M, 3)
        out = _from_c(body_m, R, o)
        return (self.alpha * out + (1.0 - self.alpha) * x).to(seed.dtype)
