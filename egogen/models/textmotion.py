"""Motion <-> text evaluation: caption metrics, a small contrastive motion-text model and
retrieval accuracy (stage ``pretrain``'s ``motion_to_text`` and ``text_to_motion`` tasks).

- :func:`bleu4`, :func:`rouge_l`: caption metrics of generated against reference captions
  (EgoLM's motion-to-text task is scored with BLEU / ROUGE / BERTScore; TM2T, MotionGPT the
  same). Maintained implementations: ``sacrebleu`` (corpus BLEU-4, Papineni et al. 2002, its
  ``13a`` tokenizer and ``exp`` smoothing) and Google's ``rouge-score`` (ROUGE-L F-measure, Lin
  2004, longest common subsequence), no download at run time.
- :class:`MotionTextModel`: two small encoders (motion tokens, text tokens) into one unit-norm
  embedding space, trained with a symmetric InfoNCE loss (CLIP, Radford et al. 2021) by
  :func:`train_motion_text_model`; the evaluator of text to motion, like the motion / text
  encoders of Guo et al. 2022 (HumanML3D) that give R-precision.
- :func:`batch_retrieval` (:func:`retrieval_accuracy`, :func:`retrieval_chance`): top-k
  accuracy of matching each motion to its own caption among a batch of windows (R-precision,
  Guo et al. 2022: batches of 32), and its chance level. Windows of the scripted data often
  share one caption string, so the candidates are the batch's *distinct* captions (C of them)
  and chance is ``min(k, C) / C``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["bleu4", "rouge_l", "MotionTextModel", "info_nce", "train_motion_text_model", "retrieval_accuracy",
           "retrieval_chance", "batch_retrieval", "same_text"]


def bleu4(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 of generated captions against one reference each (``sacrebleu``).

    Args:
        hypotheses, references: equal-length lists of strings.
    Returns:
        BLEU in [0, 1] (sacrebleu's 0..100 / 100): 1 for identical corpora of >= 4 words per
        string, 0 when no word is shared.
    Raises:
        ValueError: lengths differ or the lists are empty.
    """
    import sacrebleu

    if len(hypotheses) != len(references) or not references:
        raise ValueError(f"need equal, non-empty lists (got {len(hypotheses)} and {len(references)})")
    score = sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score / 100.0
    return float(min(max(score, 0.0), 1.0))


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure (longest common subsequence of words; ``rouge-score``, which
    lower-cases and keeps letters and digits).

    Args:
        hypotheses, references: equal-length lists of strings.
    Returns:
        mean F in [0, 1]: 1 for identical strings, 0 for strings without a common word.
    Raises:
        ValueError: lengths differ or the lists are empty.
    """
    from rouge_score import rouge_scorer

    if len(hypotheses) != len(references) or not references:
        raise ValueError(f"need equal, non-empty lists (got {len(hypotheses)} and {len(references)})")
    sc = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return float(np.mean([sc.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references)]))


def same_text(texts: Sequence[str]) -> torch.Tensor:
    """(N, N) bool: ``texts[i] == texts[j]`` (the positives of the contrastive loss and the right
    answers of retrieval)."""
    _, inv = np.unique(np.asarray(list(texts), dtype=object).astype(str), return_inverse=True)
    t = torch.from_numpy(inv.reshape(-1))
    return t[:, None] == t[None, :]


class MotionTextModel(nn.Module):
    """Two small encoders into a shared embedding space (CLIP-style), over token ids.

    Motion: per-token embedding (each codebook its own rows) + position, flattened (keeps the
    order of the steps), LayerNorm, 2-layer MLP. Text: BPE embedding + position, mean over the
    non-pad tokens, 2-layer MLP. Both outputs are L2-normalised; a learned temperature
    (``logit_scale``, CLIP's init 1 / 0.07, clamped at 100) scales the cosine similarities.

    Args:
        motion_vocab: ids per codebook; motion_codebooks: codebooks (tokens are step-major,
            token ``t * P + c`` is codebook ``c``); motion_tokens: tokens per window.
        text_vocab: BPE vocabulary; text_tokens: tokens per window; pad_id: text padding id.
        dim: embedding width.
    """

    def __init__(self, motion_vocab: int, motion_codebooks: int, motion_tokens: int, text_vocab: int,
                 text_tokens: int, pad_id: int, dim: int = 64):
        super().__init__()
        self.motion_vocab, self.pad_id = motion_vocab, pad_id
        self.m_emb = nn.Embedding(motion_vocab * motion_codebooks, dim)
        self.m_pos = nn.Parameter(torch.randn(motion_tokens, dim) * 0.02)
        self.m_mlp = nn.Sequential(nn.LayerNorm(motion_tokens * dim), nn.Linear(motion_tokens * dim, 2 * dim),
                                   nn.GELU(), nn.Linear(2 * dim, dim))
        self.t_emb = nn.Embedding(text_vocab, dim)
        self.t_pos = nn.Parameter(torch.randn(text_tokens, dim) * 0.02)
        self.t_mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("codebook", torch.arange(motion_tokens) % motion_codebooks, persistent=False)

    def encode_motion(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, motion_tokens) int64 flat motion ids (within each codebook) -> (B, dim) unit vectors."""
        x = self.m_emb(ids.clamp(0, self.motion_vocab - 1) + self.codebook * self.motion_vocab) + self.m_pos
        return F.normalize(self.m_mlp(x.flatten(1)), dim=-1)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, text_tokens) int64 BPE ids padded with ``pad_id`` -> (B, dim) unit vectors."""
        keep = (ids != self.pad_id).float()[..., None]
        x = (self.t_emb(ids) + self.t_pos) * keep
        return F.normalize(self.t_mlp(x.sum(1) / keep.sum(1).clamp(min=1)), dim=-1)


def info_nce(motion_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor,
             positives: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP, Radford et al. 2021, Eq. of Fig. 3) with several positives per
    row: the target distribution of row i is uniform over ``positives[i]`` (windows with the
    same caption are not pushed apart).

    Args:
        motion_emb, text_emb: (B, d) unit vectors; scale: scalar (exp of ``logit_scale``);
        positives: (B, B) bool with a True diagonal.
    Returns:
        scalar loss (mean of the motion->text and text->motion cross-entropies).
    """
    logits = scale * motion_emb @ text_emb.T
    p = positives.float()
    p = p / p.sum(1, keepdim=True)
    m2t = -(p * F.log_softmax(logits, dim=1)).sum(1).mean()
    t2m = -(p.T * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return (m2t + t2m) / 2


def train_motion_text_model(motion_ids: torch.Tensor, text_ids: torch.Tensor, texts: Sequence[str], model_args: dict,
                            steps: int = 300, batch_size: int = 64, lr: float = 1e-3, seed: int = 0) -> tuple:
    """Train :class:`MotionTextModel` on paired windows.

    Args:
        motion_ids: (N, motion_tokens) int64 flat motion ids; text_ids: (N, text_tokens) int64
            padded BPE ids; texts: (N,) the caption strings (equal strings are positives).
        model_args: :class:`MotionTextModel` keyword arguments.
        steps, batch_size, lr: AdamW (weight decay 0.01), constant rate.
        seed: initial weights (``torch.manual_seed``) and batches (numpy generator per step).
    Returns:
        (model in eval mode, losses: list of per-step floats).
    """
    torch.manual_seed(seed)
    model = MotionTextModel(**model_args)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    same = same_text(texts)
    n, losses = len(motion_ids), []
    model.train()
    for step in range(steps):
        g = np.random.default_rng([seed, 7, step])
        rows = torch.from_numpy(g.permutation(n)[:batch_size] if n >= batch_size else g.integers(0, n, batch_size))
        scale = model.logit_scale.exp().clamp(max=100.0)
        loss = info_nce(model.encode_motion(motion_ids[rows]), model.encode_text(text_ids[rows]), scale,
                        same[rows][:, rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model.eval(), losses


def retrieval_accuracy(similarity: torch.Tensor, right: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict:
    """Top-k retrieval accuracy: query i (a motion) ranks the candidates (distinct captions) by
    similarity; a hit when its own caption ``right[i]`` is among the first k.

    Args:
        similarity: (Q, C) float, query x candidate; right: (Q,) int64 index of each query's
            caption among the C candidates.
        ks: cut-offs (each clipped to C).
    Returns:
        ``top{k}`` -> (Q,) float tensor of 0 / 1 hits.
    """
    C = similarity.shape[1]
    order = torch.argsort(similarity, dim=1, descending=True, stable=True)
    hits = order == right[:, None]
    return {f"top{k}": hits[:, :min(k, C)].any(1).float() for k in ks}


def retrieval_chance(candidates: int, ks: Sequence[int] = (1, 5)) -> dict:
    """Chance level of :func:`retrieval_accuracy` with ``candidates`` distinct captions: a random
    ranking puts the right one among the first k with probability ``min(k, C) / C``.

    Returns:
        ``top{k}`` -> float.
    """
    return {f"top{k}": min(k, candidates) / candidates for k in ks}


def batch_retrieval(motion_emb: torch.Tensor, text_emb: torch.Tensor, texts: Sequence[str],
                    ks: Sequence[int] = (1, 5)) -> tuple[dict, dict, int]:
    """Retrieval within one batch of windows (Guo et al. 2022's R-precision over a batch of 32):
    each window's motion ranks the batch's *distinct* captions (windows with one caption string
    share a candidate, so duplicates neither help nor hurt).

    Args:
        motion_emb, text_emb: (G, d) embeddings of the batch's motions and captions; texts: (G,)
            the caption strings (equal strings have equal ``text_emb`` rows).
    Returns:
        (hits: ``top{k}`` -> (G,) 0 / 1, chance: ``top{k}`` -> float, C distinct captions).
    """
    uniq, first, inv = np.unique(np.asarray(list(texts), dtype=str), return_index=True, return_inverse=True)
    sim = motion_emb @ text_emb[torch.from_numpy(first)].T
    return retrieval_accuracy(sim, torch.from_numpy(inv.reshape(-1)), ks), retrieval_chance(len(uniq), ks), len(uniq)
