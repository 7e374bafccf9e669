"""markers -> SMPL-X at primitive seams when a window's canonical heading is wrong."""

import numpy as np
import pytest
import torch

from egogen.body import load_body_model
from egogen.motion.checkpoint import MotionModels
from egogen.motion.regressor import unpack
from egogen.motion.rot6d import mat_to_rot6d
from egogen.rotations import aa_to_mat
from egogen.sim.people import posed_joints_and_markers
from egogen.sim.policy_episode import markers_to_smplx
from egogen.sim.scripted import scripted_episode
from sim_helpers import untrained_motion
from test_sim_policy import _Oracle


class _FacingOracle(_Oracle):
    """The oracle regressor of a model trained on canonical windows only: a body facing more
    than 60 degrees away from canonical +y is returned turned to face +y (it has never seen
    one facing elsewhere), so a window canonicalised on a wrong heading comes back wrong."""

    def forward(self, markers, betas):
        out = super().forward(markers, betas)[0].double()
        rot, t = unpack(out)
        face = rot[:, 0] @ torch.tensor([0.0, 0.0, 1.0], dtype=rot.dtype)  # the rest body faces +z
        away = torch.remainder(torch.atan2(face[:, 1], face[:, 0]) - torch.pi / 2 + torch.pi, 2 * torch.pi) - torch.pi
        off = torch.where(away.abs() > np.radians(60), -away, torch.zeros_like(away))  # turn it to +y
        c, s = torch.cos(off), torch.sin(off)
        Rz = torch.zeros(len(off), 3, 3, dtype=rot.dtype)
        Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = c, -s, s, c, 1
        rp = torch.as_tensor(self.rp)
        rot[:, 0] = Rz @ rot[:, 0]
        t = torch.einsum("nij,nj->ni", Rz, t + rp) - rp
        return [torch.cat([mat_to_rot6d(rot).reshape(len(rot), -1), t], 1).float()]


@pytest.fixture(scope="module")
def body():
    torch.set_num_threads(1)
    return load_body_model()


def test_a_window_canonicalised_on_twisted_hips_does_not_flip_the_body_at_the_seam(body):
    p = scripted_episode("apartment:2", 3, num_people=1, duration_s=1.5, body=body).people[0]
    T = 2 + 13 * 3  # three chained primitives
    go, bp, tr, mk = p.global_orient[:T], p.body_pose[:T], p.transl[:T], p.markers[:T].copy()
    base = untrained_motion(body)
    rest = posed_joints_and_markers(body, p.betas, np.zeros((1, 3)), np.zeros((1, 63)), np.zeros((1, 3)), False)[0]
    oracle = _FacingOracle(p.markers[:T], go, bp, tr, rest[0, 0].astype(np.float64), body.num_betas)
    motion = MotionModels(base.cvae, base.marker_joints, oracle, {})
    # markers off a human shape at window 1's first frame (13): the marker->joint map puts the
    # hips' line 150 degrees off, so that window's canonical frame faces away from the body
    W = base.marker_joints.weights.double().numpy()  # (22, M)
    J = W @ mk[13].astype(np.float64)
    mid, half = (J[1] + J[2]) / 2, (J[2] - J[1]) / 2
    a = np.radians(150)
    turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    dJ = np.zeros_like(J)
    dJ[1], dJ[2] = mid - turn @ half - J[1], mid + turn @ half - J[2]
    mk[13] += (np.linalg.pinv(W) @ dJ).astype(np.float32)  # the smallest marker change doing it
    Jb = W @ mk[13].astype(np.float64)
    hips = Jb[2, :2] - Jb[1, :2]
    true = J[2, :2] - J[1, :2]
    assert np.degrees(np.arccos(hips @ true / np.linalg.norm(hips) / np.linalg.norm(true))) > 120

    go2, bp2, tr2 = markers_to_smplx(mk, p.betas, motion, body)
    joints = posed_joints_and_markers(body, p.betas, go2, bp2, tr2, False)[0]
    speed = np.linalg.norm(np.diff(joints[:, 15], axis=0), axis=-1) * 30  # head joint, m/s
    true_speed = np.linalg.norm(np.diff(p.joints[:T, 15], axis=0), axis=-1) * 30
    assert speed.max() < true_speed.max() + 0.5, (speed.max(), true_speed.max())
    # ... and the body keeps the true orientation through the seam
    d = np.einsum("tij,tik->tjk", aa_to_mat(go2.astype(np.float64)), aa_to_mat(go.astype(np.float64)))
    ang = np.degrees(np.arccos(np.clip((np.trace(d, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert ang.max() < 10, ang.round()
