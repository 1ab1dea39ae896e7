"""The network's shape as data: a TOML file in specs/ drives derivation, templates and training.

`load_spec` turns a file into a `NetworkSpec` or raises `SpecError` with one line naming the
file, the field and what is allowed. Nothing else in derive/ knows a width or an activation.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from derive.functions import ACTIVATIONS, CLASSIFIERS, LOSSES

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
DEFAULT_SPEC = "xor"

ACTIVATION_NAMES = tuple(ACTIVATIONS)
OUTPUTS = {name: a.losses for name, a in ACTIVATIONS.items() if a.losses}  # output -> losses
# Built-in data sets and their input width (their NumPy generators: templates/datasets.py.j2).
DATASET_WIDTHS = {"xor": 2, "and": 2, "or": 2, "nand": 2, "xnor": 2, "moons": 2,
                  "circles": 2, "spirals": 2,
                  # scikit-learn's bundled sets (no download): split and standardised
                  "digits": 64, "iris": 4, "wine": 13, "breast_cancer": 30}
DATASET_CLASSES = {"digits": 10, "iris": 3, "wine": 3}  # every other set: 2
HELD_OUT_DATASETS = ("digits", "iris", "wine", "breast_cancer")  # with a test part
INITS = ("pytorch",)
RESERVED_NAMES = ("gradients", "__init__")  # the assignment's report is generated/gradients.*
# A generated module named like one that train.py, a notebook kernel or the tests import
# would shadow it wherever generated/ is on the path.
SHADOWED_MODULES = frozenset(sys.stdlib_module_names) | {
    "numpy", "matplotlib", "sympy", "jinja2", "nbformat", "nbclient", "ipykernel", "IPython",
    "jupyter_client", "zmq", "tornado", "traitlets", "pytest", "hypothesis", "torch", "mpmath",
    "train", "derive", "trainer", "generated", "tests", "conftest", "strategies", "bench",
    "setuptools", "pip", "pkg_resources", "_pytest"}
MAX_WIDTH = 4096
MAX_HIDDEN_LAYERS = 6
# Networks up to this size are derived unit by unit too (their reports show every entry's
# formula); larger ones at the matrix level only (derive/matrix.py), whose cost does not
# grow with the widths. MAX_PARAMS bounds what training can hold, not the derivation.
UNIT_BY_UNIT_MAX_PARAMS = 200
MAX_PARAMS = 20_000_000
MAX_SPEC_BYTES = 100_000
# A description lands in Python docstrings, C comments, LaTeX and Markdown: plain text only.
DESCRIPTION = re.compile(r"[A-Za-z0-9 _.,;:'()+\-/=!?]{0,200}")


def parameter_count(widths: tuple[int, ...] | list[int]) -> int:
    """Weights and biases of a fully connected network of these layer widths."""
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))


class SpecError(ValueError):
    """A spec file that cannot be used, said in one line."""


@dataclass(frozen=True)
class TrainingDefaults:
    """What `train.py` uses when no flag overrides it."""

    lr: float = 1.0
    epochs: int = 2001
    seed: int = 0
    init: str = "pytorch"  # every weight and bias uniform in +-1/sqrt(fan_in)
    batch_size: int | None = None  # mini-batches of this many samples; None: full batch


@dataclass(frozen=True)
class NetworkSpec:
    """A fully connected network with one output unit.

    `output_activation` and `loss` together decide the output delta (sigmoid + binary
    cross-entropy gives y_hat - y). `source` is the spec file, relative to the repository.
    """

    name: str
    n_inputs: int
    hidden: tuple[int, ...]
    hidden_activations: tuple[str, ...]  # one per hidden layer
    output_activation: str
    loss: str
    dataset: str
    description: str
    training: TrainingDefaults = field(default_factory=TrainingDefaults)
    source: str = ""
    n_outputs: int = 1  # K classes for a softmax output; 1 otherwise

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.n_inputs, *self.hidden, self.n_outputs)

    @property
    def n_params(self) -> int:
        return parameter_count(self.widths)

    @property
    def matrix_only(self) -> bool:
        """Derived at the matrix level only: too wide to derive, or read, unit by unit, or
        with an output over a whole row (softmax)."""
        return self.n_params > UNIT_BY_UNIT_MAX_PARAMS or self.n_outputs > 1

    @property
    def activations(self) -> tuple[str, ...]:
        """Activation of every layer, input side first, the output's last."""
        return (*self.hidden_activations, self.output_activation)

    def canonical_json(self) -> str:
        """A stable text of the spec, embedded in the generated module."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def spec_path(name_or_path: str | Path) -> Path:
    """`xor` -> specs/xor.toml; a path is taken as it is."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        return Path(text)
    return SPECS_DIR / f"{text}.toml"


class _Fields:
    """Typed access to a TOML table, every failure naming the file and the field."""

    def __init__(self, path: Path, table: dict, prefix: str = "") -> None:
        self.path, self.table, self.prefix = path, table, prefix

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: field '{self.prefix}{key}': {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default=None, required=True):
        if key not in self.table:
            if required:
                raise self.fail(key, "missing")
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(
                k.__name__ for k in kind)
            raise self.fail(key, f"must be {names}, got {value!r}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default=None, required=True) -> str:
        value = self.get(key, str, default, required)
        if value not in allowed:
            raise self.fail(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def unknown(self, known: tuple[str, ...]) -> None:
        extra = sorted(set(self.table) - set(known))
        if extra:
            raise self.fail(extra[0], f"unknown field; allowed: {', '.join(known)}")


def parse_spec(path: Path, text: str) -> NetworkSpec:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: larger than {MAX_SPEC_BYTES} bytes; not a spec")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML ({error})") from None
    except (RecursionError, ValueError, MemoryError) as error:  # nesting, 5000-digit integers
        raise SpecError(f"{path}: not a usable TOML file ({error.__class__.__name__})") from None
    top = _Fields(path, data)
    top.unknown(("name", "description", "inputs", "hidden", "activation", "output", "outputs",
                 "loss",
                 "dataset", "training"))
    name = top.get("name", str)
    if not (name.isidentifier() and name.isascii()) or name != path.stem:
        raise top.fail("name", f"{name!r} must be a Python identifier equal to the file name "
                               f"({path.stem!r})")
    if name in RESERVED_NAMES:
        raise top.fail("name", f"{name!r} is taken by generated/{name}.* of another spec")
    if name in SHADOWED_MODULES or name.startswith("_"):
        raise top.fail("name", f"{name!r} would shadow the Python module of that name; "
                               "choose another name")
    n_inputs = top.get("inputs", int)
    if not 1 <= n_inputs <= MAX_WIDTH:
        raise top.fail("inputs", f"{n_inputs} is not a width from 1 to {MAX_WIDTH}")
    if isinstance(top.table.get("hidden"), int) and not isinstance(top.table["hidden"], bool):
        raise top.fail("hidden", f"must be a list of widths, e.g. [{top.table['hidden']}]")
    hidden = top.get("hidden", list)
    if not hidden:
        raise top.fail("hidden", "needs at least one hidden layer width")
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
            raise top.fail("hidden", f"{width!r} is not a width from 1 to {MAX_WIDTH}")
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise top.fail("hidden", f"{len(hidden)} hidden layers; at most {MAX_HIDDEN_LAYERS}")
    dataset = top.choice("dataset", tuple(DATASET_WIDTHS))
    output = top.choice("output", (*OUTPUTS, *CLASSIFIERS))
    n_outputs = top.get("outputs", int, 1, required=False)
    if output in CLASSIFIERS:
        classes = DATASET_CLASSES.get(dataset, 2)
        if "outputs" not in top.table:
            raise top.fail("outputs", f"missing: a {output} output needs outputs = {classes}, "
                                      f"the classes of data set {dataset!r}")
        if n_outputs != classes:
            raise top.fail("outputs", f"{n_outputs} for a {output} output, but data set "
                                      f"{dataset!r} has {classes} classes")
    elif n_outputs != 1:
        raise top.fail("outputs", f"{n_outputs}: only a softmax output has more than one")
    n_params = parameter_count([n_inputs, *hidden, n_outputs])
    if n_params > MAX_PARAMS:
        raise top.fail("hidden", f"{n_params} parameters; at most {MAX_PARAMS}")
    activation = top.get("activation", (str, list))
    activations = [activation] * len(hidden) if isinstance(activation, str) else activation
    if len(activations) != len(hidden):
        plural = "" if len(activations) == 1 else "s"
        raise top.fail("activation", f"gives {len(activations)} activation{plural} for "
                                     f"{len(hidden)} hidden layer{'' if len(hidden) == 1 else 's'}")
    for act in activations:
        if act not in ACTIVATION_NAMES:
            raise top.fail("activation", f"{act!r} is not one of {', '.join(ACTIVATION_NAMES)}")
    loss = top.choice("loss", (*LOSSES, *(c.loss for c in CLASSIFIERS.values())))
    allowed = (CLASSIFIERS[output].loss,) if output in CLASSIFIERS else OUTPUTS[output]
    if loss not in allowed:
        raise top.fail("loss", f"{loss!r} does not go with output {output!r}; allowed: "
                               f"{', '.join(allowed)}")
    if dataset in DATASET_CLASSES and output not in CLASSIFIERS:
        raise top.fail("output", f"data set {dataset!r} has {DATASET_CLASSES[dataset]} "
                                 "classes: use output = \"softmax\" with that many outputs")
    if DATASET_WIDTHS[dataset] != n_inputs:
        raise top.fail("dataset", f"{dataset!r} has {DATASET_WIDTHS[dataset]} inputs but the "
                                  f"network has inputs = {n_inputs}")
    training_table = top.get("training", dict, default={}, required=False)
    train = _Fields(path, training_table, "training.")
    train.unknown(("lr", "epochs", "seed", "init", "batch_size"))
    lr = float(train.get("lr", (int, float), 1.0, required=False))
    if not (lr > 0 and lr < float("inf")):
        raise train.fail("lr", f"{lr!r} is not a positive finite number")
    epochs = train.get("epochs", int, 2001, required=False)
    if not 1 <= epochs <= 10_000_000:
        raise train.fail("epochs", f"{epochs} is not from 1 to 10000000")
    seed = train.get("seed", int, 0, required=False)
    if seed < 0:
        raise train.fail("seed", f"{seed} is negative")
    init = train.choice("init", INITS, "pytorch", required=False)
    batch_size = train.get("batch_size", int, None, required=False)
    if batch_size is not None and not 1 <= batch_size <= 10_000_000:
        raise train.fail("batch_size", f"{batch_size} is not from 1 to 10000000")
    description = top.get("description", str, default=name, required=False)
    if not DESCRIPTION.fullmatch(description):
        raise top.fail("description", "at most 200 characters of letters, digits, spaces and "
                                      "_.,;:'()+-/=!? (it is printed into code and LaTeX)")
    return NetworkSpec(name=name, n_inputs=n_inputs, hidden=tuple(hidden),
                       hidden_activations=tuple(activations), output_activation=output,
                       loss=loss, dataset=dataset, description=description,
                       training=TrainingDefaults(lr, epochs, seed, init, batch_size),
                       source=_relative(path), n_outputs=n_outputs)


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(SPECS_DIR.parent).as_posix()
    except ValueError:
        return path.as_posix()


def load_spec(name_or_path: str | Path = DEFAULT_SPEC) -> NetworkSpec:
    """Read and check a spec file (`xor` means specs/xor.toml)."""
    path = spec_path(name_or_path)
    try:
        if path.exists() and not path.is_file():
            raise SpecError(f"{path}: not a regular file")
        if path.exists() and path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: larger than {MAX_SPEC_BYTES} bytes; not a spec")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"{path}: cannot read ({error.__class__.__name__})") from None
    return parse_spec(path, text)
