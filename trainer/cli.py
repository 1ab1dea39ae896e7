"""train.py's command line: its two parsers, the checked types of their flags, and their
help texts. Every argparse error becomes a one-line BadInput (exit 2)."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from trainer import optim
from trainer.errors import BadInput
from trainer.loops import BACKENDS

MAX_EPOCHS = 10_000_000


class Parser(argparse.ArgumentParser):
    """argparse, but every error is one line and exit code 2."""

    def error(self, message: str) -> None:
        raise BadInput(message)


def _number(kind: Callable[[str], float], check: Callable[[float], bool], what: str):
    """An argparse type: `kind` of the text, refused in one line unless `check` holds."""
    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
inits_int = _number(int, lambda v: 1 <= v <= 1_000_000, "a whole number from 1 to 1000000")
_batch_count = _number(int, lambda v: 1 <= v <= 10_000_000,
                      "a whole number from 1 to 10000000, or 'full'")


def batch_int(text: str) -> int | None:
    """--batch-size: a number of samples, or `full` (the full batch, also where the spec
    sets mini-batches)."""
    return None if text.strip().lower() == "full" else _batch_count(text)


finite_float = _number(float, math.isfinite, "a finite number")
epochs_int = _number(int, lambda v: 1 <= v <= MAX_EPOCHS, f"a whole number from 1 to {MAX_EPOCHS}")
seed_int = _number(int, lambda v: 0 <= v < 2**63, "a whole number >= 0")
unit_float = _number(float, lambda v: 0 <= v < 1, "a number from 0 up to (not including) 1")
nonnegative_float = _number(float, lambda v: math.isfinite(v) and v >= 0,
                            "a finite number >= 0")


def betas_pair(text: str) -> tuple[float, float]:
    """Adam's (beta1, beta2), each in [0, 1)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers such as 0.9,0.999")
    return (unit_float(parts[0].strip()), unit_float(parts[1].strip()))


def out_dir(text: str) -> Path:
    """An output folder; an empty name would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name is not a folder; say --out . for this one")
    return Path(text)


def lr_list(text: str) -> list[float]:
    """One learning rate, or a comma-separated list of them (for --inits)."""
    values = [positive_float(part.strip()) for part in text.split(",")]
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a learning rate")
    return values


TRAIN_EPILOG = """\
other command:
  train.py predict X1 X2 ...   y_hat and the class for one input, from a trained run
                               (see: train.py predict --help)

examples:
  train.py                                  train XOR with the assignment's settings -> out/
  train.py --seed 3 --out runs/seed3        another initialisation, kept apart in runs/seed3
  train.py --spec moons_relu                another network from specs/
  train.py --inits 2000 --lr 0.3,1,3        2000 initialisations per learning rate at once
  train.py predict 1 0                      y_hat for x = (1, 0) from out/params.json

exit codes: 0 done, 2 bad input (one line on stderr), 3 training diverged.
"""

PREDICT_EPILOG = """\
examples:
  train.py predict 1 0                              from out/params.json (the last run)
  train.py predict -0.5 2 --params runs/seed3/params.json --spec xor
"""


def _spec_parser(prog: str, description: str, epilog: str | None = None,
                 add_help: bool = True) -> Parser:
    """A parser with the --spec flag both commands share."""
    parser = Parser(prog=prog, description=description, epilog=epilog, add_help=add_help,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="xor",
                        help="network spec: a name in specs/ or its .toml (default: xor)")
    return parser


# Flags that set one optimizer only: given with another, they would be ignored in silence.
OPTIMIZER_OF_FLAG = {"momentum": "momentum", "nesterov": "momentum", "betas": "adam",
                     "eps": "adam"}


def given(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options present on the command line (abbreviations too)."""
    saved = [(action, action.default) for action in parser._actions]
    for action, _ in saved:
        action.default = argparse.SUPPRESS
    try:
        return set(vars(parser.parse_args(argv)))
    finally:
        for action, default in saved:
            action.default = default


def check_optimizer_flags(parser: argparse.ArgumentParser, argv: list[str],
                          optimizer: str) -> None:
    """--nesterov without --optimizer momentum is an error, not plain SGD in silence."""
    for flag in sorted(given(parser, argv) & set(OPTIMIZER_OF_FLAG)):
        needed = OPTIMIZER_OF_FLAG[flag]
        if optimizer != needed:
            raise BadInput(f"--{flag} is a setting of --optimizer {needed}; add "
                           f"--optimizer {needed} (this run's is {optimizer})")


def spec_of(argv: list[str]) -> str:
    """The --spec of a training command line, read first: the other flags' defaults (and
    so --help) are that network's."""
    known, _ = _spec_parser("train.py", "", add_help=False).parse_known_args(argv)
    return known.spec


def train_parser(model: ModuleType) -> Parser:
    """The training command's parser, its defaults taken from `model`'s spec."""
    parser = _spec_parser(
        "train.py", "Train a generated network by gradient descent (full batch, or --batch-size);\n"
        "write the loss "
        "curve, decision boundary, history and parameters to --out.", TRAIN_EPILOG)
    parser.add_argument("--lr", type=lr_list, default=[model.DEFAULTS["lr"]],
                        help="learning rate eta (default: the spec's, "
                             f"{model.DEFAULTS['lr']:g} for {model.SPEC_NAME}); with --inits, "
                             "a list such as 0.1,1,3")
    parser.add_argument("--epochs", type=epochs_int, default=model.DEFAULTS["epochs"],
                        help="passes over the data: one step each, or one per mini-batch "
                             "(default: the spec's, %(default)s)")
    parser.add_argument("--seed", type=seed_int, default=model.DEFAULTS["seed"],
                        help="seed of the initialisation (default: the spec's, %(default)s)")
    parser.add_argument("--data", type=Path, default=None, metavar="FILE.csv",
                        help="train on a CSV file (header x1,..,xd,y) instead of the spec's "
                             f"data set (default: {model.DATASET})")
    parser.add_argument("--out", type=out_dir, default=Path("out"), metavar="DIR",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the result (default: off)")
    parser.add_argument("--compare-torch", action="store_true",
                        help="also train the same network with PyTorch from the same init "
                             "and report the differences (needs `make setup-torch`; "
                             "default: off)")
    parser.add_argument("--init", type=Path, default=None, metavar="FILE",
                        help="start from these parameters instead of --seed's: a params.json "
                             "(replays its run) or a JSON of W1, b1, ... or of a PyTorch "
                             "state_dict (0.weight, 0.bias, ...) (default: none)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="auto",
                        help="training loop: c (generated C, compiled on first use), python "
                             "(generated plain-Python loop), numpy, or auto: the fastest here "
                             "(default: %(default)s)")
    parser.add_argument("--optimizer", choices=optim.NAMES, default="sgd",
                        help="update rule, in PyTorch's form: sgd (plain gradient descent), "
                             "momentum (SGD with momentum) or adam (default: %(default)s)")
    parser.add_argument("--momentum", type=unit_float, default=0.9, metavar="MU",
                        help="momentum of --optimizer momentum (default: %(default)s)")
    parser.add_argument("--nesterov", action="store_true",
                        help="Nesterov momentum with --optimizer momentum (default: off)")
    parser.add_argument("--betas", type=betas_pair, default=(0.9, 0.999), metavar="B1,B2",
                        help="Adam's decay rates (default: 0.9,0.999)")
    parser.add_argument("--eps", type=positive_float, default=1e-8,
                        help="Adam's epsilon (default: %(default)s)")
    parser.add_argument("--weight-decay", type=nonnegative_float, default=0.0, metavar="L",
                        help="L2 penalty added to every gradient, as PyTorch's weight_decay "
                             "(default: %(default)s)")
    batch = model.DEFAULTS.get("batch_size")
    parser.add_argument("--batch-size", type=batch_int, default=batch, metavar="B",
                        help="mini-batches of B samples: each epoch a permutation of the data "
                             "from the run's seeded generator, the last batch smaller; the "
                             "history holds each epoch's mean batch loss; 'full' for the full "
                             "batch (default: the spec's [training] batch_size, else the full "
                             f"batch; {model.SPEC_NAME}: "
                             + (f"{batch})" if batch else "full batch)"))
    parser.add_argument("--full-loss", action="store_true",
                        help="also record the loss on the whole training set before each "
                             "epoch (with mini-batches the history is the mean batch loss): "
                             "history.csv's third column full_loss and a second curve in "
                             "loss.png; one more pass over the data per epoch, on the NumPy "
                             "loop (default: off)")
    parser.add_argument("--inits", type=inits_int, default=None, metavar="K",
                        help="train K initialisations at once (seeds SEED..SEED+K-1) and "
                             "report how many solve the data (default: one network)")
    return parser


def predict_parser() -> Parser:
    """The predict command's parser (its --spec only checks the params file's network)."""
    parser = _spec_parser("train.py predict",
                          "Print y_hat and the class of one input, from the parameters a training\n"
                          "run saved; says which params file and network it used.",
                          PREDICT_EPILOG)
    parser.set_defaults(spec=None)
    parser._option_string_actions["--spec"].help = (
        "the network the parameters must belong to (default: the one the params file names)")
    parser.add_argument("x", nargs="*", type=finite_float, metavar="X",
                        help="the input values, one per input of the network")
    parser.add_argument("--params", type=Path, default=Path("out/params.json"), metavar="FILE",
                        help="params.json of a training run (default: %(default)s)")
    return parser


FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$", re.I)


def split_inputs(argv: list[str]) -> list[str]:
    """Numbers go after `--`, so that `predict -1e3 0` is an input, not an unknown flag."""
    options, numbers, take_value = [], [], False
    for token in argv:
        if take_value:
            options.append(token)
            take_value = False
        elif token == "--":
            continue
        elif token in ("--params", "--spec"):
            options.append(token)
            take_value = True
        elif FLOAT.match(token) or not token.startswith("-"):
            numbers.append(token)
        else:
            options.append(token)
    return [*options, "--", *numbers]


def checked_run_flags(parser: argparse.ArgumentParser, argv: list[str],
                      args: argparse.Namespace, model: ModuleType) -> optim.Optimizer:
    """The flags of a training run, refused in one line where they cannot go together
    (and a spec's mini-batches dropped for --inits); returns the chosen update rule."""
    check_optimizer_flags(parser, argv, args.optimizer)
    if args.inits is None and len(args.lr) > 1:
        raise BadInput("a list of learning rates needs --inits K (one ensemble per rate)")
    optimizer = optim.make(args.optimizer, args.lr[0], args.momentum, args.nesterov,
                           args.betas, args.eps, args.weight_decay)
    chosen = " and ".join([f"--optimizer {args.optimizer}"] * (args.optimizer != "sgd")
                          + ["--weight-decay"] * (args.weight_decay > 0))
    if not optimizer.is_plain and args.inits is not None:
        raise BadInput(f"--inits trains with plain gradient descent only; leave out {chosen}")
    if not optimizer.is_plain and args.backend in ("c", "python"):
        raise BadInput(f"--backend {args.backend} runs plain gradient descent only; "
                       f"{chosen} {'run' if ' and ' in chosen else 'runs'} on --backend numpy")
    explicit = given(parser, argv)
    if "batch_size" in explicit and args.inits is not None and args.batch_size is not None:
        raise BadInput("--inits trains full-batch; leave out --batch-size")
    if args.inits is not None:
        args.batch_size = None  # a spec's mini-batches are for single runs
    if args.batch_size is not None and args.backend in ("c", "python"):
        what = "--batch-size runs" if "batch_size" in explicit else \
            f"the mini-batches of spec {model.SPEC_NAME} ([training] batch_size) run"
        raise BadInput(f"--backend {args.backend} runs full-batch descent only; {what} "
                       "on --backend numpy")
    if args.full_loss and args.backend in ("c", "python"):
        raise BadInput(f"--backend {args.backend} records the history only; --full-loss runs "
                       "on --backend numpy")
    if args.inits is not None and (args.compare_torch or args.init or args.full_loss):
        flags = " and ".join(["--compare-torch"] * args.compare_torch
                             + ["--init"] * bool(args.init) + ["--full-loss"] * args.full_loss)
        raise BadInput(f"{flags} {'are' if ' and ' in flags else 'is'} for one run; "
                       "leave out --inits")

    return optimizer
