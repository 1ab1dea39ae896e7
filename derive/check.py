"""`python -m derive check`: the generated gradients against central finite differences.

Like torch.autograd.gradcheck, but for a generated module: evaluate `gradients` at random
parameters and inputs, compare with (L(theta + h) - L(theta - h)) / 2h entry by entry, print a
table per parameter and fail above the tolerance. Only NumPy is needed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from derive.cli import OneLineParser

REPO_DIR = Path(__file__).resolve().parent.parent


def load_module(path: Path) -> ModuleType:
    """Import a generated module from its file, without touching sys.path."""
    spec = importlib.util.spec_from_file_location(f"_checked_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def central_differences(model: ModuleType, params: dict[str, np.ndarray], X: np.ndarray,
                        y: np.ndarray, step: float) -> dict[str, np.ndarray]:
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[index] += step
            minus[index] -= step
            grad[index] = (model.loss({**params, name: plus}, X, y)
                           - model.loss({**params, name: minus}, X, y)) / (2 * step)
        grads[name] = grad
    return grads


def gradient_check(model: ModuleType, points: int = 50, samples: int = 8, step: float = 1e-6,
                   seed: int = 0) -> dict[str, tuple[float, float]]:
    """Per parameter: (max abs error, max relative error) over `points` random points.

    Relative error is per parameter array, |g - g_fd| / (|g| + |g_fd|) in the 2-norm, so
    entries that are nearly zero do not dominate it.
    """
    rng = np.random.default_rng(seed)
    worst = {name: (0.0, 0.0) for name, _, _ in model.PARAMS}
    for _ in range(points):
        params = {name: rng.normal(size=shape) for name, shape, _ in model.PARAMS}
        X = rng.normal(size=(samples, model.N_INPUTS))
        y = rng.integers(0, 2, size=samples).astype(np.float64)
        exact = model.gradients(params, X, y)
        approx = central_differences(model, params, X, y, step)
        for name in params:
            diff = np.asarray(exact[name]) - approx[name]
            size = np.linalg.norm(exact[name]) + np.linalg.norm(approx[name])
            abs_err = float(np.max(np.abs(diff)))
            rel_err = float(np.linalg.norm(diff) / size) if size > 0 else 0.0
            worst[name] = (max(worst[name][0], abs_err), max(worst[name][1], rel_err))
    return worst


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="python -m derive check",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="xor",
                        help="spec whose generated module to check (default: %(default)s)")
    parser.add_argument("--module", type=Path, help="a module file (default generated/SPEC.py)")
    parser.add_argument("--points", type=int, default=50, help="random points (default 50)")
    parser.add_argument("--tol", type=float, default=1e-6, help="max relative error (1e-6)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random points (default: %(default)s)")
    args = parser.parse_args(argv)
    name = args.spec[:-5].rsplit("/", 1)[-1] if args.spec.endswith(".toml") else args.spec
    if not (name.isidentifier() and name.isascii()):
        parser.error(f"--spec {args.spec}: not a spec name")
    path = args.module or REPO_DIR / "generated" / f"{name}.py"
    if not 1 <= args.points <= 100_000 or not 0 < args.tol < float("inf") or args.seed < 0:
        parser.error("--points must be from 1 to 100000, --tol a positive number and --seed "
                     ">= 0")
    if args.module is None and path.is_file():
        from derive.stamps import PY_MARKER, is_intact

        if not is_intact(path.read_text(encoding="utf-8", errors="replace"), PY_MARKER):
            print(f"derive check: error: {path} was edited by hand (its own hash does not "
                  "match); run `make derive` to regenerate it", file=sys.stderr)
            return 2
    try:
        model = load_module(path)
        missing = [a for a in ("PARAMS", "N_INPUTS", "loss", "gradients") if not hasattr(model, a)]
        if missing:
            raise ImportError(f"not a generated module (no {', '.join(missing)})")
    except (OSError, ImportError, SyntaxError) as error:
        print(f"derive check: error: cannot load {path}: {error}", file=sys.stderr)
        return 2
    try:
        worst = gradient_check(model, points=args.points, seed=args.seed)
    except Exception as error:  # a module that loads but does not compute: one line
        print(f"derive check: error: {path} failed while checked: "
              f"{error.__class__.__name__}: {error}", file=sys.stderr)
        return 2
    print(f"gradient check of {path}: {args.points} random points, central differences "
          f"(h = 1e-06), tolerance {args.tol:g}")
    print(f"{'param':<8}{'shape':<10}{'max abs error':>15}{'max rel error':>15}")
    shapes = {name: shape for name, shape, _ in model.PARAMS}
    for name, (abs_err, rel_err) in worst.items():
        flag = "" if rel_err <= args.tol else "  <-- FAIL"
        print(f"{name:<8}{str(tuple(shapes[name])):<10}{abs_err:>15.2e}{rel_err:>15.2e}{flag}")
    failed = [name for name, (_, rel_err) in worst.items() if not rel_err <= args.tol]
    if failed:
        print(f"FAIL: {', '.join(failed)} above tolerance {args.tol:g}")
        return 1
    print(f"OK: every relative error is below {args.tol:g}")
    return 0
