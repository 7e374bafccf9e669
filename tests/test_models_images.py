"""Image tokenizers and the RGB tasks of egogen train-model, on the tiny scripted dataset
rendered by `egogen render` (pyrender, pinhole, 48 px, 4 fps).

The dataset is copied before rendering (the other model tests read the unrendered one), and
rendering runs in a subprocess: in one process, Blender's GL loader fails after pyrender has
made an EGL context (docs/render.md), and the render engine tests use Blender later.
"""

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from egogen.data.shards import iter_samples, read_index
from egogen.models.configs import get_config
from egogen.models.data import TokenizerDataError, load_tokenizer_data
from egogen.models.features import camera_tracking_errors, camera_window_features
from egogen.models.images import (depth_errors, psnr_db, read_render_sample, render_folders,
                                  resize_inverse_depth, window_frame_offsets)
from egogen.models.pretrain import train_pretrain
from egogen.models.train_tokenizers import image_sizes, load_tokenizer, train_tokenizers
from models_helpers import tiny_dataset

torch.set_num_threads(1)

_TINY = get_config("tiny")
CFG = replace(_TINY, name="test-images", steps=40, eval_every=40, checkpoint_every=40, motion_quantizers=("pq2",),
              rgb=replace(_TINY.rgb, steps=120, batch_size=16), depth=replace(_TINY.depth, steps=120, batch_size=16),
              pretrain=replace(_TINY.pretrain, steps=80, batch_size=16, eval_every=40, checkpoint_every=40,
                               clip_steps=30, clip_batch=32, input_budget=64, target_budget=48))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """A copy of the tiny dataset with DIR/render-pyrender/ (rgb, depth, segmentation)."""
    src = tiny_dataset(tmp_path_factory)
    out = tmp_path_factory.mktemp("images") / "data"
    shutil.copytree(src, out)
    cmd = [sys.executable, "-m", "egogen", "render", str(out), "--engine", "pyrender", "--rig", "pinhole",
           "--resolution", "48", "--fps", "4"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 and "pyrender" in r.stderr and "install" in r.stderr:
        pytest.skip(f"pyrender cannot render here: {r.stderr[-300:]}")
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def run(rendered, tmp_path_factory):
    """Tokenizers then pretrain on the rendered copy: (folder, tokenizer metrics, pretrain metrics)."""
    out = tmp_path_factory.mktemp("images") / "run"
    tok = train_tokenizers(rendered, out, CFG, seed=0)
    return out, tok, train_pretrain(rendered, out, CFG, seed=0)


def test_inverse_depth_resize_averages_valid_pixels_and_keeps_nothing_as_zero():
    d = np.zeros((1, 4, 4), np.float32)
    d[0, :2, :2] = [[1.0, 2.0], [4.0, 0.0]]  # one missing pixel of four: the other three average
    d[0, :2, 2:] = [[0.0, 0.0], [0.0, 5.0]]  # three missing of four: nothing
    d[0, 2:, :] = 2.0
    inv = resize_inverse_depth(d, 2).astype(np.float64)
    np.testing.assert_allclose(inv[0], [[(1 + 0.5 + 0.25) / 3, 0.0], [0.5, 0.5]], rtol=1e-3)


def test_depth_and_camera_tracking_metrics_on_known_errors():
    gt = torch.full((2, 2, 4, 4, 1), 0.5)  # 2 m everywhere
    gt[1, :, :2] = 0.0  # half of the second window sees nothing: not scored
    m = depth_errors(gt / 1.1, gt)  # every depth 10 % too far
    np.testing.assert_allclose(m["abs_rel"].numpy(), [0.1, 0.1], rtol=1e-4)
    np.testing.assert_allclose(m["delta1"].numpy(), [1.0, 1.0])
    np.testing.assert_allclose(m["rmse_m"].numpy(), [0.2, 0.2], rtol=1e-4)
    assert float(depth_errors(gt / 1.3, gt)["delta1"][0]) == 0.0
    # a camera walking 1 m/s along x; the prediction is shifted by 10 cm after the first frame
    T = np.tile(np.eye(4), (1, 60, 1, 1))
    T[0, :, 0, 3] = np.arange(60) / 30.0
    P = T.copy()
    P[0, 1:, 1, 3] += 0.1
    e = camera_tracking_errors(camera_window_features(P), camera_window_features(T))
    assert float(e["ate_m"][0]) == pytest.approx(0.1 * np.sqrt(59 / 60), rel=1e-4)
    assert float(e["rte_m"][0]) == pytest.approx(0.1 / 30, rel=1e-3)  # only the pairs starting at frame 0 err
    assert float(e["rre_deg"][0]) == pytest.approx(0.0, abs=1e-4)
    assert float(psnr_db(torch.full((1, 1, 2, 2, 3), 0.6), torch.full((1, 1, 2, 2, 3), 0.5))[0]) == \
        pytest.approx(20.0, rel=1e-5)


def test_image_windows_show_the_rendered_frames_nearest_to_their_30hz_frames(rendered):
    sizes = image_sizes(CFG)
    data = load_tokenizer_data(rendered, images=sizes)
    assert [d.name for d in render_folders(rendered)] == ["render-pyrender"]
    w = data.train["rgb"]
    assert len(w) == len(data.train["camera"]) > 0  # every sample rendered: one image window per camera window
    members = dict(iter_samples(rendered / "render-pyrender"))
    i = len(w) // 2
    key, local = w.keys[w.sample[i]], int(w.starts[i] - w.starts[w.sample == w.sample[i]].min())
    st = read_render_sample(members[key], {"rgb": sizes["rgb"][0]}, key)
    x = w.get([i])["x"][0]
    assert x.shape == (CFG.rgb.frames, CFG.rgb.size, CFG.rgb.size, 3)
    for k, off in enumerate(window_frame_offsets(w.length, CFG.rgb.frames)):
        j = int(np.argmin(np.abs(st["frame_index"] - (local + off))))
        np.testing.assert_array_equal((x[k] * 255).round().numpy().astype(np.uint8), st["rgb"][j])
    d = data.train["depth"].get([i])["x"]
    assert d.shape == (1, CFG.depth.frames, CFG.depth.size, CFG.depth.size, 1) and float(d.max()) > 0.1


def test_image_tokenizers_lower_their_heldout_error_and_decode_to_frames(run, rendered):
    out, tok, _ = run
    for mod, metric, better in (("rgb", "psnr_db", np.greater), ("depth", "abs_rel", np.less)):
        m = tok[mod]
        assert m["eval_split"] == "heldout" and m["windows"] > 0
        assert better(m[metric], m["history"][0][metric]), (mod, m["history"])
        assert m["tokens_per_window"] == CFG.rgb.frames * (CFG.rgb.size // 8) ** 2
    assert tok["depth"]["abs_rel"] < 0.5 and tok["rgb"]["psnr_db"] > 15
    vq = load_tokenizer(out, "depth")
    data = load_tokenizer_data(rendered, images=image_sizes(CFG))
    x = data.heldout["depth"].get(np.arange(3))["x"]
    ids = vq.encode(x)
    assert ids.shape == (3, tok["depth"]["tokens_per_window"], 1) and int(ids.max()) < CFG.depth.codebook_size
    assert vq.decode(ids).shape == x.shape


def test_rgb_tasks_run_next_to_their_baselines(run):
    out, tok, p = run
    names = [m["name"] for m in p["table"]]
    assert "rgb" in names and "depth" in names and p["absent"] == {}
    t = p["tasks"]
    for name, keys in (("camera_from_rgb", ("ate_m", "rte_m", "rre_deg")), ("depth_from_rgb", ("abs_rel", "delta1")),
                       ("gaze_from_rgb", ("angle_deg",)), ("tracking_1pt_video", ("mpjpe_mm", "upper_mm", "lower_mm")),
                       ("tracking_3pt_video", ("mpjpe_mm",))):
        r = t[name]
        assert "skipped" not in r, (name, r)
        assert r["windows"] > 0 and "rgb" in r["inputs"]
        for k in keys:
            for col in ("model", "baseline_nn", "tokenizer_bound"):
                assert np.isfinite(r[col][k]) and r[col][k] >= 0, (name, col, k)
    # the tokenizer's own round trip bounds depth from RGB; a model no better than chance would not
    assert t["depth_from_rgb"]["tokenizer_bound"]["abs_rel"] == pytest.approx(tok["depth"]["abs_rel"], rel=1e-5)
    assert 0 < t["depth_from_rgb"]["model"]["delta1"] <= 1
    report = json.loads((out / "metrics.json").read_text())
    assert "camera_from_rgb" in report["pretrain"]["tasks"]


def test_an_unrendered_dataset_skips_the_image_tokenizers_and_a_corrupt_render_shard_is_named(rendered, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(rendered, data)
    shutil.rmtree(data / "render-pyrender")
    d = load_tokenizer_data(data, images=image_sizes(CFG))
    assert len(d.train["rgb"]) == 0 and len(d.train["camera"]) > 0 and d.report["render_folders"] == {}
    shutil.copytree(rendered / "render-pyrender", data / "render-pyrender")
    shard = data / "render-pyrender" / read_index(data / "render-pyrender")["shards"][1]["name"]
    shard.write_bytes(shard.read_bytes()[:-3000] + b"\0" * 3000)
    with pytest.raises(TokenizerDataError, match=shard.name) as e:
        load_tokenizer_data(data, images=image_sizes(CFG))
    assert "egogen render" in str(e.value)
    d = load_tokenizer_data(data, images=image_sizes(CFG), skip_corrupt=True)
    assert any(shard.name in s for s in d.report["skipped_shards"])
    assert 0 < len(d.train["rgb"]) + len(d.heldout["rgb"]) < len(d.train["camera"]) + len(d.heldout["camera"])
