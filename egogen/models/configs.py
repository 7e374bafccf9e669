"""Model configurations as data: ``tiny``, ``small``, ``base`` (the one place that sets sizes).

A configuration is a plain dataclass tree, so it can be printed, stored in a run folder
(``config.json``) and compared on ``--resume``. ``tiny`` trains every tokenizer in seconds
on 2 CPU cores (tests); ``small`` in minutes (a first real look at a few hundred
episodes); ``base`` follows the papers' sizes (EgoLM: 2 codebooks of 8192 x 64 for motion;
EgoM2P: 2 s clips at 30 Hz -> 30 tokens from a codebook of 256 for camera and gaze) and
wants a GPU.

A run folder's configuration can also come from a JSON or YAML file holding the same keys
(:func:`load_config`); missing keys keep the ``tiny`` values of the named ``base_config``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path

__all__ = ["VQVAEConfig", "ImageVQConfig", "WindowConfig", "PretrainConfig", "TokenizerConfig", "CONFIGS", "get_config",
           "load_config", "MOTION_QUANTIZERS"]

MOTION_QUANTIZERS = ("pq1", "pq2", "rq")
"""Motion quantizer variants trained side by side (EgoLM PQ ablation, VIM's RQ-VAE)."""


@dataclass(frozen=True)
class VQVAEConfig:
    """A 1D-convolutional VQ-VAE over time (:class:`egogen.models.vqvae.ConvVQVAE`).

    Attributes:
        width: channels of the convolutions.
        res_blocks: dilated residual blocks after each down-sampling stage (and before each
            up-sampling stage in the decoder).
        down: number of stride-2 stages; temporal down-sampling = 2 ** down (motion 4x as in
            EgoLM, camera / gaze 2x: 60 frames -> 30 tokens as in EgoM2P).
        code_dim: latent channels per time step that the quantizer sees.
        codebook_size: entries per codebook.
        decay: EMA decay of the codebooks.
        dead_code_threshold: a code whose EMA cluster size falls below this is replaced by
            a random encoder output of the batch (``threshold_ema_dead_code``).
        commitment_weight: weight of the commitment loss (encoder -> its code).
        kmeans_init: initialise the codebooks by k-means on the first batch.
    """

    width: int = 64
    res_blocks: int = 1
    down: int = 2
    code_dim: int = 32
    codebook_size: int = 64
    decay: float = 0.9
    dead_code_threshold: float = 1.0
    commitment_weight: float = 0.25
    kmeans_init: bool = True


@dataclass(frozen=True)
class ImageVQConfig(VQVAEConfig):
    """A 2D-convolutional VQ-VAE over rendered frames (:class:`egogen.models.imagevq.ImageVQVAE`).

    The VQ-VAE fields as for :class:`VQVAEConfig`, with ``down`` stride-2 stages in both image
    axes (patches of ``2 ** down`` px: 3 -> 8 px, 4 -> 16 px), plus:

    Attributes:
        size: frames are resized to ``size`` x ``size`` px before tokenizing (area average;
            depth: valid-pixel average of inverse depth).
        frames: rendered frames per 2 s window: the frames nearest to ``frames`` evenly spaced
            30 Hz frames from the window's first to its last (2: first and last).
        steps, batch_size: optimisation steps and windows per batch of this tokenizer (0: the
            run's ``steps`` / ``batch_size``); image batches cost far more than trajectory ones.
    Tokens per window: ``frames * (size / 2 ** down) ** 2``.
    """

    size: int = 32
    frames: int = 2
    steps: int = 0
    batch_size: int = 0


@dataclass(frozen=True)
class WindowConfig:
    """How training windows are cut from the 30 Hz streams (:mod:`egogen.models.data`).

    Attributes:
        length: frames per window (60 = 2 s at 30 Hz, EgoM2P's clip).
        stride: frames between training windows of one sample.
        heldout_stride: frames between held-out windows (non-overlapping by default).
        heldout_fraction: share of episodes held out (by a hash of the episode id).
    """

    length: int = 60
    stride: int = 15
    heldout_stride: int = 60
    heldout_fraction: float = 0.2


@dataclass(frozen=True)
class PretrainConfig:
    """The multimodal masked model of stage ``pretrain`` (:mod:`egogen.models.multimodal`, 4M /
    EgoM2P style).

    Attributes:
        modalities: token streams of the model, in the order of its modality table (each must
            have a trained tokenizer in the run folder; ``text`` uses the BPE).
        motion_tokenizer: which motion VQ-VAE gives the motion tokens (``pq2``: EgoLM's choice).
        text_tokens: BPE tokens per window (the window's caption + ``<eos>``, padded; pads are
            never inputs nor targets).
        dim, heads, encoder_layers, decoder_layers, ff_mult, dropout: the transformer
            (pre-norm ``torch.nn.TransformerEncoder`` / ``TransformerDecoder`` layers, feed-forward
            ``ff_mult * dim``).
        input_budget, target_budget: tokens the encoder sees / the decoder predicts per window
            (4M's input and target token budgets), split over the modalities by
            :func:`~egogen.models.multimodal.dirichlet_budgets`.
        alpha: Dirichlet concentration of the budget split, the same for every modality (4M:
            small alphas put most of a budget on one modality, so single modalities learn to
            predict others).
        steps, batch_size, lr, weight_decay, warmup: AdamW with linear warm-up then cosine decay
            to 10 %.
        eval_every, checkpoint_every: held-out loss period and checkpoint period (steps).
        decode_steps: steps of the any-to-any decoding used by the evaluation tasks (1: one
            shot; more: most confident tokens first, as 4M / MaskGIT).
        clip_dim, clip_steps, clip_batch, clip_lr: the contrastive motion-text model of the
            text-to-motion task (:mod:`egogen.models.textmotion`): embedding width, AdamW steps,
            batch, learning rate.
        retrieval_batch: candidates per retrieval query in text to motion (Guo et al. 2022's
            R-precision uses 32).
    """

    modalities: tuple = ("motion", "camera", "wrists", "gaze", "text", "rgb", "depth")
    motion_tokenizer: str = "pq2"
    text_tokens: int = 16
    dim: int = 64
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    ff_mult: int = 2
    dropout: float = 0.0
    input_budget: int = 48
    target_budget: int = 48
    alpha: float = 0.5
    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 30
    eval_every: int = 100
    checkpoint_every: int = 100
    decode_steps: int = 1
    clip_dim: int = 64
    clip_steps: int = 300
    clip_batch: int = 64
    clip_lr: float = 1e-3
    retrieval_batch: int = 32


@dataclass(frozen=True)
class TokenizerConfig:
    """Everything ``egogen train-model --stage tokenizers`` trains, and how.

    Attributes:
        name: ``tiny``, ``small``, ``base`` or the name of a custom file.
        windows: window cutting and the train / held-out split.
        motion: motion VQ-VAE (4x down-sampling); ``codebook_size`` and ``code_dim`` are the
            totals of every quantizer variant: PQ with P codebooks splits ``code_dim`` into P
            parts of ``code_dim / P``, each with its own ``codebook_size`` codes, so PQ=1 and
            PQ=2 hold the same number of code parameters (EgoLM's ablation).
        motion_quantizers: which of ``pq1``, ``pq2``, ``rq`` to train.
        rq_quantizers: residual depth of ``rq`` (VIM's RQ-VAE); each level has
            ``codebook_size`` codes of ``code_dim`` (so RQ holds ``rq_quantizers`` times the
            code parameters of PQ, with as many tokens per step as PQ=``rq_quantizers``).
        camera, gaze: VQ-VAEs over 60-frame windows, 2x down-sampling -> 30 tokens,
            codebook 256 (EgoM2P).
        wrists: the VQ-VAE of the wrist trajectories (EgoLM's 3-point sensors without the head,
            which the camera stream carries; 60 x 18 -> 30 tokens); the camera's sizes.
        rgb, depth: image VQ-VAEs over the rendered frames of ``egogen render`` (EgoM2P's image
            tokenizers, small): RGB in [0, 1], depth as inverse depth (1/m, 0 = nothing).
        joint_loss_weight: weight of the joint-position L1 (metres, through forward
            kinematics) added to the motion feature loss (EgoLM's joint term): pelvis-relative
            joints + ``window_joint_weight`` x joints in the window frame (root trajectory
            integrated from the velocities, so drift is penalised).
        steps, batch_size, lr, weight_decay: optimisation (AdamW, cosine decay to 10 %).
        eval_every: held-out evaluation period (steps); checkpoint_every: checkpoint period.
        text_vocab_size: BPE vocabulary size (byte-level, so any text round-trips).
        pretrain: the multimodal masked model trained on the tokens (stage ``pretrain``); its
            keys do not take part in the tokenizer stage's ``--resume`` check.
    """

    name: str = "tiny"
    windows: WindowConfig = field(default_factory=WindowConfig)
    motion: VQVAEConfig = field(default_factory=lambda: VQVAEConfig(width=32, code_dim=32, codebook_size=32))
    motion_quantizers: tuple = MOTION_QUANTIZERS
    rq_quantizers: int = 2
    camera: VQVAEConfig = field(default_factory=lambda: VQVAEConfig(width=32, down=1, codebook_size=256, code_dim=16))
    gaze: VQVAEConfig = field(default_factory=lambda: VQVAEConfig(width=32, down=1, codebook_size=256, code_dim=8))
    wrists: VQVAEConfig = field(default_factory=lambda: VQVAEConfig(width=32, down=1, codebook_size=256, code_dim=16))
    rgb: ImageVQConfig = field(default_factory=lambda: ImageVQConfig(width=16, down=3, codebook_size=128, code_dim=16,
                                                                     steps=150, batch_size=16))
    depth: ImageVQConfig = field(default_factory=lambda: ImageVQConfig(width=16, down=3, codebook_size=128,
                                                                       code_dim=16, steps=150, batch_size=16))
    joint_loss_weight: float = 10.0
    window_joint_weight: float = 0.2
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    eval_every: int = 100
    checkpoint_every: int = 100
    text_vocab_size: int = 400
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))


CONFIGS: dict[str, TokenizerConfig] = {
    # seconds on 2 CPU cores: the tests
    "tiny": TokenizerConfig(),
    # minutes on CPU: a few hundred episodes
    "small": TokenizerConfig(
        name="small",
        windows=WindowConfig(stride=10),
        motion=VQVAEConfig(width=96, res_blocks=2, code_dim=64, codebook_size=256, decay=0.99,
                           dead_code_threshold=2.0),
        camera=VQVAEConfig(width=64, res_blocks=2, down=1, code_dim=32, codebook_size=256, decay=0.99,
                           dead_code_threshold=2.0),
        gaze=VQVAEConfig(width=48, res_blocks=2, down=1, code_dim=16, codebook_size=256, decay=0.99,
                         dead_code_threshold=2.0),
        wrists=VQVAEConfig(width=64, res_blocks=2, down=1, code_dim=32, codebook_size=256, decay=0.99,
                           dead_code_threshold=2.0),
        rgb=ImageVQConfig(width=32, res_blocks=1, down=3, code_dim=32, codebook_size=512, decay=0.99,
                          dead_code_threshold=2.0, size=64, frames=2, steps=1000, batch_size=32),
        depth=ImageVQConfig(width=32, res_blocks=1, down=3, code_dim=32, codebook_size=512, decay=0.99,
                            dead_code_threshold=2.0, size=64, frames=2, steps=1000, batch_size=32),
        steps=2000, batch_size=64, lr=1e-3, eval_every=250, checkpoint_every=250, text_vocab_size=2000,
        pretrain=PretrainConfig(text_tokens=24, dim=128, heads=4, encoder_layers=2, decoder_layers=2, ff_mult=2,
                                dropout=0.1, input_budget=96, target_budget=64, steps=2000, batch_size=64, lr=5e-4,
                                warmup=100, eval_every=250, checkpoint_every=250, clip_dim=128, clip_steps=1000)),
    # the papers' sizes (GPU): EgoLM motion 2 x 8192 x 64, EgoM2P camera / gaze 30 tokens of 256
    "base": TokenizerConfig(
        name="base",
        windows=WindowConfig(stride=5),
        motion=VQVAEConfig(width=512, res_blocks=3, code_dim=128, codebook_size=8192, decay=0.99,
                           dead_code_threshold=2.0),
        camera=VQVAEConfig(width=256, res_blocks=3, down=1, code_dim=64, codebook_size=256, decay=0.99,
                           dead_code_threshold=2.0),
        gaze=VQVAEConfig(width=128, res_blocks=3, down=1, code_dim=32, codebook_size=256, decay=0.99,
                         dead_code_threshold=2.0),
        wrists=VQVAEConfig(width=256, res_blocks=3, down=1, code_dim=64, codebook_size=256, decay=0.99,
                           dead_code_threshold=2.0),
        rgb=ImageVQConfig(width=128, res_blocks=2, down=4, code_dim=64, codebook_size=8192, decay=0.99,
                          dead_code_threshold=2.0, size=256, frames=4),
        depth=ImageVQConfig(width=128, res_blocks=2, down=4, code_dim=64, codebook_size=8192, decay=0.99,
                            dead_code_threshold=2.0, size=256, frames=4),
        steps=100_000, batch_size=256, lr=2e-4, eval_every=2000, checkpoint_every=2000, text_vocab_size=8000,
        pretrain=PretrainConfig(text_tokens=32, dim=512, heads=8, encoder_layers=8, decoder_layers=8, ff_mult=4,
                                dropout=0.1, input_budget=128, target_budget=128, alpha=0.2, steps=100_000,
                                batch_size=256, lr=1e-4, warmup=5000, eval_every=5000, checkpoint_every=5000,
                                decode_steps=8, clip_dim=256, clip_steps=5000, clip_batch=256, clip_lr=5e-4)),
}
"""The named configurations."""


def get_config(name: str) -> TokenizerConfig:
    """The named configuration.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown config {name!r}; choose one of {', '.join(CONFIGS)} or pass a .json / "
                         ".yaml file") from None


def _from_dict(cls, base, data: dict):
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
    kw = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        cur, val = getattr(base, f.name), data[f.name]
        if is_dataclass(cur):
            kw[f.name] = _from_dict(type(cur), cur, dict(val))
        elif isinstance(cur, tuple):
            kw[f.name] = tuple(val)
        else:
            kw[f.name] = type(cur)(val) if cur is not None and not isinstance(cur, bool) else val
    return replace(base, **kw)


def config_from_dict(data: dict) -> TokenizerConfig:
    """A configuration from a dict of (possibly partial) keys; ``base_config`` (default
    ``tiny``) gives the values of missing keys."""
    data = dict(data)
    base = get_config(data.pop("base_config", "tiny"))
    return _from_dict(TokenizerConfig, base, data)


def load_config(spec: str | Path) -> TokenizerConfig:
    """A configuration by name (``tiny``, ``small``, ``base``) or from a .json / .yaml file.

    Raises:
        ValueError: unknown name, unreadable file or unknown keys.
    """
    if str(spec) in CONFIGS:
        return CONFIGS[str(spec)]
    path = Path(spec)
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist")
        text = path.read_text()
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"config file {path} must hold a mapping of config keys")
        data.setdefault("name", path.stem)
        return config_from_dict(data)
    return get_config(str(spec))
