"""`python -m derive grade`: is a student's gradient formula the derived one, and if not, why?

The derivation says what dL/dtheta is; this reads what a student wrote (derive/grade_latex.py
parses the LaTeX) and decides by the math, not the text. Each right-hand side is built into
SymPy expressions, entry by entry, sample by sample, over the network's own quantities
(inputs, labels, weights and the forward values h, y_hat, z). It is then compared with the
derived gradient at many random points of parameters and data (always) and symbolically
(where SymPy reduces the difference to 0). A wrong formula is matched against the classic
mistakes (an extra sigmoid derivative, a missing 1/N, a sign, a transposed matrix, a missing
factor, the MSE gradient) to say what went wrong. A formula that cannot be read with
certainty is `unreadable`, never marked by a guess.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np
import sympy as sp

from derive import grade_latex as gl
from derive.cli import OneLineParser
from derive.functions import LOSSES, NUMPY_MODULES, expand_markers, relu, sigmoid, softplus
from derive.gradients import Gradients, activation_derivative, derive
from derive.latex import NetworkLatexPrinter, Report, build_report
from derive.network import Network, build
from derive.spec import DEFAULT_SPEC, UNIT_BY_UNIT_MAX_PARAMS, NetworkSpec, SpecError, load_spec

MAX_FILE_BYTES = 20 * 1024 * 1024
SAMPLES = 4  # samples per random point: the size of the assignment's data set
POINTS = 160  # random points of parameters and data, plus one readable point
MAX_OPS = 20_000  # evaluation steps per formula (nested sums grow fast)
MAX_EXPONENT = 12
MAX_FORMULAS = 400  # gradient formulas read per file
MAX_ROW_CHARS = 20_000
SUFFIXES = (".ipynb", ".md", ".markdown", ".tex")
TOTAL_POINTS = 18.0  # part (c) of the assignment


Value = sp.Expr | sp.MatrixBase  # what a formula's part evaluates to


class Unreadable(ValueError):
    """The formula's meaning is not certain; the message says which part and why."""


# ----------------------------------------------------------------------------- the model

class Model:
    """The derived gradients of one spec, and the symbols a formula is built from.

    Per-sample quantities get one SymPy symbol per sample of a random point (x_s_j, y_s,
    a1_s_i, yhat_s, z2_s, ...); parameters keep the network's own symbols.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        self.spec = spec
        self.gradients: Gradients = derive(build(spec))
        self.network: Network = self.gradients.network
        net = self.network
        self.n_layers = len(net.layers)
        self.params = {p.name: p for p in net.params}
        self.order = [p.name for p in sorted(net.params, key=lambda p: (p.name[0] == "b",
                                                                          p.layer))]
        self.x = [[sp.Symbol(f"x_{s}_{j}", real=True) for j in range(1, len(net.x) + 1)]
                  for s in range(SAMPLES)]
        self.y = [sp.Symbol(f"y_{s}", real=True) for s in range(SAMPLES)]
        self.a: dict[int, list[list[sp.Symbol]]] = {}
        self.z: dict[int, list[list[sp.Symbol]]] = {}
        for layer in net.layers:
            n = len(layer.z)
            self.z[layer.number] = [[sp.Symbol(f"z{layer.number}_{s}_{i}", real=True)
                                     for i in range(1, n + 1)] for s in range(SAMPLES)]
            if layer is net.output:
                self.a[layer.number] = [[sp.Symbol(f"yhat_{s}", real=True)]
                                        for s in range(SAMPLES)]
            else:
                self.a[layer.number] = [[sp.Symbol(f"a{layer.number}_{s}_{i}", real=True)
                                         for i in range(1, n + 1)] for s in range(SAMPLES)]
        self.param_symbols = [s for p in net.params for s in p.symbols]
        self._truth_cache: dict[tuple[str, str], np.ndarray] = {}
        self._variant_cache: dict[tuple[str, str], list] = {}
        self.atoms = [*(v for row in self.x for v in row), *self.y,
                      *(v for rows in self.a.values() for row in rows for v in row),
                      *(v for rows in self.z.values() for row in rows for v in row),
                      *self.param_symbols]

    # the network's symbols of one sample -> that sample's atoms
    def sample_map(self, s: int) -> dict[sp.Symbol, sp.Symbol]:
        net = self.network
        mapping = {sym: self.x[s][j] for j, sym in enumerate(net.x)}
        mapping[net.y] = self.y[s]
        for layer in net.layers:
            for i, (z, a) in enumerate(zip(layer.z, layer.a)):
                mapping[z] = self.z[layer.number][s][i]
                mapping[a] = self.a[layer.number][s][i]
        return mapping

    def truth(self, name: str) -> list[sp.Expr]:
        """The derived per-sample gradient of every entry, in the network's symbols."""
        return [self.gradients.expand_deltas(e) for e in self.gradients.params[name]]

    @cached_property
    def points(self) -> Points:
        return Points(self)

    @cached_property
    def report(self) -> Report:
        return build_report(self.gradients)

    def truth_values(self, name: str, mode: str) -> np.ndarray:
        """(P, K) derived gradient at every point: the mean over the samples, or sample 1."""
        key = (name, mode)
        if key not in self._truth_cache:
            per_sample = self.points.per_sample(self.truth(name), self.network)
            self._truth_cache[(name, "mean")] = per_sample.mean(axis=1)
            self._truth_cache[(name, "single")] = per_sample[:, 0, :]
        return self._truth_cache[key]

    def truth_atoms(self, name: str, k: int, mode: str) -> sp.Expr:
        """The derived gradient of entry k in the atoms of the samples it covers."""
        expr = self.truth(name)[k]
        if mode == "single":
            return expr.xreplace(self.sample_map(0))
        return sp.Add(*(expr.xreplace(self.sample_map(s)) for s in range(SAMPLES))) / SAMPLES

    def hidden_width(self, layer: int) -> int:
        return len(self.network.layers[layer - 1].z)


_MODELS: dict[str, Model] = {}


def model_for(spec: NetworkSpec | str = DEFAULT_SPEC) -> Model:
    """The derivation of `spec` (a name, a path or a loaded spec), derived once per process."""
    if not isinstance(spec, NetworkSpec):
        spec = load_spec(spec)
    if spec.matrix_only:
        raise SpecError(f"{spec.source}: network {spec.name} is derived at the matrix level "
                        f"only (more than {UNIT_BY_UNIT_MAX_PARAMS} parameters, or a softmax "
                        "output); the grader reads the formulas of networks derived unit by "
                        "unit, such as xor, xor_tanh4 or moons_relu")
    key = spec.canonical_json()
    if key not in _MODELS:
        _MODELS[key] = Model(spec)
    return _MODELS[key]


class Points:
    """Random parameters and data, with every forward value: where formulas are compared.

    Point 0 is readable (one-decimal weights, the XOR inputs and labels); it is the first
    choice for a counterexample. The others are drawn at random.
    """

    def __init__(self, model: Model) -> None:
        net = model.network
        rng = np.random.default_rng(20261212)
        n_in = len(net.x)
        self.params = {}
        for p in net.params:
            values = rng.uniform(-2.0, 2.0, size=(POINTS + 1, *p.shape))
            readable = np.round(rng.uniform(-1.0, 1.0, size=p.shape), 1)
            values[0] = np.where(readable == 0, 0.3, readable)
            self.params[p.name] = values
        x = rng.uniform(-2.0, 2.0, size=(POINTS + 1, SAMPLES, n_in))
        y = rng.uniform(0.0, 1.0, size=(POINTS + 1, SAMPLES))
        if n_in == 2:
            x[0] = [[1, 0], [0, 1], [1, 1], [0, 0]][:SAMPLES]
            y[0] = [1, 1, 0, 0][:SAMPLES]
        else:
            x[0] = rng.integers(0, 2, size=(SAMPLES, n_in))
            y[0] = rng.integers(0, 2, size=SAMPLES)
        self.x, self.y = x, y
        # The forward pass, layer by layer, from the network's own local expressions.
        values: dict[sp.Symbol, np.ndarray] = {}
        for p in net.params:
            for symbol, index in zip(p.symbols, p.indices):
                values[symbol] = self.params[p.name][(slice(None), *index)][:, None]
        for j, symbol in enumerate(net.x):
            values[symbol] = x[:, :, j]
        values[net.y] = y
        for layer in net.layers:
            for unit, (z, a, z_expr, a_expr) in enumerate(zip(layer.z, layer.a, layer.z_local,
                                                              layer.a_local)):
                values[z] = _numeric(z_expr, values)
                for _ in range(20):  # the readable point stays off kinks (ReLU at z = 0)
                    if layer.activation.name != "relu" or np.all(np.abs(values[z][0]) > 1e-9):
                        break
                    bias = layer.bias.symbols[unit]
                    values[bias] = values[bias].copy()
                    values[bias][0] += 0.05
                    self.params[layer.bias.name][(0, *layer.bias.indices[unit])] += 0.05
                    values[z] = _numeric(z_expr, values)
                values[a] = _numeric(a_expr, values)
        self.network_values = values  # network symbol -> (P, S) or (P, 1)
        mapping = {}
        for s in range(SAMPLES):
            for symbol, atom in model.sample_map(s).items():
                mapping[atom] = np.broadcast_to(values[symbol], (POINTS + 1, SAMPLES))[:, s]
        for symbol in model.param_symbols:
            mapping[symbol] = values[symbol][:, 0]
        self.atom_values = [mapping[a] for a in model.atoms]

    def per_sample(self, exprs: list[sp.Expr], network: Network) -> np.ndarray:
        """(P, S, K): network-symbol expressions at every point and sample."""
        symbols = sorted(set().union(*(e.free_symbols for e in exprs)) if exprs else set(),
                         key=lambda s: s.name)
        function = sp.lambdify(symbols, [expand_markers(e) for e in exprs], NUMPY_MODULES)
        with np.errstate(all="ignore"):
            out = function(*(self.network_values[s] for s in symbols))
        return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (POINTS + 1, SAMPLES))
                         for v in out], axis=-1)


def _numeric(expr: sp.Expr, values: dict[sp.Symbol, np.ndarray]) -> np.ndarray:
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    function = sp.lambdify(symbols, expand_markers(expr), NUMPY_MODULES)
    with np.errstate(all="ignore"):
        return np.broadcast_to(function(*(values[s] for s in symbols)),
                               (POINTS + 1, SAMPLES)).astype(float)


# ----------------------------------------------------------------------------- quantities

@dataclass(frozen=True)
class Quantity:
    """What a name stands for: a forward value (per sample) or a parameter."""

    kind: str  # "x", "y", "a" (hidden or output), "z", "param", "count", "e"
    layer: int = 0
    param: str = ""
    row: bool = False  # a vector shown as a row (W^{(2)} of the output layer, PyTorch style)
    items: tuple[gl.Index, ...] = ()  # indices left after the layer was read
    sample_tags: tuple[str, ...] = ()  # x^{(n)}: sample letters in superscripts

    @property
    def per_sample(self) -> bool:
        return self.kind in ("x", "y", "a", "z")


BATCH = {"X", "Y", "H", "A", "Z"}  # matrices of every sample: X has one row per sample
RESERVED = {"x", "y", "h", "a", "z", "o", "W", "w", "b", "N", "m", "M", "sigma", "partial",
            "X", "Y", "H", "A", "Z",
            "nabla", "L", "ell", "J", "C", "E", "l", "eta", "pi", "i", "j", "k", "n", "t", "T"}


DECORATION_COMMANDS = {"hat": r"\hat", "vec": r"\vec", "bold": r"\mathbf", "cal": r"\mathcal",
                       "bb": r"\mathbb", "bar": r"\bar", "tilde": r"\tilde", "dot": r"\dot",
                       "check": r"\check"}


LAYER_BY_DIGIT = {"W", "w", "b"}  # W^1 is layer 1; h^2, x^2, \\delta^2 are powers


def _layer_of(sym: gl.Sym) -> int | None:
    layers = [v for kind, v in sym.tags if kind == "layer"]
    if len(layers) > 1:
        raise Unreadable(f"{_show(sym)} has two layer tags")
    if layers:
        return int(layers[0])
    return sym.bare_sup if sym.base in LAYER_BY_DIGIT else None


def _show(sym: gl.Sym) -> str:
    """A short LaTeX-like name of a symbol for messages."""
    name = "\\" + sym.base if "\\" + sym.base in gl.GREEK else sym.base
    for deco in sorted(sym.decos):
        name = f"{DECORATION_COMMANDS.get(deco, deco)}{{{name}}}"
    tags = "".join(f"({v})" for _, v in sym.tags)
    if tags:
        name += f"^{{{tags}}}"
    if sym.sub:
        name += "_{" + ",".join(str(i.value) for i in sym.sub) + "}"
    return name


class Resolver:
    """Names as students write them -> the network's quantities."""

    def __init__(self, model: Model) -> None:
        self.m = model
        self.hidden = [layer.number for layer in model.network.layers[:-1]]
        self.out = model.n_layers

    def quantity(self, sym: gl.Sym, lhs: bool = False) -> Quantity:
        """What `sym` names. W_1, b_2, \\mathbf{w}_2 name layers; a plain w_1 on a right-hand
        side is an entry of the output weights (on a left-hand side both are tried)."""
        base, decos = sym.base, sym.decos - {"vec", "bold"}
        layer = _layer_of(sym)
        items = sym.sub
        letters = tuple(v for kind, v in sym.tags if kind == "letter")
        if base in ("W", "w", "b") and not decos:
            return self._param(sym, base, layer, items, lhs)
        if base in BATCH and not items and not letters and decos <= {"hat"} and not sym.primes:
            return self._batch(sym, base, layer)
        if decos - {"hat", "tilde"}:
            raise Unreadable(f"{_show(sym)}: unknown notation")
        if base == "y" and (decos or sym.primes == 1) and layer is None:
            return Quantity("a", self.out, items=items, sample_tags=letters)
        if decos or sym.primes:
            raise Unreadable(f"{_show(sym)}: unknown notation")
        if base == "y" and layer is None:
            return Quantity("y", items=items, sample_tags=letters)
        if base == "o" and layer is None:
            return Quantity("a", self.out, items=items, sample_tags=letters)
        if base == "x" and layer in (None, 0):
            return Quantity("x", items=items, sample_tags=letters)
        if base in ("h", "a"):
            if layer is None:
                if len(self.hidden) != 1:
                    raise Unreadable(f"{_show(sym)}: which layer? write {base}^{{(l)}}")
                layer = self.hidden[0]
            if layer == 0 and base == "a":
                return Quantity("x", items=items, sample_tags=letters)
            if not 1 <= layer <= self.out or (base == "h" and layer == self.out):
                raise Unreadable(f"{_show(sym)}: the network has no such layer")
            return Quantity("a", layer, items=items, sample_tags=letters)
        if base == "z":
            if layer is None:
                raise Unreadable(f"{_show(sym)}: which layer? write z^{{(1)}} or z^{{(2)}}")
            if not 1 <= layer <= self.out:
                raise Unreadable(f"{_show(sym)}: the network has no such layer")
            return Quantity("z", layer, items=items, sample_tags=letters)
        if base in ("N", "m", "M") and not items and layer is None and not letters:
            return Quantity("count")
        if base == "e" and not items and not letters:
            return Quantity("e")
        if is_definable(sym):
            raise Unreadable(f"{_show(sym)} is not defined in this file (a formula such as "
                             f"{_show(sym)} = ... defines it)")
        raise Unreadable(f"unknown symbol {_show(sym)}")

    def _batch(self, sym: gl.Sym, base: str, layer: int | None) -> Quantity:
        """X, Y, \\hat{Y}, H, A^{(l)}, Z^{(l)}: every sample at once, one per row (or column)."""
        hat = "hat" in sym.decos
        if base == "X" and layer in (None, 0) and not hat:
            return Quantity("batch", 0, "x")
        if base == "Y" and layer is None:
            return Quantity("batch", self.out, "a") if hat else Quantity("batch", 0, "y")
        if hat:
            raise Unreadable(f"{_show(sym)}: unknown notation")
        if base == "H" and layer is None and len(self.hidden) == 1:
            return Quantity("batch", self.hidden[0], "a")
        if base in ("A", "H", "Z") and layer is not None and 0 <= layer <= self.out:
            if layer == 0:
                return Quantity("batch", 0, "x")
            return Quantity("batch", layer, "z" if base == "Z" else "a")
        raise Unreadable(f"{_show(sym)}: which layer? write {base}^{{(1)}}")

    def _param(self, sym: gl.Sym, base: str, layer: int | None,
               items: tuple[gl.Index, ...], lhs: bool) -> Quantity:
        if sym.primes or any(kind == "letter" for kind, _ in sym.tags):
            raise Unreadable(f"{_show(sym)}: unknown notation")
        if layer is None and len(items) == 1 and items[0].kind == "number" and \
                (base != "w" or lhs or sym.decos & {"vec", "bold"}) and \
                self._family_param(base, items[0].value) is not None:
            layer, items = items[0].value, ()
        if layer is None:
            candidates = [self._family_param(base, n) for n in range(1, self.out + 1)]
            if base == "W":
                candidates = [c for c in candidates if c and self.m.params[c].layer < self.out]
            elif base == "w":
                candidates = [c for c in candidates if c and self.m.params[c].layer == self.out]
            candidates = [c for c in candidates if c]
            if len(candidates) != 1:
                raise Unreadable(f"{_show(sym)}: which layer? write {base}^{{(1)}} or "
                                 f"{base}^{{(2)}}")
            name = candidates[0]
        else:
            name = self._family_param(base, layer)
            if name is None:
                raise Unreadable(f"{_show(sym)}: the network has no such parameter")
        row = base == "W" and self.m.params[name].layer == self.out
        return Quantity("param", self.m.params[name].layer, name, row, items)

    def _family_param(self, base: str, layer: int) -> str | None:
        if not 1 <= layer <= self.out:
            return None
        net = self.m.network.layers[layer - 1]
        return net.bias.name if base == "b" else net.weight.name

    def units(self, q: Quantity) -> tuple[int, ...]:
        """Sizes of the unit indices of a quantity (per sample: without the sample)."""
        if q.kind == "x":
            return (len(self.m.network.x),)
        if q.kind in ("a", "z"):
            return () if q.layer == self.out else (self.m.hidden_width(q.layer),)
        if q.kind == "param":
            return tuple(self.m.params[q.param].shape)
        return ()


# ----------------------------------------------------------------------------- evaluation

@dataclass
class Trace:
    """What evaluating one formula touched: decides mean or single-sample comparison."""

    summed: bool = False
    single: bool = False
    ambiguous_cdot: bool = False
    batch: bool = False  # a matrix of all samples (X, H, Y) was used
    ones_times_number: bool = False  # \mathbf{1} met a number: 1^T delta, the samples' sum
    ops: int = 0


@dataclass
class Env:
    letters: dict[str, tuple[str, int]]  # letter -> ("sample" or "unit", value)
    sample: int | None
    trace: Trace
    position: int  # row number of the formula: which definition is in force
    cdot: str = "elementwise"
    stack: tuple = ()
    batch: str = "rows"  # X has one row per sample, or one column ("columns", Ng's notation)
    sample_letters: frozenset[str] = frozenset({"n"})

    def bind(self, letter: str, kind: str, value: int) -> Env:
        sample = value if kind == "sample" else self.sample
        return replace(self, letters={**self.letters, letter: (kind, value)}, sample=sample)


@dataclass
class Definition:
    """`\\delta^{(2)} = \\hat{y} - y`: a name the student defined, substituted when used."""

    sym: gl.Sym
    letters: tuple[str, ...]
    digits: tuple[int, ...]
    parts: list[object]
    position: int
    where: str
    latex: str


def _is_matrix(v) -> bool:
    return isinstance(v, sp.MatrixBase)


def _scalar(v: Value) -> Value:
    if _is_matrix(v) and v.shape == (1, 1):
        return v[0, 0]
    return v


def _shape(v) -> str:
    return f"{v.shape[0]}x{v.shape[1]}" if _is_matrix(v) else "scalar"


def _elementwise(a, b, f: Callable):
    if not _is_matrix(a) and not _is_matrix(b):
        return f(a, b)
    if not _is_matrix(a):
        return b.applyfunc(lambda e: f(a, e))
    if not _is_matrix(b):
        return a.applyfunc(lambda e: f(e, b))
    if a.shape != b.shape:
        raise Unreadable(f"an element-wise operation between a {_shape(a)} and a {_shape(b)}")
    return sp.ImmutableMatrix(a.shape[0], a.shape[1], [f(p, q) for p, q in zip(a, b)])


def _is_vector(v) -> bool:
    return _is_matrix(v) and 1 in v.shape


@dataclass(frozen=True)
class OnesVector:
    """\\mathbf{1}: 1 in a sum or an element-wise product; in 1^T A and A 1 it sums A's
    columns or rows (the sum over the samples of a batch matrix)."""

    row: bool
    scale: object = 1  # \\frac{1}{N} \\mathbf{1}^\\top: the ones vector times 1/N

    def value(self):
        return sp.sympify(self.scale)


class Evaluator:
    """A syntax tree -> SymPy values (scalars or matrices) over the model's atoms."""

    def __init__(self, model: Model, definitions: dict[tuple, list[Definition]]) -> None:
        self.m = model
        self.r = Resolver(model)
        self.definitions = definitions

    def raw(self, node: object, env: Env) -> Value | OnesVector:
        """The value of `node`; \\mathbf{1} stays a OnesVector (see _Mul)."""
        env.trace.ops += 1
        if env.trace.ops > MAX_OPS:
            raise Unreadable("too large to evaluate")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise Unreadable(f"cannot read {type(node).__name__}")
        return _scalar(method(node, env))

    def eval(self, node: object, env: Env) -> Value:
        """The value of `node`, a SymPy scalar or matrix (\\mathbf{1} is a 1 that broadcasts)."""
        value = self.raw(node, env)
        return value.value() if isinstance(value, OnesVector) else value

    def _Num(self, node: gl.Num, env: Env):
        return sp.Rational(node.value.numerator, node.value.denominator)

    def _Ones(self, node, env: Env):
        return OnesVector(False)

    def _Group(self, node: gl.Group, env: Env):
        return self.raw(node.arg, env)

    def _Word(self, node: gl.Word, env: Env):
        raise Unreadable(f"unknown word {node.text!r}")

    def _Neg(self, node: gl.Neg, env: Env):
        return -self.eval(node.arg, env)

    def _Add(self, node: gl.Add, env: Env):
        total = None
        for sign, term in node.terms:
            value = self.eval(term, env)
            value = value if sign > 0 else -value
            total = value if total is None else _elementwise(total, value, lambda p, q: p + q)
        return total

    def _Mul(self, node: gl.Mul, env: Env):
        left, right = self.raw(node.left, env), self.raw(node.right, env)
        if node.op in ("juxt", "cdot", "times"):
            ones, other = (left, right) if isinstance(left, OnesVector) else (right, left)
            if isinstance(ones, OnesVector) and not isinstance(other, OnesVector):
                if not _is_matrix(other):  # 1/N 1^T: still the ones vector, scaled
                    env.trace.ones_times_number = True
                    return OnesVector(ones.row, ones.value() * other)
                if ones is left and ones.row:  # 1^T A: the sums of A's columns
                    return ones.value() * sp.ImmutableMatrix(
                        [[sum(other.col(c)) for c in range(other.cols)]])
                if ones is right and not ones.row:  # A 1: the sums of A's rows
                    return ones.value() * sp.ImmutableMatrix(
                        [sum(other.row(r)) for r in range(other.rows)])
        left = left.value() if isinstance(left, OnesVector) else left
        right = right.value() if isinstance(right, OnesVector) else right
        if node.op == "div":
            if _is_matrix(right):
                raise Unreadable("division by a vector or matrix")
            if right == 0:
                raise Unreadable("division by zero")
            return _elementwise(left, right, lambda p, q: p / q)
        if node.op in ("odot", "star"):
            return _elementwise(left, right, lambda p, q: p * q)
        if node.op == "otimes":  # the outer product of two vectors: a b^T
            if _is_matrix(left) and _is_matrix(right):
                if not (_is_vector(left) and _is_vector(right)):
                    raise Unreadable("\\otimes of matrices (only vectors' outer product is read)")
                return sp.ImmutableMatrix(list(left)) * sp.ImmutableMatrix(list(right)).T
        if not _is_matrix(left) or not _is_matrix(right):
            return left * right
        if node.op == "cdot" and left.shape == right.shape and _is_vector(left) \
                and left.shape != (1, 1):
            env.trace.ambiguous_cdot = True
            if env.cdot == "dot":
                return sum((p * q for p, q in zip(left, right)), sp.Integer(0))
            return _elementwise(left, right, lambda p, q: p * q)
        if left.shape[1] == right.shape[0]:
            return left * right
        if left.shape == right.shape and _is_vector(left):
            return _elementwise(left, right, lambda p, q: p * q)
        raise Unreadable(f"a product of a {_shape(left)} and a {_shape(right)}")

    def _Pow(self, node: gl.Pow, env: Env, base=None):
        if base is not None:
            return self._power(base, self.eval(node.exp, env))
        if isinstance(node.base, gl.Sym) and node.base.base == "e" and not node.base.sub \
                and self._definition(node.base, env) is None:
            arg = self.eval(node.exp, env)
            if _is_matrix(arg):
                return arg.applyfunc(sp.exp)
            return sp.exp(arg)
        return self._power(self.eval(node.base, env), self.eval(node.exp, env))

    def _power(self, base, exp):
        if _is_matrix(exp) or not exp.is_Rational:
            raise Unreadable("a power that is not a number")
        if abs(exp) > MAX_EXPONENT:
            raise Unreadable(f"the power {exp} is too large")
        if _is_matrix(base):
            if not _is_vector(base):
                raise Unreadable("a power of a matrix")
            return base.applyfunc(lambda e: e ** exp)
        if base.is_Number and base != 0 and abs(float(exp)) * abs(
                float(sp.log(abs(base), 10))) > 300:
            raise Unreadable("a number too large")
        return base ** exp

    def _Indicator(self, node: gl.Indicator, env: Env):
        value = self.eval(node.arg, env)
        step = {">": sp.Heaviside, "<": lambda u: sp.Heaviside(-u)}[node.op]
        return value.applyfunc(step) if _is_matrix(value) else step(value)

    def _Transpose(self, node: gl.Transpose, env: Env):
        value = self.raw(node.arg, env)
        if isinstance(value, OnesVector):
            return OnesVector(not value.row, value.scale)
        return value.T if _is_matrix(value) else value

    def _Matrix(self, node: gl.Matrix, env: Env):
        rows = []
        for row in node.rows:
            values = [self.eval(cell, env) for cell in row]
            if any(_is_matrix(v) for v in values):
                raise Unreadable("a matrix of vectors")
            rows.append(values)
        return sp.ImmutableMatrix(rows)

    def _Subscripted(self, node: gl.Subscripted, env: Env):
        value = self.eval(node.arg, env)
        if not _is_matrix(value):
            raise Unreadable("an index on a number")
        units = [self._unit(item, env, size) for item, size in
                 zip(node.sub, value.shape if 1 not in value.shape else (max(value.shape),))]
        if len(node.sub) == 2 and len(units) == 2:
            return value[units[0] - 1, units[1] - 1]
        if len(node.sub) == 1 and _is_vector(value):
            return list(value)[units[0] - 1]
        raise Unreadable("indices that do not fit the expression")

    def _Apply(self, node: gl.Apply, env: Env):
        if node.func == "max":
            if not isinstance(node.arg, tuple) or self.eval(node.arg[0], env) != 0:
                raise Unreadable("\\max other than max(0, z)")
            arg, func, primes = node.arg[1], "relu", node.primes
        else:
            arg, func, primes = node.arg, node.func, node.primes
        value = self.eval(arg, env)
        table: dict[tuple[str, int], Callable] = {
            ("sigma", 0): sigmoid,
            ("sigma", 1): lambda u: sigmoid(u) * (1 - sigmoid(u)),
            ("tanh", 0): sp.tanh,
            ("tanh", 1): lambda u: 1 - sp.tanh(u) ** 2,
            ("relu", 0): relu,
            ("relu", 1): sp.Heaviside,
            ("exp", 0): sp.exp,
            ("log", 0): sp.log,
            ("softplus", 0): softplus,
            ("softplus", 1): sigmoid,
        }
        f = table.get((func, primes))
        if f is None:
            raise Unreadable(f"{func}{chr(39) * primes} is not read")
        return value.applyfunc(f) if _is_matrix(value) else f(value)

    # sums -------------------------------------------------------------------------------
    def _Sum(self, node: gl.Sum, env: Env):
        kind, lo, hi = self._sum_kind(node, env)
        total = None
        for value in range(lo, hi + 1):
            inner = env if node.letter is None else env.bind(node.letter, kind, value)
            if kind == "sample":
                inner = replace(inner, sample=value)
            term = self.eval(node.body, inner)
            total = term if total is None else _elementwise(total, term, lambda p, q: p + q)
        if kind == "sample":
            env.trace.summed = True
        if total is None:
            raise Unreadable("an empty sum")
        return total

    def _bound(self, node, env: Env) -> int | str:
        if node is None:
            return "?"
        if isinstance(node, gl.Num):
            if node.value.denominator != 1:
                raise Unreadable("a sum bound that is not a whole number")
            return int(node.value)
        if isinstance(node, gl.Sym) and node.base in ("N", "m", "M", "n", "B") and not node.sub:
            return "N"
        if isinstance(node, gl.Add) and len(node.terms) == 2 and node.terms[1] == (
                -1, gl.Num(Fraction(1))):
            first = self._bound(node.terms[0][1], env)
            if first == "N":
                return "N-1"
        raise Unreadable("a sum bound that is not a number or N")

    def _sum_kind(self, node: gl.Sum, env: Env) -> tuple[str, int, int]:
        lo, hi = self._bound(node.lower, env), self._bound(node.upper, env)
        evidence = Evidence()
        if node.letter is not None:
            self.evidence(node.body, node.letter, env, evidence, 0)
        if evidence.sample and evidence.unit:
            raise Unreadable(f"index {node.letter} runs over samples and over units")
        if node.letter is None or hi in ("N", "N-1") or evidence.sample:
            kind = "sample"
        elif evidence.unit:
            kind = "unit"
        elif node.letter in env.sample_letters or (hi == SAMPLES and not evidence.sizes):
            kind = "sample"
        elif evidence.weak:
            kind = "unit"
        else:
            kind = "sample" if hi in ("?", SAMPLES) else "unit"
        if kind == "sample":
            if lo not in ("?", 0, 1):
                raise Unreadable(f"a sum over samples from {lo} to {hi}")
            first = 0 if lo == 0 else 1
            last = {"N": SAMPLES, "?": SAMPLES - 1 + first, "N-1": SAMPLES - 1}.get(hi, hi)
            terms = last - first + 1
            if not 1 <= terms <= SAMPLES:
                raise Unreadable(f"a sum over {terms} samples; the points have {SAMPLES}")
            return kind, 1, terms
        sizes = evidence.sizes
        if isinstance(hi, int):
            first = 1 if lo in ("?", 1) else lo
            if not isinstance(first, int):
                raise Unreadable("a sum bound that is not a number")
            return kind, first, hi
        if len(sizes) != 1:
            raise Unreadable(f"the range of index {node.letter} is unclear")
        return kind, 1, sizes.pop()

    def evidence(self, node, letter: str, env: Env, found: Evidence, depth: int) -> None:
        """How `letter` is used in `node`: as a sample index, a unit index, or unclear."""
        if depth > 20:
            return
        if isinstance(node, gl.Sum) and node.letter == letter:
            return
        if isinstance(node, gl.Sym):
            self._sym_evidence(node, letter, env, found, depth)
            return
        if isinstance(node, gl.Subscripted):
            if any(i.kind == "letter" and i.value == letter for i in node.sub):
                found.unit = True
            self.evidence(node.arg, letter, env, found, depth + 1)
            return
        children = []
        if isinstance(node, tuple):
            children = list(node)
        elif hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:
                value = getattr(node, name)
                if isinstance(value, tuple) and name == "terms":
                    children.extend(t for _, t in value)
                elif isinstance(value, tuple) and name == "rows":
                    children.extend(c for row in value for c in row)
                elif not isinstance(value, (str, int, Fraction, frozenset)) and value is not None:
                    children.append(value)
        for child in children:
            self.evidence(child, letter, env, found, depth + 1)

    def _sym_evidence(self, sym: gl.Sym, letter: str, env: Env, found: Evidence,
                      depth: int) -> None:
        positions = [k for k, i in enumerate(sym.sub) if i.kind == "letter" and i.value == letter]
        tagged = any(kind == "letter" and v == letter for kind, v in sym.tags)
        if not positions and not tagged:
            return
        if tagged:
            found.sample = True
            return
        definition = self._definition(sym, env)
        if definition is not None:
            for k in positions:
                if k < len(definition.letters):
                    inner = Evidence()
                    for part in definition.parts:
                        self.evidence(part, definition.letters[k], env, inner, depth + 1)
                    found.merge(inner)
            return
        try:
            q = self.r.quantity(sym)
        except Unreadable:
            return
        units = self.r.units(q)
        items = q.items
        positions = [k for k, i in enumerate(items) if i.kind == "letter" and i.value == letter]
        if not q.per_sample:
            for k in positions:
                if k < len(units):
                    found.unit = True
                    found.sizes.add(units[k])
            return
        if len(items) == len(units) + 1:
            for k in positions:
                if k == 0:
                    found.sample = True
                else:
                    found.unit = True
                    found.sizes.add(units[k - 1])
        elif len(items) == len(units):
            for k in positions:
                found.weak = True
                found.sizes.add(units[k])

    # symbols ----------------------------------------------------------------------------
    def _Sym(self, sym: gl.Sym, env: Env):
        if sym.bare_sup is not None and sym.base not in LAYER_BY_DIGIT:  # h_i^2: a power
            value = self._Sym(replace(sym, bare_sup=None), env)
            return self._Pow(gl.Pow(gl.Num(Fraction(1)), gl.Num(Fraction(sym.bare_sup))), env,
                             base=value)
        definition = self._definition(sym, env)
        if definition is not None:
            return self._use_definition(definition, sym, env)
        if sym.base == "sigma":
            raise Unreadable("\\sigma without an argument")
        q = self.r.quantity(sym)
        if q.kind == "count":
            return sp.Integer(SAMPLES)
        if q.kind == "batch":
            inner = Quantity(q.param, q.layer)
            rows = [self._forward(inner, s) for s in range(1, SAMPLES + 1)]
            env.trace.batch = True
            value = sp.ImmutableMatrix(rows)
            return value.T if env.batch == "columns" else value
        if q.kind == "e":
            return sp.E
        units = self.r.units(q)
        items = list(q.items)
        if q.kind == "param":
            if items and len(items) != len(units):
                raise Unreadable(f"{_show(sym)}: {len(items)} indices for a "
                                 f"{len(units)}-index parameter")
            return self._param_value(q, [self._unit(i, env, n) for i, n in zip(items, units)])
        sample_item = None
        if q.sample_tags:
            if len(q.sample_tags) > 1:
                raise Unreadable(f"{_show(sym)}: two sample indices")
            sample_item = gl.Index("letter", q.sample_tags[0])
        elif len(items) == len(units) + 1:
            position = next((k for k, i in enumerate(items) if self._is_sample(i, env)), 0)
            sample_item = items.pop(position)
        elif len(items) == len(units) == 1 and self._is_sample(items[0], env):
            sample_item = items.pop()
        if items and len(items) != len(units):
            raise Unreadable(f"{_show(sym)}: indices that do not fit")
        s = self._sample(sample_item, env, sym)
        values = self._forward(q, s)
        if not items:
            if not units:
                return values[0]
            column = sp.ImmutableMatrix(values)
            return column
        return values[self._unit(items[0], env, units[0]) - 1]

    def _is_sample(self, item: gl.Index, env: Env) -> bool:
        if item.kind != "letter":
            return False
        bound = env.letters.get(item.value)
        if bound is not None:
            return bound[0] == "sample"
        return item.value in env.sample_letters

    def _sample(self, item: gl.Index | None, env: Env, sym: gl.Sym) -> int:
        if item is not None:
            if item.kind != "letter":
                raise Unreadable(f"{_show(sym)}: a sample given by number")
            bound = env.letters.get(item.value)
            if bound is not None:
                if bound[0] != "sample":
                    raise Unreadable(f"index {item.value} runs over units but indexes samples "
                                     f"in {_show(sym)}")
                return bound[1]
        if env.sample is not None:
            return env.sample
        env.trace.single = True
        return 1

    def _unit(self, item: gl.Index, env: Env, size: int) -> int:
        if item.kind == "number":
            value = int(item.value)
        elif item.kind == "letter":
            bound = env.letters.get(item.value)
            if bound is None:
                raise Unreadable(f"index {item.value} is not bound (no sum over it, and not "
                                 "on the left-hand side)")
            if bound[0] != "unit":
                raise Unreadable(f"index {item.value} runs over samples but indexes units")
            value = bound[1]
        else:
            raise Unreadable(f"an index {item.value!r} that is not a letter or a number")
        if not 1 <= value <= size:
            raise Unreadable(f"index value {value} is out of range 1..{size}")
        return value

    def _forward(self, q: Quantity, s: int) -> list[sp.Symbol]:
        if q.kind == "x":
            return self.m.x[s - 1]
        if q.kind == "y":
            return [self.m.y[s - 1]]
        if q.kind == "a":
            return self.m.a[q.layer][s - 1]
        return self.m.z[q.layer][s - 1]

    def _param_value(self, q: Quantity, units: list[int]):
        param = self.m.params[q.param]
        symbols = param.symbols
        if units:
            flat = 0
            for size, u in zip(param.shape, units):
                flat = flat * size + (u - 1)
            return symbols[flat]
        if not param.shape:
            return symbols[0]
        if len(param.shape) == 1:
            column = sp.ImmutableMatrix(list(symbols))
            return column.T if q.row else column
        rows, cols = param.shape
        return sp.ImmutableMatrix(rows, cols, list(symbols))

    # definitions ------------------------------------------------------------------------
    def _definition(self, sym: gl.Sym, env: Env) -> Definition | None:
        candidates = self.definitions.get(definition_key(sym), [])
        if not candidates:
            return None
        digits = tuple(int(i.value) for i in sym.sub if i.kind == "number")
        exact = [d for d in candidates if d.digits == digits and digits]
        pool = exact or [d for d in candidates if not d.digits]
        if not pool:
            return None
        before = [d for d in pool if d.position < env.position]
        return before[-1] if before else pool[0]

    def _use_definition(self, d: Definition, sym: gl.Sym, env: Env):
        key = (d.position, d.latex)
        if key in env.stack:
            raise Unreadable(f"{_show(sym)} is defined through itself")
        items = [i for i in sym.sub if not (i.kind == "number" and d.digits)]
        items += [gl.Index("letter", v) for kind, v in sym.tags if kind == "letter"]
        roles = self._letter_roles(d, env)
        letters: dict[str, tuple[str, int]] = {}
        sample = env.sample
        free_units = [x for x in d.letters if roles[x][0] == "unit"]
        if len(items) > len(d.letters):
            raise Unreadable(f"{_show(sym)}: more indices than in its definition ({d.where})")
        if len(items) == len(d.letters):
            pairs = list(zip(d.letters, items))
        else:
            pairs = []
            sample_letters = [x for x in d.letters if roles[x][0] == "sample"]
            units = list(free_units)
            for item in items:
                if self._is_sample(item, env) and sample_letters:
                    pairs.append((sample_letters.pop(0), item))
                elif units:
                    pairs.append((units.pop(0), item))
                else:
                    raise Unreadable(f"{_show(sym)}: indices that do not fit its definition "
                                     f"({d.where})")
        for letter, item in pairs:
            if item.kind == "number":
                letters[letter] = ("unit", int(item.value))
                continue
            if item.kind != "letter":
                raise Unreadable(f"{_show(sym)}: an index that is not a letter or number")
            bound = env.letters.get(item.value)
            if bound is not None:
                letters[letter] = bound
                if bound[0] == "sample":
                    sample = bound[1]
        missing = [x for x in free_units if x not in letters]
        inner = Env(letters, sample, env.trace, env.position, cdot=env.cdot,
                    stack=(*env.stack, key), batch=env.batch,
                    sample_letters=env.sample_letters | {x for x in d.letters
                                                         if roles[x][0] == "sample"})
        if not missing:
            return self._definition_value(d, inner, sym)
        if len(missing) > 2:
            raise Unreadable(f"{_show(sym)}: too many free indices")
        sizes = [roles[x][1] for x in missing]
        if any(s is None for s in sizes):
            raise Unreadable(f"{_show(sym)}: the range of its index is unclear ({d.where})")
        entries = []
        for combo in np.ndindex(*sizes):
            bound_env = inner
            for letter, value in zip(missing, combo):
                bound_env = bound_env.bind(letter, "unit", value + 1)
            value = self._definition_value(d, bound_env, sym)
            if _is_matrix(value):
                raise Unreadable(f"{_show(sym)}: its entries are not numbers ({d.where})")
            entries.append(value)
        if len(sizes) == 1:
            return sp.ImmutableMatrix(entries)
        return sp.ImmutableMatrix(sizes[0], sizes[1], entries)

    def _definition_value(self, d: Definition, env: Env, sym: gl.Sym):
        error = None
        for part in reversed(d.parts):
            try:
                return self.eval(part, env)
            except Unreadable as e:
                error = e
        raise Unreadable(f"{_show(sym)} as defined ({d.where}): {error}")

    def _letter_roles(self, d: Definition, env: Env) -> dict[str, tuple[str, int | None]]:
        roles = {}
        for letter in d.letters:
            found = Evidence()
            for part in d.parts:
                self.evidence(part, letter, env, found, 1)
            if found.sample or (letter in env.sample_letters and not found.unit):
                roles[letter] = ("sample", None)
            else:
                roles[letter] = ("unit", found.sizes.pop() if len(found.sizes) == 1 else None)
        return roles


@dataclass
class Evidence:
    sample: bool = False
    unit: bool = False
    weak: bool = False
    sizes: set[int] = field(default_factory=set)

    def merge(self, other: Evidence) -> None:
        self.sample |= other.sample
        self.unit |= other.unit
        self.weak |= other.weak
        self.sizes |= other.sizes


def definition_key(sym: gl.Sym) -> tuple:
    layer = _layer_of(sym)
    return (sym.base, frozenset(sym.decos - {"vec", "bold"}), layer, sym.primes)


def is_definable(sym: gl.Sym) -> bool:
    """Names a student may define: not the network's own quantities, loss or indices."""
    if sym.base in RESERVED:
        return False
    if sym.base == "y" or sym.decos & {"cal"}:
        return False
    return True


# ----------------------------------------------------------------------------- formulas

@dataclass
class Formula:
    """A student's dL/dtheta = ... row, assigned to one parameter."""

    param: str
    items: tuple[gl.Index, ...]  # entry indices on the left (W_{ij}, b_1), or none
    parts: list[list[str]]  # tokens of every right-hand side of the chain
    latex: str
    where: str
    position: int
    sample_letters: frozenset[str]
    alternatives: list[tuple[str, tuple[gl.Index, ...]]] = field(default_factory=list)
    refused: str = ""  # why it is not read at all (too long)


@dataclass
class Attempt:
    """The verdict on one formula."""

    formula: Formula
    verdict: str  # correct, wrong, unreadable
    message: str = ""
    form: str = ""
    entries: tuple[int, ...] = ()
    diagnosis: str = ""
    counterexample: dict | None = None
    corrected: str = ""
    symbolic: bool | None = None
    single: bool = False


def scan(rows: list[gl.Row], model: Model, notes: list[str] | None = None
         ) -> tuple[list[Formula], dict[tuple, list[Definition]]]:
    """The gradient formulas and the student's own definitions, in document order.

    A gradient whose parameter cannot be told (dL/db in a network with two biases) goes
    to `notes`, so that it is reported, not silently dropped.
    """
    resolver = Resolver(model)
    formulas: list[Formula] = []
    definitions: dict[tuple, list[Definition]] = {}
    for position, row in enumerate(rows):
        if "=" not in row.text and "coloneqq" not in row.text:
            continue
        too_long = len(row.text) > MAX_ROW_CHARS
        tokens = gl.tokenize(row.text[:2000] if too_long else row.text)
        sides = gl.split_relation(tokens)
        if len(sides) < 2 or sides[1][0] != "=":
            continue
        chain = [sides[0]]
        for relation, side in sides[1:]:
            if relation != "=":
                break
            chain.append((relation, side))
        lhs = gl.parse_gradient_lhs(chain[0][1])
        if lhs is not None:
            readings = _target(lhs, resolver)
            if not readings and notes is not None and lhs.target.base in ("W", "w", "b"):
                try:
                    resolver.quantity(lhs.target, lhs=True)
                    why = "not a parameter of this network"
                except Unreadable as error:
                    why = str(error)
                notes.append(f"[{row.where}] `{row.text[:200]}` is not graded: {why}")
            if readings and len(formulas) < MAX_FORMULAS:
                name, items = readings[0]
                letters = frozenset({"n"} | {i.value for i in lhs.loss.sub if i.kind == "letter"}
                                    | {v for kind, v in lhs.loss.tags if kind == "letter"})
                formulas.append(Formula(name, items, [side for _, side in chain[1:]],
                                        row.text[:2000], row.where, position, letters,
                                        readings[1:2],
                                        f"too long ({len(row.text)} characters)" * too_long))
            continue
        if too_long:
            continue
        for k, (_, side) in enumerate(chain):
            sym = gl.sym_of(side)
            if sym is None or not is_definable(sym):
                continue
            parts = []
            for j, (_, other) in enumerate(chain):
                if j == k or gl.parse_gradient_lhs(other) is not None:
                    continue
                try:
                    parts.append(gl.parse_side(other))
                except gl.LatexError:
                    continue
            if not parts:
                continue
            letters = tuple(str(i.value) for i in sym.sub if i.kind == "letter")
            letters += tuple(str(v) for kind, v in sym.tags if kind == "letter")
            digits = tuple(int(i.value) for i in sym.sub if i.kind == "number")
            definitions.setdefault(definition_key(sym), []).append(
                Definition(sym, letters, digits, parts, position, row.where, row.text))
    return formulas, definitions


def _target(lhs: gl.GradientLhs, resolver: Resolver) -> list[tuple[str, tuple[gl.Index, ...]]]:
    """The parameter a left-hand side differentiates by, with its entry indices; w_2 has two
    readings (layer 2, or entry 2 of the output weights), told apart by the right side."""
    target = lhs.target
    if target.base not in ("W", "w", "b") or target.decos - {"vec", "bold"}:
        return []
    readings = []
    for as_lhs in (True, False):
        try:
            q = resolver.quantity(target, lhs=as_lhs)
        except Unreadable:
            continue
        reading = (q.param, q.items + lhs.outer)
        if reading not in readings:
            readings.append(reading)
    return readings


# One sample's y_hat or y (no sample index, no sum) beside a matrix of every sample or
# summed by a ones vector: the student may mean the column of all samples, as many texts
# write it; a guess either way could mark a right answer wrong.
SAMPLE_NEXT_TO_BATCH = (
    "a value of one sample without a sample index (such as \\hat{y} or y) next to a matrix "
    "of every sample (X, H, A, Z, \\Delta) or summed by \\mathbf{1}: write the column of "
    "all samples as \\hat{Y} or Y, or index the sample (\\hat{y}_n)")


class Grader:
    """Grades the formulas of one document against the model."""

    def __init__(self, model: Model, definitions: dict[tuple, list[Definition]]) -> None:
        self.m = model
        self.evaluator = Evaluator(model, definitions)

    def grade(self, f: Formula) -> Attempt:
        attempt = self._grade(f)
        for name, items in f.alternatives:  # w_2: the other reading, if its shape fits
            if attempt.verdict == "correct" or not attempt.diagnosis.startswith("wrong shape"):
                break
            other = self._grade(replace(f, param=name, items=items, alternatives=[]))
            if not other.diagnosis.startswith("wrong shape"):
                return other
        return attempt

    def _grade(self, f: Formula) -> Attempt:
        if f.refused:
            return Attempt(f, "unreadable", f.refused)
        param = self.m.params[f.param]
        try:
            bindings = self._bindings(f, param.shape)
        except Unreadable as error:
            return Attempt(f, "unreadable", str(error))
        attempts = []
        errors = []
        for tokens in f.parts:
            if not tokens:
                errors.append("nothing on the right-hand side")
                continue
            try:
                node = gl.parse_side(tokens)
                with np.errstate(all="ignore"):
                    attempts.append(self._judge(f, self._evaluate(f, node, bindings)))
            except (gl.LatexError, Unreadable) as error:
                errors.append(str(error))
            except RecursionError:
                errors.append("nested too deeply")
            except Exception as error:  # noqa: BLE001  hostile input must never end in a traceback
                errors.append(f"cannot evaluate ({error.__class__.__name__})")
        if not attempts:
            return Attempt(f, "unreadable", errors[0] if errors else "nothing to read")
        wrong = [a for a in attempts if a.verdict == "wrong"]
        return wrong[0] if wrong else attempts[-1]

    def _bindings(self, f: Formula, shape: tuple[int, ...]) -> list[tuple[int, dict]]:
        """(flat entry, letter bindings) of every entry the left-hand side names."""
        if not f.items:
            return [(-1, {})]
        if len(f.items) != len(shape):
            raise Unreadable(f"{len(f.items)} indices for a parameter with {len(shape)}")
        letters = [i.value for i in f.items if i.kind == "letter"]
        if len(set(letters)) != len(letters) or any(i.kind == "other" for i in f.items):
            raise Unreadable("left-hand side indices that are not distinct letters or numbers")
        out = []
        for index in np.ndindex(*shape):
            binding, ok = {}, True
            for item, value in zip(f.items, index):
                if item.kind == "number":
                    ok &= item.value == value + 1
                else:
                    binding[item.value] = ("unit", value + 1)
            if ok:
                out.append((int(np.ravel_multi_index(index, shape)), binding))
        if not out:
            raise Unreadable("an entry index out of range")
        return out

    def _evaluate(self, f: Formula, node, bindings) -> dict:
        """The student's value of every named entry, under each reading of the notation.

        \\cdot between two vectors (a dot or an element-wise product) and batch matrices
        (samples as rows, or as Ng's columns) have two readings; the one whose shape fits
        the parameter is taken, and when both fit and disagree the formula is unreadable.
        """
        readings, errors, todo, seen = [], [], [("elementwise", "rows")], set()
        ambiguity = ""
        while todo:
            policy = todo.pop(0)
            if policy in seen:
                continue
            seen.add(policy)
            trace = Trace()
            try:
                reading = self._read(f, node, bindings, policy, trace)
                if trace.single and (trace.batch or trace.ones_times_number):
                    raise Unreadable(SAMPLE_NEXT_TO_BATCH)
                readings.append(reading)
            except Unreadable as error:
                errors.append(error)
            if trace.ambiguous_cdot:
                todo.append(("dot", policy[1]))
                ambiguity = ("\\cdot between two vectors reads as a dot product or an "
                             "element-wise product; write \\odot (element-wise) or a transpose "
                             "(dot)")
            if trace.batch:
                todo.append((policy[0], "columns"))
                ambiguity = ambiguity or ("its matrices of samples fit with one sample per row "
                                          "and with one per column")
        if not readings:
            raise errors[0]
        fitting = [r for r in readings if not r["shape"]]
        if len(fitting) <= 1:
            return (fitting or readings)[0]
        values = [self._numbers(r["exprs"]) for r in fitting]
        if all(v.shape == values[0].shape and np.allclose(v, values[0], rtol=1e-9, atol=1e-12,
                                                          equal_nan=True) for v in values[1:]):
            return fitting[0]
        raise Unreadable(ambiguity)

    def _read(self, f: Formula, node, bindings, policy: tuple[str, str], trace: Trace) -> dict:
        exprs, ks, shape_note = [], [], ""
        for k, binding in bindings:
            env = Env(dict(binding), None, trace, f.position, policy[0],
                      sample_letters=f.sample_letters, batch=policy[1])
            value = self.evaluator.eval(node, env)
            if k >= 0:
                if _is_matrix(value):
                    shape_note = (f"the left-hand side names one entry but the right-hand "
                                  f"side is a {_shape(value)}")
                    break
                exprs.append(value)
                ks.append(k)
            else:
                exprs, ks, shape_note = self._whole(f.param, value)
        return {"exprs": exprs, "ks": ks, "shape": shape_note,
                "mode": "mean" if trace.summed or trace.batch else "single",
                "form": self._form(f)}

    def _whole(self, name: str, value) -> tuple[list, list, str]:
        shape = tuple(self.m.params[name].shape)
        size = int(np.prod(shape)) if shape else 1
        note = ""
        if not shape or size == 1:
            if _is_matrix(value):
                note = f"it is a {_shape(value)}, the gradient of {name} is a number"
                return [], [], note
            return [value], [0], ""
        if not _is_matrix(value):
            return [], [], f"it is a number, the gradient of {name} has {size} entries"
        if len(shape) == 1 and 1 in value.shape and max(value.shape) == size:
            return list(value), list(range(size)), ""
        if len(shape) == 2 and value.shape == shape:
            return list(value), list(range(size)), ""
        if len(shape) == 2 and value.shape == shape[::-1]:
            return list(value.T), list(range(size)), "transposed-shape"
        want = "x".join(str(n) for n in shape) if len(shape) == 2 else f"{size}-vector"
        return [], [], f"it is a {_shape(value)}, the gradient of {name} is a {want}"

    def _form(self, f: Formula) -> str:
        if not f.items:
            return "vector/matrix form" if self.m.params[f.param].shape else "scalar form"
        if all(i.kind == "letter" for i in f.items):
            return "element-wise"
        return "entry " + ",".join(str(i.value) for i in f.items)

    def _numbers(self, exprs: list) -> np.ndarray:
        """(P, K) values of atom expressions at every point."""
        points = self.m.points
        if any(sp.sympify(e).has(sp.zoo, sp.nan, sp.oo, -sp.oo) for e in exprs):
            raise Unreadable("its value is infinite or undefined")
        function = sp.lambdify(self.m.atoms, [expand_markers(e) for e in exprs],
                               NUMPY_MODULES)
        with np.errstate(all="ignore"):
            out = function(*points.atom_values)
        values = [np.asarray(v) for v in out]
        if any(np.iscomplexobj(v) for v in values):
            raise Unreadable("its value is a complex number")
        return np.stack([np.broadcast_to(v.astype(float), (POINTS + 1,)) for v in values],
                        axis=-1)

    def _judge(self, f: Formula, r: dict) -> Attempt:
        attempt = Attempt(f, "correct", form=r["form"], entries=tuple(r["ks"]),
                          single=r["mode"] == "single")
        attempt.corrected = corrected_latex(self.m, f.param, bool(f.items), attempt.single)
        if r["shape"] and r["shape"] != "transposed-shape":
            attempt.verdict = "wrong"
            attempt.diagnosis = f"wrong shape: {r['shape']}"
            return attempt
        student = self._numbers(r["exprs"])
        truth = self.m.truth_values(f.param, r["mode"])[:, r["ks"]]
        if r["shape"] != "transposed-shape" and close(student, truth):
            attempt.symbolic = symbolic_equal(self.m, f.param, r["exprs"], r["ks"], r["mode"])
            return attempt
        attempt.verdict = "wrong"
        attempt.diagnosis = diagnose(self.m, f.param, student, r["ks"], r["mode"],
                                     r["shape"] == "transposed-shape")
        attempt.counterexample = counterexample(self.m, f.param, student, truth, r["ks"],
                                                r["mode"])
        return attempt


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal at every point, to rounding; a NaN only where the other is NaN too."""
    with np.errstate(all="ignore"):
        both_nan = np.isnan(a) & np.isnan(b)
        ok = np.abs(a - b) <= 1e-7 * (np.abs(a) + np.abs(b)) + 1e-9
    return bool(np.all(ok | both_nan)) and bool(np.any(~both_nan))


# ----------------------------------------------------------------------------- why it is wrong

CONSTANTS = {1.0: "", -1.0: "sign", float(SAMPLES): "sum", -float(SAMPLES): "sum sign",
             1.0 / SAMPLES: "over N", -1.0 / SAMPLES: "over N sign", 2.0: "2", 0.5: "1/2",
             -2.0: "-2", -0.5: "-1/2"}


def variants(model: Model, name: str) -> list[tuple[tuple[str, ...], list[sp.Expr]]]:
    """The derived per-sample gradient with the classic mistakes made, alone and combined."""
    net, g = model.network, model.gradients
    truth = model.truth(name)
    param = model.params[name]
    out = net.output
    out_factors: list[tuple[tuple[str, ...], sp.Expr]] = [((), sp.Integer(1))]
    act = out.activation
    if act.inverse is not None and act.name != "identity":
        fprime = activation_derivative(act, out.z[0], net.y_hat)
        out_factors.append((("extra-output-derivative",), fprime))
        for loss in LOSSES.values():
            if loss.name == net.loss.name:
                continue
            z = out.z[0]
            raw = sp.diff(expand_markers(loss.of_prediction(act.apply(z), net.y)), z)
            ratio = sp.simplify(sp.simplify(raw.subs(z, act.inverse(net.y_hat)))
                                / g.output_delta)
            if not ratio.has(z):
                out_factors.append(((f"loss-{loss.name}",), ratio))
    hidden: list[tuple[tuple[str, ...], str]] = [((), "")]
    if param.layer < model.n_layers and model.n_layers == 2:
        hidden += [(("no-weight",), "w"), (("no-derivative",), "d"),
                   (("no-weight", "no-derivative"), "wd")]
    index: list[tuple[tuple[str, ...], str]] = [((), "")]
    if len(param.shape) == 2:
        index += [(("transposed",), "T"), (("input-index",), "x")]
    layer = net.layers[param.layer - 1]

    def drop(k: int, what: str) -> sp.Expr:
        expr = truth[k]
        if not what:
            return expr
        unit = param.indices[k][0] if param.indices[k] else 0
        factor = sp.Integer(1)
        if "w" in what:
            factor /= out.weight.symbols[unit]
        if "d" in what:
            factor /= g.derivatives[param.layer].xreplace({layer.z[0]: layer.z[unit],
                                                            layer.a[0]: layer.a[unit]})
        return expr * factor

    previous = net.x if param.layer == 1 else net.layers[param.layer - 2].a
    found = []
    for out_labels, out_factor in out_factors:
        for hidden_labels, what in hidden:
            for index_labels, how in index:
                exprs = []
                for k, entry in enumerate(param.indices):
                    source = k
                    if how == "T":
                        if param.shape[0] != param.shape[1]:
                            break
                        source = int(np.ravel_multi_index(entry[::-1], param.shape))
                    expr = drop(source, what)
                    if how == "x":
                        i, j = entry
                        if i >= len(previous):
                            break
                        expr = expr.xreplace({previous[j]: previous[i]})
                    exprs.append(expr * out_factor)
                else:
                    found.append((out_labels + hidden_labels + index_labels, exprs))
    return found


def _variant_values(model: Model, name: str, mode: str) -> list[tuple[tuple[str, ...],
                                                                      np.ndarray]]:
    key = (name, mode)
    if key not in model._variant_cache:
        for m in ("mean", "single"):
            model._variant_cache[(name, m)] = []
        for labels, exprs in variants(model, name):
            per_sample = model.points.per_sample(exprs, model.network)
            model._variant_cache[(name, "mean")].append((labels, per_sample.mean(axis=1)))
            model._variant_cache[(name, "single")].append((labels, per_sample[:, 0, :]))
    return model._variant_cache[key]


def _proportional(student: np.ndarray, values: np.ndarray) -> float | None:
    ok = np.isfinite(student) & np.isfinite(values)
    if not ok.all():
        return None
    denominator = float(np.sum(values * values))
    if denominator == 0:
        return None
    c = float(np.sum(student * values)) / denominator
    if abs(c) < 1e-9 or not close(student, c * values):
        return None
    return c


def _constant(c: float) -> str | None:
    for value, label in CONSTANTS.items():
        if abs(c - value) <= 1e-7 * abs(value):
            return label
    return None


def _plain(text: str) -> str:
    """LaTeX of one sample: no sample index n."""
    text = text.replace(r"\frac{1}{N} \sum_{n=1}^{N} ", "")
    text = text.replace("_{n,", "_{").replace("_{n}", "")
    return re.sub(r"_n(?![A-Za-z0-9{])", "", text)


def _latex(model: Model, expr: sp.Expr, letters: dict[int, str] | None = None) -> str:
    return _plain(NetworkLatexPrinter(model.network, letters or {}).doprint(expr))


def explain(model: Model, name: str, labels: tuple[str, ...], constant: str, c: float) -> str:
    """One sentence per mistake, in the spec's own notation."""
    net, g = model.network, model.gradients
    out, param = net.output, model.params[name]
    hidden = net.layers[param.layer - 1] if param.layer < model.n_layers else None
    tag, up = f"^{{({param.layer})}}", f"^{{({out.number})}}"
    sentences = []
    for label in labels:
        if label == "extra-output-derivative":
            fp = _latex(model, activation_derivative(out.activation, out.z[0], net.y_hat))
            if net.loss.name == "bce":
                sentences.append(
                    f"an extra {fp} factor: with the cross-entropy loss the output "
                    f"sigmoid's derivative {fp} cancels, so the output error is "
                    rf"\delta{up} = {_latex(model, g.output_delta)} (the extra factor makes it "
                    r"the gradient of the squared error \frac{1}{2}(\hat{y} - y)^2)")
            else:
                sentences.append(f"an extra {fp} factor: the output activation's derivative "
                                 "is applied twice")
        elif label.startswith("loss-"):
            other = LOSSES[label[5:]]
            sentences.append(
                f"this is the gradient of the {other.title} loss, but the loss is the "
                f"{net.loss.title}, whose output error is "
                rf"\delta{up} = {_latex(model, g.output_delta)}")
        elif label == "no-weight" and hidden is not None:
            sentences.append(rf"missing the w{up}_i factor: the output error reaches hidden "
                             "unit i through its outgoing weight")
        elif label == "no-derivative" and hidden is not None:
            local = _latex(model, g.derivatives[param.layer], {param.layer: "i"})
            sentences.append(f"missing the {local} factor (the derivative of hidden unit "
                             f"i's {hidden.activation.name}): the hidden activation must be "
                             "differentiated too")
        elif label == "transposed":
            sentences.append(
                f"transposed: entry (i, j) holds the derivative for W{tag}_{{ji}}; with "
                rf"z{tag} = W{tag} x + b{tag} the gradient is \delta{tag} x^\top (row i for "
                rf"hidden unit i), not x (\delta{tag})^\top")
        elif label == "input-index":
            sentences.append(f"index mix-up: x_i where W{tag}_{{ij}} multiplies x_j, so its "
                             "gradient has x_j")
    if constant in ("sum", "sum sign"):
        sentences.append(f"missing 1/N: the sum over the samples is not divided by N, so it is "
                         f"N = {SAMPLES} times the gradient (the loss is the mean over the "
                         "samples)")
    if constant.endswith("sign") or constant == "sign":
        sentences.append(r"sign error: y - \hat{y} where the derivative has \hat{y} - y (or one "
                         "minus sign too many)")
    if constant in ("over N", "over N sign"):
        sentences.append("divides by N but does not sum over the samples")
    if constant in ("2", "1/2", "-2", "-1/2") or (constant == "?" and c):
        hint = ""
        if net.loss.name == "mse" and abs(abs(c) - 0.5) < 1e-9:
            hint = r" (the loss is (\hat{y} - y)^2, not \frac{1}{2}(\hat{y} - y)^2)"
        sentences.append(f"off by a constant factor {c:.6g}{hint}")
    return "; ".join(sentences)


def diagnose(model: Model, name: str, student: np.ndarray, ks: list[int], mode: str,
             transposed_shape: bool) -> str:
    """What is wrong, in words: the cheapest combination of known mistakes that explains it."""
    best = None
    for labels, values in _variant_values(model, name, mode):
        c = _proportional(student, values[:, ks])
        if c is None:
            continue
        constant = _constant(c)
        if constant is None:
            if labels:
                continue
            constant = "?"
        cost = len(labels) + (0 if constant == "" else 1)
        if best is None or cost < best[0]:
            best = (cost, labels, constant, c)
    shape = model.params[name].shape
    prefix = ""
    if transposed_shape:
        prefix = (f"transposed: a {shape[1]}x{shape[0]} matrix where the gradient of {name} is "
                  f"{shape[0]}x{shape[1]}")
    if best is None:
        text = "differs from the derived gradient (not one of the usual mistakes)"
        return f"{prefix}; {text}" if prefix else text
    text = explain(model, name, best[1], best[2], best[3])
    return "; ".join(t for t in (prefix, text) if t) or "differs from the derived gradient"


def _entry_names(model: Model, name: str, ks: list[int]) -> list[str]:
    param = model.params[name]
    return [name if not param.shape else
            f"{name}[{','.join(str(i + 1) for i in param.indices[k])}]" for k in ks]


def counterexample(model: Model, name: str, student: np.ndarray, truth: np.ndarray,
                   ks: list[int], mode: str) -> dict:
    """A point where the two differ: the readable point 0 when it shows the difference."""
    with np.errstate(all="ignore"):
        gap = np.abs(student - truth) / (1 + np.abs(truth))
    gap = np.where(np.isnan(gap), np.inf, gap).max(axis=1)
    p = 0 if gap[0] > 1e-6 else int(np.argmax(gap))
    points = model.points
    digits = 1 if p == 0 else 3

    def rounded(v):
        return np.round(np.asarray(v, dtype=float), digits if p == 0 else 4).tolist()

    samples = list(range(SAMPLES)) if mode == "mean" else [0]
    point = {n: rounded(points.params[n][p]) for n in model.order}
    point["x"] = rounded(points.x[p][samples])
    point["y"] = rounded(points.y[p][samples])
    return {"point": point, "entries": _entry_names(model, name, ks),
            "yours": [_round(v) for v in student[p]], "derived": [_round(v) for v in truth[p]]}


def _round(v: float) -> float | str:
    if not np.isfinite(v):
        return str(v)
    return float(f"{v:.4g}") + 0.0  # no "-0"


def corrected_latex(model: Model, name: str, elementwise: bool, single: bool) -> str:
    """The derived formula in the family the student wrote (element-wise or vector form)."""
    try:
        report = model.report
    except Exception:  # noqa: BLE001  a network the report cannot print: no formula to show
        return ""
    pools = [report.elementwise, report.vector] if elementwise else [report.vector,
                                                                     report.elementwise]
    for pool in pools:
        for formula in pool:
            if formula.caption == name:
                return _plain(formula.body) if single else formula.body
    return ""


class _Normaliser:
    """Rewrites z and sigma(z) into the forward values, so SymPy can cancel what it should."""

    def __init__(self, model: Model) -> None:
        net = model.network
        self.z_map: dict[sp.Symbol, sp.Expr] = {}
        self.activations: dict[tuple[type, sp.Expr], sp.Symbol] = {}
        for s in range(SAMPLES):
            mapping = model.sample_map(s)
            for layer in net.layers:
                for z, a, z_expr, a_expr in zip(layer.z, layer.a, layer.z_local,
                                                layer.a_local):
                    affine = z_expr.xreplace(mapping)
                    self.z_map[mapping[z]] = affine
                    applied = a_expr.xreplace({z: affine})
                    if isinstance(applied, sp.Function):
                        key = (type(applied), sp.expand(applied.args[0]))
                        self.activations[key] = mapping[a]

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        expr = expr.xreplace(self.z_map)

        def known(e) -> bool:
            return isinstance(e, sp.Function) and len(e.args) == 1 and (
                type(e), sp.expand(e.args[0])) in self.activations

        return expr.replace(known, lambda e: self.activations[(type(e), sp.expand(e.args[0]))])


def symbolic_equal(model: Model, name: str, exprs: list, ks: list[int], mode: str) -> bool | None:
    """True when SymPy reduces student - derived to 0 (None: too large to try)."""
    normalise = model.__dict__.setdefault("_normaliser", None) or _Normaliser(model)
    model.__dict__["_normaliser"] = normalise
    for expr, k in zip(exprs, ks):
        difference = normalise(expr) - normalise(model.truth_atoms(name, k, mode))
        if sp.count_ops(difference) > 2000 or any(
                p.base.is_Add and abs(p.exp) > 4 for p in difference.atoms(sp.Pow)
                if p.exp.is_Number):
            return None
        difference = sp.expand(difference)
        if difference != 0 and sp.cancel(sp.together(difference)) != 0:
            return False
    return True


# ----------------------------------------------------------------------------- documents

class BadInput(ValueError):
    """A path that cannot be graded at all: one line, exit 2."""


@dataclass
class ParamResult:
    name: str
    verdict: str  # correct, wrong, missing, unreadable
    attempt: Attempt | None = None
    note: str = ""
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class FileResult:
    file: str
    params: dict[str, ParamResult] = field(default_factory=dict)
    error: str = ""
    notes: list[str] = field(default_factory=list)  # gradients of no parameter it can tell

    def score(self, total: float) -> dict:
        n = len(self.params)
        correct = sum(r.verdict == "correct" for r in self.params.values())
        return {"correct": correct, "of": n, "share": round(correct / n, 4) if n else 0.0,
                "points": round(total * correct / n, 2) if n else 0.0, "out_of": total}


def document_rows(path: Path) -> list[gl.Row]:
    """The math rows of a notebook's Markdown cells, a Markdown file or a TeX file."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise BadInput(f"{path}: not a notebook, Markdown or TeX file (.ipynb, .md, .tex)")
    try:
        if not path.is_file():  # /dev/zero, a FIFO: never read what has no end
            raise BadInput(f"{path}: not a regular file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{path}: too large ({size / 2**20:.0f} MB; the limit is "
                           f"{MAX_FILE_BYTES // 2**20} MB)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read ({error.strerror or error.__class__.__name__})") \
            from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    return text_rows(text, suffix, str(path))


def text_rows(text: str, suffix: str, name: str = "") -> list[gl.Row]:
    if suffix == ".ipynb":
        try:
            cells = gl.notebook_markdown(text)
        except gl.NotADocument as error:
            raise BadInput(f"{name}: {error}") from None
        return [row for where, markdown in cells for row in gl.rows_of_text(markdown, "md", where)]
    return gl.rows_of_text(text, "tex" if suffix == ".tex" else "md")


def grade_rows(rows: list[gl.Row], model: Model,
               notes: list[str] | None = None) -> dict[str, ParamResult]:
    """Every parameter's verdict from the formulas in `rows`."""
    formulas, definitions = scan(rows, model, notes)
    grader = Grader(model, definitions)
    attempts = [grader.grade(f) for f in formulas]
    return {name: combine(model, name, [a for a in attempts if a.formula.param == name])
            for name in model.order}


def grade_text(text: str, model: Model, suffix: str = ".md") -> dict[str, ParamResult]:
    """Grade a document given as text (what the tests and the CLI both use)."""
    return grade_rows(text_rows(text, suffix, "text"), model)


def combine(model: Model, name: str, attempts: list[Attempt]) -> ParamResult:
    """One verdict per parameter: any wrong formula makes it wrong; correct needs every
    entry covered by correct formulas; unreadable only when nothing could be read."""
    if not attempts:
        return ParamResult(name, "missing", note=f"no formula for dL/d{name} found")
    wrong = [a for a in attempts if a.verdict == "wrong"]
    if wrong:
        return ParamResult(name, "wrong", wrong[0], attempts=attempts)
    correct = [a for a in attempts if a.verdict == "correct"]
    if correct:
        size = len(model.params[name].symbols)
        covered = set().union(*(a.entries for a in correct))
        if len(covered) == size:
            return ParamResult(name, "correct", correct[0], attempts=attempts)
        given = ", ".join(_entry_names(model, name, sorted(covered)))
        return ParamResult(name, "missing", correct[0], attempts=attempts,
                           note=f"formulas only for {given} (correct); the other entries are "
                                "missing")
    return ParamResult(name, "unreadable", attempts[0], attempts=attempts)


def grade_path(path: Path, model: Model) -> FileResult:
    network = _notebooks_network(path)
    if network is not None and network != model.spec.name:
        raise BadInput(f"{path}: the notebook of network {network} (its metadata says so), "
                       f"not of {model.spec.name}; grade it with --spec {network}")
    notes: list[str] = []
    params = grade_rows(document_rows(path), model, notes)
    return FileResult(str(path), params, notes=notes)


def _notebooks_network(path: Path) -> str | None:
    """The network a notebook this tool wrote was derived for (its metadata's `make derive
    SPEC=...`), or None for any other file."""
    if path.suffix.lower() != ".ipynb":
        return None
    try:
        made = json.loads(path.read_text(encoding="utf-8"))["metadata"]["derive-nn"][
            "generated-by"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    found = re.search(r"SPEC=(\S+)", made) if isinstance(made, str) else None
    return Path(found.group(1)).stem if found else None


def expand_paths(paths: list[str]) -> Iterator[tuple[Path, str]]:
    """(file, error) for every PATH: files as given, folders searched for gradable files."""
    for text in paths:
        path = Path(text)
        if path.is_dir():
            try:
                candidates = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES
                                    and not any(part.startswith(".") for part in
                                                p.relative_to(path).parts))
                found = [p for p in candidates if p.is_file()]
                for p in candidates:
                    if not p.is_file() and not p.is_dir():
                        yield p, f"{p}: not a regular file; skipped"
            except OSError as error:
                yield path, f"{path}: cannot list ({error.strerror or 'error'})"
                continue
            if not found:
                yield path, f"{path}: no .ipynb, .md or .tex file in this folder"
            for p in found:
                yield p, ""
        elif not path.exists():
            yield path, f"{path}: no such file or folder"
        else:
            yield path, ""


# ----------------------------------------------------------------------------- output

def _value(v: list) -> str:
    return "[" + ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) + "]" \
        if len(v) != 1 else (f"{v[0]:g}" if isinstance(v[0], float) else str(v[0]))


POINT_SHOWN_NUMBERS = 24  # a line a teacher reads; --json keeps every value


def _point(point: dict) -> str:
    """The counterexample's parameters and data in one line, or, for a network too large to
    read that way, where to find them."""
    numbers = sum(np.size(value) for value in point.values())
    if numbers > POINT_SHOWN_NUMBERS:
        return f"a random point of {numbers} numbers (every one in --json's counterexample)"
    parts = []
    for key, value in point.items():
        text = json.dumps(value).replace(".0,", ",").replace(".0]", "]")
        text = re.sub(r"\.0\b", "", text) if isinstance(value, float) else text
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def describe(result: ParamResult) -> str:
    """One line's message for a parameter."""
    a = result.attempt
    if result.verdict == "missing":
        return result.note
    assert a is not None
    where = f"[{a.formula.where}]"
    if result.verdict == "unreadable":
        return f"{where} could not read `{a.formula.latex}`: {a.message}"
    if result.verdict == "correct":
        how = ("equal symbolically and at every random point" if a.symbolic
               else f"equal at all {POINTS + 1} points")
        single = "single-sample form (N = 1, accepted)" if a.single else "mean over the samples"
        return f"{where} {a.form}, {single}: {how}"
    text = f"{where} {a.diagnosis}"
    if a.counterexample:
        c = a.counterexample
        text += (f" | at {_point(c['point'])}: yours {_value(c['yours'])}, derived "
                 f"{_value(c['derived'])} ({', '.join(c['entries'])})")
    if a.corrected:
        text += f" | derived: {a.corrected}"
    return text


def as_json(result: FileResult, total: float) -> dict:
    if result.error:
        return {"file": result.file, "error": result.error}
    formulas = {}
    for name, r in result.params.items():
        a = r.attempt
        formulas[name] = {
            "verdict": r.verdict,
            "latex": a.formula.latex if a else "",
            "where": a.formula.where if a else "",
            "form": a.form if a else "",
            "single_sample": bool(a and a.single),
            "diagnosis": (a.diagnosis if r.verdict == "wrong" else
                          a.message if r.verdict == "unreadable" and a else r.note),
            "counterexample": a.counterexample if a and r.verdict == "wrong" else None,
            "corrected": a.corrected if a and r.verdict == "wrong" else "",
            "symbolic": a.symbolic if a and r.verdict == "correct" else None,
            "formulas_found": len(r.attempts),
        }
    return {"file": result.file, "formulas": formulas, "score": result.score(total),
            "notes": result.notes}


def as_text(result: FileResult, total: float) -> str:
    score = result.score(total)
    unread = sum(r.verdict == "unreadable" for r in result.params.values())
    hand = f" ({unread} unreadable: grade by hand)" if unread else ""
    lines = [f"{result.file}: {score['correct']}/{score['of']} correct, "
             f"{score['points']:g}/{total:g} points{hand}"]
    width = max(len(n) for n in result.params) if result.params else 2
    for name, r in result.params.items():
        lines.append(f"  {name:<{width}}  {r.verdict:<10}  {describe(r)}")
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)


def _cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (=, +, -, @) is quoted first."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_text(results: list[FileResult], names: list[str], total: float) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "correct", "of", "share", "points", "out_of",
                     *(c for n in names for c in (n, f"{n}_diagnosis")), "error"])
    for r in results:
        if r.error:
            writer.writerow([_cell(r.file), "", "", "", "", total, *([""] * 2 * len(names)),
                             _cell(r.error)])
            continue
        s = r.score(total)
        cells = []
        for n in names:
            p = r.params[n]
            cells += [p.verdict, _cell(as_json(r, total)["formulas"][n]["diagnosis"])]
        writer.writerow([_cell(r.file), s["correct"], s["of"], s["share"], s["points"], total,
                         *cells, ""])
    return out.getvalue()


# ----------------------------------------------------------------------------- command line

def main(argv: list[str]) -> int:
    parser = OneLineParser(
        prog="python -m derive grade",
        description="Check the gradient formulas (LaTeX in Markdown cells, .md or .tex) "
                    "against the derived gradients: one line per parameter, correct, wrong "
                    "(why, a counterexample, the derived formula), missing or unreadable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit code 0 when every file could be read (whatever the verdicts), 2 for bad\n"
               "input (no such file, not a notebook), with one line on stderr.\n\n"
               "examples:\n"
               "  python -m derive grade out/xor.ipynb\n"
               "  python -m derive grade submissions/ --csv grades.csv")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help=".ipynb, .md or .tex files, or folders of them")
    parser.add_argument("--spec", default=DEFAULT_SPEC,
                        help=f"the network the formulas are for (default: {DEFAULT_SPEC})")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per file (one per line) instead of text")
    parser.add_argument("--csv", metavar="FILE", help="also write one CSV row per file")
    parser.add_argument("--points", type=float, default=TOTAL_POINTS,
                        help="points for all formulas together, split equally (default 18)")
    args = parser.parse_args(argv)
    try:
        return _run(args, parser)
    except BrokenPipeError:  # `... | head`: the reader left, nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  Python flushes stdout at exit
        return 0


def _run(args: argparse.Namespace, parser: OneLineParser) -> int:
    if not (args.points >= 0 and np.isfinite(args.points)):
        parser.error("--points must be a non-negative number")
    if args.csv is not None and not args.csv.strip():
        parser.error("--csv needs a file name")
    try:
        model = model_for(args.spec)
    except SpecError as error:
        print(f"grade: error: {error}", file=sys.stderr)
        return 2
    results: list[FileResult] = []
    status = 0
    for path, error in expand_paths(args.paths):
        if not error:
            try:
                result = grade_path(path, model)
            except BadInput as bad:
                error = str(bad)
        if error:
            print(f"grade: error: {error}", file=sys.stderr)
            status = 2
            result = FileResult(str(path), error=error)
        results.append(result)
        if args.json:
            print(json.dumps(as_json(result, args.points)), flush=True)
        elif not result.error:
            print(as_text(result, args.points), flush=True)
    if args.csv:
        try:
            with open(args.csv, "w", encoding="utf-8", newline="") as handle:
                handle.write(csv_text(results, model.order, args.points))
        except OSError as error:
            print(f"grade: error: {args.csv}: cannot write ({error.strerror})", file=sys.stderr)
            return 2
    return status
