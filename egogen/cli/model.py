"""``egogen train-model``: train the models on a simulated dataset, stage by stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from egogen.models import STAGES, stage_names

console = Console(stderr=True)

_STAGE_HELP = "; ".join(f"{s.name}: {s.summary}" for s in STAGES)


def _parse_stages(spec: str) -> list[str]:
    names = [x.strip() for x in spec.split(",") if x.strip()]
    unknown = [n for n in names if n not in stage_names()]
    if not names or unknown:
        raise typer.BadParameter(f"{spec!r}: choose from {', '.join(stage_names())} (comma-separated to run several)",
                                 param_hint="--stage")
    return [n for n in stage_names() if n in names]  # the stages' own order


def _summary(m: dict) -> list[str]:
    rows = []
    for v, r in m.get("motion", {}).items():
        if "skipped" in r:
            rows.append(f"motion {v:<4} skipped: {r['skipped']}")
        else:
            rows.append(f"motion {v:<4} MPJPE {r['mpjpe_mm']:6.1f} mm (window frame {r['window_mpjpe_mm']:6.1f} mm), "
                        f"{r['tokens_per_window']} tokens / window, codes used {r['codes_used']:.0%}")
    c, g, t = m.get("camera", {}), m.get("gaze", {}), m.get("text", {})
    rows.append(f"camera      skipped: {c['skipped']}" if "skipped" in c else
                f"camera      {c['translation_cm']:.2f} cm, {c['rotation_deg']:.2f} deg, {c['tokens_per_window']} tokens / "
                "window")
    w = m.get("wrists", {})
    if w:
        rows.append(f"wrists      skipped: {w['skipped']}" if "skipped" in w else
                    f"wrists      {w['translation_cm']:.2f} cm, {w['rotation_deg']:.2f} deg, {w['tokens_per_window']} "
                    "tokens / window")
    rows.append(f"gaze        skipped: {g['skipped']}" if "skipped" in g else
                f"gaze        {g['angle_deg']:.2f} deg, {g['tokens_per_window']} tokens / window")
    for mod in ("rgb", "depth"):
        r = m.get(mod, {})
        if not r:
            continue
        if "skipped" in r:
            rows.append(f"{mod:<11} skipped: {r['skipped']}")
        else:
            err = (f"PSNR {r['psnr_db']:.1f} dB" if mod == "rgb" else
                   f"AbsRel {r['abs_rel']:.3f}, delta<1.25 {r['delta1']:.1%}")
            rows.append(f"{mod:<11} {err}, {r['tokens_per_window']} tokens / window, codes used {r['codes_used']:.0%}")
    rows.append(f"text        skipped: {t['skipped']}" if "skipped" in t else
                f"text        BPE {t['vocab_size']} tokens, {t['tokens_per_text']:.1f} tokens / text, "
                f"round trip {t['roundtrip_exact']:.0%}")
    return rows


def _pretrain_summary(p: dict) -> list[str]:
    rows = [f"pretrain    {p['parameters']:,} parameters, {p['steps']} steps: masked-token loss "
            f"train {p['initial']['train']['loss']:.3f} -> {p['final']['train']['loss']:.3f}"
            + (f", held out {p['initial']['heldout']['loss']:.3f} -> {p['final']['heldout']['loss']:.3f}"
               if "heldout" in p["final"] else "")]
    for name, r in p["tasks"].items():
        if "skipped" in r:
            rows.append(f"{name:<17} skipped: {r['skipped']}")
        elif "chance" in r:
            m, b, c = r["model"], r["baseline_nn"], r["chance"]
            t = r["tokenizer_bound"]
            rows.append(f"{name:<17} retrieval top-1 {m['top1']:.2f}, top-5 {m['top5']:.2f} (of {r['candidates']:.1f} "
                        f"captions per {r['retrieval_batch']} windows); nearest neighbour {b['top1']:.2f}, "
                        f"{b['top5']:.2f}; real motion {t['top1']:.2f}, {t['top5']:.2f}; chance {c['top1']:.2f}, "
                        f"{c['top5']:.2f}")
        elif r["target"] == "text":
            m, b = r["model"], r["baseline_nn"]
            rows.append(f"{name:<17} BLEU-4 {m['bleu4']:.3f}, ROUGE-L {m['rouge_l']:.3f}; nearest neighbour "
                        f"{b['bleu4']:.3f}, {b['rouge_l']:.3f}")
        elif r["target"] == "motion":
            m, b = r["model"], r["baseline_nn"]
            rows.append(f"{name:<17} MPJPE {m['mpjpe_mm']:.1f} mm (upper {m['upper_mm']:.1f}, "
                        f"lower {m['lower_mm']:.1f}); "
                        f"nearest neighbour {b['mpjpe_mm']:.1f} mm ({b['upper_mm']:.1f}, {b['lower_mm']:.1f})")
        elif r["target"] == "camera":
            m, b = r["model"], r["baseline_nn"]
            rows.append(f"{name:<17} ATE {m['ate_m'] * 100:.1f} cm, RTE {m['rte_m'] * 100:.1f} cm, RRE "
                        f"{m['rre_deg']:.2f} deg; nearest neighbour {b['ate_m'] * 100:.1f} cm, {b['rte_m'] * 100:.1f} "
                        f"cm, {b['rre_deg']:.2f} deg")
        elif r["target"] == "depth":
            m, b = r["model"], r["baseline_nn"]
            rows.append(f"{name:<17} AbsRel {m['abs_rel']:.3f}, delta<1.25 {m['delta1']:.1%}; nearest neighbour "
                        f"{b['abs_rel']:.3f}, {b['delta1']:.1%}")
        else:
            rows.append(f"{name:<17} {r['model']['angle_deg']:.2f} deg; nearest neighbour "
                        f"{r['baseline_nn']['angle_deg']:.2f} deg")
    for name, why in p.get("absent", {}).items():
        rows.append(f"modality {name} absent: {why}")
    return rows


def _progress():
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Progress(TextColumn("{task.description:<11}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console)
    tasks: dict = {}

    def report(task: str, done: int, total: int, info: dict) -> None:
        if task not in tasks:
            tasks[task] = bar.add_task(task, total=total, info="")
        text = " ".join(f"{k}={v:.3g}" for k, v in info.items() if k in ("loss", "feat", "joint_m"))
        bar.update(tasks[task], completed=done, total=total, info=text)

    return bar, report


def _print_report(run: Path) -> None:
    from rich.table import Table

    from egogen.models.report import DATASETS_DIFFER, load_metrics, report_rows

    rows = report_rows(load_metrics(run))
    f = lambda v: "-" if v is None else (f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}")  # noqa: E731
    table = Table(title=f"egogen train-model --report {run}", caption=DATASETS_DIFFER)
    for col in ("task", "metric", "egogen", "baseline (NN)", "tokenizer bound", "paper", "paper source / note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        metric = f"{r['metric']} ({r['unit']})" if r["unit"] else r["metric"]
        note = "; ".join(x for x in (r["source"], r["note"]) if x)
        table.add_row(r["task"], metric, f(r["value"]), f(r["baseline"]), f(r["bound"]), f(r["paper"]), note)
    Console().print(table)


def train_model_cmd(
    stage: Optional[str] = typer.Option(None, "--stage", help=f"Stage(s) to run, comma-separated, run in this order "
                                        f"(default: all, skipping those complete in --out): {_STAGE_HELP}."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder written by `egogen simulate` (index.json "
                                        "+ shard-*.tar)."),
    config: str = typer.Option("tiny", "--config", help="tiny (CPU, minutes), small (CPU, under an hour), base "
                               "(the papers' sizes; GPU), or a .json / .yaml file of config keys "
                               "(egogen/models/configs.py; `base_config` picks the defaults)."),
    out: Path = typer.Option(Path("runs/model"), "--out", help="Run folder: checkpoints, tokenizer.json, metrics.json."),
    seed: int = typer.Option(0, "--seed", help="Run seed (same seed, data and machine: same weights and metrics)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (same --data, --config, --seed)."),
    body_model: Optional[Path] = typer.Option(None, "--body-model", help="SMPL-X folder the data was simulated with "
                                              "(default: egogen's default body or $EGOGEN_BODY_MODEL)."),
    skip_corrupt: bool = typer.Option(False, "--skip-corrupt", help="Train without shards that are missing or fail "
                                      "their sha256 check (they are listed in metrics.json) instead of stopping."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch CPU threads (1 is fastest for tiny models)."),
    device: Optional[str] = typer.Option(None, "--device", help="torch device of the pretrain stage (default: cuda "
                                         "when present, else cpu)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Print every metric of this run folder's "
                                          "metrics.json next to the seed papers' figures, and exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON on stdout."),
) -> None:
    """Train egogen's models on a simulated dataset: tokenizers first, then the multimodal model.

    Stage tokenizers (EgoLM, EgoM2P, VIM): cuts every sample (one wearer) into 2 s windows
    at 30 Hz and trains 1D-conv VQ-VAEs on them: motion (SMPL-X body: 6D joint rotations,
    root velocity in the heading frame; 4x temporal down-sampling) with three quantizers
    side by side, product quantization with 1 and 2 codebooks at equal code size (EgoLM's
    ablation) and residual quantization (VIM); the head-camera trajectory relative to the
    window's first frame (60 x 9 -> 30 tokens, codebook 256) and the gaze direction
    (60 x 2 -> 30 tokens), the wrist trajectories; 2D-conv VQ-VAEs on the rendered RGB and
    depth frames of DATA/render-*/ (`egogen render DATA` first; without rendered frames they
    are skipped); plus a byte-level BPE on the samples' instructions, descriptions and
    captions. Episodes are split into train / held-out by a hash of their id. Writes
    OUT/config.json, split.json, tokenizer.json, motion_pq1.pt, motion_pq2.pt, motion_rq.pt,
    camera.pt, gaze.pt, wrists.pt, rgb.pt, depth.pt and metrics.json (held-out MPJPE in mm,
    camera cm / deg, gaze deg, RGB PSNR, depth AbsRel, BPE round trip).

    Stage pretrain (4M, EgoM2P): an encoder-decoder transformer over the motion, camera,
    wrist, gaze, text, RGB and depth tokens of every window, trained to predict random target
    tokens from random input tokens (Dirichlet-split budgets), then evaluated on held-out
    windows: full-body tracking from the head camera (1-point) and head + wrists (3-point),
    with and without video (MPJPE full / upper / lower, mm), gaze from the camera and from
    RGB + camera (deg), camera tracking from RGB (ATE / RTE / RRE), depth from RGB (AbsRel,
    delta < 1.25), motion to text (BLEU-4 / ROUGE-L) and text to motion (retrieval), each next
    to a nearest-neighbour baseline. Writes OUT/pretrain.pt and adds `pretrain` to
    metrics.json. docs/models.md explains the features and the metrics.

    Example: egogen simulate --scene apartment --n 200 --out datasets/apt && egogen render
    datasets/apt --engine pyrender --rig pinhole --resolution 128 --fps 4 && egogen train-model
    --data datasets/apt --config small --out runs/m && egogen train-model --report runs/m
    """
    import torch

    from egogen.data.shards import ShardError
    from egogen.models import StageSkipped, train_model
    from egogen.models.data import TokenizerDataError
    from egogen.models.pretrain import PretrainRunError
    from egogen.models.train_tokenizers import TokenizerRunError

    if report is not None:
        try:
            _print_report(report)
        except FileNotFoundError as e:
            console.print(f"[red]error:[/red] {escape(str(e))}")
            raise typer.Exit(2)
        return
    if data is None:
        raise typer.BadParameter("--data is required (a dataset folder from `egogen simulate`)", param_hint="--data")
    stages = _parse_stages(stage) if stage is not None else None
    torch.set_num_threads(threads)
    bar, progress = _progress()
    try:
        with bar:
            results = train_model(data, out, config, seed=seed, resume=resume, stages=stages, body_model=body_model,
                                  skip_corrupt=skip_corrupt, device=device, progress=progress)
    except (TokenizerDataError, TokenizerRunError, PretrainRunError, ShardError, ValueError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(2)
    except KeyboardInterrupt:
        console.print(f"interrupted; continue with the same command plus --resume (checkpoints in {out})")
        raise typer.Exit(130)
    for name, m in results.items():
        if isinstance(m, StageSkipped):
            console.print(f"{name}: skipped, {m.reason}", markup=False, highlight=False)
            continue
        for row in (_summary(m) if name == "tokenizers" else _pretrain_summary(m)):
            console.print(row, markup=False, highlight=False)
        if name == "tokenizers" and m["data"].get("skipped_shards"):
            console.print(f"[yellow]skipped shards:[/yellow] {escape('; '.join(m['data']['skipped_shards']))}")
        console.print(f"{name} done in {m['wall_s']:.0f} s -> {out}/metrics.json")
    if as_json:  # the run's metrics.json: tokenizer metrics, and stage pretrain's under "pretrain"
        typer.echo(json.dumps(json.loads((out / "metrics.json").read_text()), indent=1))


def register(app: typer.Typer) -> None:
    """Add ``train-model`` to the root app."""
    app.command("train-model")(train_model_cmd)
