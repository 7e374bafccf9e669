"""Read AMASS-style ``.npz`` motion files (for users with licensed AMASS data).

AMASS (Mahmood et al., ICCV 2019) stores per-sequence ``poses`` (T, 156) for SMPL-H fits or
(T, 165) for SMPL-X fits, ``trans`` (T, 3), ``betas``, ``gender`` and the frame rate as
``mocap_framerate`` (SMPL-H) or ``mocap_frame_rate`` (SMPL-X). Its world frame is Z up, like
egogen's, so no axis change is applied. Note: SMPL-H fits (156) are read as SMPL-X body pose;
the bodies differ slightly, which retargeting/refitting absorbs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["AmassMotion", "read_amass"]


@dataclass
class AmassMotion:
    """SMPL-X parameters of one AMASS sequence (world Z up, metres, radians).

    Attributes:
        global_orient: (T, 3); body_pose: (T, 63); left_hand_pose, right_hand_pose: (T, 45);
        jaw_pose, leye_pose, reye_pose: (T, 3) (zeros for SMPL-H input); transl: (T, 3);
        betas: (B,) float32 as stored; gender: str; fps: float Hz; name: file stem.
    """

    name: str
    fps: float
    gender: str
    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    left_hand_pose: np.ndarray
    right_hand_pose: np.ndarray
    jaw_pose: np.ndarray
    leye_pose: np.ndarray
    reye_pose: np.ndarray
    transl: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.transl.shape[0])


def read_amass(path: str | Path) -> AmassMotion:
    """Read an AMASS ``.npz`` into SMPL-X parameter arrays (float64).

    Layout of ``poses``: 156 = SMPL-H (root 3, body 63, left hand 45, right hand 45);
    165 = SMPL-X (root 3, body 63, jaw 3, left eye 3, right eye 3, left hand 45, right hand 45).
    Raises:
        FileNotFoundError: missing file.
        ValueError: missing keys, a ``poses`` width other than 156/165, length mismatch with
            ``trans``, or no frame rate; the message names the key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AMASS file not found: {path} (check --amass-dir)")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # zip/pickle errors from numpy
        raise ValueError(f"{path}: not a readable .npz ({exc}); re-download the AMASS file") from None
    with data:
        keys = set(data.files)
        for k in ("poses", "trans"):
            if k not in keys:
                raise ValueError(f"{path}: key {k!r} missing (have {sorted(keys)}); "
                                 "is this an AMASS motion file (not a shape.npz)?")
        poses = np.asarray(data["poses"], dtype=np.float64)
        trans = np.asarray(data["trans"], dtype=np.float64)
        fps_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in keys), None)
        if fps_key is None:
            raise ValueError(f"{path}: no frame rate (mocap_framerate / mocap_frame_rate)")
        fps = float(data[fps_key])
        betas = np.asarray(data["betas"]) if "betas" in keys else np.zeros(10, np.float32)
        gender = str(data["gender"]) if "gender" in keys else "neutral"
    if poses.ndim != 2 or poses.shape[1] not in (156, 165):
        raise ValueError(f"{path}: poses has shape {poses.shape}; expected (T, 156) SMPL-H "
                         "or (T, 165) SMPL-X")
    T = poses.shape[0]
    if trans.shape != (T, 3):
        raise ValueError(f"{path}: trans has shape {trans.shape}, expected ({T}, 3)")
    z = np.zeros((T, 3))
    if poses.shape[1] == 165:
        jaw, le, re = poses[:, 66:69], poses[:, 69:72], poses[:, 72:75]
        lh, rh = poses[:, 75:120], poses[:, 120:165]
    else:
        jaw, le, re = z, z.copy(), z.copy()
        lh, rh = poses[:, 66:111], poses[:, 111:156]
    return AmassMotion(
        name=path.stem, fps=fps, gender=gender.strip("b'\""), betas=betas,
        global_orient=poses[:, :3].copy(), body_pose=poses[:, 3:66].copy(),
        left_hand_pose=lh.copy(), right_hand_pose=rh.copy(), jaw_pose=jaw.copy(),
        leye_pose=le.copy(), reye_pose=re.copy(), transl=trans.copy(),
    )
