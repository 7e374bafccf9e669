"""User-supplied SMPL-X folders: the same loading path as licensed files, and clear errors."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from body_helpers import write_tiny_smplx
from egogen.body import BodyModelError, load_body_model
from egogen.body.model import ENV_VAR
from egogen.cli import app


def test_tiny_smplx_format_file_loads_through_the_user_model_path(tmp_path):
    write_tiny_smplx(tmp_path)
    body = load_body_model(tmp_path, num_betas=10)
    assert body.path == tmp_path / "SMPLX_NEUTRAL.npz"
    assert "SMPL-X model file" in body.source and "licence" in body.licence
    out = body(betas=torch.zeros(2, 10), body_pose=torch.zeros(2, 63))
    assert out.vertices.shape == (2, 55 * 8, 3)
    assert out.joints.shape[1] == 55 + 51  # no extra keypoints are invented for an unknown mesh
    # beta 0 of the tiny model stretches it vertically
    b = torch.zeros(1, 10)
    b[0, 0] = 2.0
    assert body.rest_height(b) > body.rest_height() + 0.05
    with pytest.raises(BodyModelError, match="no SSM2 marker table"):
        body.marker_positions(out.vertices)


def test_gendered_files_and_the_environment_variable_are_honoured(tmp_path, monkeypatch):
    write_tiny_smplx(tmp_path, gender="FEMALE")
    assert load_body_model(tmp_path, gender="female").path.name == "SMPLX_FEMALE.npz"
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert load_body_model(gender="female").path.parent == tmp_path
    with pytest.raises(BodyModelError, match="no SMPLX_MALE.npz"):
        load_body_model(gender="male")


def test_missing_folder_names_the_expected_files_and_where_to_get_them(tmp_path):
    with pytest.raises(BodyModelError) as e:
        load_body_model(tmp_path / "nowhere")
    msg = str(e.value)
    assert "does not exist" in msg and "SMPLX_NEUTRAL.npz" in msg and "smpl-x.is.tue.mpg.de" in msg


def test_wrong_file_name_is_reported(tmp_path):
    p = write_tiny_smplx(tmp_path)
    wrong = p.rename(tmp_path / "model.npz")
    with pytest.raises(BodyModelError, match="no SMPLX_NEUTRAL.npz in .*found: model.npz"):
        load_body_model(tmp_path)
    with pytest.raises(BodyModelError, match="must be SMPLX_<GENDER>.npz"):
        load_body_model(wrong)


def test_corrupt_and_incomplete_npz_give_the_documented_error(tmp_path):
    (tmp_path / "SMPLX_NEUTRAL.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(BodyModelError, match="not a readable SMPL-X .npz"):
        load_body_model(tmp_path)
    write_tiny_smplx(tmp_path, J_regressor=np.zeros((24, 440)))
    with pytest.raises(BodyModelError, match="wrong shape.*J_regressor"):
        load_body_model(tmp_path)
    arrays_missing = tmp_path / "m"
    write_tiny_smplx(arrays_missing)
    with np.load(arrays_missing / "SMPLX_NEUTRAL.npz") as z:
        kept = {k: z[k] for k in z.files if k != "shapedirs"}
    np.savez(arrays_missing / "SMPLX_NEUTRAL.npz", **kept)
    with pytest.raises(BodyModelError, match="lacks the SMPL-X arrays shapedirs"):
        load_body_model(arrays_missing)


def test_cli_reports_bad_body_folder_without_a_traceback(tmp_path):
    result = CliRunner().invoke(app, ["body", "info", "--body-model", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "SMPLX_NEUTRAL.npz" in result.output and "Traceback" not in result.output
