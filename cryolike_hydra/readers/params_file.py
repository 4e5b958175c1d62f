"""CryoLike's parameters ``.npz`` (``params_input``) -> ``ImageDescriptor``, without unpickling anything.

CryoLike stores absent values (``None``) as pickled object arrays; only the keys the converter needs are read,
with ``allow_pickle=False``, and an optional key stored pickled is taken as absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.descriptor import PARAMS_KEYS, ImageDescriptor
from ..core.errors import ConfigError, InputError
from ..core.setting_names import setting
from .paths import require_file


def _scalar(value: np.ndarray, path: Path, key: str) -> float:
    flat = np.asarray(value).reshape(-1)
    if flat.size == 0:
        raise InputError("is empty", file=path, field=key, fix="rewrite the params file with CryoLike")
    if flat.size > 1 and not np.all(flat == flat[0]):
        raise InputError(
            "non-square values are not supported", file=path, field=key, value=flat.tolist(),
            fix="use square pixels and a square box",
        )
    return float(flat[0])


def read_params(path: str | Path) -> ImageDescriptor:
    """Read CryoLike's parameters ``.npz`` without unpickling anything.

    Parameters
    ----------
    path
        The params file (``params_input``).

    Returns
    -------
    ImageDescriptor

    Raises
    ------
    InputFileNotFoundError
        No such file.
    InputError
        Not an ``.npz``, a key missing, or a value that cannot be read (naming the file and the key).
    """
    path = Path(path)
    require_file(path.absolute(), "params file", fix=f"check the path given as {setting('params_input')}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"PK\x03\x04":  # np.load would take anything else for a pickle
        raise InputError(
            "not an .npz file (no zip header)", file=path, value=magic, fix="give a CryoLike params .npz"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"not a readable .npz file ({exc})", file=path, fix="give a CryoLike params .npz") from exc
    with archive:
        missing = [k for k in PARAMS_KEYS[:6] if k not in archive.files]
        if missing:
            raise InputError(
                f"missing keys {missing}", file=path, fix="give a params file written by CryoLike or write_params()"
            )
        raw = {}
        for key in PARAMS_KEYS:
            if key not in archive.files:
                continue
            try:
                raw[key] = archive[key]
            except ValueError:  # a pickled object array (CryoLike's None): treated as absent
                if key in PARAMS_KEYS[:6]:  # ... unless the converter needs it
                    raise InputError(
                        "stored as a pickled Python object, which is never loaded (pickle can run code)",
                        file=path,
                        field=key,
                        fix="write the params file with numeric arrays (cryolike_hydra.write_params, or "
                        "numpy.savez of plain numbers and strings)",
                    ) from None
                raw[key] = None
    precision = str(np.asarray(raw["precision"]).reshape(-1)[0])
    precision = precision.split(".")[-1].lower()  # tolerate 'Precision.SINGLE'
    optional: dict[str, object] = {}
    if raw.get("viewing_distance") is not None and np.asarray(raw["viewing_distance"]).size:
        optional["viewing_distance"] = _scalar(raw["viewing_distance"], path, "viewing_distance")
    if raw.get("atom_radii") is not None and np.asarray(raw["atom_radii"]).size:
        optional["atom_radii"] = _scalar(raw["atom_radii"], path, "atom_radii")
    for key in ("atom_selection", "atom_shape"):
        if raw.get(key) is not None and np.asarray(raw[key]).size:
            optional[key] = str(np.asarray(raw[key]).reshape(-1)[0])
    if raw.get("use_protein_residue_model") is not None and np.asarray(raw["use_protein_residue_model"]).size:
        optional["use_protein_residue_model"] = bool(np.asarray(raw["use_protein_residue_model"]).reshape(-1)[0])
    try:
        return ImageDescriptor(
            n_pixels=int(_scalar(raw["n_pixels"], path, "n_pixels")),
            pixel_size=_scalar(raw["pixel_size"], path, "pixel_size"),
            radius_max=_scalar(raw["radius_max"], path, "radius_max"),
            dist_radii=_scalar(raw["dist_radii"], path, "dist_radii"),
            n_inplanes=int(_scalar(raw["n_inplanes"], path, "n_inplanes")),
            precision=precision,
            **optional,  # type: ignore[arg-type]
        )
    except ConfigError as exc:
        raise InputError(exc.problem, file=path, field=exc.field, value=exc.value) from exc
