"""Test helper: motion models that exercise the environment without the trained C-VAE."""

from __future__ import annotations

import numpy as np
import torch

from egogen.body import Y_UP_TO_Z_UP
from egogen.motion.checkpoint import MotionModels
from egogen.motion.cvae import MotionCVAE
from egogen.motion.regressor import MarkerRegressor, RegressorConfig
from egogen.motion.rollout import MarkerJoints


def untrained_motion(body, seed: int = 0, still: bool = False) -> MotionModels:
    """A small untrained C-VAE whose decoder moves (random output layer; with ``still`` the
    zero output layer decodes standing still), a marker->joint map fitted on the default body
    and a tiny untrained marker regressor (it returns its neutral pose, standing on the
    floor) for the body's betas: enough to test mechanics, not motion quality."""
    g = torch.Generator().manual_seed(seed)
    out = body(global_orient=torch.tensor([Y_UP_TO_Z_UP], dtype=torch.float32).expand(16, 3),
               body_pose=torch.randn(16, 63, generator=g) * 0.2)
    mj = MarkerJoints.fit(body.marker_positions(out.vertices).numpy(), out.joints[:, :22].numpy())
    torch.manual_seed(seed)
    cvae = MotionCVAE().eval()
    if not still:
        with torch.no_grad():
            cvae.out[-1].weight.normal_(0, 1e-3, generator=g)
    reg = MarkerRegressor(RegressorConfig(num_betas=body.num_betas, hidden=32, blocks=1, iterations=1)).eval()
    with torch.no_grad():  # its neutral pose stands on the floor (pelvis at rest height, canonical z up)
        reg.x0[-1] = -body(global_orient=torch.tensor([Y_UP_TO_Z_UP], dtype=torch.float32)).vertices[0, :, 2].min()
    return MotionModels(cvae, mj, reg, {})


class GaussianPolicy:
    """A stand-in SB3 PPO policy for ``env``: Gaussian actions of mean 0.3 and std 1 whatever
    the observation (``predict`` and the ``policy.get_distribution`` the search reads)."""

    def __init__(self, env):
        self.observation_space = env.observation_space
        latent = env.latent

        class P:
            def obs_to_tensor(self, obs):
                return torch.as_tensor(obs), True

            def get_distribution(self, obs):
                n = len(obs)
                d = torch.distributions.Normal(torch.full((n, latent), 0.3), torch.ones(n, latent))
                return type("D", (), {"distribution": d})()

        self.policy = P()
        self.latent = latent

    def predict(self, obs, deterministic=True):
        return np.full((len(obs), self.latent), 0.3, np.float32), None

