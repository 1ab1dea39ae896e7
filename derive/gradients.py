"""Backpropagation done by SymPy, layer by layer, then proved against the monolithic derivative.

Every derivative here comes from `sympy.diff`: of the activation (rewritten through its own
output, sigma' = sigma (1 - sigma)), of the loss through the output activation (the
sigmoid / cross-entropy cancellation to y_hat - y), and of each affine map. The chain rule
is assembled through named deltas, one per unit, as backpropagation is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.functions import Activation, expand_markers
from derive.network import Network, SymbolInfo


class DerivationError(RuntimeError):
    """A compact form disagreed with SymPy's raw derivative: nothing may be written."""


@dataclass(frozen=True)
class Gradients:
    """The per-sample gradient of every parameter element, in named intermediates.

    `deltas` lists (delta symbol, expression) from the output layer down; gradient
    expressions use those deltas and the forward values (x, a, y_hat). The loss of the
    network is the mean over samples, so dL/dtheta is the mean of these expressions.
    """

    network: Network
    output_delta: sp.Expr
    derivatives: dict[int, sp.Expr]  # layer number -> f'(z) written through a (or z)
    deltas: tuple[tuple[sp.Symbol, sp.Expr], ...]
    params: dict[str, tuple[sp.Expr, ...]]  # parameter name -> one expression per element

    def expand_deltas(self, expr: sp.Expr) -> sp.Expr:
        """Write an expression without deltas: only forward values, inputs and weights."""
        for symbol, value in reversed(self.deltas):
            expr = expr.xreplace({symbol: value})
        return expr


def _tidy(expr: sp.Expr) -> sp.Expr:
    """-a (a - 1) -> a (1 - a): move a leading minus into a binomial factor, for reading."""
    expr = sp.factor(expr)
    if isinstance(expr, sp.Mul):
        coeff, factors = expr.as_coeff_mul()
        if coeff == -1:
            for k, factor in enumerate(factors):
                if isinstance(factor, sp.Add):
                    flipped = (*factors[:k], sp.expand(-factor), *factors[k + 1:])
                    return sp.Mul(*flipped)
    return expr


def _check_same(compact: sp.Expr, raw: sp.Expr, symbols: list[sp.Symbol], what: str,
                samples: dict[sp.Symbol, np.ndarray]) -> None:
    """Fail loudly unless the two expressions agree at every sampled point."""
    args = [samples[s] for s in symbols]
    got = np.broadcast_to(sp.lambdify(symbols, expand_markers(compact), "numpy")(*args),
                          args[0].shape)
    want = np.broadcast_to(sp.lambdify(symbols, raw, "numpy")(*args), args[0].shape)
    if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
        worst = float(np.max(np.abs(got - want)))
        raise DerivationError(f"{what}: compact form differs from SymPy's derivative by {worst:g}")


def _random_points(symbols: list[sp.Symbol], info: dict[sp.Symbol, SymbolInfo],
                   count: int = 64) -> dict[sp.Symbol, np.ndarray]:
    rng = np.random.default_rng(20261126)
    points = {}
    for symbol in symbols:
        if info.get(symbol) is not None and info[symbol].family == "y":
            points[symbol] = rng.uniform(0.0, 1.0, count)
        else:
            points[symbol] = rng.uniform(-2.0, 2.0, count)
    return points


def activation_derivative(activation: Activation, z: sp.Symbol, a: sp.Symbol) -> sp.Expr:
    """f'(z) from SymPy, written through a = f(z) when f can be inverted."""
    raw = sp.diff(expand_markers(activation.apply(z)), z)
    if activation.inverse is None:
        return raw
    compact = _tidy(sp.simplify(raw.subs(z, activation.inverse(a))))
    if compact.has(z):
        raise DerivationError(f"{activation.name}: derivative not expressible through f(z)")
    at_z = compact.xreplace({a: activation.apply(z)})
    _check_same(at_z, raw, [z], f"{activation.name}'", {z: np.linspace(-6.0, 6.0, 97)})
    return compact


def output_delta(network: Network, z: sp.Symbol) -> sp.Expr:
    """dl/dz of the output layer from SymPy, written through y_hat where possible."""
    activation = network.output.activation
    y_hat, y = network.y_hat, network.y
    raw = sp.diff(expand_markers(network.sample_loss().xreplace({y_hat: activation.apply(z)})), z)
    if activation.inverse is None:
        return raw
    compact = _tidy(sp.simplify(raw.subs(z, activation.inverse(y_hat))))
    points = {z: np.linspace(-6.0, 6.0, 97), y: np.linspace(0.0, 1.0, 97)}
    _check_same(compact.xreplace({y_hat: activation.apply(z)}), raw, [z, y], "output delta",
                points)
    return compact


def _check_logit_loss(network: Network) -> None:
    """The generated code computes the loss from the logit: prove that form is the loss."""
    z, y = network.output.z[0], network.y
    definition = expand_markers(
        network.sample_loss().xreplace({network.y_hat: network.output.activation.apply(z)}))
    points = {z: np.linspace(-12.0, 12.0, 121), y: np.linspace(0.0, 1.0, 121)}
    _check_same(network.loss_of_logit(z), definition, [z, y], "loss from the logit", points)


def derive(network: Network) -> Gradients:
    """Backpropagate symbolically, then prove the result against the raw derivative."""
    info = network.info
    layers = network.layers
    out = network.output

    derivatives = {
        layer.number: activation_derivative(layer.activation, layer.z[0], layer.a[0])
        for layer in layers[:-1]
    }
    delta_out = output_delta(network, out.z[0])
    _check_logit_loss(network)

    delta_symbols: dict[int, tuple[sp.Symbol, ...]] = {}
    deltas: list[tuple[sp.Symbol, sp.Expr]] = []
    delta_symbols[out.number] = (sp.Symbol(f"delta{out.number}", real=True),)
    info[delta_symbols[out.number][0]] = SymbolInfo("delta", out.number, ())
    deltas.append((delta_symbols[out.number][0], delta_out))

    for layer, above in zip(reversed(layers[:-1]), reversed(layers[1:])):
        symbols = []
        for i, (z, a) in enumerate(zip(layer.z, layer.a), start=1):
            symbol = sp.Symbol(f"delta{layer.number}_{i}", real=True)
            info[symbol] = SymbolInfo("delta", layer.number, ((layer.number, i),))
            upstream = sp.Add(*(d * sp.diff(z_above, a)
                                for d, z_above in zip(delta_symbols[above.number], above.z_local)))
            local = derivatives[layer.number].xreplace({layer.z[0]: z, layer.a[0]: a})
            deltas.append((symbol, upstream * local))
            symbols.append(symbol)
        delta_symbols[layer.number] = tuple(symbols)

    params: dict[str, tuple[sp.Expr, ...]] = {}
    for layer in layers:
        for param in (layer.weight, layer.bias):
            params[param.name] = tuple(
                sp.Add(*(d * sp.diff(z, theta)
                         for d, z in zip(delta_symbols[layer.number], layer.z_local)))
                for theta in param.symbols
            )

    gradients = Gradients(network, delta_out, derivatives, tuple(deltas), params)
    prove(gradients)
    return gradients


def raw_derivatives(network: Network) -> dict[str, tuple[sp.Expr, ...]]:
    """SymPy's derivative of the whole composed per-sample loss, one parameter at a time."""
    composed = network.composed()
    loss = expand_markers(network.sample_loss().xreplace({network.y_hat: composed[network.y_hat]}))
    return {p.name: tuple(sp.diff(loss, theta) for theta in p.symbols) for p in network.params}


def prove(gradients: Gradients) -> None:
    """Raise DerivationError unless every compact gradient equals the raw derivative."""
    network = gradients.network
    composed = network.composed()
    free = [*network.x, network.y, *(s for p in network.params for s in p.symbols)]
    points = _random_points(free, network.info)
    raw = raw_derivatives(network)
    for param in network.params:
        for theta, compact, want in zip(param.symbols, gradients.params[param.name],
                                        raw[param.name]):
            full = gradients.expand_deltas(compact).xreplace(composed)
            _check_same(full, want, free, f"dL/d{theta}", points)
