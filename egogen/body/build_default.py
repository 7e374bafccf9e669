"""Build egogen's default body: NAVER's Anny converted into the SMPL-X file format.

Run once by maintainers (``egogen body build-default``); its output ships in
``policies/default_body/``. It needs the optional extra ``egogen[body-build]`` (``anny``,
which pulls ``warp-lang``; the first Anny build takes minutes and a ~1 GB cache).

What the conversion does (figures: ``policies/default_body/MODEL_CARD.md``):

1. Sample adult and child phenotypes (gender, age, muscle, weight, height, proportions)
   with Anny's calibrated ``SimpleShapeDistribution``.
2. Pose every body into SMPL-X's T-pose with Anny's own skinning ('world-orient'
   parameterization): upper arms and forearms turned onto the +-x axis, hands carried.
3. Rotate Anny's frame (Z up, facing -Y) into SMPL-X's canonical frame (Y up, facing +Z)
   and move each body so that its pelvis joint sits at the origin.
4. PCA over the T-posed vertices: the mean is ``v_template``; the first ``num_betas``
   components scaled by their standard deviation are ``shapedirs`` (betas ~ N(0, I)).
5. Map Anny's 163 'makehuman' bones onto the 55 SMPL-X joints (unmapped bones go to their
   nearest mapped ancestor) for skinning weights; fit a J_regressor (weights sum to one)
   that reproduces the joint positions over all sampled bodies.
6. Place extra keypoints, 51 face landmarks and the 67 SSM2 markers by anatomical rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egogen.body.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS
from egogen.npz import save_npz
from egogen.rotations import swing

DATA = Path(__file__).resolve().parent / "data"

# SMPL-X joint -> Anny 'makehuman' bone whose head is the joint (and whose subtree it skins).
_SIDE_BONES = {
    "hip": "upperleg01", "knee": "lowerleg01", "ankle": "foot", "collar": "clavicle",
    "shoulder": "upperarm01", "elbow": "lowerarm01", "wrist": "wrist", "eye_smplhf": "eye",
}
_FINGERS = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}
_SPINE = {"spine1": "spine04", "spine2": "spine02", "spine3": "spine01", "neck": "neck01",
          "head": "head", "jaw": "jaw"}


def joint_to_bone() -> dict[str, str]:
    """SMPL-X joint name -> Anny bone label (left_foot and pelvis are handled apart)."""
    table = dict(_SPINE)
    for side, s in (("left", "L"), ("right", "R")):
        for joint, bone in _SIDE_BONES.items():
            table[f"{side}_{joint}"] = f"{bone}.{s}"
        for finger, k in _FINGERS.items():
            for seg in (1, 2, 3):
                table[f"{side}_{finger}{seg}"] = f"finger{k}-{seg}.{s}"
    return table


@dataclass
class BuildReport:
    """Figures of one conversion, written into the model card."""

    num_bodies: int
    num_betas: int
    explained_variance: float
    pca_mean_err_mm: float
    pca_max_err_mm: float
    jreg_mean_err_mm: float
    jreg_max_err_mm: float
    mean_height_m: float
    size_bytes: int


def _anny_to_smplx(p: np.ndarray) -> np.ndarray:
    """Anny frame (Z up, facing -Y) -> SMPL-X canonical (Y up, facing +Z): (x, y, z) -> (x, z, -y)."""
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def _sample_tposed_bodies(num_bodies: int, seed: int, child_fraction: float, progress):
    """Sample phenotypes and T-pose them with Anny. Returns vertices (N, V, 3), joints (N, 55, 3),
    faces (F, 3), skinning weights (V, 55) in SMPL-X's frame, pelvis at the origin."""
    import anny
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    torch.manual_seed(seed)
    model = anny.Anny(rig="makehuman", pose_parameterization="world-orient")
    labels = list(model.bone_labels)
    parents = list(model.bone_parents)
    idx = {b: i for i, b in enumerate(labels)}

    n_child = int(round(num_bodies * child_fraction))
    ages = torch.cat([
        torch.distributions.Uniform(18.0, 65.0).sample((num_bodies - n_child,)),
        torch.distributions.Uniform(6.0, 18.0).sample((n_child,)),
    ]).double()
    dist = SimpleShapeDistribution(model, morphological_age_distribution=_Fixed(ages))
    _, phenotypes = dist.sample(num_bodies)

    # Bones whose world rotation is changed to make the T-pose: upper arm, forearm, hand subtree.
    def subtree(root: str) -> list[int]:
        out, stack = [], [idx[root]]
        while stack:
            i = stack.pop()
            out.append(i)
            stack.extend(j for j, p in enumerate(parents) if p == i)
        return out

    verts, heads = [], []
    chunk = 50
    for start in progress(range(0, num_bodies, chunk), "T-posing Anny bodies"):
        ph = {k: v[start:start + chunk] for k, v in phenotypes.items()}
        rest = model(phenotype_kwargs=ph)
        P = rest["rest_bone_poses"].detach().numpy()  # (B, J, 4, 4) Anny frame
        H = rest["rest_bone_heads"].detach().numpy()
        B = P.shape[0]
        G = np.broadcast_to(np.eye(3), (B, len(labels), 3, 3)).copy()
        for s, sign in (("L", 1.0), ("R", -1.0)):
            target = np.tile([sign, 0.0, 0.0], (B, 1))
            g_up = swing(H[:, idx[f"lowerarm01.{s}"]] - H[:, idx[f"upperarm01.{s}"]], target)
            g_lo = swing(H[:, idx[f"wrist.{s}"]] - H[:, idx[f"lowerarm01.{s}"]], target)
            for b in (f"upperarm01.{s}", f"upperarm02.{s}"):
                G[:, idx[b]] = g_up
            for i in subtree(f"lowerarm01.{s}"):
                G[:, i] = g_lo
        D = P.copy()
        D[:, :, :3, :3] = G @ P[:, :, :3, :3]  # world-orient: D_c = G_c R_c; root keeps [R0 | h0]
        posed = model(pose_parameters=torch.from_numpy(D), phenotype_kwargs=ph)
        verts.append(posed["vertices"].detach().numpy())
        heads.append(posed["bone_poses"].detach().numpy()[:, :, :3, 3])
    V = _anny_to_smplx(np.concatenate(verts))
    H = _anny_to_smplx(np.concatenate(heads))

    # Joint positions (N, 55, 3) from bone heads.
    table = joint_to_bone()
    J = np.zeros((num_bodies, len(JOINT_NAMES), 3))
    for name, bone in table.items():
        J[:, JOINT_INDEX[name]] = H[:, idx[bone]]
    for side, s in (("left", "L"), ("right", "R")):
        toes = [idx[f"toe{k}-1.{s}"] for k in range(1, 6)]
        J[:, JOINT_INDEX[f"{side}_foot"]] = H[:, toes].mean(axis=1)
    # Anny's root sits on the lower back; SMPL-X's pelvis is inside the body, above the hips.
    hip_mid = 0.5 * (J[:, JOINT_INDEX["left_hip"]] + J[:, JOINT_INDEX["right_hip"]])
    J[:, 0] = hip_mid + 0.5 * (J[:, JOINT_INDEX["spine1"]] - hip_mid)
    J[:, 0, 0] = 0.0  # on the midline
    shift = J[:, :1].copy()
    V, J = V - shift, J - shift

    # Skinning weights: each bone -> nearest mapped ancestor's SMPL-X joint.
    bone_to_joint = {bone: JOINT_INDEX[j] for j, bone in table.items()}
    bone_to_joint["root"] = 0
    for s, side in (("L", "left"), ("R", "right")):
        for k in range(1, 6):
            for seg in (1, 2, 3):
                if f"toe{k}-{seg}.{s}" in idx:
                    bone_to_joint[f"toe{k}-{seg}.{s}"] = JOINT_INDEX[f"{side}_foot"]
    owner = np.zeros(len(labels), dtype=np.int64)
    for i, b in enumerate(labels):
        j = i
        while labels[j] not in bone_to_joint:
            j = parents[j]
        owner[i] = bone_to_joint[labels[j]]
    vbi = model.vertex_bone_indices.numpy()
    vbw = model.vertex_bone_weights.numpy()
    W = np.zeros((V.shape[1], len(JOINT_NAMES)))
    np.add.at(W, (np.repeat(np.arange(len(W)), vbi.shape[1]), owner[vbi].ravel()), vbw.ravel())
    W /= W.sum(axis=1, keepdims=True)
    faces = model.faces.numpy().astype(np.int64)
    return V, J, faces, W


class _Fixed:
    """A 'distribution' that returns given samples (for SimpleShapeDistribution's age)."""

    def __init__(self, values):
        self.values = values

    def sample(self, shape):
        assert tuple(shape) == (len(self.values),)
        return self.values


def _fit_j_regressor(V: np.ndarray, J: np.ndarray, W: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    """Least-squares J_regressor (55, V): for each joint, weights over the vertices skinned to the
    joint, its parent and children, summing to one, reproducing J over all bodies."""
    n_joints = J.shape[1]
    R = np.zeros((n_joints, V.shape[1]))
    children = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(n_joints)}
    for j in range(n_joints):
        near = [j] + children[j] + ([PARENTS[j]] if PARENTS[j] >= 0 else [])
        support = np.flatnonzero(W[:, near].sum(axis=1) > 0.3)
        if len(support) > 600:  # keep the strongest: a smaller system, no loss in accuracy
            support = support[np.argsort(-W[support][:, near].sum(axis=1))[:600]]
        A = V[:, support].transpose(0, 2, 1).reshape(-1, len(support))  # (N*3, S)
        b = J[:, j].reshape(-1)
        # minimise |A w - b|^2 + ridge |w|^2 subject to sum(w) = 1 (KKT system)
        S = len(support)
        K = np.zeros((S + 1, S + 1))
        K[:S, :S] = A.T @ A + ridge * np.trace(A.T @ A) / S * np.eye(S)
        K[:S, S] = K[S, :S] = 1.0
        rhs = np.concatenate([A.T @ b, [1.0]])
        R[j, support] = np.linalg.solve(K, rhs)[:S]
    return R


def _first_exit(mesh_vertices: np.ndarray, faces: np.ndarray, origins: np.ndarray,
                directions: np.ndarray) -> np.ndarray:
    """Vertex id nearest to the first surface hit of each ray (origins/directions (K, 3))."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh_vertices.astype(np.float32)),
                        o3d.core.Tensor(faces.astype(np.uint32)))
    d = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    rays = np.concatenate([origins, d], axis=1).astype(np.float32)
    hit = scene.cast_rays(o3d.core.Tensor(rays))
    t = hit["t_hit"].numpy()
    if not np.all(np.isfinite(t)):
        raise RuntimeError(f"{int((~np.isfinite(t)).sum())} placement rays left the body without a hit")
    points = origins + t[:, None] * d
    tri = faces[hit["primitive_ids"].numpy()]
    cand = mesh_vertices[tri]  # (K, 3, 3)
    best = np.argmin(np.linalg.norm(cand - points[:, None], axis=-1), axis=1)
    return tri[np.arange(len(tri)), best]


def _place_markers(v: np.ndarray, faces: np.ndarray, joints: np.ndarray) -> dict[str, int]:
    rules = json.loads((DATA / "ssm2_anatomical_rules.json").read_text())["rules"]
    names = list(rules)
    origins = np.stack([sum(w * joints[JOINT_INDEX[j]] for j, w in rules[n]["anchor"].items())
                        / sum(rules[n]["anchor"].values()) for n in names])
    dirs = np.array([rules[n]["direction"] for n in names], dtype=np.float64)
    ids = _first_exit(v, faces, origins, dirs)
    return dict(zip(names, map(int, ids)))


def _keypoint_vertex_ids(v: np.ndarray, faces: np.ndarray, joints: np.ndarray, W: np.ndarray) -> dict[str, int]:
    """smplx's extra keypoints (nose, eyes, ears, toes, heels, fingertips) on this mesh."""
    J = lambda n: joints[JOINT_INDEX[n]]  # noqa: E731
    ids: dict[str, int] = {}
    head = W[:, JOINT_INDEX["head"]] > 0.5
    front = np.where(head, v[:, 2], -np.inf)
    ids["nose"] = int(np.argmax(front - 10 * np.abs(v[:, 0])))
    for s, side in (("l", "left"), ("r", "right")):
        eye = W[:, JOINT_INDEX[f"{side}_eye_smplhf"]] > 0.5
        ids[f"{s}eye"] = int(np.argmax(np.where(eye, v[:, 2], -np.inf)))
        sign = 1.0 if side == "left" else -1.0
        eye_y = J(f"{side}_eye_smplhf")[1]
        score = np.where(head & (np.abs(v[:, 1] - eye_y) < 0.03), sign * v[:, 0], -np.inf)
        ids[f"{s}ear"] = int(np.argmax(score))
        foot = W[:, [JOINT_INDEX[f"{side}_ankle"], JOINT_INDEX[f"{side}_foot"]]].sum(axis=1) > 0.5
        low = foot & (v[:, 1] < J(f"{side}_ankle")[1] - 0.02)
        fx = J(f"{side}_foot")[0]
        big = np.where(low, v[:, 2] - 0.5 * sign * (v[:, 0] - fx), -np.inf)
        small = np.where(low, v[:, 2] + 1.5 * sign * (v[:, 0] - fx), -np.inf)
        heel = np.where(low, -v[:, 2] - v[:, 1], -np.inf)
        S = s.upper()
        ids[f"{S}BigToe"], ids[f"{S}SmallToe"], ids[f"{S}Heel"] = map(int, (np.argmax(big), np.argmax(small), np.argmax(heel)))
        for finger in _FINGERS:
            tip_joint = JOINT_INDEX[f"{side}_{finger}3"]
            d = J(f"{side}_{finger}3") - J(f"{side}_{finger}2")
            d /= np.linalg.norm(d)
            mask = W[:, tip_joint] > 0.5
            ids[f"{s}{finger}"] = int(np.argmax(np.where(mask, v @ d, -np.inf)))
    return ids


# iBUG-68 points 17..67 (the 51 SMPL-X static landmarks) in a frontal face frame: x to the
# image right (the person's left), y up, origin between the eyes, unit = inter-eye distance.
def _ibug51_template() -> np.ndarray:
    brow_r = [(-0.95, 0.28), (-0.78, 0.40), (-0.58, 0.45), (-0.38, 0.43), (-0.18, 0.37)]
    brow_l = [(-x, y) for x, y in reversed(brow_r)]
    nose = [(0, 0.0), (0, -0.25), (0, -0.5), (0, -0.75), (-0.3, -0.9), (-0.15, -0.95), (0, -1.0), (0.15, -0.95), (0.3, -0.9)]
    def eye(cx):
        return [(cx - 0.27, 0), (cx - 0.1, 0.08), (cx + 0.1, 0.08), (cx + 0.27, 0), (cx + 0.1, -0.07), (cx - 0.1, -0.07)]
    mouth_o = [(-0.5, -1.4), (-0.32, -1.27), (-0.12, -1.22), (0, -1.24), (0.12, -1.22), (0.32, -1.27), (0.5, -1.4),
               (0.32, -1.55), (0.12, -1.6), (0, -1.61), (-0.12, -1.6), (-0.32, -1.55)]
    mouth_i = [(-0.42, -1.4), (-0.15, -1.35), (0, -1.36), (0.15, -1.35), (0.42, -1.4), (0.15, -1.44), (0, -1.45), (-0.15, -1.44)]
    pts = brow_r + brow_l + nose + eye(-0.5) + eye(0.5) + mouth_o + mouth_i
    assert len(pts) == 51
    return np.array(pts)


def _face_landmarks(v: np.ndarray, faces: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """51 landmarks as (face index, barycentric coords): template points cast onto the face."""
    import open3d as o3d

    le, re = joints[JOINT_INDEX["left_eye_smplhf"]], joints[JOINT_INDEX["right_eye_smplhf"]]
    iod = np.linalg.norm(le - re)
    mid = 0.5 * (le + re)
    tpl = _ibug51_template()
    origins = np.stack([mid[0] + tpl[:, 0] * iod, mid[1] + tpl[:, 1] * iod, np.full(51, mid[2] + 0.3)], axis=1)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(v.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32)))
    rays = np.concatenate([origins, np.tile([0.0, 0.0, -1.0], (51, 1))], axis=1).astype(np.float32)
    hit = scene.cast_rays(o3d.core.Tensor(rays))
    if not np.all(np.isfinite(hit["t_hit"].numpy())):
        raise RuntimeError("a face landmark ray missed the face")
    uv = hit["primitive_uvs"].numpy().astype(np.float64)
    bary = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
    return hit["primitive_ids"].numpy().astype(np.int64), bary


def build_default_body(out_dir: Path, num_bodies: int = 600, num_betas: int = 16, seed: int = 0,
                       child_fraction: float = 0.2, progress=None) -> BuildReport:
    """Convert Anny into ``out_dir/SMPLX_NEUTRAL.npz`` (SMPL-X v1.1 file layout).

    Args:
        out_dir: folder to write; created if missing.
        num_bodies: sampled phenotypes for the shape PCA.
        num_betas: shape components kept (the file holds 300 shape + 100 expression
            directions like SMPL-X v1.1; those past ``num_betas`` are zero).
        seed: torch seed for phenotype sampling (the build is deterministic for a seed).
        child_fraction: share of bodies aged 6-18 (the rest are 18-65).
        progress: optional ``progress(iterable, description)`` wrapper.
    Returns:
        A :class:`BuildReport` with the figures for the model card.
    Raises:
        ImportError: if ``anny`` is not installed (``pip install 'egogen[body-build]'``).
    """
    try:
        import warp

        warp.config.quiet = True  # keep stdout clean (the CLI prints the report as JSON)
        import anny  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise ImportError("building the default body needs Anny: pip install 'egogen[body-build]'") from e
    progress = progress or (lambda it, desc: it)
    V, J, faces, W = _sample_tposed_bodies(num_bodies, seed, child_fraction, progress)
    N, nv, _ = V.shape

    mean = V.mean(axis=0)
    X = (V - mean).reshape(N, -1)
    _, S, Vt = np.linalg.svd(X, full_matrices=False)
    std = S / np.sqrt(N - 1)
    # PCA signs are arbitrary: fix them so the build is stable and beta 0 > 0 means taller.
    for k in range(num_betas):
        d = Vt[k].reshape(nv, 3)
        grows = np.ptp(mean[:, 1] + d[:, 1]) > np.ptp(mean[:, 1]) if k == 0 else d.flat[np.abs(d).argmax()] > 0
        if not grows:
            Vt[k] *= -1
    dirs = (Vt[:num_betas] * std[:num_betas, None]).reshape(num_betas, nv, 3).transpose(1, 2, 0)
    explained = float((S[:num_betas] ** 2).sum() / (S ** 2).sum())
    betas = X @ Vt[:num_betas].T / std[:num_betas]
    recon = mean + np.einsum("vck,nk->nvc", dirs, betas)
    pca_err = np.linalg.norm(recon - V, axis=-1)

    jreg = _fit_j_regressor(V, J, W)
    j_err = np.linalg.norm(np.einsum("jv,nvc->njc", jreg, V) - J, axis=-1)

    mean_joints = jreg @ mean
    vertex_ids = _keypoint_vertex_ids(mean, faces, mean_joints, W)
    markers = _place_markers(mean, faces, mean_joints)
    lmk_faces, lmk_bary = _face_landmarks(mean, faces, mean_joints)

    shapedirs = np.zeros((nv, 3, 400), dtype=np.float32)
    shapedirs[:, :, :num_betas] = dirs
    kintree = np.stack([np.array(PARENTS), np.arange(len(PARENTS))]).astype(np.int64)
    kintree[0, 0] = -1
    marker_names = sorted(markers)
    vid_names = sorted(vertex_ids)
    height = float(mean[:, 1].max() - mean[:, 1].min())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "SMPLX_NEUTRAL.npz"
    save_npz(path, dict(
        v_template=mean.astype(np.float32),
        f=faces.astype(np.int32),
        J_regressor=jreg.astype(np.float32),
        weights=W.astype(np.float32),
        kintree_table=kintree,
        shapedirs=shapedirs,
        posedirs=np.zeros((nv, 3, 486), dtype=np.float32),
        hands_componentsl=np.eye(45, dtype=np.float32),
        hands_componentsr=np.eye(45, dtype=np.float32),
        hands_meanl=np.zeros(45, dtype=np.float32),
        hands_meanr=np.zeros(45, dtype=np.float32),
        lmk_faces_idx=lmk_faces,
        lmk_bary_coords=lmk_bary.astype(np.float32),
        joint2num=np.array(JOINT_NAMES),
        egogen_source=np.array("Anny 0.6.2 (NAVER) converted by egogen body build-default"),
        egogen_license=np.array("Apache-2.0 (Anny code) / CC0-1.0 (MakeHuman assets)"),
        egogen_num_betas=np.array(num_betas),
        egogen_vertex_id_names=np.array(vid_names),
        egogen_vertex_id_values=np.array([vertex_ids[n] for n in vid_names], dtype=np.int64),
        egogen_marker_names=np.array(marker_names),
        egogen_marker_vertex_ids=np.array([markers[n] for n in marker_names], dtype=np.int64),
        egogen_marker_distance_from_skin=np.array(0.0095),
    ))
    return BuildReport(
        num_bodies=N, num_betas=num_betas, explained_variance=explained,
        pca_mean_err_mm=float(pca_err.mean() * 1000), pca_max_err_mm=float(pca_err.max() * 1000),
        jreg_mean_err_mm=float(j_err.mean() * 1000), jreg_max_err_mm=float(j_err.max() * 1000),
        mean_height_m=height, size_bytes=path.stat().st_size,
    )
