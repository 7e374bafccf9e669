"""Models trained on egogen's shards: tokenizers first, then the multimodal model (issue 8).

``egogen train-model --stage STAGE`` runs the stages of :data:`STAGES` in order:

- ``tokenizers`` (:func:`egogen.models.train_tokenizers.train_tokenizers`): motion VQ-VAEs
  (product quantization PQ=1 / PQ=2, EgoLM; residual quantization, VIM), camera and gaze
  VQ-VAEs (EgoM2P), a byte-level BPE for the text; metrics in ``OUT/metrics.json``.
- ``pretrain``: masked multimodal pretraining on the tokens (EgoM2P / 4M style); not
  implemented yet.

Modules: :mod:`~egogen.models.configs` (tiny / small / base), :mod:`~egogen.models.features`
(motion, camera, gaze features and metrics), :mod:`~egogen.models.data` (windows from
shards), :mod:`~egogen.models.vqvae`, :mod:`~egogen.models.text`,
:mod:`~egogen.models.train_tokenizers`. docs/models.md has the overview.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Stage", "STAGES", "stage_names"]


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
    Stage("tokenizers", "motion VQ-VAEs (PQ=1, PQ=2, RQ), camera and gaze VQ-VAEs (30 tokens per 2 s), "
          "text BPE; held-out metrics in OUT/metrics.json"),
    Stage("pretrain", "masked multimodal pretraining on the tokens (EgoM2P / 4M style)", implemented=False),
)
"""The stages in the order they run; later stages read earlier stages' outputs in OUT."""


def stage_names() -> tuple[str, ...]:
    """Names of :data:`STAGES`, in order."""
    return tuple(s.name for s in STAGES)
