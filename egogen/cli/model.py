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

_STAGE_HELP = "; ".join(f"{s.name}: {s.summary}{'' if s.implemented else ' (not implemented yet)'}" for s in STAGES)


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
    rows.append(f"gaze        skipped: {g['skipped']}" if "skipped" in g else
                f"gaze        {g['angle_deg']:.2f} deg, {g['tokens_per_window']} tokens / window")
    rows.append(f"text        skipped: {t['skipped']}" if "skipped" in t else
                f"text        BPE {t['vocab_size']} tokens, {t['tokens_per_text']:.1f} tokens / text, "
                f"round trip {t['roundtrip_exact']:.0%}")
    return rows


def _run_tokenizers(data: Path, out: Path, config: str, seed: int, resume: bool, body_model: Optional[Path],
                    skip_corrupt: bool) -> dict:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from egogen.models.train_tokenizers import train_tokenizers

    with Progress(TextColumn("{task.description:<11}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console) as bar:
        tasks: dict = {}

        def report(task: str, done: int, total: int, info: dict) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total, info="")
            text = " ".join(f"{k}={v:.3g}" for k, v in info.items() if k in ("loss", "feat", "joint_m"))
            bar.update(tasks[task], completed=done, total=total, info=text)

        return train_tokenizers(data, out, config, seed=seed, resume=resume, body_model=body_model,
                                skip_corrupt=skip_corrupt, progress=report)


def train_model_cmd(
    stage: str = typer.Option("tokenizers", "--stage", help=f"Stage(s) to run, comma-separated, run in this order: "
                              f"{_STAGE_HELP}."),
    data: Path = typer.Option(..., "--data", help="Dataset folder written by `egogen simulate` (index.json + "
                              "shard-*.tar)."),
    config: str = typer.Option("tiny", "--config", help="tiny (CPU, seconds to a minute), small (CPU, minutes), base "
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
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON on stdout."),
) -> None:
    """Train egogen's models on a simulated dataset: tokenizers first, then the multimodal model.

    Stage tokenizers (EgoLM, EgoM2P, VIM): cuts every sample (one wearer) into 2 s windows
    at 30 Hz and trains 1D-conv VQ-VAEs on them: motion (SMPL-X body: 6D joint rotations,
    root velocity in the heading frame; 4x temporal down-sampling) with three quantizers
    side by side, product quantization with 1 and 2 codebooks at equal code size (EgoLM's
    ablation) and residual quantization (VIM); the head-camera trajectory relative to the
    window's first frame (60 x 9 -> 30 tokens, codebook 256) and the gaze direction
    (60 x 2 -> 30 tokens); plus a byte-level BPE on the samples' instructions, descriptions
    and captions. Episodes are split into train / held-out by a hash of their id. Writes
    OUT/config.json, split.json, tokenizer.json, motion_pq1.pt, motion_pq2.pt, motion_rq.pt,
    camera.pt, gaze.pt and metrics.json (held-out MPJPE in mm, camera cm / deg, gaze deg,
    BPE round trip). docs/models.md explains the features and the metrics.

    Example: egogen simulate --scene apartment --n 200 --out datasets/apt && egogen train-model
    --stage tokenizers --data datasets/apt --config small --out runs/tok
    """
    import torch

    from egogen.data.shards import ShardError
    from egogen.models.data import TokenizerDataError
    from egogen.models.train_tokenizers import TokenizerRunError

    stages = _parse_stages(stage)
    todo = {s.name: s for s in STAGES}
    missing = [s for s in stages if not todo[s].implemented]
    if missing:
        console.print(f"[red]error:[/red] stage {', '.join(missing)} is not implemented yet (issue 8); run "
                      "`--stage tokenizers` now. Implemented: "
                      f"{', '.join(s.name for s in STAGES if s.implemented)}.")
        raise typer.Exit(2)
    torch.set_num_threads(threads)
    results = {}
    for name in stages:
        try:
            if name == "tokenizers":
                results[name] = _run_tokenizers(data, out, config, seed, resume, body_model, skip_corrupt)
        except (TokenizerDataError, TokenizerRunError, ShardError, ValueError, FileNotFoundError) as e:
            console.print(f"[red]error:[/red] {escape(str(e))}")
            raise typer.Exit(2)
        except KeyboardInterrupt:
            console.print(f"interrupted; continue with the same command plus --resume (checkpoints in {out})")
            raise typer.Exit(130)
    if "tokenizers" in results:
        m = results["tokenizers"]
        for row in _summary(m):
            console.print(row, markup=False, highlight=False)
        if m["data"].get("skipped_shards"):
            console.print(f"[yellow]skipped shards:[/yellow] {escape('; '.join(m['data']['skipped_shards']))}")
        console.print(f"done in {m['wall_s']:.0f} s -> {out}/metrics.json")
        if as_json:
            typer.echo(json.dumps({k: v for k, v in m.items()}, indent=1))


def register(app: typer.Typer) -> None:
    """Add ``train-model`` to the root app."""
    app.command("train-model")(train_model_cmd)
