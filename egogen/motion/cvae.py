"""Motion-primitive C-VAE: the action space of egogen's humans (EgoGen, "Motion-primitive
C-VAE"; GAMMA's marker predictor).

Frames are SSM2 marker sets flattened to D = 67 x 3 = 201 values (metres, primitive canonical
frame: z up, origin = first-frame pelvis on the floor, +y forward). Given 2 history frames and
a latent z ~ N(0, I), the decoder predicts the 13 future frames (30 Hz, 0.43 s) one at a time
as residuals of the previous frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["CVAEConfig", "MotionCVAE", "cvae_loss", "robust_kl"]


@dataclass(frozen=True)
class CVAEConfig:
    """Sizes (egogen: hidden 128, latent 32; EgoGen: hidden 256, latent 128, 2 + 18 frames
    at 40 fps; see docs/motion.md for the choice)."""

    feature_dim: int = 201
    hidden: int = 128
    latent: int = 32
    history: int = 2
    future: int = 13

    def to_dict(self) -> dict:
        return asdict(self)


class MotionCVAE(nn.Module):
    """History-conditioned C-VAE over marker sequences (EgoGen / GAMMA architecture).

    Encoder: GRU over the history and GRU over the future (D -> hidden each), concatenated,
    MLP (2 hidden -> hidden, tanh) -> mu, logvar (latent). Decoder: history feature h ->
    MLP -> initial GRU state; per future step a GRU cell reads [h, z, previous frame] and an
    MLP outputs the residual added to the previous frame.
    """

    def __init__(self, cfg: CVAEConfig = CVAEConfig()):
        super().__init__()
        self.cfg = cfg
        D, H, Z = cfg.feature_dim, cfg.hidden, cfg.latent
        self.hist_enc = nn.GRU(D, H, batch_first=True)
        self.fut_enc = nn.GRU(D, H, batch_first=True)
        self.post = nn.Sequential(nn.Linear(2 * H, H), nn.Tanh())
        self.mu = nn.Linear(H, Z)
        self.logvar = nn.Linear(H, Z)
        self.init_h = nn.Sequential(nn.Linear(H, H), nn.Tanh())
        self.cell = nn.GRUCell(H + Z + D, H)
        self.out = nn.Sequential(nn.Linear(H, H), nn.Tanh(), nn.Linear(H, D))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def _hist(self, history: torch.Tensor) -> torch.Tensor:
        return self.hist_enc(history)[1][-1]

    def encode(self, history: torch.Tensor, future: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2, D) history, (B, 13, D) future -> mu, logvar (B, latent)."""
        h = torch.cat([self._hist(history), self.fut_enc(future)[1][-1]], dim=-1)
        e = self.post(h)
        return self.mu(e), self.logvar(e)

    def decode(self, history: torch.Tensor, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Predict future frames.

        Args:
            history: (B, 2, D) float32 canonical markers, metres.
            z: (B, latent) latent code (the RL action).
            steps: frames to predict (default ``cfg.future``).
        Returns:
            (B, steps, D) future markers in the same canonical frame.
        """
        h = self._hist(history)
        s = self.init_h(h)
        prev = history[:, -1]
        out = []
        for _ in range(steps or self.cfg.future):
            s = self.cell(torch.cat([h, z, prev], dim=-1), s)
            prev = prev + self.out(s)
            out.append(prev)
        return torch.stack(out, dim=1)

    def forward(self, history: torch.Tensor, future: torch.Tensor, sample: bool = True):
        """Reconstruct ``future``: returns (prediction (B, 13, D), mu, logvar)."""
        mu, logvar = self.encode(history, future)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.decode(history, z, future.shape[1]), mu, logvar

    def sample(self, history: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random primitive(s): z ~ N(0, I). (B, 2, D) -> (B, 13, D)."""
        z = torch.randn(history.shape[0], self.cfg.latent, generator=generator,
                        dtype=history.dtype).to(history.device)
        return self.decode(history, z)


def robust_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """EgoGen's robust KL: KL = mean over batch and dims of 0.5(-1 - logvar + mu^2 + e^logvar);
    returns sqrt(1 + KL^2) - 1 (scalar)."""
    kl = (0.5 * (-1 - logvar + mu.pow(2) + logvar.exp())).mean()
    return torch.sqrt(1 + kl * kl) - 1


def cvae_loss(pred: torch.Tensor, future: torch.Tensor, history: torch.Tensor, mu: torch.Tensor,
              logvar: torch.Tensor, w_diff: float = 3.0, w_kl: float = 1.0) -> tuple[torch.Tensor, dict]:
    """EgoGen loss: L1(Y, Y_hat) + 3.0 L1 of first temporal differences + w_kl robust KL.

    Differences include the step from the last history frame to the first future frame.
    Args: pred, future (B, T, D) metres; history (B, 2, D); mu, logvar (B, latent).
    Returns: (scalar loss, dict of float parts ``rec``, ``diff``, ``kl``).
    """
    rec = (pred - future).abs().mean()
    last = history[:, -1:]
    dp = torch.diff(torch.cat([last, pred], 1), dim=1)
    dg = torch.diff(torch.cat([last, future], 1), dim=1)
    diff = (dp - dg).abs().mean()
    kl = robust_kl(mu, logvar)
    loss = rec + w_diff * diff + w_kl * kl
    return loss, {"rec": float(rec.detach()), "diff": float(diff.detach()), "kl": float(kl.detach())}
