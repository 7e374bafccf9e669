"""Models trained on egogen's shards: tokenizers first, then the multimodal model (issue 8).

``egogen train-model --stage STAGE`` runs the stages of :data:`STAGES` in order:

- ``tokenizers`` (:func:`egogen.models.train_tokenizers.train_tokenizers`): motion VQ-VAEs
  (product quantization PQ=1 / PQ=2, EgoLM; residual quantization, VIM), camera and gaze
  VQ-VAEs (EgoM2P), a byte-level BPE for the text; metrics in ``OUT/metrics.json``.
- ``pretrain`` (:func:`egogen.models.pretrain.train_pretrain`): a 4M / EgoM2P-style
  encoder-decoder over the token streams with Dirichlet input / target budgets, then the
  any-to-any evaluation tasks (1- and 3-point full-body tracking, gaze from the head camera,
  motion to text, text to motion) next to nearest-neighbour baselines; merged into
  ``OUT/metrics.json`` under ``pretrain``.

:func:`train_model` runs several stages in order and skips those already complete in ``OUT``.

Modules: :mod:`~egogen.models.configs` (tiny / small / base), :mod:`~egogen.models.features`
(motion, camera, gaze features and metrics), :mod:`~egogen.models.data` (windows from
shards), :mod:`~egogen.models.vqvae`, :mod:`~egogen.models.text`,
:mod:`~egogen.models.train_tokenizers`, :mod:`~egogen.models.multimodal` (the masked model, its
modality table, budgets, any-to-any decoding), :mod:`~egogen.models.pretrain`,
:mod:`~egogen.models.textmotion` (BLEU / ROUGE-L, the contrastive motion-text model, retrieval),
:mod:`~egogen.models.report` (``--report``). docs/models.md has the overview.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["Stage", "STAGES", "stage_names", "train_model", "StageSkipped"]


@dataclass(frozen=True)
class Stage:
    """One stage of ``egogen train-model``.

    Attributes:
        name: the ``--stage`` value.
        summary: one line for ``--help``.
        implemented: False for stages that are planned but not written yet.
    """

    name: str
    summary: str
    implemented: bool = True


STAGES: tuple[Stage, ...] = (
    Stage("tokenizers", "motion VQ-VAEs (PQ=1, PQ=2, RQ), camera, wrist and gaze VQ-VAEs (30 tokens per 2 s), "
          "text BPE; held-out metrics in OUT/metrics.json"),
    Stage("pretrain", "4M / EgoM2P-style masked multimodal model on the tokens (needs the tokenizers in OUT), "
          "then 1- / 3-point tracking, gaze, motion-to-text and text-to-motion tasks vs nearest-neighbour "
          "baselines"),
)
"""The stages in the order they run; later stages read earlier stages' outputs in OUT."""


def stage_names() -> tuple[str, ...]:
    """Names of :data:`STAGES`, in order."""
    return tuple(s.name for s in STAGES)


@dataclass(frozen=True)
class StageSkipped:
    """What :func:`train_model` returns for a stage it found complete in the run folder."""

    reason: str


def train_model(data_dir: str | os.PathLike, out_dir: str | os.PathLike, config="tiny", seed: int = 0,
                resume: bool = False, stages: Optional[list[str]] = None,
                body_model: Optional[str | os.PathLike] = None, skip_corrupt: bool = False,
                device: Optional[str] = None, progress: Optional[Callable[[str, int, int, dict], None]] = None) -> dict:
    """Run stages of ``egogen train-model`` in order.

    Args:
        data_dir, out_dir, config, seed, resume, body_model, skip_corrupt, progress: as
            :func:`~egogen.models.train_tokenizers.train_tokenizers`; device: torch device of
            stage pretrain (None: GPU when present).
        stages: names to run (in :data:`STAGES` order). None: every stage, and a stage already
            complete in ``out_dir`` (with the same data, config and seed) is skipped.
    Returns:
        stage name -> its metrics, or :class:`StageSkipped`.
    Raises:
        egogen.models.train_tokenizers.TokenizerRunError,
        egogen.models.pretrain.PretrainRunError: a complete stage in ``out_dir`` was run with other
            options, or the errors of the stages themselves.
    """
    from egogen.models.configs import TokenizerConfig, load_config
    from egogen.models.pretrain import PretrainRunError, pretrain_complete, pretrain_run_diff, train_pretrain
    from egogen.models.train_tokenizers import (TokenizerRunError, tokenizer_run_diff, tokenizers_complete,
                                                train_tokenizers)

    cfg = config if isinstance(config, TokenizerConfig) else load_config(config)
    skip_complete = stages is None
    todo = [s.name for s in STAGES if s.implemented and (stages is None or s.name in stages)]
    results: dict = {}
    for name in todo:
        if name == "tokenizers":
            if skip_complete and tokenizers_complete(out_dir):
                diff = tokenizer_run_diff(out_dir, cfg, seed, data_dir, body_model)
                if diff:
                    raise TokenizerRunError(f"{out_dir} holds tokenizers trained with other {', '.join(diff)}; "
                                            "use the same --data, --config and --seed, or another --out")
                results[name] = StageSkipped(f"complete in {out_dir}")
                continue
            results[name] = train_tokenizers(data_dir, out_dir, cfg, seed=seed, resume=resume, body_model=body_model,
                                             skip_corrupt=skip_corrupt, progress=progress)
        elif name == "pretrain":
            if skip_complete and pretrain_complete(out_dir):
                diff = pretrain_run_diff(out_dir, cfg, seed)
                if diff:
                    raise PretrainRunError(f"{out_dir} holds a pretrained model with other {', '.join(diff)}; use "
                                           "the same --config and --seed, or another --out")
                results[name] = StageSkipped(f"complete in {out_dir}")
                continue
            results[name] = train_pretrain(data_dir, out_dir, cfg, seed=seed, resume=resume, body_model=body_model,
                                           skip_corrupt=skip_corrupt, device=device, progress=progress)
    return results
