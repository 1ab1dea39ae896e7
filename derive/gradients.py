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

from derive.functions import NUMPY_MODULES, Activation, Loss, expand_markers, tidy
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


def _check_same(compact: sp.Expr, raw: sp.Expr, symbols: list[sp.Symbol], what: str,
                samples: dict[sp.Symbol, np.ndarray]) -> None:
    """Fail loudly unless the two expressions agree at every sampled point."""
    args = [samples[s] for s in symbols]
    with np.errstate(all="ignore"):  # an overflow in either float evaluation is re-checked
        got = np.broadcast_to(sp.lambdify(symbols, expand_markers(compact),
                                          NUMPY_MODULES)(*args), args[0].shape)
        want = np.broadcast_to(sp.lambdify(symbols, raw, NUMPY_MODULES)(*args), args[0].shape)
    suspects = np.flatnonzero(~np.isclose(got, want, rtol=1e-9, atol=1e-12))
    for index in suspects:  # rounding in one of two float evaluations, or a real difference?
        point = {s: sp.Float(float(np.broadcast_to(a, args[0].shape)[index]), 60)
                 for s, a in zip(symbols, args)}
        exact_got = sp.N(expand_markers(compact).xreplace(point), 50)
        exact_want = sp.N(raw.xreplace(point), 50)
        difference = abs(exact_got - exact_want)
        scale = max(abs(exact_got), abs(exact_want), sp.Float(1e-300))
        if not (difference.is_number and difference <= sp.Float("1e-35") * scale):
            worst = float(np.max(np.abs(got - want)))
            raise DerivationError(f"{what}: compact form differs from SymPy's derivative by "
                                  f"{worst:g} (confirmed at 50 digits)")


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
    """f'(z) from SymPy, written through a = f(z) when f can be inverted, otherwise in z
    through the markers' own derivatives (silu' in sigmoid(z), not in exp(-z))."""
    raw = sp.diff(expand_markers(activation.apply(z)), z)
    if activation.inverse is None:
        compact = tidy(sp.diff(activation.apply(z), z))
        if compact != raw:
            _check_same(compact, raw, [z], f"{activation.name}'",
                        {z: np.linspace(-6.0, 6.0, 97)})
        return compact
    compact = tidy(sp.simplify(raw.subs(z, activation.inverse(a))))
    if compact.has(z):
        raise DerivationError(f"{activation.name}: derivative not expressible through f(z)")
    at_z = compact.xreplace({a: activation.apply(z)})
    _check_same(at_z, raw, [z], f"{activation.name}'", {z: np.linspace(-6.0, 6.0, 97)})
    return compact


def output_delta(network: Network, z: sp.Symbol) -> sp.Expr:
    """dl/dz of the output layer from SymPy, written through y_hat where possible."""
    return element_output_delta(network.output.activation, network.loss, z, network.y_hat,
                                network.y)


def element_output_delta(activation: Activation, loss: Loss, z: sp.Symbol, y_hat: sp.Symbol,
                         y: sp.Symbol) -> sp.Expr:
    """dl/dz of one output element from SymPy (whatever the width: a generic element),
    written through y_hat = f(z) where f can be inverted, and checked against the raw
    derivative."""
    raw = sp.diff(expand_markers(loss.of_prediction(activation.apply(z), y)), z)
    if activation.inverse is None:
        return raw
    compact = tidy(sp.simplify(raw.subs(z, activation.inverse(y_hat))))
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


def _terms_by_symbol(expr: sp.Expr, symbols) -> dict[sp.Symbol, sp.Expr]:
    """The terms of a sum grouped by which of `symbols` they contain.

    Differentiating only the terms that hold a symbol keeps backpropagation linear in the
    number of parameters, instead of walking every whole affine map for every weight.
    """
    wanted = set(symbols)
    grouped: dict[sp.Symbol, list[sp.Expr]] = {}
    for term in sp.Add.make_args(expr):
        for symbol in term.free_symbols & wanted:
            grouped.setdefault(symbol, []).append(term)
    return {symbol: sp.Add(*terms) for symbol, terms in grouped.items()}


def _local_diff(terms: dict[sp.Symbol, sp.Expr], symbol: sp.Symbol) -> sp.Expr:
    term = terms.get(symbol)
    return sp.S.Zero if term is None else sp.diff(term, symbol)


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
        local_terms = [_terms_by_symbol(z_above, layer.a) for z_above in above.z_local]
        symbols = []
        for i, (z, a) in enumerate(zip(layer.z, layer.a), start=1):
            symbol = sp.Symbol(f"delta{layer.number}_{i}", real=True)
            info[symbol] = SymbolInfo("delta", layer.number, ((layer.number, i),))
            upstream = sp.Add(*(d * _local_diff(terms, a)
                                for d, terms in zip(delta_symbols[above.number], local_terms)))
            local = derivatives[layer.number].xreplace({layer.z[0]: z, layer.a[0]: a})
            deltas.append((symbol, upstream * local))
            symbols.append(symbol)
        delta_symbols[layer.number] = tuple(symbols)

    params: dict[str, tuple[sp.Expr, ...]] = {}
    for layer in layers:
        own = [*layer.weight.symbols, *layer.bias.symbols]
        local_terms = [_terms_by_symbol(z, own) for z in layer.z_local]
        for param in (layer.weight, layer.bias):
            params[param.name] = tuple(
                sp.Add(*(d * _local_diff(terms, theta)
                         for d, terms in zip(delta_symbols[layer.number], local_terms)))
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


MONOLITHIC_LIMIT = 40  # parameters; above it the composed loss is too large to differentiate


def prove(gradients: Gradients) -> None:
    """Raise DerivationError unless the compact gradients are the loss's derivative.

    Small networks: against SymPy's derivative of the whole composed loss. Larger ones, whose
    composed expression grows multiplicatively with depth: against central differences of
    the loss evaluated layer by layer, at every entry of every parameter.
    """
    if gradients.network.n_params <= MONOLITHIC_LIMIT:
        try:
            prove_monolithic(gradients)
            return
        except (TypeError, ValueError):
            # SymPy's derivative of nested max() (deep ReLU networks) can print as NumPy code
            # that does not run: that derivative cannot be evaluated, so prove the other way.
            pass
    prove_by_differences(gradients)


def prove_monolithic(gradients: Gradients) -> None:
    """Every compact gradient against sympy.diff of the whole composed per-sample loss."""
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


def prove_by_differences(gradients: Gradients, entries: int | None = None,
                         samples: int = 5) -> None:
    """Compact gradients against central differences, the network evaluated layer by layer:
    every entry of every parameter unless `entries` says how many (a single wrong hidden
    unit must not go unseen)."""
    network = gradients.network
    rng = np.random.default_rng(20261126)
    params = {p.name: rng.normal(0.0, 0.7, size=len(p.symbols)) for p in network.params}
    x = rng.uniform(-2.0, 2.0, size=(samples, len(network.x)))
    y = rng.uniform(0.0, 1.0, size=samples)
    layer_functions = []
    for layer in network.layers:
        inputs = [*(network.x if layer.number == 1 else network.layers[layer.number - 2].a),
                  *layer.weight.symbols, *layer.bias.symbols]
        z_fn = sp.lambdify(inputs, list(layer.z_local), NUMPY_MODULES)
        a_fn = sp.lambdify([layer.z[0]], expand_markers(layer.a_local[0]), NUMPY_MODULES)
        layer_functions.append((layer, z_fn, a_fn))
    z_out = network.output.z[0]
    loss_fn = sp.lambdify([z_out, network.y], expand_markers(network.loss_of_logit(z_out)),
                          NUMPY_MODULES)

    def forward(values: dict[str, np.ndarray]) -> tuple[dict[sp.Symbol, np.ndarray], float]:
        known: dict[sp.Symbol, np.ndarray] = {s: x[:, j] for j, s in enumerate(network.x)}
        previous = list(network.x)
        for layer, z_fn, a_fn in layer_functions:
            args = [known[s] for s in previous]
            args += list(values[layer.weight.name]) + list(values[layer.bias.name])
            zs = z_fn(*args)
            for z_symbol, a_symbol, z_value in zip(layer.z, layer.a, zs):
                known[z_symbol] = np.broadcast_to(z_value, (samples,)).astype(float)
                known[a_symbol] = np.broadcast_to(a_fn(known[z_symbol]), (samples,)).astype(float)
            previous = list(layer.a)
        return known, float(np.mean(loss_fn(known[z_out], y)))

    known, _ = forward(params)
    known[network.y] = y
    for param in network.params:
        known.update(zip(param.symbols, params[param.name]))
    for symbol, expr in gradients.deltas:
        known[symbol] = _evaluate(expr, known, samples)
    for param in network.params:
        count = len(param.symbols) if entries is None else min(entries, len(param.symbols))
        chosen = rng.choice(len(param.symbols), size=count, replace=False)
        exacts = _evaluate_many([gradients.params[param.name][k] for k in chosen], known,
                                samples)
        for k, values in zip(chosen, exacts):
            exact = float(np.mean(values))
            step = 1e-6
            plus = {**params, param.name: params[param.name].copy()}
            minus = {**params, param.name: params[param.name].copy()}
            plus[param.name][k] += step
            minus[param.name][k] -= step
            approx = (forward(plus)[1] - forward(minus)[1]) / (2 * step)
            if not np.isclose(exact, approx, rtol=1e-5, atol=1e-8):
                raise DerivationError(f"dL/d{param.symbols[k]}: {exact:.10g} from the compact "
                                      f"form, {approx:.10g} by central differences")


def _evaluate_many(exprs: list[sp.Expr], known: dict[sp.Symbol, np.ndarray],
                   samples: int) -> list[np.ndarray]:
    """Several expressions through one lambdify: its cost is per call, not per expression."""
    if not exprs:
        return []
    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)
    function = sp.lambdify(symbols, [expand_markers(e) for e in exprs], NUMPY_MODULES)
    values = function(*(known[s] for s in symbols))
    return [np.broadcast_to(v, (samples,)).astype(float) for v in values]


def _evaluate(expr: sp.Expr, known: dict[sp.Symbol, np.ndarray], samples: int) -> np.ndarray:
    return _evaluate_many([expr], known, samples)[0]
