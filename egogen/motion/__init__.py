"""Motion data: mocap readers (BVH, AMASS npz), retargeting onto SMPL-X, resampling,
augmentation and canonical motion primitives (the data half of the motion model).

Modules, one job each: ``bvh`` (parse + FK), ``skeletons`` (naming schemes -> SMPL-X joint
tables), ``mocap`` (load a clip into the Z-up metre world), ``amass``, ``retarget``, ``fk``
(SMPL-X joint FK), ``resample`` (30 Hz), ``augment`` (mirror, split), ``canonical``
(EgoGen primitive frame and windows), ``rotations`` (helpers).
"""
