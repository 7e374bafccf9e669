"""Seed re-projection (egogen.motion.reproject): chained primitives stay on a human body."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egogen.body import load_body_model
from egogen.motion.checkpoint import default_checkpoint_dir, load_motion_models
from egogen.motion.evaluate import posture_metrics
from egogen.motion.reproject import SeedProjector
from egogen.motion.rollout import rollout
from egogen.sim.env import place_markers, standing_markers


@pytest.fixture(scope="module")
def parts():
    torch.set_num_threads(1)
    return load_motion_models(default_checkpoint_dir()), load_body_model(num_betas=16)


def _seed(body, xy=(3.0, -2.0), heading=0.7) -> torch.Tensor:
    """(1, 2, 67, 3) world markers of the standing body, turned and moved."""
    m = place_markers(standing_markers(body), np.asarray(xy), heading)
    return torch.as_tensor(np.repeat(m[None, None], 2, 1), dtype=torch.float32)


def test_weights_blend_and_zero_is_the_identity(parts):
    models, body = parts
    seed = _seed(body)
    seed = seed + 0.03 * torch.randn(seed.shape, generator=torch.Generator().manual_seed(0))
    full = SeedProjector(models, body, 1.0)(seed)
    assert torch.equal(SeedProjector(models, body, 0.0)(seed), seed)
    assert torch.allclose(SeedProjector(models, body, 0.5)(seed), 0.5 * (full + seed), atol=1e-6)
    assert not torch.allclose(full, seed, atol=1e-3)


def test_markers_of_a_body_come_back_where_they_were_wherever_it_stands(parts):
    models, body = parts
    proj = SeedProjector(models, body, 1.0)
    for xy, heading in (((0.0, 0.0), 0.0), ((5.0, -3.0), 2.5)):
        seed = _seed(body, xy, heading)
        err = (proj(seed) - seed).norm(dim=-1).mean()
        assert float(err) < 0.02, (xy, heading, float(err))  # metres; the regressor's accuracy


def test_markers_off_the_human_shape_are_pulled_back_onto_it(parts):
    models, body = parts
    proj = SeedProjector(models, body, 1.0)
    seed = _seed(body)
    names = list(body.markers.names)
    bent = seed.clone()
    right = [i for i, n in enumerate(names) if n.startswith("R") and n not in ("RFHD", "RBHD")]
    bent[:, :, right, 0] += 0.15  # the right side stretched 15 cm sideways: no body looks like that

    def waist(m):  # front waist width, metres: fixed by the body shape, whatever the pose
        return (m[..., names.index("RFWT"), :] - m[..., names.index("LFWT"), :]).norm(dim=-1)

    standing = waist(seed)
    assert float((waist(bent) - standing).abs().max()) > 0.05
    assert float((waist(proj(bent)) - standing).abs().max()) < 0.02


def test_reprojected_roll_outs_drift_less_than_raw_ones(parts):
    models, body = parts
    seeds = _seed(body).repeat(8, 1, 1, 1)
    proj = SeedProjector(models, body, 0.5)
    raw = rollout(models.cvae, models.marker_joints, seeds, 12, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        rep = rollout(models.cvae, models.marker_joints, seeds, 12, generator=torch.Generator().manual_seed(3),
                      project=proj)
    assert rep.shape == raw.shape and torch.isfinite(rep).all()
    # every primitive's seed frames are the two frames before it in the returned chain
    assert torch.equal(rep[:, :2], seeds)
    drift = {k: posture_metrics(models.marker_joints(r.detach()))["pelvis_height_drift_cm"]
             for k, r in (("raw", raw), ("reprojected", rep))}
    assert drift["reprojected"] < drift["raw"], drift


def test_bad_weight_and_missing_regressor_are_named(parts):
    models, body = parts
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        SeedProjector(models, body, 1.5)
    from dataclasses import replace

    with pytest.raises(ValueError, match="regressor"):
        SeedProjector(replace(models, regressor=None), body, 0.5)
    with pytest.raises(ValueError, match="betas"):
        SeedProjector(models, load_body_model(num_betas=10), 0.5)
