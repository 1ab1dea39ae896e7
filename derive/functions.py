"""Activations and losses: each defined once, as a SymPy expression, nothing else hand-typed.

Their derivatives are not written here: `gradients.py` gets them from SymPy. The marker
functions (`sigmoid`, `softplus`, ...) only name an application so that printers can
emit `sigmoid(z)` or `\\sigma(z)` instead of its expanded definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp


class sigmoid(sp.Function):  # noqa: N801  (printers dispatch on the class name)
    """Marker for the logistic function 1 / (1 + exp(-z))."""


class softplus(sp.Function):  # noqa: N801
    """Marker for log(1 + exp(z)); printed in its overflow-free form."""


class relu(sp.Function):  # noqa: N801
    """Marker for max(0, z)."""


MARKER_DEFINITIONS: dict[type[sp.Function], Callable[[sp.Expr], sp.Expr]] = {
    sigmoid: lambda z: 1 / (1 + sp.exp(-z)),
    softplus: lambda z: sp.log(1 + sp.exp(z)),
    relu: lambda z: sp.Max(0, z),
}


def expand_markers(expr: sp.Expr) -> sp.Expr:
    """Replace every marker application by its SymPy definition (for differentiation)."""
    for marker, definition in MARKER_DEFINITIONS.items():
        expr = expr.replace(marker, definition)
    return expr


@dataclass(frozen=True)
class Activation:
    """f(z) as a marker application, and optionally z as a function of a = f(z).

    With an inverse, SymPy's f'(z) is rewritten through a (sigma' = sigma (1 - sigma)),
    so the backward pass reuses the forward pass's values.
    """

    name: str
    apply: Callable[[sp.Expr], sp.Expr]
    inverse: Callable[[sp.Expr], sp.Expr] | None


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, lambda a: sp.log(a / (1 - a))),
    "tanh": Activation("tanh", sp.tanh, sp.atanh),
    "relu": Activation("relu", relu, None),
    "identity": Activation("identity", lambda z: z, lambda a: a),
}


@dataclass(frozen=True)
class Loss:
    """Per-sample loss l(y_hat, y); the network's loss is its mean over the samples."""

    name: str
    title: str
    of_prediction: Callable[[sp.Expr, sp.Expr], sp.Expr]


LOSSES: dict[str, Loss] = {
    "bce": Loss(
        "bce",
        "binary cross-entropy",
        lambda y_hat, y: -(y * sp.log(y_hat) + (1 - y) * sp.log(1 - y_hat)),
    ),
    "mse": Loss("mse", "squared error", lambda y_hat, y: (y_hat - y) ** 2),
}

# Loss written through the output logit z, exact and overflow-free. The derivation proves
# each equal to loss(activation(z), y) before it is used.
LOGIT_FORMS: dict[tuple[str, str], Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
    ("sigmoid", "bce"): lambda z, y: softplus(z) - y * z,
}
