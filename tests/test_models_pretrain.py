"""egogen train-model --stage pretrain: the 4M-style masked model on the tokenizers' tokens.

The tiny scripted dataset of models_helpers (shared with the tokenizer tests); one short
tokenizer run (PQ=2 motion, camera, gaze, BPE) and one short pretrain run on it are shared by
the tests that read their outputs.
"""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from egogen.models.configs import get_config
from egogen.models.data import load_tokenizer_data
from egogen.models.multimodal import (dirichlet_budgets, masked_loss, predict_tokens, sample_masks,
                                      table_slices)
from egogen.models.pretrain import (TASKS, PretrainRunError, _load_tokenizers, load_pretrained, modality_table,
                                    tokenize_windows, train_pretrain)
from egogen.models.train_tokenizers import load_tokenizer, train_tokenizers
from models_helpers import rewrite_dataset, tiny_dataset

torch.set_num_threads(1)

_TINY = get_config("tiny")
CFG = replace(_TINY, name="test", steps=40, eval_every=40, checkpoint_every=40, motion_quantizers=("pq2",),
              pretrain=replace(_TINY.pretrain, steps=100, batch_size=16, eval_every=50, checkpoint_every=40,
                               clip_steps=60, clip_batch=32))
MODS = ["motion", "camera", "wrists", "gaze", "text"]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="session")
def tokenizer_run(dataset, tmp_path_factory):
    """A finished tokenizer stage (no pretrain yet): folder and its metrics."""
    out = tmp_path_factory.mktemp("pretrain") / "tok"
    return out, train_tokenizers(dataset, out, CFG, seed=0)


@pytest.fixture(scope="session")
def run(dataset, tokenizer_run, tmp_path_factory):
    """The tokenizer run copied, then pretrained: folder and the pretrain metrics."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    shutil.copytree(tokenizer_run[0], out)
    return out, train_pretrain(dataset, out, CFG, seed=0)


def _strip_wall(d):
    if isinstance(d, dict):
        return {k: _strip_wall(v) for k, v in d.items() if not k.endswith("wall_s")}
    return [_strip_wall(x) for x in d] if isinstance(d, list) else d


# ----------------------------------------------------------------------------- budgets


def test_dirichlet_budgets_sum_to_the_budget_and_never_exceed_what_a_modality_has():
    rng = np.random.default_rng(0)
    avail = rng.integers(0, 31, size=(500, 4))
    avail[::7, 2] = 0  # a modality missing from some windows
    for total in (1, 20, 48, 200):
        c = dirichlet_budgets(avail, total, 0.5, rng)
        assert c.dtype == np.int64 and (c >= 0).all() and (c <= avail).all()
        np.testing.assert_array_equal(c.sum(1), np.minimum(total, avail.sum(1)))
        assert (c[::7, 2] == 0).all()
    # the concentration does what 4M uses it for: small alpha puts most of a budget on one modality
    full = np.full((2000, 4), 100)
    share = {a: (dirichlet_budgets(full, 48, a, rng).max(1) / 48).mean() for a in (0.2, 5.0)}
    assert share[0.2] > 0.75 > 0.45 > share[5.0], share


def test_sampled_masks_are_disjoint_within_budget_and_only_on_available_tokens(run):
    out, _ = run
    table, _ = modality_table(out, CFG)
    S = sum(m.tokens for m in table)
    rng = np.random.default_rng(1)
    avail = torch.from_numpy(rng.random((300, S)) < 0.6)
    avail[:5] = False
    avail[:5, 0:2] = True  # two tokens only: one input, one target
    inp, tgt = sample_masks(avail, table, 48, 40, 0.5, rng)
    assert not (inp & tgt).any() and not (inp & ~avail).any() and not (tgt & ~avail).any()
    n = avail.sum(1)
    assert torch.equal(inp.sum(1), torch.minimum(torch.full_like(n, 48), n - 1))
    assert torch.equal(tgt.sum(1), torch.minimum(torch.full_like(n, 40), n - inp.sum(1)))
    # over many windows every modality is sometimes input only, sometimes target only
    sl = table_slices(table)
    for m in table:
        i, t = inp[:, sl[m.name]].any(1), tgt[:, sl[m.name]].any(1)
        assert (i & ~t).any() and (t & ~i).any(), m.name


# ----------------------------------------------------------------------------- training


def test_masked_model_loss_falls_on_tiny_simulated_data_and_metrics_are_merged(run, tokenizer_run):
    out, m = run
    assert [r["name"] for r in m["table"]] == MODS
    assert m["table"][0]["codebooks"] == 2 and m["table"][0]["tokens"] == 30  # PQ=2: 15 steps x 2
    h = m["history"]
    assert [x["step"] for x in h] == [0, 50, 100]
    first, last = h[0], h[-1]
    assert last["train"]["loss"] < 0.8 * first["train"]["loss"], h
    assert last["heldout"]["loss"] < first["heldout"]["loss"], h
    for mod in MODS:
        assert last["train"][f"loss_{mod}"] < first["train"][f"loss_{mod}"], (mod, h)
    # before training the loss is that of a uniform guess over each codebook
    expect = np.mean([np.log(r["vocab_size"]) for r in m["table"]])
    assert first["train"]["loss"] == pytest.approx(expect, rel=0.1)
    saved = json.loads((out / "metrics.json").read_text())
    assert _strip_wall(saved["pretrain"]) == _strip_wall(m)
    assert _strip_wall({k: v for k, v in saved.items() if k != "pretrain"}) == _strip_wall(
        json.loads(json.dumps(tokenizer_run[1])))  # the tokenizer metrics are kept as they were


def test_any_to_any_inference_returns_the_target_modalitys_tokens_for_every_pair(run, dataset):
    out, m = run
    model = load_pretrained(out)
    table = {t.name: t for t in model.table}
    data = load_tokenizer_data(dataset)
    tw = tokenize_windows(data, model.table, _load_tokenizers(out, model.table), 60)["heldout"]
    rows = np.arange(min(5, len(tw)))
    tokens = {n: tw.ids[rows][:, model.slices[n]] for n in table}
    for target, t in table.items():
        for given in [[n] for n in table if n != target] + [[n for n in table if n != target]]:
            for steps in (1, 4):
                pred = predict_tokens(model, {n: tokens[n] for n in given}, target, steps=steps)
                shape = (len(rows), t.tokens) if target == "text" else (len(rows), t.steps, t.codebooks)
                assert pred.shape == shape and pred.dtype == torch.int64, (given, target, steps)
                assert 0 <= int(pred.min()) and int(pred.max()) < t.vocab_size
    # text is decoded left to right: nothing but padding after the first <eos>
    text = predict_tokens(model, {"motion": tokens["motion"]}, "text")
    pad = table["text"].pad_id
    for row in text.tolist():
        if 2 in row:
            assert all(t == pad for t in row[row.index(2) + 1:]), row
        assert pad not in row[:row.index(2) if 2 in row else len(row)], row
    # predicted VQ tokens decode to feature windows with the tokenizer of the run
    motion = predict_tokens(model, {"camera": tokens["camera"]}, "motion")
    assert load_tokenizer(out, "motion_pq2").decode(motion).shape == (len(rows), 60, 136)
    with pytest.raises(ValueError):
        predict_tokens(model, {"motion": tokens["motion"]}, "motion")
    # the evaluation tasks ran with the same inference, next to their baseline
    video = {"tracking_1pt_video", "tracking_3pt_video", "gaze_from_rgb", "camera_from_rgb", "depth_from_rgb"}
    assert {t.name for t in TASKS} == {"tracking_1pt", "tracking_3pt", "gaze_from_camera", "motion_to_text",
                                       "text_to_motion"} | video
    for name in video:  # this dataset was never rendered (tests/test_models_images.py renders one)
        assert m["tasks"][name]["skipped"].endswith("are not in the model") and "rgb" in m["tasks"][name]["skipped"]
    for task in TASKS:
        if task.name in video:
            continue
        r = m["tasks"][task.name]
        assert r["windows"] > 0 and set(r["model"]) == set(r["baseline_nn"]) == set(r["tokenizer_bound"]), task
        assert all(np.isfinite(v) and v >= 0 for v in r["model"].values())
    for name in ("tracking_1pt", "tracking_3pt"):
        r = m["tasks"][name]
        assert set(r["model"]) == {"mpjpe_mm", "upper_mm", "lower_mm", "window_mpjpe_mm"}
        assert all(v > 0 for v in r["model"].values())
    assert m["tasks"]["tracking_3pt"]["inputs"] == ["camera", "wrists"]
    # 3-point tracking with the wrists decodes motion windows from camera + wrist tokens
    motion3 = predict_tokens(model, {"camera": tokens["camera"], "wrists": tokens["wrists"]}, "motion")
    assert load_tokenizer(out, "motion_pq2").decode(motion3).shape == (len(rows), 60, 136)
    # motion to text: BLEU-4 / ROUGE-L in [0, 1]; the reference through the BPE (cut to the model's text
    # length) is the bound
    r = m["tasks"]["motion_to_text"]
    assert set(r["model"]) == {"bleu4", "rouge_l"}
    for d in (r["model"], r["baseline_nn"], r["tokenizer_bound"]):
        assert all(0.0 <= v <= 1.0 for v in d.values())
    assert r["tokenizer_bound"]["rouge_l"] > 0.5  # cut to 15 BPE tokens, most of each caption is kept
    assert len(r["examples"]) == min(3, r["windows"]) and all(isinstance(e["model"], str) for e in r["examples"])
    # text to motion: retrieval accuracies of generated, nearest-neighbour and real motion, and chance
    r = m["tasks"]["text_to_motion"]
    assert r["retrieval_batch"] == min(CFG.pretrain.retrieval_batch, r["windows"]) and r["retrieval_groups"] >= 1
    for d in (r["model"], r["baseline_nn"], r["tokenizer_bound"], r["chance"]):
        assert set(d) == {"top1", "top5"} and all(0.0 <= v <= 1.0 for v in d.values()) and d["top1"] <= d["top5"]
    assert 0 < r["chance"]["top1"] <= 1 and 1 <= r["candidates"] <= r["retrieval_batch"]
    assert r["evaluator"]["loss_last"] < r["evaluator"]["loss_first"]  # the contrastive model learned


def test_windows_missing_a_modality_lack_its_tokens_and_a_run_without_gaze_leaves_it_out(run, dataset, tmp_path):
    out, _ = run
    table, _ = modality_table(out, CFG)
    sl = table_slices(table)
    from egogen.data import iter_samples

    keys = [k for k, _ in iter_samples(dataset)]
    rewrite_dataset(dataset, tmp_path / "d", lambda k, i: {"gaze.npz"} if i < 3 else {"text.json"} if i == 3 else
                    {"sensors.npz"} if i == 4 else ())
    data = load_tokenizer_data(tmp_path / "d")
    tw = tokenize_windows(data, table, _load_tokenizers(out, table), 60)
    assert {k for sp in tw.values() for k in sp.keys} & set(keys[:4]) == set(keys[:4])
    for sp in tw.values():
        for j, key in enumerate(sp.keys):
            no_gaze, no_text, no_wrists = key in keys[:3], key == keys[3], key == keys[4]
            assert bool(sp.avail[j, sl["gaze"]].any()) != no_gaze and bool(sp.avail[j, sl["text"]].any()) != no_text
            assert bool(sp.avail[j, sl["wrists"]].all()) != no_wrists and bool(sp.avail[j, sl["wrists"]].any()) != \
                no_wrists
            assert (sp.texts[j] is None) == no_text
            assert sp.avail[j, sl["motion"]].all() and sp.avail[j, sl["camera"]].all()
    # a training step on those rows masks only available tokens
    train = tw["train"]
    inp, tgt = sample_masks(train.avail, table, 48, 48, 0.5, np.random.default_rng(0))
    model = load_pretrained(out).train()
    loss, losses, _ = masked_loss(model, train.ids, inp, tgt)
    assert torch.isfinite(loss) and set(losses) <= set(MODS)
    # no gaze and no wrist sensors anywhere: the tokenizer stage skips them, the model has no row for them and
    # the tasks that need them say so
    rewrite_dataset(dataset, tmp_path / "nogaze", lambda k, i: {"gaze.npz", "sensors.npz"})
    small = replace(CFG, steps=2, eval_every=2, pretrain=replace(CFG.pretrain, steps=2, eval_every=2))
    train_tokenizers(tmp_path / "nogaze", tmp_path / "r", small)
    m = train_pretrain(tmp_path / "nogaze", tmp_path / "r", small)
    assert [r["name"] for r in m["table"]] == ["motion", "camera", "text"]
    assert m["absent"]["gaze"] == "no gaze training windows" and m["absent"]["wrists"] == "no wrists training windows"
    assert set(m["absent"]) == {"gaze", "wrists", "rgb", "depth"} and "egogen render" in m["absent"]["depth"]
    assert m["tasks"]["camera_from_rgb"] == {"skipped": "modalities ['rgb'] are not in the model"}
    assert m["tasks"]["gaze_from_camera"] == {"skipped": "modalities ['gaze'] are not in the model"}
    assert m["tasks"]["tracking_3pt"] == {"skipped": "modalities ['wrists'] are not in the model"}
    assert "model" in m["tasks"]["tracking_1pt"] and "model" in m["tasks"]["motion_to_text"]


def test_resume_ends_with_the_weights_and_metrics_of_an_uninterrupted_run_with_the_same_seed(
        run, tokenizer_run, dataset, tmp_path):
    ref, m_ref = run
    out = tmp_path / "r"
    shutil.copytree(tokenizer_run[0], out)
    with pytest.raises(PretrainRunError, match="--resume"):
        train_pretrain(dataset, out, CFG, seed=0, resume=True)  # nothing to resume yet

    def stop(task, done, total, info):
        if task == "pretrain" and done == 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_pretrain(dataset, out, CFG, seed=0, progress=stop)
    assert torch.load(out / "pretrain.pt", weights_only=False)["step"] == 40
    with pytest.raises(PretrainRunError, match="--resume"):
        train_pretrain(dataset, out, CFG, seed=0)
    other = replace(CFG, pretrain=replace(CFG.pretrain, lr=1e-2))
    with pytest.raises(PretrainRunError, match="pretrain"):
        train_pretrain(dataset, out, other, seed=0, resume=True)
    m = train_pretrain(dataset, out, CFG, seed=0, resume=True)
    a = torch.load(ref / "pretrain.pt", weights_only=False)["model"]
    b = torch.load(out / "pretrain.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _strip_wall(m) == _strip_wall(m_ref)
    saved = [_strip_wall(json.loads((d / "metrics.json").read_text())) for d in (ref, out)]
    assert saved[0] == saved[1]


def test_cli_runs_every_stage_skips_complete_ones_and_reports_against_the_papers(dataset, tmp_path):
    from egogen.cli import app

    runner = CliRunner()
    cfg = tmp_path / "quick.json"
    cfg.write_text(json.dumps({"base_config": "tiny", "steps": 3, "eval_every": 3, "motion_quantizers": ["pq2"],
                               "pretrain": {"steps": 3, "eval_every": 3, "batch_size": 8}}))
    out = tmp_path / "run"
    args = ["train-model", "--data", str(dataset), "--config", str(cfg), "--out", str(out)]
    res = runner.invoke(app, args + ["--json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout[res.stdout.index("{"):])
    assert m["motion"]["pq2"]["steps"] == 3 and m["pretrain"]["steps"] == 3 and m["pretrain"]["config"] == "quick"
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and res.output.count("skipped, complete") == 2, res.output
    res = runner.invoke(app, args + ["--seed", "1"])
    assert res.exit_code == 2 and "seed" in res.output
    res = runner.invoke(app, ["train-model", "--report", str(out)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    for word in ("tracking_1pt", "tracking_3pt", "upper_mm", "lower_mm", "gaze_from_camera", "EgoLM",
                 "Datasets differ", "depth_from_rgb", "absent", "motion_to_text", "bleu4", "rouge_l",
                 "text_to_motion", "top1", "top5", "chance", "83.9"):
        assert word in text, word
    assert f"{m['pretrain']['tasks']['tracking_1pt']['model']['mpjpe_mm']:.1f}" in text
