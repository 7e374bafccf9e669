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
              pretrain=replace(_TINY.pretrain, steps=100, batch_size=16, eval_every=50, checkpoint_every=40))


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
    assert [r["name"] for r in m["table"]] == ["motion", "camera", "gaze", "text"]
    assert m["table"][0]["codebooks"] == 2 and m["table"][0]["tokens"] == 30  # PQ=2: 15 steps x 2
    h = m["history"]
    assert [x["step"] for x in h] == [0, 50, 100]
    first, last = h[0], h[-1]
    assert last["train"]["loss"] < 0.8 * first["train"]["loss"], h
    assert last["heldout"]["loss"] < first["heldout"]["loss"], h
    for mod in ("motion", "camera", "gaze", "text"):
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
    # predicted VQ tokens decode to feature windows with the tokenizer of the run
    motion = predict_tokens(model, {"camera": tokens["camera"]}, "motion")
    assert load_tokenizer(out, "motion_pq2").decode(motion).shape == (len(rows), 60, 136)
    with pytest.raises(ValueError):
        predict_tokens(model, {"motion": tokens["motion"]}, "motion")
    # the evaluation tasks ran with the same inference, next to their baseline
    for task in TASKS:
        r = m["tasks"][task.name]
        assert r["windows"] > 0 and set(r["model"]) == set(r["baseline_nn"]) == set(r["tokenizer_bound"])
        assert all(np.isfinite(v) and v > 0 for v in r["model"].values())
    tr = m["tasks"]["tracking_1pt"]["model"]
    assert set(tr) == {"mpjpe_mm", "upper_mm", "lower_mm", "window_mpjpe_mm"}


def test_windows_missing_a_modality_lack_its_tokens_and_a_run_without_gaze_leaves_it_out(run, dataset, tmp_path):
    out, _ = run
    table, _ = modality_table(out, CFG)
    sl = table_slices(table)
    from egogen.data import iter_samples

    keys = [k for k, _ in iter_samples(dataset)]
    rewrite_dataset(dataset, tmp_path / "d", lambda k, i: {"gaze.npz"} if i < 3 else {"text.json"} if i == 3 else ())
    data = load_tokenizer_data(tmp_path / "d")
    tw = tokenize_windows(data, table, _load_tokenizers(out, table), 60)
    assert {k for sp in tw.values() for k in sp.keys} & set(keys[:4]) == set(keys[:4])
    for sp in tw.values():
        for j, key in enumerate(sp.keys):
            no_gaze, no_text = key in keys[:3], key == keys[3]
            assert bool(sp.avail[j, sl["gaze"]].any()) != no_gaze and bool(sp.avail[j, sl["text"]].any()) != no_text
            assert sp.avail[j, sl["motion"]].all() and sp.avail[j, sl["camera"]].all()
    # a training step on those rows masks only available tokens
    train = tw["train"]
    inp, tgt = sample_masks(train.avail, table, 48, 48, 0.5, np.random.default_rng(0))
    model = load_pretrained(out).train()
    loss, losses, _ = masked_loss(model, train.ids, inp, tgt)
    assert torch.isfinite(loss) and set(losses) <= {"motion", "camera", "gaze", "text"}
    # no gaze anywhere: the tokenizer stage skips it and the model has no gaze row
    rewrite_dataset(dataset, tmp_path / "nogaze", lambda k, i: {"gaze.npz"})
    small = replace(CFG, steps=2, eval_every=2, pretrain=replace(CFG.pretrain, steps=2, eval_every=2))
    train_tokenizers(tmp_path / "nogaze", tmp_path / "r", small)
    m = train_pretrain(tmp_path / "nogaze", tmp_path / "r", small)
    assert [r["name"] for r in m["table"]] == ["motion", "camera", "text"]
    assert m["absent"] == {"gaze": "no gaze training windows"}
    assert m["tasks"]["gaze_from_camera"] == {"skipped": "modalities ['gaze'] are not in the model"}


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
    for word in ("tracking_1pt", "upper_mm", "lower_mm", "gaze_from_camera", "EgoLM", "Datasets differ",
                 "depth_from_rgb", "absent"):
        assert word in text, word
    assert f"{m['pretrain']['tasks']['tracking_1pt']['model']['mpjpe_mm']:.1f}" in text
