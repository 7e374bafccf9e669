"""The SMPL-X body: model loading (default open body or licensed files), skeleton, SSM2
surface markers and the head-mounted camera rig."""

from egogen.body.head_rig import head_camera_pose, head_rotation
from egogen.body.model import Y_UP_TO_Z_UP, BodyModel, BodyModelError, MarkerTable, load_body_model
from egogen.body.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS

__all__ = [
    "BodyModel", "BodyModelError", "MarkerTable", "load_body_model", "Y_UP_TO_Z_UP",
    "head_rotation", "head_camera_pose", "JOINT_NAMES", "JOINT_INDEX", "PARENTS",
]
