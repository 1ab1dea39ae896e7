"""The symbolic model: symbols for inputs, parameters and every named intermediate.

Each layer is kept as local expressions (z from the previous layer's outputs, a from z),
which is what backpropagation differentiates; `composed()` chains them into the whole
network for the independent check against one monolithic derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import sympy as sp

from derive.functions import ACTIVATIONS, LOSSES, Activation, Loss
from derive.spec import NetworkSpec

Unit = tuple[int, int]  # (layer number, 1-based unit number); layer 0 is the input


@dataclass(frozen=True)
class SymbolInfo:
    """What a symbol stands for, so that printers can name it in their own notation."""

    family: str  # x, y, W, w, b, z, a, y_hat, delta
    layer: int
    units: tuple[Unit, ...]  # one per index: which layer's unit each index runs over


@dataclass(frozen=True)
class Param:
    """A parameter array: its name, shape, fan-in and one symbol per element (C order)."""

    name: str
    layer: int
    shape: tuple[int, ...]
    fan_in: int
    symbols: tuple[sp.Symbol, ...]
    indices: tuple[tuple[int, ...], ...]  # 0-based array index of each symbol


@dataclass(frozen=True)
class Layer:
    number: int
    activation: Activation
    weight: Param
    bias: Param
    z: tuple[sp.Symbol, ...]
    a: tuple[sp.Symbol, ...]
    z_local: tuple[sp.Expr, ...]  # z_i = sum_j W_ij a_prev_j + b_i, in the previous a symbols
    a_local: tuple[sp.Expr, ...]  # a_i = f(z_i), in the z symbols


@dataclass(frozen=True)
class Network:
    spec: NetworkSpec
    x: tuple[sp.Symbol, ...]
    y: sp.Symbol
    layers: tuple[Layer, ...]
    loss: Loss
    info: dict[sp.Symbol, SymbolInfo]

    @property
    def params(self) -> tuple[Param, ...]:
        return tuple(p for layer in self.layers for p in (layer.weight, layer.bias))

    @property
    def n_params(self) -> int:
        """Number of scalar parameters: decides which proofs and code paths apply."""
        return sum(len(p.symbols) for p in self.params)

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    @property
    def y_hat(self) -> sp.Symbol:
        return self.output.a[0]

    def sample_loss(self) -> sp.Expr:
        """The per-sample loss in y_hat and y: the definition a reader sees."""
        return self.loss.of_prediction(self.y_hat, self.y)

    def loss_of_logit(self, z: sp.Expr) -> sp.Expr:
        """The per-sample loss in the output logit, as the generated code computes it."""
        logit_form = self.loss.logit_forms.get(self.output.activation.name)
        if logit_form is not None:
            return logit_form(z, self.y)
        return self.loss.of_prediction(self.output.activation.apply(z), self.y)

    def factor_rank(self, factor: sp.Expr) -> tuple[int, int]:
        """Where a factor stands in a printed product: from the output back to the input,
        the loss's (y_hat - y) first, a (1 - h) right after its h. LaTeX and the notebook's
        code both order products by it, so code reads like its formula."""
        layers = [self.info[s].layer for s in factor.free_symbols if s in self.info]
        rank = (0 if factor.has(self.y) else 2) if factor.is_Add else 1
        return (-max(layers, default=0), rank)

    def composed(self) -> dict[sp.Symbol, sp.Expr]:
        """Every z and a as an expression in the inputs and parameters alone."""
        values: dict[sp.Symbol, sp.Expr] = {}
        for layer in self.layers:
            for z, a, z_expr, a_expr in zip(layer.z, layer.a, layer.z_local, layer.a_local):
                values[z] = z_expr.xreplace(values)
                values[a] = a_expr.xreplace(values)
        return values


UnitsOf = Callable[[tuple[int, ...]], tuple[Unit, ...]]


def _param(name: str, layer: int, shape: tuple[int, ...], fan_in: int, family: str,
           units_of: UnitsOf, info: dict[sp.Symbol, SymbolInfo]) -> Param:
    indices = tuple(product(*(range(n) for n in shape)))
    symbols = []
    for index in indices:
        suffix = "".join(f"_{k + 1}" for k in index)
        symbol = sp.Symbol(f"{name}{suffix}", real=True)
        info[symbol] = SymbolInfo(family, layer, units_of(index))
        symbols.append(symbol)
    return Param(name, layer, shape, fan_in, tuple(symbols), indices)


def build(spec: NetworkSpec) -> Network:
    """Create the symbols and local expressions of every layer of `spec`."""
    info: dict[sp.Symbol, SymbolInfo] = {}
    x = tuple(sp.Symbol(f"x_{j}", real=True) for j in range(1, spec.n_inputs + 1))
    for j, symbol in enumerate(x, start=1):
        info[symbol] = SymbolInfo("x", 0, ((0, j),))
    y = sp.Symbol("y", real=True)
    info[y] = SymbolInfo("y", len(spec.widths) - 1, ())

    layers = []
    previous = x
    n_layers = len(spec.widths) - 1
    for number in range(1, n_layers + 1):
        n_in, n_out = spec.widths[number - 1], spec.widths[number]
        is_output = number == n_layers
        activation = ACTIVATIONS[spec.activations[number - 1]]
        if is_output:  # width 1: a weight vector and a scalar bias, as in the assignment
            weight = _param(f"w{number}", number, (n_in,), n_in, "w",
                            lambda idx, n=number: ((n - 1, idx[0] + 1),), info)
            bias = _param(f"b{number}", number, (), n_in, "b", lambda idx: (), info)
            rows = [weight.symbols]
            biases = [bias.symbols[0]]
        else:
            weight = _param(f"W{number}", number, (n_out, n_in), n_in, "W",
                            lambda idx, n=number: ((n, idx[0] + 1), (n - 1, idx[1] + 1)), info)
            bias = _param(f"b{number}", number, (n_out,), n_in, "b",
                          lambda idx, n=number: ((n, idx[0] + 1),), info)
            rows = [weight.symbols[i * n_in:(i + 1) * n_in] for i in range(n_out)]
            biases = list(bias.symbols)

        if is_output:
            z = (sp.Symbol(f"z{number}", real=True),)
            a = (sp.Symbol("y_hat", real=True),)
            info[z[0]] = SymbolInfo("z", number, ())
            info[a[0]] = SymbolInfo("y_hat", number, ())
        else:
            z = tuple(sp.Symbol(f"z{number}_{i}", real=True) for i in range(1, n_out + 1))
            a = tuple(sp.Symbol(f"a{number}_{i}", real=True) for i in range(1, n_out + 1))
            for i, (zi, ai) in enumerate(zip(z, a), start=1):
                info[zi] = SymbolInfo("z", number, ((number, i),))
                info[ai] = SymbolInfo("a", number, ((number, i),))
        z_local = tuple(
            sp.Add(*(w * p for w, p in zip(row, previous))) + b for row, b in zip(rows, biases)
        )
        a_local = tuple(activation.apply(zi) for zi in z)
        layers.append(Layer(number, activation, weight, bias, z, a, z_local, a_local))
        previous = a

    return Network(spec, x, y, tuple(layers), LOSSES[spec.loss], info)
