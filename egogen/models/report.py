"""``egogen train-model --report RUN``: every metric of a run next to the seed papers' figures.

The papers' figures are copied from the seed papers (EgoLM, CVPR 2025, Tab. "main results"
and the VQ-VAE ablation, on Nymeria; EgoM2P, ICCV 2025, Tab. 2 and 3, on EgoExo4D and H2O).
Their datasets are real captures, egogen's are simulated held-out episodes of the run's own
data, so the columns give scale, not a comparison. Tasks the run could not evaluate (the RGB
tasks of a dataset never rendered) are rows with no value and the reason. EgoLM scores motion to text with
BERTScore (M2T 15.90 on Nymeria), not BLEU / ROUGE-L, so those rows have no paper figure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["PaperFigure", "PAPER_FIGURES", "report_rows", "load_metrics", "DATASETS_DIFFER"]

DATASETS_DIFFER = ("Datasets differ: egogen's figures are on held-out simulated episodes of this run's data; "
                   "the papers' on real captures (EgoLM: Nymeria; EgoM2P: EgoExo4D, H2O). For scale only.")


@dataclass(frozen=True)
class PaperFigure:
    """One figure reported by a seed paper.

    Attributes:
        key: the report row it belongs to. value: the number (unit of the row).
        source: paper, table / method and dataset.
    """

    key: str
    value: float
    source: str


PAPER_FIGURES = (
    PaperFigure("motion_pq1.mpjpe_mm", 51.60, "EgoLM VQ-VAE PQ=1 (Nymeria)"),
    PaperFigure("motion_pq2.mpjpe_mm", 34.49, "EgoLM VQ-VAE PQ=2, 2 x 8192 x 64 (Nymeria)"),
    PaperFigure("tracking_1pt.mpjpe_mm", 127.45, "EgoLM 1pt, no video (Nymeria)"),
    PaperFigure("tracking_1pt.mpjpe_mm", 106.95, "EgoLM 1pt + video (Nymeria)"),
    PaperFigure("tracking_1pt.mpjpe_mm", 129.23, "AvatarPoser 1pt, in EgoLM (Nymeria)"),
    PaperFigure("tracking_1pt.upper_mm", 83.73, "EgoLM 1pt + video (Nymeria)"),
    PaperFigure("tracking_1pt.upper_mm", 94.19, "AvatarPoser 1pt, in EgoLM (Nymeria)"),
    PaperFigure("tracking_1pt.lower_mm", 141.26, "EgoLM 1pt + video (Nymeria)"),
    PaperFigure("tracking_1pt.lower_mm", 192.34, "AvatarPoser 1pt, in EgoLM (Nymeria)"),
    PaperFigure("tracking_3pt.mpjpe_mm", 83.88, "EgoLM 3pt, no video (Nymeria); 73.38 with video"),
    PaperFigure("tracking_3pt.mpjpe_mm", 85.89, "AvatarPoser 3pt, in EgoLM (Nymeria)"),
    PaperFigure("tracking_3pt.mpjpe_mm", 79.80, "BoDiffusion 3pt, in EgoLM (Nymeria)"),
    PaperFigure("tracking_3pt.upper_mm", 54.06, "EgoLM 3pt, no video (Nymeria); 49.67 with video"),
    PaperFigure("tracking_3pt.upper_mm", 52.78, "AvatarPoser 3pt, in EgoLM (Nymeria)"),
    PaperFigure("tracking_3pt.lower_mm", 148.37, "EgoLM 3pt, no video (Nymeria); 124.58 with video"),
    PaperFigure("tracking_3pt.lower_mm", 165.18, "AvatarPoser 3pt, in EgoLM (Nymeria)"),
    PaperFigure("camera_from_rgb.ate_m", 0.017, "EgoM2P (EgoExo4D)"),
    PaperFigure("camera_from_rgb.rte_m", 0.004, "EgoM2P (EgoExo4D)"),
    PaperFigure("camera_from_rgb.rre_deg", 0.429, "EgoM2P (EgoExo4D)"),
    PaperFigure("depth_from_rgb.abs_rel", 0.055, "EgoM2P (H2O)"),
    PaperFigure("depth_from_rgb.delta1", 0.960, "EgoM2P (H2O)"),
    PaperFigure("tracking_1pt_video.mpjpe_mm", 106.95, "EgoLM 1pt + video (Nymeria)"),
    PaperFigure("tracking_1pt_video.upper_mm", 83.73, "EgoLM 1pt + video (Nymeria)"),
    PaperFigure("tracking_1pt_video.lower_mm", 141.26, "EgoLM 1pt + video (Nymeria)"),
    PaperFigure("tracking_3pt_video.mpjpe_mm", 73.38, "EgoLM 3pt + video (Nymeria)"),
    PaperFigure("tracking_3pt_video.upper_mm", 49.67, "EgoLM 3pt + video (Nymeria)"),
    PaperFigure("tracking_3pt_video.lower_mm", 124.58, "EgoLM 3pt + video (Nymeria)"),
)
"""The seed papers' figures shown by the report (key: ``<row>.<metric>``)."""

_UNITS = {"mpjpe_mm": "mm", "upper_mm": "mm", "lower_mm": "mm", "window_mpjpe_mm": "mm", "angle_deg": "deg",
          "translation_cm": "cm", "rotation_deg": "deg", "bleu4": "0..1", "rouge_l": "0..1", "top1": "share",
          "top5": "share", "ate_m": "m", "rte_m": "m", "rre_deg": "deg", "abs_rel": "ratio", "delta1": "share",
          "rmse_m": "m", "psnr_db": "dB"}

_NOTES = {"motion_to_text": "EgoLM reports BERTScore (M2T 15.90), not BLEU / ROUGE-L",
          "text_to_motion": "bound: the real motion's tokens"}


def load_metrics(run_dir: str | os.PathLike) -> dict:
    """``metrics.json`` of a run folder.

    Raises:
        FileNotFoundError: none there (the message says which command writes it).
    """
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {run_dir}; train with `egogen train-model --data DIR --out "
                                f"{run_dir}` first")
    return json.loads(path.read_text())


def _paper(key: str) -> tuple[Optional[float], str]:
    figs = [f for f in PAPER_FIGURES if f.key == key]
    if not figs:
        return None, ""
    return figs[0].value, "; ".join(f"{f.value:g} {f.source}" if i else f.source for i, f in enumerate(figs))


def report_rows(metrics: dict) -> list[dict]:
    """One row per metric of a run's ``metrics.json``, with its baseline and the papers' figure.

    Args:
        metrics: the parsed ``metrics.json``.
    Returns:
        rows ``{task, metric, unit, value, baseline, bound, paper, source, note}``; numbers are
        floats or None. ``baseline``: nearest neighbour (tasks); ``bound``: the target
        tokenizer's own round trip. Absent tasks have ``value`` None and the reason in ``note``.
    """
    rows = []

    def add(task, metric, value, baseline=None, bound=None, note=""):
        paper, source = _paper(f"{task}.{metric}")
        rows.append({"task": task, "metric": metric, "unit": _UNITS.get(metric, ""), "value": value,
                     "baseline": baseline, "bound": bound, "paper": paper, "source": source, "note": note})

    for v, r in sorted(metrics.get("motion", {}).items()):
        if "skipped" in r:
            add(f"motion_{v}", "mpjpe_mm", None, note=r["skipped"])
            continue
        add(f"motion_{v}", "mpjpe_mm", r["mpjpe_mm"], note="tokenizer round trip, pelvis-relative")
        add(f"motion_{v}", "window_mpjpe_mm", r["window_mpjpe_mm"], note="tokenizer round trip, window frame")
    for mod, keys in (("camera", ("translation_cm", "rotation_deg")), ("wrists", ("translation_cm", "rotation_deg")),
                      ("gaze", ("angle_deg",)), ("rgb", ("psnr_db",)), ("depth", ("abs_rel", "delta1"))):
        r = metrics.get(mod, {})
        for k in keys:
            add(f"{mod}_tokenizer", k, r.get(k), note=r.get("skipped", "tokenizer round trip"))
    t = metrics.get("text", {})
    if t:
        add("text_bpe", "roundtrip_exact", t.get("roundtrip_exact"), note=t.get("skipped", "share of held-out "
                                                                             "strings decoded exactly"))
    p = metrics.get("pretrain")
    if p is None:
        add("pretrain", "loss", None, note="stage pretrain has not run")
    else:
        add("pretrain", "heldout_loss", p["final"].get("heldout", {}).get("loss"),
            note=f"masked-token cross-entropy; before training {p['initial'].get('heldout', {}).get('loss', 0):.2f}")
        add("pretrain", "train_loss", p["final"]["train"]["loss"],
            note=f"fixed training subset; before training {p['initial']['train']['loss']:.2f}")
        for name, r in p.get("tasks", {}).items():
            if "skipped" in r:
                add(name, "-", None, note=r["skipped"])
                continue
            for k, v in r["model"].items():
                note = f"{'+'.join(r['inputs'])} -> {r['target']}, {r['windows']} windows"
                if name in _NOTES:
                    note += "; " + _NOTES[name]
                if "chance" in r:
                    note += (f"; chance {r['chance'][k]:.2f} ({r['candidates']:.1f} distinct captions per batch of "
                             f"{r['retrieval_batch']})")
                add(name, k, v, r["baseline_nn"].get(k), r["tokenizer_bound"].get(k), note=note)
            add(name, "token_accuracy", r["token_accuracy"])
        for name, why in p.get("absent", {}).items():
            add(f"modality {name}", "-", None, note=f"absent: {why}")
    return rows
