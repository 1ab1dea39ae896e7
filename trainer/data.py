"""What a run reads: CSV data, JSON parameter files and initialisations. Each is size-limited
and checked against the generated module, and every problem is one line (BadInput)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from types import ModuleType

import numpy as np

from trainer.errors import BadInput

Params = dict[str, np.ndarray]

MAX_INPUT_BYTES = 50_000_000  # params, init and CSV files (README: "Errors")
MAX_INPUT_VALUE = 1e6
TORCH_KEY = re.compile(r"^(?:.*\.)?(\d+)\.(weight|bias)$")


def read_text(path: Path, where: str, missing: str) -> str:
    """A UTF-8 file's text (a byte-order mark is fine), or a one-line BadInput starting with
    `where`. Only regular files below MAX_INPUT_BYTES are read: not /dev/zero, not a FIFO."""
    try:
        if path.exists() and not path.is_file():
            raise BadInput(f"{where}: not a regular file")
        if path.exists() and path.stat().st_size > MAX_INPUT_BYTES:
            raise BadInput(f"{where}: larger than {MAX_INPUT_BYTES // 1_000_000} MB")
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"{where}: {missing}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{where}: cannot read ({error.__class__.__name__})") from None


def load_csv(model: ModuleType, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """X and y from a CSV with a header x1..xd,y; every problem named with its line."""
    text = read_text(path, f"--data {path}", "no such file")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise BadInput(f"--data {path}: not a CSV file ({error})") from None
    expected = [f"x{j + 1}" for j in range(model.N_INPUTS)] + ["y"]
    if not rows or [cell.strip() for cell in rows[0]] != expected:
        header = ",".join(rows[0]) if rows else "(empty file)"
        raise BadInput(f"--data {path}: line 1: header must be {','.join(expected)} for "
                       f"{model.SPEC_NAME}, got {header!r}")
    values = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(expected):
            raise BadInput(f"--data {path}: line {number}: {len(row)} columns, expected "
                           f"{len(expected)}")
        try:
            if any("\n" in cell or "\r" in cell for cell in row):
                raise ValueError("a line break inside a cell")
            numbers = [float(cell) for cell in row]
        except ValueError:
            raise BadInput(f"--data {path}: line {number}: not a number in {row!r}") from None
        if not all(math.isfinite(v) for v in numbers):
            raise BadInput(f"--data {path}: line {number}: NaN or infinity in {row!r}")
        if any(abs(v) > MAX_INPUT_VALUE for v in numbers):
            raise BadInput(f"--data {path}: line {number}: a value beyond +-{MAX_INPUT_VALUE:g} "
                           "(scale the data first)")
        if model.LABELS == "binary" and numbers[-1] not in (0.0, 1.0):
            raise BadInput(f"--data {path}: line {number}: y must be 0 or 1 for binary "
                           f"cross-entropy, got {row[-1]!r}")
        if model.LABELS == "classes" and numbers[-1] not in range(model.N_OUTPUTS):
            raise BadInput(f"--data {path}: line {number}: y must be a class label 0 .. "
                           f"{model.N_OUTPUTS - 1} for {model.SPEC_NAME}, got {row[-1]!r}")
        values.append(numbers)
    if not values:
        raise BadInput(f"--data {path}: no data rows")
    data = np.array(values, dtype=np.float64)
    return data[:, :-1], data[:, -1]


def input_scaling(model: ModuleType, record: dict, where: str,
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) a run standardised its inputs with (a held-out data set's training part),
    or None; a malformed entry is one line."""
    scaling = record.get("input_scaling")
    if scaling is None:
        return None
    try:
        mean, std = (np.asarray(scaling[k], dtype=float) for k in ("mean", "std"))
    except (KeyError, TypeError, ValueError):
        mean = std = np.empty(0)
    if mean.shape != (model.N_INPUTS,) or std.shape != mean.shape or not np.all(std > 0):
        raise BadInput(f"{where}: 'input_scaling' must hold {model.N_INPUTS} means and "
                       "positive standard deviations")
    return mean, std


def to_json(params: Params) -> dict[str, object]:
    """Parameters as nested lists: params.json stores them so that a run replays exactly."""
    return {name: np.asarray(value).tolist() for name, value in params.items()}


def from_json(model: ModuleType, raw: object, where: str) -> Params:
    """Parameters from JSON, checked against the generated module's names and shapes."""
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: expected an object of parameters")
    params = {}
    for name, shape, _ in model.PARAMS:
        if name not in raw:
            raise BadInput(f"{where}: missing parameter {name!r}")
        try:
            value = np.array(raw[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise BadInput(f"{where}: parameter {name!r} is not an array of numbers") from None
        if value.shape != tuple(shape):
            raise BadInput(f"{where}: parameter {name!r} has shape {value.shape}, "
                           f"expected {tuple(shape)}")
        if not np.all(np.isfinite(value)):
            raise BadInput(f"{where}: parameter {name!r} holds NaN or infinity")
        params[name] = value
    return params


def read_json(path: Path, missing: str) -> object:
    """A JSON file, or a one-line BadInput saying what is wrong with it."""
    text = read_text(path, str(path), missing)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    except (RecursionError, ValueError) as error:  # nested too deep, a 5000-digit integer
        raise BadInput(f"{path}: not usable JSON ({error.__class__.__name__})") from None


def load_init(model: ModuleType, path: Path) -> Params:
    """Starting parameters from a file, so a run can start where another one did.

    Accepted: a params.json of train.py (its `init`: the run is replayed), an object of
    arrays named as the generated module names them (W1, b1, w2, b2), or a PyTorch
    nn.Sequential state_dict as JSON ("0.weight", "0.bias", "2.weight", "2.bias", ...).
    """
    raw = read_json(path, missing="no such file")
    if isinstance(raw, dict) and isinstance(raw.get("init"), dict):
        network = raw.get("spec")
        if isinstance(network, str) and network != model.SPEC_NAME:
            raise BadInput(f"--init {path} holds the start of a run of network {network!r}, "
                           f"not of {model.SPEC_NAME} (--spec {network} trains that one)")
        raw = raw["init"]
    if isinstance(raw, dict) and raw and all(isinstance(k, str) and TORCH_KEY.match(k)
                                             for k in raw):
        if any(len(TORCH_KEY.match(k).group(1)) > 6 for k in raw):
            raise BadInput(f"{path}: a state_dict layer index is too long")
        layers = sorted({int(TORCH_KEY.match(k).group(1)) for k in raw})
        names = [name for name, _, _ in model.PARAMS]
        if 2 * len(layers) != len(names):
            raise BadInput(f"{path}: {len(layers)} linear layers in the state_dict, "
                           f"{model.SPEC_NAME} has {len(names) // 2}")
        shapes = {name: shape for name, shape, _ in model.PARAMS}
        renamed = {}
        for layer, (weight, bias) in zip(layers, zip(names[0::2], names[1::2])):
            renamed[weight] = _squeeze_output(raw.get(f"{layer}.weight"), shapes[weight])
            renamed[bias] = _squeeze_output(raw.get(f"{layer}.bias"), shapes[bias])
        raw = {k: v for k, v in renamed.items() if v is not None}
    return from_json(model, raw, str(path))


def _squeeze_output(value: object, shape: tuple[int, ...]) -> object:
    """PyTorch keeps the output layer's (1, H) weight and (1,) bias; ours are (H,) and ()."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return value
    if array.ndim == len(shape) + 1 and array.shape[0] == 1:
        return array[0].tolist()
    return value
