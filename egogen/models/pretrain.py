"""Stage ``pretrain`` of ``egogen train-model``: the multimodal masked model on the tokens of
the run's tokenizers, and its first evaluation tasks.

Reads the run folder of stage ``tokenizers`` (same ``--data``, ``--config``, ``--seed``: the
same windows and train / held-out split): the motion VQ-VAE named by
``pretrain.motion_tokenizer`` (default PQ=2), the camera and gaze VQ-VAEs and the text BPE.
Every 2 s window of a sample becomes one row of tokens (:func:`tokenize_windows`): each
modality the window has (motion, camera, gaze streams; text = the caption that overlaps the
window most, else the sample's instruction) gives its tokens, a missing one is simply absent
from the row. The model (:class:`~egogen.models.multimodal.MultimodalMaskedModel`) is trained
with 4M's Dirichlet input / target budgets; the modality table is built from the tokenizers
(:func:`modality_table`).

Run-folder files added::

    pretrain.pt   model + optimiser + RNG + step + history + modality table; atomic, every
                  ``checkpoint_every`` steps; ``done`` once trained
    metrics.json  the tokenizer metrics plus a ``pretrain`` key (merged, never replaced)

Evaluation tasks (held-out windows, :data:`TASKS`), each next to a baseline: full-body tracking
from the head-camera trajectory alone (EgoLM's 1-point tracking) and from the camera + both
wrist trajectories (EgoLM's 3-point tracking; MPJPE full / upper / lower body, mm), both also
with video (+ RGB frames), gaze from the head-camera trajectory and from RGB + camera (angle,
degrees), camera tracking from RGB (ATE / RTE / RRE), depth from RGB (AbsRel, delta < 1.25),
motion to text (BLEU-4, ROUGE-L) and text to motion (retrieval accuracy with a small
contrastive motion-text model, :mod:`egogen.models.textmotion`). The RGB tasks need the
dataset's rendered frames (``egogen render``); without them they are reported as skipped. The
baseline is the nearest training window by the task's input (trajectories: standardised
features; images: 8 x 8 average-pooled pixels; motion: tokens; text: tokens) and its own
target.

Deterministic for a seed on one machine and thread count: the model starts from
``torch.manual_seed(seed)``, batches and masks come from generators seeded by (seed, step), the
global RNG (dropout) is checkpointed, so a resumed run ends with the weights of an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from egogen.models.configs import TokenizerConfig, load_config
from egogen.models.train_tokenizers import _atomic_json, _atomic_save, _sha256
from egogen.models.data import TokenizerData, load_tokenizer_data
from egogen.models.features import FPS, camera_tracking_errors, gaze_angle_deg, motion_to_joints, mpjpe_mm
from egogen.models.images import IMAGE_MODALITIES, depth_errors
from egogen.models.multimodal import (MultimodalMaskedModel, TokenModality, masked_loss, predict_tokens,
                                      sample_masks, table_slices, to_flat)

__all__ = ["PretrainRunError", "TokenWindows", "Task", "TASKS", "LOWER_BODY", "UPPER_BODY", "modality_table",
           "tokenize_windows", "train_pretrain", "pretrain_run_diff", "load_pretrained", "evaluate_tasks",
           "pretrain_complete", "window_text"]

CHECKPOINT = "pretrain.pt"
LOWER_BODY = (1, 2, 4, 5, 7, 8, 10, 11)
"""SMPL-X hips, knees, ankles, feet (AvatarPoser / EgoLM's lower body)."""
UPPER_BODY = (3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
"""SMPL-X spine, neck, head, collars, shoulders, elbows, wrists (the pelvis is in neither)."""


class PretrainRunError(RuntimeError):
    """Stage pretrain cannot start or resume in a run folder (the message says what to run)."""


@dataclass(frozen=True)
class Task:
    """One any-to-any evaluation task.

    Attributes:
        name: metrics key. inputs: given modalities. target: predicted modality.
        paper: which seed-paper task it corresponds to.
    """

    name: str
    inputs: tuple
    target: str
    paper: str


TASKS = (
    Task("tracking_1pt", ("camera",), "motion", "EgoLM 1-point full-body tracking (head pose only, no video)"),
    Task("tracking_3pt", ("camera", "wrists"), "motion",
         "EgoLM 3-point full-body tracking (head = camera trajectory, both wrists; no video)"),
    Task("tracking_1pt_video", ("camera", "rgb"), "motion", "EgoLM 1-point full-body tracking with video (head pose + "
         "egocentric RGB)"),
    Task("tracking_3pt_video", ("camera", "wrists", "rgb"), "motion",
         "EgoLM 3-point full-body tracking with video (head, both wrists + egocentric RGB)"),
    Task("gaze_from_camera", ("camera",), "gaze", "EgoM2P gaze estimation uses RGB (+ camera); here camera only"),
    Task("gaze_from_rgb", ("rgb", "camera"), "gaze", "EgoM2P gaze estimation from egocentric RGB + camera"),
    Task("camera_from_rgb", ("rgb",), "camera", "EgoM2P camera tracking from egocentric RGB (ATE / RTE / RRE)"),
    Task("depth_from_rgb", ("rgb",), "depth", "EgoM2P monocular depth from egocentric RGB (AbsRel, delta < 1.25)"),
    Task("motion_to_text", ("motion",), "text", "EgoLM motion to text (M2T); EgoLM reports BERTScore, here "
         "BLEU-4 / ROUGE-L"),
    Task("text_to_motion", ("text",), "motion", "EgoLM text to motion (T2M); retrieval accuracy (R-precision, "
         "Guo et al. 2022) with a contrastive motion-text model"),
)
"""The evaluation tasks run after training (all on held-out windows)."""


@dataclass
class TokenWindows:
    """Windows as rows of tokens over the modality table.

    Attributes:
        ids: (N, S) int64 token ids within each codebook (0 where absent), S = table tokens.
        avail: (N, S) bool, positions holding a token (absent modalities and text padding: False).
        keys: (N,) sample key of each row; starts: (N,) int64 first frame in its sample.
        index: modality -> (N,) int64 row of that modality's
            :class:`~egogen.models.data.Windows` (-1 where the window lacks it; text: 0 / -1).
        texts: (N,) the window's caption string (before BPE truncation; None without text).
    """

    ids: torch.Tensor
    avail: torch.Tensor
    keys: list
    starts: np.ndarray
    index: dict
    texts: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


def _need(out: Path, cmd: str) -> str:
    return (f"{out} holds no trained tokenizers for it; run `egogen train-model --stage tokenizers --data DIR "
            f"--config {cmd} --out {out}` first (or `egogen train-model --data DIR --config {cmd} --out {out}`, "
            "which runs every stage)")


def modality_table(run_dir: str | os.PathLike, cfg: TokenizerConfig) -> tuple[tuple[TokenModality, ...], dict]:
    """The modality table of a run folder's tokenizers.

    Args:
        run_dir: folder of a finished tokenizer stage.
        cfg: the run's configuration (``cfg.pretrain.modalities``, ``motion_tokenizer``,
            ``text_tokens``).
    Returns:
        (table, absent): the rows for the modalities that have a tokenizer, in
        ``cfg.pretrain.modalities`` order; ``absent``: modality -> why it is left out (the
        tokenizer stage skipped it for lack of data).
    Raises:
        PretrainRunError: the tokenizer stage has not run (or not finished) in ``run_dir``.
    """
    from egogen.models.text import SPECIAL_TOKENS, load_bpe
    from egogen.models.train_tokenizers import load_tokenizer

    out = Path(run_dir)
    mpath = out / "metrics.json"
    if not mpath.is_file():
        raise PretrainRunError(_need(out, cfg.name))
    metrics = json.loads(mpath.read_text())
    table, absent = [], {}
    for name in cfg.pretrain.modalities:
        if name == "text":
            if "skipped" in metrics.get("text", {}):
                absent[name] = metrics["text"]["skipped"]
                continue
            if not (out / "tokenizer.json").is_file():
                raise PretrainRunError(_need(out, cfg.name))
            tok = load_bpe(out / "tokenizer.json")
            table.append(TokenModality("text", tok.get_vocab_size(), cfg.pretrain.text_tokens, 1, "tokenizer.json",
                                       pad_id=tok.token_to_id(SPECIAL_TOKENS[0])))
            continue
        if name not in ("motion", "camera", "gaze", "wrists") + IMAGE_MODALITIES:
            raise ValueError(f"unknown pretrain modality {name!r} (motion, camera, wrists, gaze, text, rgb, depth)")
        file = f"motion_{cfg.pretrain.motion_tokenizer}" if name == "motion" else name
        rec = metrics.get("motion", {}).get(cfg.pretrain.motion_tokenizer) if name == "motion" else metrics.get(name)
        if rec is not None and "skipped" in rec:
            absent[name] = rec["skipped"]
            continue
        if not (out / f"{file}.pt").is_file():
            raise PretrainRunError(f"no {file}.pt: " + _need(out, cfg.name) +
                                   ("" if name != "motion" else f" with motion quantizer "
                                    f"{cfg.pretrain.motion_tokenizer} in motion_quantizers"))
        vq = load_tokenizer(out, file)
        table.append(TokenModality(name, vq.quantizer.codebook_size, vq.tokens_per_window(cfg.windows.length),
                                   vq.quantizer.num, f"{file}.pt"))
    if not table:
        raise PretrainRunError(f"no modality of {cfg.pretrain.modalities} has a tokenizer in {out}")
    return tuple(table), absent


def window_text(captions: Optional[dict], start: int, length: int, fps: float = FPS) -> Optional[str]:
    """The text of a window: the caption whose span overlaps frames [start, start + length)
    most (the first on ties), else the sample's instruction, else None.

    Args:
        captions: :func:`egogen.models.data.caption_spans` of the sample (or None).
        start, length: window frames; fps: frame rate.
    """
    if not captions:
        return None
    a, b = start / fps, (start + length) / fps
    best, text = 0.0, None
    for s, e, t in captions["captions"]:
        ov = min(b, e) - max(a, s)
        if ov > best:
            best, text = ov, t
    return text if text is not None else captions.get("instruction")


def _local_starts(w) -> np.ndarray:
    """Each window's first frame within its sample (the first window of a sample is at 0)."""
    if len(w) == 0:
        return np.zeros(0, np.int64)
    first = np.full(len(w.keys), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, w.sample, w.starts)
    return w.starts - first[w.sample]


def tokenize_windows(data: TokenizerData, table, tokenizers: dict, length: int) -> dict:
    """Tokenize every window of both splits into rows over the modality table.

    Args:
        data: windows and captions (:func:`egogen.models.data.load_tokenizer_data`).
        table: the modality table; tokenizers: name -> ConvVQVAE (eval) or the BPE (``text``).
        length: frames per window.
    Returns:
        ``train`` / ``heldout`` -> :class:`TokenWindows`. A row exists for every (sample, start)
        at which any windowed modality (motion, camera, wrists, gaze) has a window.
    """
    from egogen.models.text import SPECIAL_TOKENS

    sl = table_slices(table)
    S = sum(m.tokens for m in table)
    out = {}
    for split in ("train", "heldout"):
        wins = getattr(data, split)
        rows: dict = {}
        local = {}
        for m in table:
            if m.name == "text":
                continue
            w = wins[m.name]
            local[m.name] = _local_starts(w)
            for i in range(len(w)):
                rows.setdefault((w.keys[w.sample[i]], int(local[m.name][i])), {})[m.name] = i
        order = sorted(rows)
        N = len(order)
        ids = torch.zeros(N, S, dtype=torch.long)
        avail = torch.zeros(N, S, dtype=torch.bool)
        index = {m.name: np.full(N, -1, np.int64) for m in table}
        for m in table:
            if m.name == "text":
                continue
            r = np.array([j for j, k in enumerate(order) if m.name in rows[k]], np.int64)
            if len(r) == 0:
                continue
            wi = np.array([rows[order[j]][m.name] for j in r], np.int64)
            index[m.name][r] = wi
            toks = []
            for a in range(0, len(wi), 256):
                toks.append(to_flat(tokenizers[m.name].encode(wins[m.name].get(wi[a:a + 256])["x"]), m))
            ids[torch.from_numpy(r), sl[m.name]] = torch.cat(toks)
            avail[torch.from_numpy(r), sl[m.name]] = True
        texts = [None] * N
        for m in table:
            if m.name != "text":
                continue
            tok = tokenizers["text"]
            eos = tok.token_to_id(SPECIAL_TOKENS[2])
            for j, (key, start) in enumerate(order):
                t = window_text(data.captions.get(key), start, length)
                if t is None:
                    continue
                x = (tok.encode(t).ids[:m.tokens - 1] + [eos])
                ids[j, sl["text"].start:sl["text"].start + len(x)] = torch.tensor(x)
                avail[j, sl["text"].start:sl["text"].start + len(x)] = True
                index["text"][j] = 0
                texts[j] = t
        out[split] = TokenWindows(ids, avail, [k for k, _ in order], np.array([s for _, s in order], np.int64), index,
                                  texts)
    return out


def _load_tokenizers(run_dir: Path, table) -> dict:
    from egogen.models.text import load_bpe
    from egogen.models.train_tokenizers import load_tokenizer

    return {m.name: load_bpe(run_dir / m.tokenizer) if m.name == "text" else load_tokenizer(run_dir, m.tokenizer[:-3])
            for m in table}


def _build(table, cfg: TokenizerConfig) -> MultimodalMaskedModel:
    p = cfg.pretrain
    return MultimodalMaskedModel(table, p.dim, p.heads, p.encoder_layers, p.decoder_layers, p.ff_mult, p.dropout)


def load_pretrained(run_dir: str | os.PathLike, device: str = "cpu") -> MultimodalMaskedModel:
    """The trained multimodal model of a run folder, in eval mode (``model.table`` is its
    modality table).

    Raises:
        FileNotFoundError: no ``pretrain.pt`` (run ``egogen train-model --stage pretrain``).
    """
    from egogen.models.configs import config_from_dict

    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no {CHECKPOINT} in {run_dir}; train it with `egogen train-model --stage pretrain`")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = _build(tuple(TokenModality(**m) for m in ck["table"]), config_from_dict(ck["config"]))
    model.load_state_dict(ck["model"])
    return model.to(device).eval()


def pretrain_complete(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir`` holds a finished pretrain stage (its metrics in ``metrics.json``)."""
    path = Path(run_dir) / "metrics.json"
    ck = Path(run_dir) / CHECKPOINT
    return path.is_file() and ck.is_file() and "pretrain" in json.loads(path.read_text())


def _lr(step: int, total: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    f = (step - warmup) / max(total - warmup, 1)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(f, 1.0))))


def _fixed_masks(tw: TokenWindows, table, cfg, seed: int, tag: int, n: int = 256):
    """A fixed subset of rows with fixed masks, for comparable losses across steps."""
    g = np.random.default_rng([seed, tag])
    rows = np.sort(g.permutation(len(tw))[:n])
    inp, tgt = sample_masks(tw.avail[rows], table, cfg.input_budget, cfg.target_budget, cfg.alpha, g)
    return tw.ids[rows], inp, tgt


@torch.no_grad()
def _eval_loss(model, fixed, device, chunk: int = 64) -> dict:
    was = model.training
    model.eval()
    ids, inp, tgt = fixed
    tot, per, n = 0.0, {}, 0
    for a in range(0, len(ids), chunk):
        s = slice(a, a + chunk)
        loss, losses, _ = masked_loss(model, ids[s].to(device), inp[s].to(device), tgt[s].to(device))
        w = len(ids[s])
        tot += float(loss) * w
        n += w
        for k, v in losses.items():
            per.setdefault(k, []).append((v, w))
    model.train(was)
    return {"loss": tot / max(n, 1), **{f"loss_{k}": sum(v * w for v, w in x) / sum(w for _, w in x)
                                        for k, x in per.items()}}


def _mpjpe_parts(jp: torch.Tensor, jg: torch.Tensor) -> dict:
    """(N, L, 22, 3) predicted / true joints -> per-window errors, mm."""
    rel_p, rel_g = jp - jp[:, :, :1], jg - jg[:, :, :1]
    e = (rel_p - rel_g).norm(dim=-1) * 1000.0
    return {"mpjpe_mm": e.mean(dim=(1, 2)), "upper_mm": e[:, :, list(UPPER_BODY)].mean(dim=(1, 2)),
            "lower_mm": e[:, :, list(LOWER_BODY)].mean(dim=(1, 2)),
            "window_mpjpe_mm": mpjpe_mm(jp, jg, root_relative=False)}


NN_IMAGE_GRID = 8
"""Images enter the nearest-neighbour baselines average-pooled to this many cells a side."""


def _nearest(train_x: list, query_x: list) -> torch.Tensor:
    """Index of the nearest training window: L2 over the input modalities' features, each
    standardised per channel (last axis) with the training windows' statistics, flattened and
    concatenated.

    Args:
        train_x, query_x: per input modality (n, T, d) features (:func:`_inputs_x`).
    """
    a, b = [], []
    for tx, qx in zip(train_x, query_x):
        d = tx.shape[-1]
        flat = tx.reshape(-1, d)
        mean, std = flat.mean(0), flat.std(0).clamp(min=1e-6)
        a.append(((tx - mean) / std).reshape(len(tx), -1).double())
        b.append(((qx - mean) / std).reshape(len(qx), -1).double())
    return torch.cdist(torch.cat(b, 1), torch.cat(a, 1)).argmin(dim=1)


def _nn_features(name: str, x: torch.Tensor) -> torch.Tensor:
    """(n, T, d) features of one modality for the nearest-neighbour baselines: the windows
    themselves, images average-pooled to :data:`NN_IMAGE_GRID` cells a side ((n, K * 64, C))."""
    if name not in IMAGE_MODALITIES:
        return x
    n, K, S, _, C = x.shape
    p = torch.nn.functional.adaptive_avg_pool2d(x.flatten(0, 1).permute(0, 3, 1, 2), NN_IMAGE_GRID)
    return p.permute(0, 2, 3, 1).reshape(n, K * NN_IMAGE_GRID ** 2, C)


def _inputs_x(wins: dict, tw: TokenWindows, names, rows, chunk: int = 512) -> list:
    """Per given modality, (n, T, d) nearest-neighbour features (:func:`_nn_features`) of rows."""
    out = []
    for n in names:
        idx = tw.index[n][rows]
        out.append(torch.cat([_nn_features(n, wins[n].get(idx[a:a + chunk])["x"])
                              for a in range(0, max(len(idx), 1), chunk)]))
    return out


def _nearest_tokens(train_ids: torch.Tensor, query_ids: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """Index of the training row with the fewest differing tokens (Hamming; first on ties)."""
    out = []
    for a in range(0, len(query_ids), chunk):
        out.append((query_ids[a:a + chunk, None, :] != train_ids[None]).sum(-1).argmin(dim=1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def _decode_text(tok, ids: torch.Tensor) -> list[str]:
    """(B, T) BPE ids -> strings: up to the first ``<eos>`` / ``<pad>``, specials dropped."""
    from egogen.models.text import SPECIAL_TOKENS

    stop = {tok.token_to_id(SPECIAL_TOKENS[0]), tok.token_to_id(SPECIAL_TOKENS[2])}
    special = {tok.token_to_id(t) for t in SPECIAL_TOKENS}
    out = []
    for row in ids.tolist():
        keep = []
        for i in row:
            if i in stop:
                break
            if i not in special:
                keep.append(i)
        out.append(tok.decode(keep))
    return out


def _rows_with(tw: TokenWindows, need) -> np.ndarray:
    return np.where(np.all([tw.index[n] >= 0 for n in need], axis=0))[0]


@torch.no_grad()
def _vq_task(task: Task, model, data: TokenizerData, tw: dict, tokenizers: dict, rows, trows, decode_steps: int,
             chunk: int) -> dict:
    """A task with windowed inputs and a VQ target (tracking, gaze)."""
    held, train = tw["heldout"], tw["train"]
    dev = model.mod_emb.device
    sl = model.slices[task.target]
    vq = tokenizers[task.target]
    acc_m, acc_b, acc_t, correct = {}, {}, {}, []
    # baseline: nearest training window by the input streams (per-channel standardised, concatenated)
    tr_in = _inputs_x(data.train, train, task.inputs, trows)
    for a in range(0, len(rows), chunk):
        r = rows[a:a + chunk]
        given = {n: held.ids[r][:, model.slices[n]].to(dev) for n in task.inputs}
        pred = predict_tokens(model, given, task.target, steps=decode_steps).cpu()
        correct.append((pred.reshape(len(r), -1) == held.ids[r][:, sl]).float().mean(1))
        gt = data.heldout[task.target].get(held.index[task.target][r])
        x_pred = vq.decode(pred)
        x_tok = vq.decode(held.ids[r][:, sl].reshape(pred.shape))
        nn_idx = _nearest(tr_in, _inputs_x(data.heldout, held, task.inputs, r))
        x_nn = data.train[task.target].get(train.index[task.target][trows][nn_idx.numpy()])["x"]
        for acc, x in ((acc_m, x_pred), (acc_b, x_nn), (acc_t, x_tok)):
            if task.target == "motion":
                jg = motion_to_joints(gt["x"], gt["rest_joints"])
                errs = _mpjpe_parts(motion_to_joints(x, gt["rest_joints"]), jg)
            elif task.target == "camera":
                errs = camera_tracking_errors(x, gt["x"])
            elif task.target == "depth":
                errs = depth_errors(x, gt["x"])
            else:
                errs = {"angle_deg": gaze_angle_deg(x, gt["x"])}
            for k, v in errs.items():
                acc.setdefault(k, []).append(v)
    mean = lambda d: {k: float(torch.cat(v).nanmean()) for k, v in d.items()}  # noqa: E731
    return {"model": mean(acc_m), "baseline_nn": mean(acc_b), "tokenizer_bound": mean(acc_t),
            "token_accuracy": float(torch.cat(correct).mean()),
            "baseline": "nearest training window by " + " + ".join(task.inputs) + " features"}


@torch.no_grad()
def _motion_to_text(model, tw: dict, tokenizers: dict, rows, trows, decode_steps: int, chunk: int) -> dict:
    """Captions decoded from motion tokens, BLEU-4 / ROUGE-L against the window's caption."""
    from egogen.models.textmotion import bleu4, rouge_l

    held, train = tw["heldout"], tw["train"]
    dev = model.mod_emb.device
    sm, st = model.slices["motion"], model.slices["text"]
    tok = tokenizers["text"]
    refs = [held.texts[j] for j in rows]
    hyp, correct = [], []
    for a in range(0, len(rows), chunk):
        r = rows[a:a + chunk]
        pred = predict_tokens(model, {"motion": held.ids[r][:, sm].to(dev)}, "text", steps=decode_steps).cpu()
        hyp += _decode_text(tok, pred)
        av = held.avail[r][:, st]
        correct.append(((pred == held.ids[r][:, st]) & av).sum(1).float() / av.sum(1).clamp(min=1))
    nn_idx = _nearest_tokens(train.ids[trows][:, sm], held.ids[rows][:, sm])
    nn = [train.texts[trows[i]] for i in nn_idx.tolist()]
    bound = _decode_text(tok, held.ids[rows][:, st])  # the reference cut to the model's text length
    score = lambda h: {"bleu4": bleu4(h, refs), "rouge_l": rouge_l(h, refs)}  # noqa: E731
    return {"model": score(hyp), "baseline_nn": score(nn), "tokenizer_bound": score(bound),
            "token_accuracy": float(torch.cat(correct).mean()),
            "baseline": "caption of the nearest training window by motion tokens (Hamming)",
            "distinct_references": len(set(refs)), "distinct_train_captions": len({train.texts[j] for j in trows}),
            "examples": [{"reference": r, "model": h, "baseline_nn": n} for r, h, n in list(zip(refs, hyp, nn))[:3]]}


@torch.no_grad()
def _text_to_motion(model, tw: dict, rows, trows, cfg, seed: int, decode_steps: int, chunk: int) -> dict:
    """Motion tokens generated from captions; retrieval accuracy of the generated motion's own
    caption among ``retrieval_batch`` held-out windows, by a contrastive motion-text model."""
    from egogen.models.textmotion import batch_retrieval, train_motion_text_model

    held, train = tw["heldout"], tw["train"]
    dev = model.mod_emb.device
    mt, tt = {m.name: m for m in model.table}["motion"], {m.name: m for m in model.table}["text"]
    sm, st = model.slices["motion"], model.slices["text"]
    with torch.enable_grad():
        clip, losses = train_motion_text_model(
            train.ids[trows][:, sm], train.ids[trows][:, st], [train.texts[j] for j in trows],
            dict(motion_vocab=mt.vocab_size, motion_codebooks=mt.codebooks, motion_tokens=mt.tokens,
                 text_vocab=tt.vocab_size, text_tokens=tt.tokens, pad_id=tt.pad_id, dim=cfg.clip_dim),
            steps=cfg.clip_steps, batch_size=cfg.clip_batch, lr=cfg.clip_lr, seed=seed)
    gen, correct = [], []
    for a in range(0, len(rows), chunk):
        r = rows[a:a + chunk]
        pred = predict_tokens(model, {"text": held.ids[r][:, st].to(dev)}, "motion", steps=decode_steps).cpu()
        gen.append(pred.reshape(len(r), -1))
        correct.append((gen[-1] == held.ids[r][:, sm]).float().mean(1))
    motions = {"model": torch.cat(gen), "tokenizer_bound": held.ids[rows][:, sm],
               "baseline_nn": train.ids[trows][_nearest_tokens(train.ids[trows][:, st], held.ids[rows][:, st])][:, sm]}
    text_emb = clip.encode_text(held.ids[rows][:, st])
    G = min(cfg.retrieval_batch, len(rows))
    perm = np.random.default_rng([seed, 11]).permutation(len(rows))
    groups = [perm[a:a + G] for a in range(0, len(rows) - G + 1, G)]
    texts = [held.texts[j] for j in rows]
    out, chance, cands = {}, {}, []
    for name, ids in motions.items():
        emb = clip.encode_motion(ids)
        hits: dict = {}
        for g in groups:
            h, c, n = batch_retrieval(emb[g], text_emb[g], [texts[i] for i in g])
            for k, v in h.items():
                hits.setdefault(k, []).append(v)
                if name == "model":
                    chance.setdefault(k, []).append(torch.full((len(g),), c[k]))
            cands += [n] if name == "model" else []
        out[name] = {k: float(torch.cat(v).mean()) for k, v in hits.items()}
    return {**out, "chance": {k: float(torch.cat(v).mean()) for k, v in chance.items()},
            "candidates": float(np.mean(cands)),
            "token_accuracy": float(torch.cat(correct).mean()), "retrieval_batch": int(G),
            "retrieval_groups": len(groups), "distinct_references": len(set(texts)),
            "baseline": "motion of the nearest training window by text tokens (Hamming)",
            "evaluator": {"train_windows": int(len(trows)), "steps": cfg.clip_steps,
                          "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None}}


@torch.no_grad()
def evaluate_tasks(model: MultimodalMaskedModel, data: TokenizerData, tw: dict, tokenizers: dict,
                   decode_steps: int = 1, chunk: int = 128, cfg=None, seed: int = 0) -> dict:
    """Run :data:`TASKS` on the held-out windows, each next to its nearest-neighbour baseline.

    Args:
        model: the trained model; data: the windows (features for decoding and baselines);
        tw: :func:`tokenize_windows` of ``data``; tokenizers: name -> VQ-VAE / BPE.
        decode_steps: :func:`~egogen.models.multimodal.predict_tokens` steps.
        cfg: the run's :class:`~egogen.models.configs.PretrainConfig` (the contrastive model of
            text to motion; None: the defaults); seed: its seed.
    Returns:
        task name -> {``model``: metrics, ``baseline_nn``: metrics, ``tokenizer_bound``: the
        target's own tokens on the same windows (the floor of any token prediction; text: the
        reference cut to the model's text length; text to motion: the real motion's tokens),
        ``token_accuracy``, ``windows``, ``inputs``, ``target``, ``baseline``} or {``skipped``:
        why}. tracking (1- and 3-point): ``mpjpe_mm`` (22 joints, pelvis-relative), ``upper_mm``,
        ``lower_mm``, ``window_mpjpe_mm`` (window frame, with the root trajectory); gaze:
        ``angle_deg``; camera from RGB: ``ate_m``, ``rte_m``, ``rre_deg``
        (:func:`~egogen.models.features.camera_tracking_errors`); depth from RGB: ``abs_rel``,
        ``delta1``, ``rmse_m`` (:func:`~egogen.models.images.depth_errors`); motion to text:
        ``bleu4``, ``rouge_l`` (0..1); text to motion: ``top1``, ``top5`` retrieval accuracy among the distinct captions of batches of ``retrieval_batch``
        windows (``candidates``: their mean number) and ``chance`` (same keys).
    """
    from egogen.models.configs import PretrainConfig

    cfg = cfg or PretrainConfig()
    names = {m.name for m in model.table}
    held, train = tw["heldout"], tw["train"]
    out = {}
    for task in TASKS:
        need = set(task.inputs) | {task.target}
        if not need <= names:
            out[task.name] = {"skipped": f"modalities {sorted(need - names)} are not in the model"}
            continue
        rows, trows = _rows_with(held, need), _rows_with(train, need)
        if len(rows) == 0 or len(trows) == 0:
            out[task.name] = {"skipped": "no held-out (or training) windows with " + ", ".join(sorted(need))}
            continue
        if task.target == "text":
            r = _motion_to_text(model, tw, tokenizers, rows, trows, decode_steps, chunk)
        elif "text" in task.inputs:
            if len(rows) < 2:
                out[task.name] = {"skipped": "retrieval needs at least 2 held-out windows with motion and text"}
                continue
            r = _text_to_motion(model, tw, rows, trows, cfg, seed, decode_steps, chunk)
        else:
            r = _vq_task(task, model, data, tw, tokenizers, rows, trows, decode_steps, chunk)
        tm = {m.name: m for m in model.table}[task.target]
        out[task.name] = {"inputs": list(task.inputs), "target": task.target, "paper": task.paper,
                          "windows": int(len(rows)), **r, "target_tokenizer": tm.tokenizer,
                          "baseline_train_windows": int(len(trows))}
    return out


def _run_config(cfg: TokenizerConfig, seed: int, run_dir: Path, table) -> dict:
    return {"stage": "pretrain", "pretrain": cfg.to_dict()["pretrain"], "seed": seed,
            "tokenizers": {m.tokenizer: _sha256(run_dir / m.tokenizer) for m in table}}


def pretrain_run_diff(run_dir: str | os.PathLike, config: str | TokenizerConfig, seed: int) -> list[str]:
    """Which options differ between the pretrain checkpoint in ``run_dir`` and these
    (``pretrain`` config, ``seed``, ``tokenizers`` hashes); ``[CHECKPOINT]`` when there is none."""
    cfg = config if isinstance(config, TokenizerConfig) else load_config(config)
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        return [CHECKPOINT]
    old = torch.load(path, map_location="cpu", weights_only=False)["run"]
    table, _ = modality_table(run_dir, cfg)
    run = _run_config(cfg, seed, Path(run_dir), table)
    return sorted(k for k in set(old) | set(run) if old.get(k) != run.get(k))


def train_pretrain(data_dir: str | os.PathLike, out_dir: str | os.PathLike, config: str | TokenizerConfig = "tiny",
                   seed: int = 0, resume: bool = False, body_model: Optional[str | os.PathLike] = None,
                   skip_corrupt: bool = False, device: Optional[str] = None,
                   progress: Optional[Callable[[str, int, int, dict], None]] = None,
                   data: Optional[TokenizerData] = None) -> dict:
    """Train the multimodal masked model on the tokens of a finished tokenizer run, evaluate it
    and merge its metrics into ``metrics.json`` under ``pretrain``.

    Args:
        data_dir: the dataset the tokenizers were trained on (``--data``).
        out_dir: the run folder holding the tokenizers (``--out`` of stage tokenizers).
        config: ``tiny`` / ``small`` / ``base``, a file, or a
            :class:`~egogen.models.configs.TokenizerConfig` (its ``pretrain`` part sizes the model).
        seed: run seed (the model's initial weights, batches, masks).
        resume: continue from ``pretrain.pt`` (same pretrain config, seed and tokenizers).
        body_model: as for the tokenizers (forward kinematics of the tracking metrics).
        skip_corrupt: as for the tokenizers.
        device: torch device (None: ``cuda`` when available, else ``cpu``).
        progress: ``progress(task, done, total, info)``; tasks ``load``, ``tokens``, ``pretrain``
            (steps; info: loss), ``eval``.
        data: already-loaded windows (the same ``load_tokenizer_data`` call; saves reading the
            shards again).
    Returns:
        The ``pretrain`` metrics: ``table`` (the modality table), ``absent`` (modalities left out
        and why), ``parameters``, ``steps``, ``train_rows`` / ``heldout_rows``, ``initial`` and
        ``final`` fixed-mask losses on a training subset (``train``) and the held-out windows
        (``heldout``), ``history``, ``tasks`` (:func:`evaluate_tasks`), ``device``, ``wall_s``.
    Raises:
        PretrainRunError: no finished tokenizer stage in ``out_dir`` (the message names the command
            to run), tokenizers trained with other --data / --config / --seed, a pretrain run
            present without ``resume``, or ``resume`` with other options.
    """
    from egogen.models.train_tokenizers import image_sizes, tokenizer_run_diff, tokenizers_complete

    t_start = time.time()
    cfg = config if isinstance(config, TokenizerConfig) else load_config(config)
    p = cfg.pretrain
    data_dir, out = Path(data_dir), Path(out_dir)
    if not tokenizers_complete(out):
        raise PretrainRunError(_need(out, cfg.name))
    diff = tokenizer_run_diff(out, cfg, seed, data_dir, body_model)
    if diff:
        raise PretrainRunError(f"the tokenizers in {out} were trained with other {', '.join(diff)}; stage pretrain "
                               "reads their windows and split, so pass the same --data, --config and --seed (or "
                               "train new tokenizers in another --out)")
    table, absent = modality_table(out, cfg)
    run = _run_config(cfg, seed, out, table)
    path = out / CHECKPOINT
    ck = None
    if resume:
        if not path.is_file():
            raise PretrainRunError(f"--resume: {out} holds no {CHECKPOINT}; start stage pretrain without --resume")
        ck = torch.load(path, map_location="cpu", weights_only=False)
        d = sorted(k for k in set(ck["run"]) | set(run) if ck["run"].get(k) != run.get(k))
        if d:
            raise PretrainRunError(f"--resume: {path} was trained with other {', '.join(d)}; resume with the same "
                                   "--config and --seed, or delete it to train again")
    elif path.is_file():
        raise PretrainRunError(f"{out} already holds {CHECKPOINT}; pass --resume to continue it (or delete it)")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if data is None:
        w = cfg.windows
        data = load_tokenizer_data(data_dir, w.length, w.stride, w.heldout_stride, w.heldout_fraction,
                                   body_model=body_model, skip_corrupt=skip_corrupt,
                                   progress=(lambda d_, t_: progress("load", d_, t_, {})) if progress else None,
                                   images=image_sizes(cfg))
    tokenizers = _load_tokenizers(out, table)
    if progress:
        progress("tokens", 0, 1, {})
    tw = tokenize_windows(data, table, tokenizers, cfg.windows.length)
    if progress:
        progress("tokens", 1, 1, {})
    train = tw["train"]
    if len(train) == 0:
        raise PretrainRunError("no training windows to pretrain on")
    fixed = {"train": _fixed_masks(train, table, p, seed, 1)}
    if len(tw["heldout"]):
        fixed["heldout"] = _fixed_masks(tw["heldout"], table, p, seed, 2)

    torch.manual_seed(seed)
    model = _build(table, cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay, betas=(0.9, 0.95))
    step, history, wall0 = 0, [], 0.0
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"])
        if ck.get("cuda_rng") is not None and dev.type == "cuda":
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        step, history, wall0 = ck["step"], ck["history"], ck["wall_s"]
    t0 = time.time()

    def save(done: bool) -> None:
        _atomic_save(path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                            "cuda_rng": torch.cuda.get_rng_state_all() if dev.type == "cuda" else None,
                            "step": step, "history": history, "done": done, "wall_s": wall0 + time.time() - t0,
                            "run": run, "config": cfg.to_dict(), "table": [m.to_dict() for m in table]})

    def evaluate() -> dict:
        return {sp: _eval_loss(model, f, dev) for sp, f in fixed.items()}

    if step == 0:
        history.append({"step": 0, **evaluate()})
    model.train()
    info: dict = {}
    while step < p.steps:
        g = np.random.default_rng([seed, step])
        rows = g.integers(0, len(train), p.batch_size)
        inp, tgt = sample_masks(train.avail[rows], table, p.input_budget, p.target_budget, p.alpha, g)
        for grp in opt.param_groups:
            grp["lr"] = _lr(step, p.steps, p.lr, p.warmup)
        loss, losses, acc = masked_loss(model, train.ids[rows].to(dev), inp.to(dev), tgt.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        info = {"loss": float(loss.detach()), **{f"loss_{k}": v for k, v in losses.items()}}
        if step % p.eval_every == 0 or step == p.steps:
            history.append({"step": step, "train_batch_loss": info["loss"], **evaluate()})
        if step % p.checkpoint_every == 0 and step < p.steps:
            save(False)
        if progress:
            progress("pretrain", step, p.steps, info)
    save(True)
    if progress:
        progress("eval", 0, 1, {})
    tasks = evaluate_tasks(model, data, tw, tokenizers, p.decode_steps, cfg=p, seed=seed)
    if progress:
        progress("eval", 1, 1, {})
    result = {"config": cfg.name, "seed": seed, "table": [m.to_dict() for m in table], "absent": absent,
              "parameters": sum(q.numel() for q in model.parameters()), "steps": step,
              "train_rows": len(train), "heldout_rows": len(tw["heldout"]),
              "initial": {k: v for k, v in history[0].items() if k != "step"},
              "final": {k: v for k, v in history[-1].items() if k not in ("step", "train_batch_loss")},
              "history": history, "tasks": tasks, "device": dev.type, "torch_threads": torch.get_num_threads(),
              "train_wall_s": round(wall0 + time.time() - t0, 2), "wall_s": round(time.time() - t_start, 2)}
    mpath = out / "metrics.json"
    metrics = json.loads(mpath.read_text())
    metrics["pretrain"] = result
    _atomic_json(mpath, metrics)
    return json.loads(json.dumps(result))
