"""The multimodal masked model: a 4M / EgoM2P-style encoder-decoder over token streams.

Every modality is a fixed-length sequence of discrete tokens per 2 s window (motion, head
camera, gaze: VQ-VAE tokens; text: BPE ids), declared once in a *modality table*
(:class:`TokenModality`: name, vocabulary, tokens per window, codebooks). Everything else -
token, position and modality embeddings, output heads, masks, decoding - reads the table.

Training (4M, Mizrahi et al. 2023, Sec. 3; EgoM2P, Li et al. 2025): per window, an input
budget and a target budget of tokens are split over the available modalities by a Dirichlet
draw (:func:`dirichlet_budgets`), the tokens of each modality are picked at random
(:func:`sample_masks`), the encoder sees the input tokens (token + position + modality
embedding), and the decoder predicts the target tokens from queries that carry only position
and modality (a learned mask embedding + position + modality), cross-attending to the
encoder and self-attending within their own modality (4M's decoder mask). Loss: cross-entropy
of the target tokens, averaged per modality and then over the modalities that have targets
(:func:`masked_loss`). Because budgets sometimes fall wholly on one or two modalities, any
subset of modalities learns to predict any other.

Inference (:func:`predict_tokens`): the given modalities' tokens are the input, every token of
the target modality a query; one shot (argmax of all) or in several steps, the most
confident tokens first (4M's / MaskGIT's parallel iterative decoding).

Multi-codebook modalities (product or residual quantization: P tokens per latent step) are
flattened step-major (token ``t * P + c`` is codebook ``c`` of step ``t``); each codebook has its
own rows in the embedding and its own slice of the output head, so codebooks never share ids.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TokenModality", "table_slices", "MultimodalMaskedModel", "dirichlet_budgets", "sample_masks",
           "masked_loss", "predict_tokens", "to_flat", "from_flat"]


@dataclass(frozen=True)
class TokenModality:
    """One row of the modality table (4M's ``modality_info``).

    Attributes:
        name: ``motion``, ``camera``, ``gaze`` or ``text``.
        vocab_size: ids per codebook (VQ codebook size; BPE vocabulary for text).
        tokens: tokens per window (positions): latent steps x ``codebooks`` for VQ streams
            (motion PQ=2: 15 x 2 = 30; camera, gaze: 30 x 1), the text length for text.
        codebooks: tokens per latent step (product / residual quantization), 1 otherwise.
        tokenizer: the run-folder file the tokens come from (``motion_pq2.pt``, ``tokenizer.json``).
        pad_id: id marking an empty position (text ``<pad>``): never an input nor a target;
            None when every position holds a token.
    """

    name: str
    vocab_size: int
    tokens: int
    codebooks: int = 1
    tokenizer: str = ""
    pad_id: Optional[int] = None

    @property
    def steps(self) -> int:
        """Latent time steps per window (``tokens / codebooks``)."""
        return self.tokens // self.codebooks

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def table_slices(table: Sequence[TokenModality]) -> dict[str, slice]:
    """Where each modality sits in the concatenated token sequence of a window (table order)."""
    out, a = {}, 0
    for m in table:
        out[m.name] = slice(a, a + m.tokens)
        a += m.tokens
    return out


def to_flat(ids: torch.Tensor, m: TokenModality) -> torch.Tensor:
    """Tokenizer output -> the model's flat ids of one modality.

    Args:
        ids: (B, steps, codebooks) int64 VQ indices, or (B, tokens) int64 (text, or already flat).
    Returns:
        (B, tokens) int64, step-major.
    """
    return ids.reshape(ids.shape[0], m.tokens).long()


def from_flat(ids: torch.Tensor, m: TokenModality) -> torch.Tensor:
    """Inverse of :func:`to_flat`: (B, tokens) -> (B, steps, codebooks) for VQ streams (what
    :meth:`~egogen.models.vqvae.ConvVQVAE.decode` takes); text stays (B, tokens)."""
    return ids if m.pad_id is not None else ids.reshape(ids.shape[0], m.steps, m.codebooks)


class MultimodalMaskedModel(nn.Module):
    """Encoder-decoder transformer over the token streams of a modality table (4M / EgoM2P).

    Args:
        table: the modality table (order = order of the concatenated sequence, S tokens).
        dim, heads, encoder_layers, decoder_layers, ff_mult, dropout: pre-norm
            ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` stacks (GELU,
            feed-forward ``ff_mult * dim``), each followed by a LayerNorm.

    Embeddings (all learned, initialised N(0, 0.02)): per modality a token embedding of
    ``vocab_size * codebooks`` rows and a position embedding of ``tokens`` rows; one modality
    embedding per table row; one mask embedding for the decoder's queries.
    """

    def __init__(self, table: Sequence[TokenModality], dim: int = 64, heads: int = 4, encoder_layers: int = 2,
                 decoder_layers: int = 2, ff_mult: int = 2, dropout: float = 0.0):
        super().__init__()
        self.table = tuple(table)
        if not self.table:
            raise ValueError("the modality table is empty")
        self.dim, self.heads = dim, heads
        self.slices = table_slices(self.table)
        self.seq_len = sum(m.tokens for m in self.table)
        self.tok_emb = nn.ModuleDict({m.name: nn.Embedding(m.vocab_size * m.codebooks, dim) for m in self.table})
        self.pos_emb = nn.ParameterDict({m.name: nn.Parameter(torch.randn(m.tokens, dim) * 0.02) for m in self.table})
        self.mod_emb = nn.Parameter(torch.randn(len(self.table), dim) * 0.02)
        self.mask_emb = nn.Parameter(torch.randn(dim) * 0.02)
        for e in self.tok_emb.values():
            nn.init.normal_(e.weight, std=0.02)
        self.head = nn.ModuleDict({m.name: nn.Linear(dim, m.vocab_size * m.codebooks) for m in self.table})
        enc = nn.TransformerEncoderLayer(dim, heads, ff_mult * dim, dropout, activation="gelu", batch_first=True,
                                         norm_first=True)
        dec = nn.TransformerDecoderLayer(dim, heads, ff_mult * dim, dropout, activation="gelu", batch_first=True,
                                         norm_first=True)
        self.encoder = nn.TransformerEncoder(enc, encoder_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, decoder_layers, norm=nn.LayerNorm(dim))
        mod_idx = torch.cat([torch.full((m.tokens,), i, dtype=torch.long) for i, m in enumerate(self.table)])
        cb_idx = torch.cat([torch.arange(m.tokens) % m.codebooks for m in self.table])
        self.register_buffer("modality_index", mod_idx, persistent=False)
        self.register_buffer("codebook_index", cb_idx, persistent=False)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings of every position.

        Args:
            ids: (B, S) int64 ids within each codebook (any value at empty positions).
        Returns:
            (B, S, dim) float: token + position + modality embedding.
        """
        parts = []
        for i, m in enumerate(self.table):
            s = self.slices[m.name]
            x = ids[:, s].clamp(0, m.vocab_size - 1) + self.codebook_index[s] * m.vocab_size
            parts.append(self.tok_emb[m.name](x) + self.pos_emb[m.name] + self.mod_emb[i])
        return torch.cat(parts, dim=1)

    def queries(self) -> torch.Tensor:
        """(S, dim) decoder queries: mask embedding + position + modality embedding (4M)."""
        return torch.cat([self.mask_emb + self.pos_emb[m.name] + self.mod_emb[i] for i, m in enumerate(self.table)])

    @staticmethod
    def _select(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = max(int(mask.sum(1).max()), 1)
        order = torch.argsort((~mask).long(), dim=1, stable=True)[:, :n]
        return order, torch.gather(mask, 1, order)

    def forward(self, ids: torch.Tensor, input_mask: torch.Tensor,
                target_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode the input tokens, decode queries at the target positions.

        Args:
            ids: (B, S) int64 ids (within each codebook).
            input_mask: (B, S) bool, positions the encoder sees (at least one per row).
            target_mask: (B, S) bool, positions to predict (disjoint from the inputs).
        Returns:
            hidden (B, T, dim) decoder outputs, positions (B, T) int64 index into S, valid
            (B, T) bool (False: padding, T = most targets of any row).
        """
        B, d = ids.shape[0], self.dim
        x = self.embed(ids)
        in_pos, in_valid = self._select(input_mask)
        enc = self.encoder(torch.gather(x, 1, in_pos[..., None].expand(-1, -1, d)), src_key_padding_mask=~in_valid)
        tg_pos, tg_valid = self._select(target_mask)
        q = self.queries()[tg_pos]
        mi = self.modality_index[tg_pos]
        allow = (mi[:, :, None] == mi[:, None, :]) & tg_valid[:, None, :]
        allow |= torch.eye(tg_pos.shape[1], dtype=torch.bool, device=ids.device)
        self_mask = (~allow).repeat_interleave(self.heads, dim=0)  # (B * heads, T, T)
        h = self.decoder(q, enc, tgt_mask=self_mask, memory_key_padding_mask=~in_valid)
        return h, tg_pos, tg_valid

    def logits(self, hidden: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor) -> dict:
        """Per-modality logits of the decoded positions.

        Args:
            hidden, positions, valid: as :meth:`forward` returns.
        Returns:
            name -> (sel, logits): sel (B, T) bool, the valid targets of that modality;
            logits (n, vocab_size) float over the ids of each target's own codebook (n = sel.sum()).
            Modalities without targets are left out.
        """
        out = {}
        mi = self.modality_index[positions]
        for i, m in enumerate(self.table):
            sel = valid & (mi == i)
            if not bool(sel.any()):
                continue
            lg = self.head[m.name](hidden[sel]).view(-1, m.codebooks, m.vocab_size)
            cb = self.codebook_index[positions[sel]]
            out[m.name] = (sel, lg[torch.arange(len(cb), device=lg.device), cb])
        return out


def masked_loss(model: MultimodalMaskedModel, ids: torch.Tensor, input_mask: torch.Tensor,
                target_mask: torch.Tensor) -> tuple[torch.Tensor, dict, dict]:
    """4M's masked-modelling loss: cross-entropy of the target tokens, mean per modality, then
    mean over the modalities with targets in the batch.

    Args:
        model: the model; ids (B, S) int64; input_mask, target_mask (B, S) bool.
    Returns:
        loss (scalar), per-modality loss {name: float}, per-modality top-1 accuracy {name: float}.
    """
    h, pos, valid = model(ids, input_mask, target_mask)
    tgt = torch.gather(ids, 1, pos)
    losses, acc = {}, {}
    total = []
    for name, (sel, lg) in model.logits(h, pos, valid).items():
        y = tgt[sel]
        ce = F.cross_entropy(lg, y)
        total.append(ce)
        losses[name] = float(ce.detach())
        acc[name] = float((lg.argmax(-1) == y).float().mean())
    loss = torch.stack(total).mean() if total else h.sum() * 0.0
    return loss, losses, acc


def dirichlet_budgets(available: np.ndarray, total, alpha, rng: np.random.Generator) -> np.ndarray:
    """Split token budgets over modalities by a Dirichlet draw (4M, Sec. 3.1 "multimodal
    masking": input and target budgets are distributed over modalities with
    ``Dir(alpha)``).

    Per row: proportions ``p ~ Dir(alpha)`` (restricted to the modalities with tokens and
    renormalised), counts ``round(p * T)`` by largest remainder with ``T = min(total,
    sum(available))``; counts beyond a modality's available tokens go to the others, largest
    ``p`` first. So every row's counts sum to exactly ``T`` and never exceed ``available``.

    Args:
        available: (B, M) int, tokens each modality can give.
        total: int or (B,) int, budget per row.
        alpha: float or (M,) Dirichlet concentration (small: budgets concentrate on few modalities).
        rng: numpy generator (one draw of M proportions per row, whatever is available, so the
            stream of draws does not depend on the data).
    Returns:
        (B, M) int64 counts.
    """
    available = np.asarray(available, np.int64)
    B, M = available.shape
    alpha = np.broadcast_to(np.asarray(alpha, np.float64), (M,))
    totals = np.broadcast_to(np.asarray(total, np.int64), (B,))
    p_all = rng.dirichlet(alpha, size=B) if B else np.zeros((0, M))
    out = np.zeros((B, M), np.int64)
    for b in range(B):
        av = available[b]
        T = int(min(totals[b], av.sum()))
        if T <= 0:
            continue
        p = np.where(av > 0, np.nan_to_num(p_all[b]), 0.0)
        p = p / p.sum() if p.sum() > 0 else (av > 0) / float((av > 0).sum())
        raw = p * T
        c = np.floor(raw).astype(np.int64)
        rest = T - int(c.sum())
        if rest > 0:
            c[np.argsort(-(raw - c), kind="stable")[:rest]] += 1
        c = np.minimum(c, av)
        deficit = T - int(c.sum())
        for k in np.argsort(-p, kind="stable"):
            if deficit <= 0:
                break
            add = min(deficit, int(av[k] - c[k]))
            c[k] += add
            deficit -= add
        out[b] = c
    return out


def sample_masks(avail: torch.Tensor, table: Sequence[TokenModality], input_budget: int, target_budget: int,
                 alpha, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random input and target masks with Dirichlet-split budgets (4M's masking).

    The input budget is split first (at most ``available - 1`` tokens per row, so a row with
    two tokens or more always keeps a target), then the target budget over what is left; within
    a modality the chosen positions are uniformly random, inputs and targets disjoint.

    Args:
        avail: (B, S) bool, positions that hold a token (absent modalities, text padding: False).
        table: the modality table (order of S).
        input_budget, target_budget: tokens per row.
        alpha: Dirichlet concentration (float or one per modality).
        rng: numpy generator.
    Returns:
        input_mask, target_mask: (B, S) bool.
    """
    sl = table_slices(table)
    av = avail.cpu().numpy()
    counts = np.stack([av[:, sl[m.name]].sum(1) for m in table], axis=1)
    tot = counts.sum(1)
    k_in = dirichlet_budgets(counts, np.minimum(input_budget, np.maximum(tot - 1, 1)), alpha, rng)
    k_out = dirichlet_budgets(counts - k_in, target_budget, alpha, rng)
    inp = np.zeros_like(av)
    tgt = np.zeros_like(av)
    for j, m in enumerate(table):
        a = av[:, sl[m.name]]
        score = np.where(a, rng.random(a.shape), np.inf)
        rank = np.argsort(np.argsort(score, axis=1, kind="stable"), axis=1, kind="stable")
        inp[:, sl[m.name]] = a & (rank < k_in[:, j:j + 1])
        tgt[:, sl[m.name]] = a & (rank >= k_in[:, j:j + 1]) & (rank < (k_in + k_out)[:, j:j + 1])
    dev = avail.device
    return torch.from_numpy(inp).to(dev), torch.from_numpy(tgt).to(dev)


@torch.no_grad()
def predict_tokens(model: MultimodalMaskedModel, inputs: dict, target: str, steps: int = 1,
                   temperature: float = 0.0, generator: Optional[torch.Generator] = None,
                   eos_id: int = 2) -> torch.Tensor:
    """Any-to-any inference: predict every token of one modality from the tokens of others.

    Args:
        model: a trained :class:`MultimodalMaskedModel` (put in eval mode here).
        inputs: modality name -> its tokens, (B, steps, codebooks) int64 from a VQ-VAE's
            ``encode`` or (B, tokens) int64 (text: BPE ids padded with ``pad_id``); at least one
            modality, not ``target``.
        target: the modality to predict.
        steps: decoding steps of VQ targets. 1: all target tokens at once (argmax). K > 1: at
            each step the ``ceil(remaining / steps_left)`` most confident predictions are fixed and
            join the input (4M / MaskGIT parallel decoding). A padded target (text) is decoded
            left to right instead, one token per step until ``<eos>`` (4M decodes sequence
            modalities autoregressively): training never asks for the padding after a caption, so
            querying all positions at once asks the decoder for what it never learned.
        temperature: 0 = argmax; > 0 samples from ``softmax(logits / temperature)``.
        generator: torch generator for sampling.
        eos_id: end of a padded sequence (the BPE's ``<eos>``, id 2).
    Returns:
        (B, steps, codebooks) int64 for VQ modalities (what ``ConvVQVAE.decode`` takes);
        (B, tokens) int64 for text (``pad_id`` after the first ``eos_id``).
    Raises:
        ValueError: unknown modality, target among the inputs, no inputs, wrong shapes.
    """
    table = {m.name: m for m in model.table}
    if target not in table or any(k not in table for k in inputs) or target in inputs or not inputs:
        raise ValueError(f"inputs {sorted(inputs)} and target {target!r} must be distinct modalities of the table "
                         f"({', '.join(table)}), with at least one input")
    was = model.training
    model.eval()
    dev = model.mod_emb.device
    B = next(iter(inputs.values())).shape[0]
    ids = torch.zeros(B, model.seq_len, dtype=torch.long, device=dev)
    inp = torch.zeros(B, model.seq_len, dtype=torch.bool, device=dev)
    for name, x in inputs.items():
        m, s = table[name], model.slices[name]
        if x.shape[0] != B or x[0].numel() != m.tokens:
            raise ValueError(f"{name}: expected {B} rows of {m.tokens} tokens, got {tuple(x.shape)}")
        flat = to_flat(x.to(dev), m)
        ids[:, s] = flat
        inp[:, s] = flat != m.pad_id if m.pad_id is not None else True
    m, s = table[target], model.slices[target]
    if m.pad_id is not None:
        return _predict_sequence(model, ids, inp, m, s, temperature, generator, eos_id)
    remaining = torch.zeros_like(inp)
    remaining[:, s] = True
    steps = max(1, min(int(steps), m.tokens))
    try:
        for k in range(steps):
            h, pos, valid = model(ids, inp, remaining)
            sel, lg = model.logits(h, pos, valid)[target]
            if temperature > 0:
                prob = torch.softmax(lg / temperature, -1)
                pick = torch.multinomial(prob, 1, generator=generator)[:, 0]
            else:
                prob = torch.softmax(lg, -1)
                pick = lg.argmax(-1)
            conf = torch.gather(prob, 1, pick[:, None])[:, 0]
            n_left = int(remaining[0].sum())
            n_fix = math.ceil(n_left / (steps - k))
            # back to (B, n_left) in position order: sel rows are row-major over (B, T)
            P = pos.shape[1]
            conf_bt = torch.full((B, P), -1.0, device=dev)
            conf_bt[sel] = conf
            pick_bt = torch.zeros((B, P), dtype=torch.long, device=dev)
            pick_bt[sel] = pick
            top = torch.topk(conf_bt, n_fix, dim=1).indices
            fix_pos = torch.gather(pos, 1, top)
            ids.scatter_(1, fix_pos, torch.gather(pick_bt, 1, top))
            inp.scatter_(1, fix_pos, True)
            remaining.scatter_(1, fix_pos, False)
    finally:
        model.train(was)
    return from_flat(ids[:, s].clone(), m)


def _predict_sequence(model: MultimodalMaskedModel, ids: torch.Tensor, inp: torch.Tensor, m: TokenModality,
                      s: slice, temperature: float, generator: Optional[torch.Generator], eos_id: int) -> torch.Tensor:
    """Left-to-right decoding of a padded modality: position k is the only query, positions < k
    are inputs; rows stop at ``eos_id`` and are padded with ``pad_id`` after it."""
    was = model.training
    model.eval()
    B = ids.shape[0]
    done = torch.zeros(B, dtype=torch.bool, device=ids.device)
    ids[:, s] = m.pad_id
    try:
        for k in range(m.tokens):
            q = torch.zeros_like(inp)
            q[:, s.start + k] = True
            h, pos, valid = model(ids, inp, q)
            sel, lg = model.logits(h, pos, valid)[m.name]
            if temperature > 0:
                pick = torch.multinomial(torch.softmax(lg / temperature, -1), 1, generator=generator)[:, 0]
            else:
                pick = lg.argmax(-1)
            pick = torch.where(done, torch.full_like(pick, m.pad_id), pick)
            ids[:, s.start + k] = pick
            inp[:, s.start + k] = ~done
            done |= pick == eos_id
            if bool(done.all()):
                break
    finally:
        model.train(was)
    return ids[:, s].clone()
