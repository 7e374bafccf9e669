"""2D-convolutional VQ-VAE over rendered frames: the RGB and depth tokenizers.

A small VQGAN-style tokenizer without the adversarial term (EgoM2P tokenizes RGB and depth
with pretrained Cosmos tokenizers; egogen trains its own on the rendered frames, on CPU):
an encoder (a 2 x 2 patch stem, then ``down - 1`` stride-2 convolutions with residual blocks)
maps a frame (S, S, C) to an (S / 2**down)^2 grid of ``code_dim`` latents (one per patch of
2**down px), the same
:class:`~egogen.models.vqvae.Quantizer` as the motion / camera tokenizers (vector-quantize-pytorch,
EMA codebook, dead-code replacement) replaces each by a codebook entry, and a mirrored decoder
(nearest up-sampling + convolutions, a pixel shuffle last) maps the grid back to pixels. No
layer runs at full resolution, which keeps CPU training affordable.

It has the interface of :class:`~egogen.models.vqvae.ConvVQVAE` over a window of K frames,
so the training loop, the modality table and the masked model treat it like any other
tokenizer: ``encode`` (B, K, S, S, C) -> (B, K * h * w, 1) tokens (frame-major, then rows,
then columns), ``decode`` back, ``forward`` -> :class:`~egogen.models.vqvae.VQOutput`.
Features are normalised per channel inside the model (``mean`` / ``std`` buffers).
"""

from __future__ import annotations

import torch
from torch import nn

from egogen.models.configs import ImageVQConfig
from egogen.models.vqvae import Quantizer, VQTokenizer

__all__ = ["ImageVQVAE"]


class _Res2d(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, width, 1))

    def forward(self, x):
        return x + self.net(x)


class ImageVQVAE(VQTokenizer):
    """A 2D-conv VQ-VAE tokenizing each frame of a window into a grid of codes.

    Args:
        channels: C per pixel (rgb 3, inverse depth 1).
        cfg: sizes (:class:`~egogen.models.configs.ImageVQConfig`: ``size``, ``frames``, ``down``,
            ``width``, ``code_dim``, ``codebook_size`` ...).
    Raises:
        ValueError: ``size`` not divisible by ``2 ** down``.
    """

    def __init__(self, channels: int, cfg: ImageVQConfig):
        super().__init__()
        if cfg.size % (2 ** cfg.down):
            raise ValueError(f"image size {cfg.size} is not divisible by the patch size {2 ** cfg.down}")
        self.in_dim, self.cfg = channels, cfg
        w = cfg.width
        if cfg.down < 1:
            raise ValueError("an image tokenizer needs down >= 1 (patches of 2 ** down px)")
        # no convolution at full resolution (the cost on CPU): a 2 x 2 patch stem in, a pixel
        # shuffle out
        enc = [nn.Conv2d(channels, w, 2, stride=2), nn.ReLU()]
        for _ in range(cfg.down - 1):
            enc += [nn.Conv2d(w, w, 4, stride=2, padding=1)] + [_Res2d(w) for _ in range(cfg.res_blocks)]
        enc += [nn.ReLU(), nn.Conv2d(w, cfg.code_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv2d(cfg.code_dim, w, 3, padding=1)]
        for _ in range(cfg.down - 1):
            dec += [_Res2d(w) for _ in range(cfg.res_blocks)] + [nn.Upsample(scale_factor=2, mode="nearest"),
                                                                 nn.Conv2d(w, w, 3, padding=1)]
        dec += [nn.ReLU(), nn.Conv2d(w, 4 * channels, 3, padding=1), nn.PixelShuffle(2)]
        self.decoder = nn.Sequential(*dec)
        self.quantizer = Quantizer("pq", 1, cfg.code_dim, cfg.codebook_size, cfg.decay, cfg.dead_code_threshold,
                                   cfg.commitment_weight, cfg.kmeans_init)
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    @property
    def downsample(self) -> int:
        """Pixels per patch side (2 ** down)."""
        return 2 ** self.cfg.down

    @property
    def grid(self) -> int:
        """Patches per image side (size / 2 ** down)."""
        return self.cfg.size // self.downsample

    def tokens_per_window(self, length: int = 0) -> int:
        """Tokens of a window: frames x grid^2 (the window length in 30 Hz frames does not matter)."""
        return self.cfg.frames * self.grid ** 2

    def _check(self, x: torch.Tensor) -> None:
        c = self.cfg
        if x.ndim != 5 or tuple(x.shape[1:]) != (c.frames, c.size, c.size, self.in_dim):
            raise ValueError(f"expected (B, {c.frames}, {c.size}, {c.size}, {self.in_dim}) frames, "
                             f"got {tuple(x.shape)}")

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, S, S, C) -> (B, K * h * w, code_dim) latents."""
        self._check(x)
        B, K = x.shape[:2]
        z = self.encoder(self.normalize(x).flatten(0, 1).permute(0, 3, 1, 2))
        return z.permute(0, 2, 3, 1).reshape(B, K * self.grid ** 2, -1)

    def _decode(self, q: torch.Tensor) -> torch.Tensor:
        """(B, K * h * w, code_dim) -> (B, K, S, S, C) in the input's units."""
        B, g, K = q.shape[0], self.grid, self.cfg.frames
        z = q.reshape(B * K, g, g, -1).permute(0, 3, 1, 2)
        y = self.decoder(z).permute(0, 2, 3, 1)
        return (y * self.std + self.mean).reshape(B, K, self.cfg.size, self.cfg.size, self.in_dim)
