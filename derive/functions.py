"""The registry: every activation and loss is one record here, and nothing else names one.

A record holds the SymPy definition (nothing derived is hand-typed: derivatives come from
SymPy), the LaTeX name, how each code target spells it, the PyTorch function the referee
uses, and what it pairs with. Spec validation, the printers, LaTeX, the notebook and the
generated module's metadata (which train.py reads) all take their vocabulary from here.

Markers (`sigmoid`, `softplus`, ...) name an application, so that printers emit `sigmoid(z)`
or `\\sigma(z)` instead of its expanded definition; SymPy differentiates a marker through
its definition (`MarkerBase.fdiff`), rewritten through another marker where that is shorter
(softplus' = sigmoid).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp


@dataclass(frozen=True)
class Spelling:
    """How the code targets write one function of z.

    `numpy` and `c` are the bodies of a helper function each target defines once (NumPy:
    `def name(z)`; C: `static inline double name(double z)`), so a call prints as `name(z)`
    and takes its own precedence. `python` is inlined (a call costs more than the arithmetic
    in the plain-Python loop), written as one parenthesised expression in `{z}`, with the
    names it needs from `math`. `shared_exp` gives, per scalar target, the form given
    `{e}` = exp(-z) already in a local, which the scalar loops keep for sigmoid units (the C
    loop's softplus has none: exp(-z) is inf there for z < -709, where Python raises and
    falls back; the C ensemble's, "c_simd", takes 1 / exp(-z) below 0, which is 0 there).
    """

    latex: str
    numpy: str
    c: str
    python: str
    python_imports: tuple[str, ...] = ()
    shared_exp: dict[str, str] = field(default_factory=dict)
    shared_imports: tuple[str, ...] = ()
    numpy_extra: tuple[str, ...] = ()  # further NumPy helpers a printer may call
    notebook: str | None = None  # the NumPy helper as a student reads it, where it differs


class MarkerBase(sp.Function):
    """An application kept whole by the printers; its spelling is `SPELLINGS[name]`.

    (SymPy's printers skip a Function's base classes unless their names end in "Base".)"""

    definition: Callable[[sp.Expr], sp.Expr]

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return marker_derivative(type(self)).xreplace({_U: self.args[0]})


_U = sp.Dummy("u", real=True)


class sigmoid(MarkerBase):  # noqa: N801  (printers and spellings go by the class name)
    """The logistic function."""

    definition = staticmethod(lambda z: 1 / (1 + sp.exp(-z)))
    inverse = staticmethod(lambda s: sp.log(s / (1 - s)))


class softplus(MarkerBase):  # noqa: N801
    """log(1 + exp(z)); printed in its overflow-free form."""

    definition = staticmethod(lambda z: sp.log(1 + sp.exp(z)))


class relu(MarkerBase):  # noqa: N801
    """max(0, z)."""

    definition = staticmethod(lambda z: sp.Max(0, z))


class leaky_relu(MarkerBase):  # noqa: N801
    """z for z > 0, z / 100 otherwise (PyTorch's default slope 0.01)."""

    definition = staticmethod(lambda z: relu(z) - relu(-z) / 100)


class normal_pdf(MarkerBase):  # noqa: N801
    """phi(z), the standard normal density."""

    definition = staticmethod(lambda z: sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi))


class normal_cdf(MarkerBase):  # noqa: N801
    """Phi(z), the standard normal distribution function (its derivative: phi)."""

    definition = staticmethod(lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2)


class gelu(MarkerBase):  # noqa: N801
    """z Phi(z): exact, as PyTorch's default gelu (its derivative: Phi(z) + z phi(z))."""

    definition = staticmethod(lambda z: z * normal_cdf(z))


MARKERS: tuple[type[MarkerBase], ...] = (sigmoid, softplus, relu, leaky_relu, normal_pdf,
                                         normal_cdf, gelu)

# `sympy.lambdify` modules for NumPy evaluation: SymPy prints erf as math.erf, which takes
# no arrays, so it is given one that does.
NUMPY_MODULES = [{"erf": np.vectorize(math.erf, otypes=[float]),
                  "erfc": np.vectorize(math.erfc, otypes=[float])}, "numpy"]


def expand_markers(expr: sp.Expr) -> sp.Expr:
    """Replace every marker application by its SymPy definition (for differentiation)."""
    while expr.atoms(MarkerBase):
        for marker in MARKERS:
            expr = expr.replace(marker, marker.definition)
    return expr


def tidy(expr: sp.Expr) -> sp.Expr:
    """The shorter of the factored and expanded forms, with no leading minus sign.

    -a (a - 1) -> a (1 - a) for the sigmoid, 1 - a^2 for tanh, 2 (y_hat - y) for MSE.
    """
    factored, expanded = _no_leading_minus(sp.factor(expr)), sp.expand(expr)
    return expanded if sp.count_ops(expanded) < sp.count_ops(factored) else factored


def _no_leading_minus(expr: sp.Expr) -> sp.Expr:
    if isinstance(expr, sp.Mul):
        coeff, factors = expr.as_coeff_mul()
        if coeff.is_negative:
            for k, factor in enumerate(factors):
                if isinstance(factor, sp.Add):
                    flipped = (*factors[:k], sp.expand(-factor), *factors[k + 1:])
                    return sp.Mul(-coeff, *flipped)
    return expr


@functools.cache
def marker_derivative(marker: type[MarkerBase]) -> sp.Expr:
    """d marker(u)/du from SymPy, rewritten through a marker: as a polynomial times one
    (Phi' = phi), or through an invertible one where shorter.

    sigmoid' = sigmoid (1 - sigmoid) and softplus' = sigmoid are found here, not typed; the
    inverse rewrite is checked against the raw derivative at 40 digits, from -30 to 30.
    """
    raw = sp.diff(marker.definition(_U), _U)
    best = raw
    for other in MARKERS:  # a polynomial times a marker: Phi' = phi, phi' = -u phi
        ratio = sp.simplify(expand_markers(raw) / expand_markers(other.definition(_U)))
        if ratio != 0 and ratio.is_polynomial(_U):
            return tidy(ratio) * other(_U)
    for through in MARKERS:
        inverse = getattr(through, "inverse", None)
        if inverse is None:
            continue
        s = sp.Dummy("s", positive=True)
        compact = sp.factor(sp.simplify(expand_markers(raw).subs(_U, inverse(s))))
        if not compact.has(_U) and sp.count_ops(compact) < sp.count_ops(best):
            best = tidy(compact).xreplace({s: through(_U)})
    if best is not raw:
        for point in np.linspace(-30.0, 30.0, 61):  # at 40 digits: no cancellation
            at = {_U: sp.Float(point, 50)}
            want, got = (sp.N(expand_markers(e).xreplace(at), 40) for e in (raw, best))
            if abs(got - want) > sp.Float("1e-30") * max(abs(want), sp.Float("1e-300")):
                raise ArithmeticError(f"{marker.__name__}': rewrite disagrees with SymPy's")
    return best


SPELLINGS: dict[str, Spelling] = {
    "sigmoid": Spelling(
        latex=r"\sigma\left({z}\right)",
        numpy='''\
def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)), as PyTorch computes it.

    exp(-z) overflows to inf for z < -709, which gives exactly 0: the warning is noise.
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))''',
        notebook='''\
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))''',
        c="1.0 / (1.0 + exp(-z))",
        python="(1.0 / (1.0 + exp(-{z})))", python_imports=("exp",),
        shared_exp={"python": "(1.0 / (1.0 + {e}))", "c": "(1.0 / (1.0 + {e}))",
                    "c_simd": "(1.0 / (1.0 + {e}))"}),
    "softplus": Spelling(
        latex=r"\log\left(1 + e^{{{z}}}\right)",
        numpy='''\
def softplus(z):
    """log(1 + exp(z)) without overflow, as max(z, 0) + log1p(exp(-|z|)).

    np.log1p, not np.log(1 + e): for z < -30 or so only log1p keeps the relative accuracy
    a hidden softplus unit needs (np.log near 1 is accurate to 1e-16 absolute only).
    """
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))''',
        numpy_extra=('''\
def softplus_from_sigmoid(z, s):
    """log(1 + exp(z)) given s = sigmoid(z): -log(1 - s) for z <= 0, z - log(s) for z > 0.

    Both logs take a number in [0.5, 1], so the result is exact to rounding, and one log
    costs less than the exp and log of softplus(z) when sigmoid(z) is at hand anyway.
    """
    return np.maximum(z, 0.0) - np.log(np.where(z > 0.0, s, 1.0 - s))''',),
        notebook='''\
def softplus(z):
    """log(1 + e^z) without overflow."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))''',
        c="fmax(z, 0.0) + log1p(exp(-fabs(z)))",
        python="(max({z}, 0.0) + log1p(exp(-abs({z}))))", python_imports=("exp", "log1p"),
        # C ensemble: with e = exp(-z), log1p(e) above 0, log1p(1 / e) = log1p(exp(z)) below
        # (e = inf there gives 0), so no exp is repeated and nothing overflows.
        shared_exp={"python": "({z} + log1p({e}))",
                    "c_simd": "(vmax({z}, 0.0) + vlog1p({z} > 0.0 ? {e} : 1.0 / {e}))"},
        shared_imports=("log1p",)),
    "relu": Spelling(
        latex=r"\max\left(0, {z}\right)",
        numpy='''\
def relu(z):
    """max(z, 0), element by element."""
    return np.maximum(z, 0.0)''',
        c="fmax(z, 0.0)",
        python="({z} if {z} > 0.0 else 0.0)"),
    "leaky_relu": Spelling(
        latex=r"\operatorname{{lrelu}}\left({z}\right)",
        numpy='''\
def leaky_relu(z):
    """z where z > 0, 0.01 z elsewhere (PyTorch's default negative slope)."""
    return np.where(z > 0.0, z, 0.01 * z)''',
        c="z > 0.0 ? z : 0.01 * z",
        python="({z} if {z} > 0.0 else 0.01 * {z})"),
    "normal_pdf": Spelling(
        latex=r"\varphi\left({z}\right)",
        numpy='''\
def normal_pdf(z):
    """The standard normal density exp(-z^2 / 2) / sqrt(2 pi)."""
    return np.exp(-0.5 * z * z) * 0.3989422804014327''',
        c="exp(-0.5 * z * z) * 0.3989422804014327",
        python="(exp(-0.5 * {z} * {z}) * 0.3989422804014327)", python_imports=("exp",)),
    "normal_cdf": Spelling(
        latex=r"\Phi\left({z}\right)",
        numpy='''\
def normal_cdf(z):
    """The standard normal distribution function, as erfc(-z / sqrt 2) / 2: unlike
    (1 + erf) / 2 it keeps its relative accuracy in the left tail."""
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(-z * 0.7071067811865476)''',
        c="0.5 * erfc(-z * 0.7071067811865476)",
        python="(0.5 * erfc(-{z} * 0.7071067811865476))", python_imports=("erfc",)),
    "gelu": Spelling(
        latex=r"\operatorname{{gelu}}\left({z}\right)",
        numpy='''\
def gelu(z):
    """z Phi(z) with the exact normal distribution function, as PyTorch's default gelu."""
    return z * normal_cdf(z)''',
        c="0.5 * z * erfc(-z * 0.7071067811865476)",
        python="(0.5 * {z} * erfc(-{z} * 0.7071067811865476))",
        python_imports=("erfc",)),
    # SymPy's own functions that some target lacks: NumPy has no erf.
    "erf": Spelling(
        latex=r"\operatorname{{erf}}\left({z}\right)",
        numpy='''\
def np_erf(z):
    """The error function to rounding, element by element (NumPy has none)."""
    return np.vectorize(math.erf, otypes=[float])(z)''',
        c="erf(z)",
        python="erf({z})", python_imports=("erf",)),
    "erfc": Spelling(
        latex=r"\operatorname{{erfc}}\left({z}\right)",
        numpy='''\
def np_erfc(z):
    """1 - erf(z) to rounding, element by element (NumPy has none)."""
    return np.vectorize(math.erfc, otypes=[float])(z)''',
        c="erfc(z)",
        python="erfc({z})", python_imports=("erfc",)),
}
# Markers whose NumPy helper calls another helper.
HELPER_NEEDS: dict[str, tuple[str, ...]] = {"gelu": ("normal_cdf",)}
# Modules a NumPy helper needs besides NumPy.
HELPER_IMPORTS: dict[str, tuple[str, ...]] = {"erf": ("math",), "erfc": ("math",),
                                              "normal_cdf": ("math",)}
# The NumPy helper of a SymPy function is np_<name>: `from math import erf` of the
# plain-Python loop keeps its own name in the same module.
NUMPY_CALLS: dict[str, str] = {"erf": "np_erf", "erfc": "np_erfc"}


@dataclass(frozen=True)
class Activation:
    """f(z) as SymPy builds it (a marker application or an expression), and optionally
    z as a function of a = f(z): with it, SymPy's f'(z) is rewritten through a
    (sigma' = sigma (1 - sigma)), so the backward pass reuses the forward pass's values.
    Without it, f'(z) stays in z, through the markers' own derivatives.

    `losses` are the losses it goes with as the output activation (none: hidden only);
    `torch` is the function the PyTorch referee applies ("" for the identity).
    """

    name: str
    apply: Callable[[sp.Expr], sp.Expr]
    inverse: Callable[[sp.Expr], sp.Expr] | None
    latex: str
    torch: str
    losses: tuple[str, ...] = ()


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("sigmoid", sigmoid, sigmoid.inverse, r"\sigma", "torch.sigmoid",
               losses=("bce", "mse")),
    Activation("tanh", sp.tanh, sp.atanh, r"\tanh", "torch.tanh"),
    Activation("relu", relu, None, r"\operatorname{relu}", "torch.relu"),
    Activation("identity", lambda z: z, lambda a: a, r"\operatorname{id}", "",
               losses=("mse",)),
    Activation("silu", lambda z: z * sigmoid(z), None, r"\operatorname{silu}",
               "torch.nn.functional.silu"),
    Activation("softplus", softplus, None, r"\operatorname{softplus}",
               "torch.nn.functional.softplus"),
    Activation("gelu", gelu, None, r"\operatorname{gelu}", "torch.nn.functional.gelu"),
    Activation("leaky_relu", leaky_relu, None, r"\operatorname{lrelu}",
               "torch.nn.functional.leaky_relu"),
)}


@dataclass(frozen=True)
class Loss:
    """Per-sample loss l(y_hat, y); the network's loss is its mean over the samples.

    `logit_forms` gives, per output activation, the loss written through the output logit z,
    exact and overflow-free; the derivation proves each equal to loss(activation(z), y)
    before it is used. `labels` is what targets may be ("binary": 0 or 1; "real").
    `torch` names the torch.nn.functional loss the referee uses.
    """

    name: str
    title: str
    of_prediction: Callable[[sp.Expr, sp.Expr], sp.Expr]
    torch: str
    labels: str
    logit_forms: dict[str, Callable[[sp.Expr, sp.Expr], sp.Expr]] = field(default_factory=dict)


LOSSES: dict[str, Loss] = {loss.name: loss for loss in (
    Loss("bce", "binary cross-entropy",
         lambda y_hat, y: -(y * sp.log(y_hat) + (1 - y) * sp.log(1 - y_hat)),
         "binary_cross_entropy", "binary",
         logit_forms={"sigmoid": lambda z, y: softplus(z) - y * z}),
    Loss("mse", "squared error", lambda y_hat, y: (y_hat - y) ** 2, "mse_loss", "real"),
)}


def _row_only(z: sp.Expr) -> sp.Expr:
    raise TypeError("softmax acts on a row of logits, not on one element")


@dataclass(frozen=True)
class Classifier:
    """An output over a whole row of K logits and the loss it goes with: softmax with
    categorical cross-entropy, for labels 0..K-1. Not element-wise, so not an Activation
    of the registry above: `sample_loss` is the per-sample loss over IndexedBase rows of
    symbolic length, from which SymPy derives the output delta (derive/matrix.py)."""

    name: str
    loss: str
    title: str
    latex: str
    torch: str  # the torch.nn.functional loss, applied to the logits and the labels

    def sample_loss(self, z: sp.IndexedBase, y: sp.IndexedBase, k: sp.Symbol, j: sp.Symbol,
                    K: sp.Symbol) -> sp.Expr:
        """-sum_k y_k log softmax(z)_k, y one-hot: the definition, nothing rewritten."""
        return -sp.Sum(y[k] * sp.log(sp.exp(z[k]) / sp.Sum(sp.exp(z[j]), (j, 1, K))),
                       (k, 1, K))

    @property
    def activation(self) -> Activation:
        """The output layer's record where one is needed (its names in LaTeX and PyTorch)."""
        return Activation(self.name, _row_only, None, self.latex, "")


CLASSIFIERS: dict[str, Classifier] = {c.name: c for c in (
    Classifier("softmax", "cross_entropy", "categorical cross-entropy",
               r"\operatorname{softmax}", "cross_entropy"),
)}
