"""Motion: mocap readers (BVH, AMASS npz), retargeting onto SMPL-X, resampling, augmentation,
canonical motion primitives, and the motion model trained on them.

Modules, one job each. Data: ``bvh`` (parse + FK), ``skeletons`` (naming schemes -> SMPL-X
joint tables), ``mocap`` (load a clip into the Z-up metre world), ``amass``, ``retarget``,
``resample`` (30 Hz), ``augment`` (mirror, split), ``canonical`` (EgoGen primitive frame and
windows), ``markers`` (exact SSM2 markers without the full mesh), ``dataset`` (cached primitive
dataset). Models: ``cvae`` (motion-primitive C-VAE), ``regressor`` (markers -> SMPL-X),
``rot6d``, ``rollout`` (chaining primitives, joints from markers), ``train``, ``evaluate``,
``checkpoint`` (policies/motion), ``show`` (roll-out animation).
"""
