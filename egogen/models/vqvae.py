"""1D-convolutional VQ-VAEs over time: the motion, camera and gaze tokenizers.

Architecture (T2M-GPT / EgoLM style, fully convolutional over time): an encoder of
``down`` stride-2 convolutions, each followed by dilated residual blocks, maps a window
(B, L, D) to (B, L / 2**down, code_dim); a quantizer replaces every latent step by codebook
entries; a mirrored decoder (nearest up-sampling + convolutions) maps them back to (B, L, D).
Features are normalised inside the model (``mean`` / ``std`` buffers set from the training
windows), so callers pass and get features in their own units.

Quantizers (vector-quantize-pytorch, EMA codebooks, dead-code replacement):

- ``pq`` with P codebooks (product quantization, EgoLM): the code_dim latent is split into P
  parts of code_dim / P, each quantized by its own codebook of ``codebook_size`` entries
  (``VectorQuantize(heads=P, separate_codebook_per_head=True)``). P tokens per latent step;
  the code parameters (codebook_size x code_dim) do not depend on P. EgoLM: PQ=2 (2 x 8192
  x 64) 34.5 mm vs PQ=1 51.6 mm MPJPE.
- ``rq`` with Q levels (residual quantization, VIM's RQ-VAE): level q quantizes what levels
  < q left over, each with ``codebook_size`` entries of code_dim (``ResidualVQ``). Q tokens
  per latent step.

Camera and gaze use ``pq`` with one codebook of 256 and 2x down-sampling: a 60-frame window
(2 s at 30 Hz) -> 30 tokens (EgoM2P).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from egogen.models.configs import VQVAEConfig

__all__ = ["Quantizer", "VQTokenizer", "ConvVQVAE", "VQOutput"]


class Quantizer(nn.Module):
    """Product (``pq``) or residual (``rq``) vector quantization of latent sequences.

    Args:
        kind: ``pq`` or ``rq``.
        num: codebooks (pq: parts of the latent; rq: residual levels) = tokens per step.
        dim: latent channels (divisible by ``num`` for pq).
        codebook_size: entries per codebook.
        decay, dead_code_threshold, commitment_weight, kmeans_init: see
            :class:`~egogen.models.configs.VQVAEConfig`.
    Raises:
        ValueError: unknown kind, ``num`` < 1, or ``dim`` not divisible by ``num`` for pq.
    """

    def __init__(self, kind: str, num: int, dim: int, codebook_size: int, decay: float = 0.9,
                 dead_code_threshold: float = 1.0, commitment_weight: float = 0.25, kmeans_init: bool = True):
        super().__init__()
        from vector_quantize_pytorch import ResidualVQ, VectorQuantize

        if kind not in ("pq", "rq") or num < 1:
            raise ValueError(f"quantizer must be pq or rq with >= 1 codebooks (got {kind}, {num})")
        self.kind, self.num, self.dim, self.codebook_size = kind, num, dim, codebook_size
        common = dict(codebook_size=codebook_size, decay=decay, threshold_ema_dead_code=dead_code_threshold,
                      commitment_weight=commitment_weight, kmeans_init=kmeans_init, kmeans_iters=10)
        if kind == "pq":
            if dim % num:
                raise ValueError(f"product quantization splits the latent: code_dim {dim} is not divisible by {num}")
            self.vq = VectorQuantize(dim=dim, codebook_dim=dim // num, heads=num,
                                     separate_codebook_per_head=num > 1, **common)
        else:
            self.vq = ResidualVQ(dim=dim, num_quantizers=num, **common)

    @property
    def code_parameters(self) -> int:
        """Numbers stored in all codebooks (entries x dims, summed)."""
        return self.codebook_size * self.dim * (self.num if self.kind == "rq" else 1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize.

        Args:
            z: (B, N, dim) latent steps.
        Returns:
            quantized (B, N, dim) (straight-through gradients to ``z``), indices (B, N, num)
            int64 (codebook entry per codebook), commitment loss (scalar). In training mode
            the codebooks are updated by EMA and dead codes replaced.
        """
        q, idx, loss = self.vq(z)
        if idx.ndim == 2:
            idx = idx[..., None]
        return q, idx.long(), loss.sum()

    def decode_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, N, num) indices -> (B, N, dim) quantized latent (what ``forward`` returns)."""
        if self.kind == "pq" and self.num == 1:
            idx = idx[..., 0]
        return self.vq.get_output_from_indices(idx)


class _Res(nn.Module):
    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation),
                                 nn.ReLU(), nn.Conv1d(width, width, 1))

    def forward(self, x):
        return x + self.net(x)


def _res_stack(width: int, n: int) -> list[nn.Module]:
    return [_Res(width, 3 ** i) for i in range(n)]


@dataclass
class VQOutput:
    """What :meth:`ConvVQVAE.forward` returns.

    Attributes:
        recon: (B, L, D) reconstruction, the input's units.
        indices: (B, L / 2**down, num) int64 token ids (per codebook, 0..codebook_size-1).
        commit_loss: scalar commitment loss.
    """

    recon: torch.Tensor
    indices: torch.Tensor
    commit_loss: torch.Tensor


class VQTokenizer(nn.Module):
    """What every VQ tokenizer shares: per-channel normalisation buffers, ``forward`` (encode,
    quantize, decode), ``encode`` to tokens and ``decode`` from them. Subclasses build
    ``self.quantizer`` and the ``mean`` / ``std`` buffers and define ``_encode`` (input ->
    (B, N, code_dim) latents) and ``_decode`` (quantized latents -> input units)."""

    quantizer: Quantizer

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-channel feature mean and std (D,) of the training data (std floored by the caller)."""
        self.mean.copy_(mean)
        self.std.copy_(std)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Features in their units -> normalised (per channel, last axis)."""
        return (x - self.mean) / self.std

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _decode(self, q: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> VQOutput:
        """Encode, quantize, decode.

        Args:
            x: input in its units (shape per subclass).
        Returns:
            :class:`VQOutput`.
        Raises:
            ValueError: wrong shape.
        """
        q, idx, commit = self.quantizer(self._encode(x))
        return VQOutput(self._decode(q), idx, commit)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Input -> (B, N, num_codebooks) int64 tokens (no codebook update whatever the mode)."""
        was = self.training
        self.eval()
        try:
            return self.quantizer(self._encode(x))[1]
        finally:
            self.train(was)

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, N, num_codebooks) tokens -> the input's shape and units."""
        return self._decode(self.quantizer.decode_indices(indices))


class ConvVQVAE(VQTokenizer):
    """A 1D-conv VQ-VAE over time for one modality.

    Args:
        in_dim: feature channels D per frame (motion 136, camera 9, gaze 2).
        cfg: sizes (:class:`~egogen.models.configs.VQVAEConfig`).
        quantizer: ``pq`` or ``rq``; num_codebooks: P or Q (tokens per latent step).
    Window lengths must be divisible by ``2 ** cfg.down``.
    """

    def __init__(self, in_dim: int, cfg: VQVAEConfig, quantizer: str = "pq", num_codebooks: int = 1):
        super().__init__()
        self.in_dim, self.cfg = in_dim, cfg
        w = cfg.width
        enc = [nn.Conv1d(in_dim, w, 3, padding=1), nn.ReLU()]
        for _ in range(cfg.down):
            enc += [nn.Conv1d(w, w, 4, stride=2, padding=1), *_res_stack(w, cfg.res_blocks)]
        enc += [nn.ReLU(), nn.Conv1d(w, cfg.code_dim, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv1d(cfg.code_dim, w, 3, padding=1)]
        for _ in range(cfg.down):
            dec += [*_res_stack(w, cfg.res_blocks), nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv1d(w, w, 3, padding=1)]
        dec += [nn.ReLU(), nn.Conv1d(w, w, 3, padding=1), nn.ReLU(), nn.Conv1d(w, in_dim, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self.quantizer = Quantizer(quantizer, num_codebooks, cfg.code_dim, cfg.codebook_size, cfg.decay,
                                   cfg.dead_code_threshold, cfg.commitment_weight, cfg.kmeans_init)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))

    @property
    def downsample(self) -> int:
        """Frames per latent step (2 ** down)."""
        return 2 ** self.cfg.down

    def tokens_per_window(self, length: int) -> int:
        """Tokens of a window of ``length`` frames: (length / downsample) x codebooks."""
        return length // self.downsample * self.quantizer.num

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.in_dim or x.shape[1] % self.downsample:
            raise ValueError(f"expected (B, L, {self.in_dim}) windows with L divisible by {self.downsample}, "
                             f"got {tuple(x.shape)}")

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.encoder(self.normalize(x).transpose(1, 2)).transpose(1, 2)

    def _decode(self, q: torch.Tensor) -> torch.Tensor:
        return self.decoder(q.transpose(1, 2)).transpose(1, 2) * self.std + self.mean
