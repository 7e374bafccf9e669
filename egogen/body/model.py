"""Load SMPL-X body models: egogen's default body or a user's licensed SMPL-X files.

Every body goes through the unmodified ``smplx.SMPLX`` class. egogen only chooses the
file, checks it before ``smplx`` sees it (so a bad file gets an error that names the
problem and the fix), and supplies what ``smplx`` hard-codes for the real SMPL-X mesh
(the vertex ids of its 21 extra keypoints) when the mesh is another one.

Frames: ``smplx`` returns vertices and joints in the model's canonical frame (Y up, facing
+Z, metres) rotated by ``global_orient`` and shifted by ``transl``; egogen's world is Z up,
so an upright body in the world has ``global_orient`` = +90 degrees about x
(:data:`Y_UP_TO_Z_UP`). For the default body the pelvis joint of every shape sits at the
canonical origin, so the world pelvis is exactly ``transl``.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from egogen.body.skeleton import NUM_JOINTS
from egogen.resources import resource_dir

ENV_VAR = "EGOGEN_BODY_MODEL"
SMPLX_URL = "https://smpl-x.is.tue.mpg.de"
GENDERS = ("neutral", "male", "female")
REQUIRED_KEYS = (
    "v_template", "f", "J_regressor", "kintree_table", "weights", "shapedirs", "posedirs",
    "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
    "lmk_faces_idx", "lmk_bary_coords",
)
SMPLX_NUM_VERTICES = 10475
Y_UP_TO_Z_UP = (np.pi / 2, 0.0, 0.0)
"""Axis-angle ``global_orient`` that stands a canonical (Y-up) body upright in the Z-up world."""


class BodyModelError(ValueError):
    """A body-model folder or file is missing, misnamed or malformed (the message says how to fix it)."""


def default_body_dir() -> Path:
    """Folder of egogen's shipped default body (``policies/default_body``)."""
    return resource_dir("policies") / "default_body"


def _expected_files_hint() -> str:
    return (
        "Expected a folder holding SMPLX_NEUTRAL.npz (and/or SMPLX_MALE.npz, SMPLX_FEMALE.npz), "
        f"the SMPL-X v1.1 model files from {SMPLX_URL} (free registration, licence-gated; egogen "
        "never downloads or ships them). Omit --body-model (and unset EGOGEN_BODY_MODEL) to use "
        "egogen's default body."
    )


def resolve_model_file(body_model: Optional[str | os.PathLike] = None, gender: str = "neutral") -> Path:
    """Find the ``SMPLX_<GENDER>.npz`` file to load.

    Args:
        body_model: a folder holding ``SMPLX_<GENDER>.npz``, or such a file; ``None`` uses
            ``$EGOGEN_BODY_MODEL`` if set, else egogen's default body.
        gender: ``neutral``, ``male`` or ``female``. The default body is gender-neutral (its
            betas span both sexes), so it always resolves to its neutral file.
    Returns:
        Path of the ``.npz`` file.
    Raises:
        BodyModelError: missing folder or file, or a file not named ``SMPLX_<GENDER>.npz``.
    """
    gender = gender.lower()
    if gender not in GENDERS:
        raise BodyModelError(f"unknown gender {gender!r}; use one of {', '.join(GENDERS)}")
    if body_model is None:
        body_model = os.environ.get(ENV_VAR) or None
    if body_model is None:
        return default_body_dir() / "SMPLX_NEUTRAL.npz"
    path = Path(body_model).expanduser()
    if not path.exists():
        raise BodyModelError(f"body model path {path} does not exist. {_expected_files_hint()}")
    if path.is_file():
        if not (path.name.upper().startswith("SMPLX_") and path.suffix == ".npz"):
            raise BodyModelError(
                f"{path.name} is not an SMPL-X model file: its name must be SMPLX_<GENDER>.npz "
                f"(e.g. SMPLX_NEUTRAL.npz). {_expected_files_hint()}")
        return path
    if (path / "SMPLX_NEUTRAL.npz").is_file() and _is_default_body(path / "SMPLX_NEUTRAL.npz"):
        return path / "SMPLX_NEUTRAL.npz"
    for candidate in (path / f"SMPLX_{gender.upper()}.npz", path / "smplx" / f"SMPLX_{gender.upper()}.npz"):
        if candidate.is_file():
            return candidate
    present = sorted(p.name for p in path.iterdir())[:12]
    raise BodyModelError(
        f"no SMPLX_{gender.upper()}.npz in {path} (found: {', '.join(present) or 'nothing'}). "
        f"{_expected_files_hint()}")


def _is_default_body(path: Path) -> bool:
    try:
        with np.load(path) as z:
            return "egogen_source" in z.files
    except Exception:
        return False


def _load_checked(path: Path) -> dict[str, np.ndarray]:
    """Read an SMPL-X npz and check that it has every array smplx needs, with matching sizes."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise BodyModelError(
            f"{path} is not a readable SMPL-X .npz file ({type(e).__name__}: {e}). Re-download or "
            f"re-extract it. {_expected_files_hint()}") from e
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise BodyModelError(f"{path} lacks the SMPL-X arrays {', '.join(missing)}; it is not an SMPL-X "
                             f"v1.1 model file. {_expected_files_hint()}")
    nv = data["v_template"].shape[0]
    checks = {
        "v_template": data["v_template"].shape == (nv, 3),
        "J_regressor": data["J_regressor"].shape == (NUM_JOINTS, nv),
        "weights": data["weights"].shape == (nv, NUM_JOINTS),
        "kintree_table": data["kintree_table"].shape == (2, NUM_JOINTS),
        "shapedirs": data["shapedirs"].ndim == 3 and data["shapedirs"].shape[:2] == (nv, 3),
        "posedirs": data["posedirs"].shape[:2] == (nv, 3) and data["posedirs"].shape[-1] == 486,
        "f": data["f"].ndim == 2 and data["f"].shape[1] == 3 and int(data["f"].max()) < nv,
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise BodyModelError(f"{path} has SMPL-X arrays of the wrong shape ({', '.join(bad)}) for a "
                             f"{nv}-vertex, {NUM_JOINTS}-joint model. {_expected_files_hint()}")
    return data


@dataclass(frozen=True)
class MarkerTable:
    """A surface marker set on one mesh: marker k = vertex ``vertex_ids[k]`` moved
    ``distance_from_skin`` metres along its outward normal (SSM2: 0.0095 m)."""

    names: tuple[str, ...]
    vertex_ids: np.ndarray  # (M,) int64
    distance_from_skin: float


class _NoExtraKeypoints(torch.nn.Module):
    """Stands in for smplx's VertexJointSelector on meshes with no known keypoint vertices."""

    def forward(self, vertices, joints):
        return joints


class BodyModel(torch.nn.Module):
    """An SMPL-X body (``smplx.SMPLX``) plus what egogen needs of it: markers, metadata.

    Call it like ``smplx.SMPLX`` (keyword tensors ``betas (B, num_betas)``,
    ``global_orient (B, 3)``, ``body_pose (B, 63)``, ``left_hand_pose``/``right_hand_pose``
    ``(B, 45)``, ``jaw_pose``/``leye_pose``/``reye_pose`` ``(B, 3)``, ``expression (B, 10)``,
    ``transl (B, 3)``; axis-angle radians, metres); any omitted one is zero with the batch
    size of the given ones. Returns smplx's output: ``vertices (B, V, 3)``, ``joints
    (B, 55 + extra, 3)`` (the first 55 in SMPL-X order), float32.

    Attributes:
        smplx: the wrapped ``smplx.SMPLX`` module.
        path: the model file loaded.
        source, licence: where the model comes from and under what terms.
        markers: the SSM2 :class:`MarkerTable` for this mesh, or ``None`` if unknown.
    """

    def __init__(self, smplx_model, path: Path, source: str, licence: str,
                 markers: Optional[MarkerTable]):
        super().__init__()
        self.smplx = smplx_model
        self.path = path
        self.source = source
        self.licence = licence
        self.markers = markers
        self.register_buffer("_marker_ids", torch.as_tensor(
            markers.vertex_ids if markers else np.zeros(0, dtype=np.int64), dtype=torch.long))

    @property
    def num_betas(self) -> int:
        return int(self.smplx.num_betas)

    @property
    def num_vertices(self) -> int:
        return int(self.smplx.v_template.shape[0])

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangle vertex ids."""
        return np.asarray(self.smplx.faces, dtype=np.int64)

    @property
    def parents(self) -> torch.Tensor:
        """(55,) parent joint ids, -1 for the root."""
        return self.smplx.parents

    def forward(self, **params):
        batch = next((v.shape[0] for v in params.values() if v is not None), 1)
        dt = self.smplx.v_template.dtype
        dev = self.smplx.v_template.device
        sizes = {"betas": self.num_betas, "global_orient": 3, "body_pose": 63, "transl": 3,
                 "left_hand_pose": self.smplx.left_hand_pose.shape[-1],
                 "right_hand_pose": self.smplx.right_hand_pose.shape[-1],
                 "jaw_pose": 3, "leye_pose": 3, "reye_pose": 3,
                 "expression": self.smplx.num_expression_coeffs}
        full = {k: (params[k] if params.get(k) is not None else torch.zeros(batch, n, dtype=dt, device=dev))
                for k, n in sizes.items()}
        unknown = set(params) - set(sizes) - {"return_verts", "return_full_pose", "pose2rot"}
        if unknown:
            raise TypeError(f"unknown SMPL-X parameters: {sorted(unknown)}")
        return self.smplx(**full, **{k: v for k, v in params.items() if k not in sizes})

    def marker_positions(self, vertices: torch.Tensor) -> torch.Tensor:
        """SSM2 marker positions of posed bodies.

        Args:
            vertices: (B, V, 3) posed vertices (any frame), metres.
        Returns:
            (B, M, 3) markers: each marker vertex moved ``distance_from_skin`` along its
            area-weighted vertex normal. Same frame, dtype and device as ``vertices``.
        Raises:
            BodyModelError: if this mesh has no marker table.
        """
        if self.markers is None:
            raise BodyModelError(
                f"no SSM2 marker table for this {self.num_vertices}-vertex mesh ({self.path}); markers are "
                f"known for SMPL-X's own {SMPLX_NUM_VERTICES}-vertex mesh and for egogen's default body. Add "
                "egogen_marker_names / egogen_marker_vertex_ids arrays to the model file to use another mesh.")
        normals = vertex_normals(vertices, self.smplx.faces_tensor)
        ids = self._marker_ids
        return vertices[:, ids] + self.markers.distance_from_skin * normals[:, ids]

    def rest_height(self, betas: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B,) standing height in metres (top of head to sole) of the rest pose for ``betas``."""
        out = self(betas=betas) if betas is not None else self()
        y = out.vertices[..., 1]
        return y.max(dim=1).values - y.min(dim=1).values


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals.

    Args:
        vertices: (B, V, 3) float positions.
        faces: (F, 3) long vertex ids, counter-clockwise seen from outside.
    Returns:
        (B, V, 3) unit normals pointing out of the surface (zero for unused vertices).
    """
    tri = vertices[:, faces]  # (B, F, 3, 3)
    fn = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    vn = torch.zeros_like(vertices)
    for k in range(3):
        vn.index_add_(1, faces[:, k], fn)
    return torch.nn.functional.normalize(vn, dim=-1)


def _marker_table(data: dict[str, np.ndarray]) -> Optional[MarkerTable]:
    if "egogen_marker_names" in data:
        return MarkerTable(tuple(str(n) for n in data["egogen_marker_names"]),
                           data["egogen_marker_vertex_ids"].astype(np.int64),
                           float(data.get("egogen_marker_distance_from_skin", 0.0095)))
    if data["v_template"].shape[0] == SMPLX_NUM_VERTICES:
        import json

        table = json.loads((Path(__file__).parent / "data" / "ssm2_smplx_markers.json").read_text())
        names = tuple(sorted(table["indices"]))
        return MarkerTable(names, np.array([table["indices"][n] for n in names], dtype=np.int64),
                           float(table["distance_from_skin"]))
    return None


def load_body_model(body_model: Optional[str | os.PathLike] = None, gender: str = "neutral",
                    num_betas: int = 10, batch_size: int = 1, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> BodyModel:
    """Load an SMPL-X body through ``smplx.SMPLX``.

    Args:
        body_model: folder with ``SMPLX_<GENDER>.npz`` (licensed SMPL-X v1.1 files) or such a
            file; ``None``: ``$EGOGEN_BODY_MODEL``, else egogen's default body (Anny in SMPL-X
            format; needs no licence-gated file).
        gender: ``neutral``, ``male`` or ``female`` (the default body is always neutral).
        num_betas: shape coefficients (the default body has 16 meaningful ones; SMPL-X 300).
        batch_size: batch size of smplx's own default parameters.
        device, dtype: where and how the model's buffers live.
    Returns:
        A :class:`BodyModel`.
    Raises:
        BodyModelError: missing folder, wrongly named file, unreadable or malformed npz.
    """
    import smplx
    from smplx.vertex_joint_selector import VertexJointSelector

    path = resolve_model_file(body_model, gender)
    if not path.is_file():
        raise BodyModelError(f"egogen's default body file {path} is missing; reinstall egogen, or rebuild it "
                             "with `egogen body build-default` (needs pip install 'egogen[body-build]').")
    data = _load_checked(path)
    # smplx prints shape-space warnings on stdout; keep stdout clean for --json output.
    with contextlib.redirect_stdout(io.StringIO()):
        model = smplx.SMPLX(str(path), num_betas=num_betas, batch_size=batch_size, use_pca=False,
                            flat_hand_mean=True, dtype=dtype)
    if "egogen_vertex_id_names" in data:
        ids = dict(zip((str(n) for n in data["egogen_vertex_id_names"]),
                       (int(i) for i in data["egogen_vertex_id_values"])))
        model.vertex_joint_selector = VertexJointSelector(vertex_ids=ids)
    elif data["v_template"].shape[0] != SMPLX_NUM_VERTICES:
        model.vertex_joint_selector = _NoExtraKeypoints()
    source = str(data["egogen_source"]) if "egogen_source" in data else f"SMPL-X model file {path.name}"
    licence = (str(data["egogen_license"]) if "egogen_license" in data
               else f"SMPL-X model licence (see {SMPLX_URL}); not redistributable")
    return BodyModel(model, path, source, licence, _marker_table(data)).to(device)
