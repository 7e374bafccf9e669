"""`egogen body info` and `egogen body show` as a user runs them."""

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from egogen.cli import app

runner = CliRunner()


def test_body_info_json_reports_the_default_body():
    result = runner.invoke(app, ["body", "info", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["model_type"] == "smplx"
    assert info["num_vertices"] == 13718 and info["num_joints"] == 55
    assert 1.55 <= info["height_m"] <= 1.90
    assert "Anny" in info["source"] and "Apache-2.0" in info["licence"]
    assert info["num_markers"] == 67


def test_body_info_betas_change_the_reported_height():
    base = json.loads(runner.invoke(app, ["body", "info", "--json"]).stdout)["height_m"]
    tall = json.loads(runner.invoke(app, ["body", "info", "--json", "--betas", "1.5"]).stdout)["height_m"]  # beta 0 > 0: taller
    short = json.loads(runner.invoke(app, ["body", "info", "--json", "--betas", "-1.5"]).stdout)["height_m"]
    assert short < base < tall
    bad = runner.invoke(app, ["body", "info", "--betas", "tall"])
    assert bad.exit_code != 0 and "comma-separated numbers" in bad.output


def test_body_show_draws_a_figure_with_markers_and_frustum(tmp_path):
    out = tmp_path / "body.png"
    result = runner.invoke(app, ["body", "show", "--out", str(out), "--rig", "hololens2"])
    assert result.exit_code == 0, result.output
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape[0] > 400 and img.shape[1] > 800
    red = (img[..., 0] > 180) & (img[..., 1] < 60) & (img[..., 2] < 90)       # crimson markers
    blue = (img[..., 2] > 180) & (img[..., 0] < 120) & (img[..., 1] < 150)   # royal-blue frustum
    skin = (img[..., 0] > 150) & (img[..., 0] > img[..., 2] + 30) & ~red      # shaded body
    assert red.sum() > 500 and blue.sum() > 200 and skin.sum() > 20000
    assert runner.invoke(app, ["body", "show", "--rig", "nope", "--out", str(out)]).exit_code != 0
