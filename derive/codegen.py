"""NumPy code from the derivation: one SymPy printer for the expressions, Jinja for the module.

Every sample-indexed symbol becomes a length-N array (a column of X, or a named
intermediate), so each printed expression is vectorised over the batch as it stands.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from derive.files import template_environment
from derive.functions import relu, sigmoid, softplus
from derive.gradients import Gradients
from derive.network import Network, SymbolInfo


def code_name(info: SymbolInfo, name: str, network: Network) -> str:
    """How a symbol is spelled in the generated module (parameters index their arrays)."""
    if info.family in ("W", "w", "b"):
        array = name.split("_", 1)[0]
        index = ", ".join(str(unit - 1) for _, unit in info.units)
        return f"{array}[{index}]" if index else array
    if info.family == "a":
        hidden_layers = len(network.layers) - 1
        prefix = "h" if hidden_layers == 1 else f"h{info.layer}"
        return f"{prefix}_{info.units[0][1]}"
    return name


class NumPyCodePrinter(PythonCodePrinter):
    """Prints derived expressions as NumPy array code with the module's own names."""

    def __init__(self, network: Network) -> None:
        super().__init__({"standard": "python3", "order": "none"})
        self._network = network
        self.used_helpers: set[str] = set()

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        info = self._network.info.get(expr)
        return expr.name if info is None else code_name(info, expr.name, self._network)

    def _print_sigmoid(self, expr: sigmoid) -> str:
        self.used_helpers.add("sigmoid")
        return f"sigmoid({self._print(expr.args[0])})"

    def _print_softplus(self, expr: softplus) -> str:
        return f"np.logaddexp(0.0, {self._print(expr.args[0])})"

    def _print_relu(self, expr: relu) -> str:
        return f"np.maximum({self._print(expr.args[0])}, 0.0)"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return f"np.heaviside({self._print(expr.args[0])}, 0.0)"

    def _print_tanh(self, expr: sp.tanh) -> str:
        return f"np.tanh({self._print(expr.args[0])})"


@dataclass(frozen=True)
class Line:
    target: str
    value: str


def _array_literal(shape: tuple[int, ...], items: list[str], indent: str) -> str:
    """A NumPy array of per-element means, one matrix row per line."""
    if shape == ():
        return items[0]
    if len(shape) == 1:
        return f"np.array([{', '.join(items)}])"
    rows = [items[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])]
    body = "".join(f"{indent}    [{', '.join(row)}],\n" for row in rows)
    return f"np.array([\n{body}{indent}])"


def module_context(gradients: Gradients) -> dict:
    """Everything the module template needs, as printed strings."""
    network = gradients.network
    printer = NumPyCodePrinter(network)
    forward = []
    for layer in network.layers:
        for z, z_expr in zip(layer.z, layer.z_local):
            forward.append(Line(printer.doprint(z), printer.doprint(z_expr)))
        for a, a_expr in zip(layer.a, layer.a_local):
            forward.append(Line(printer.doprint(a), printer.doprint(a_expr)))
    deltas = [Line(printer.doprint(s), printer.doprint(e)) for s, e in gradients.deltas]
    grads = []
    for param in network.params:
        items = [f"np.mean({printer.doprint(e)})" for e in gradients.params[param.name]]
        grads.append(Line(param.name, _array_literal(param.shape, items, " " * 8)))
    logit = network.output.z[0]
    return {
        "spec": network.spec,
        "loss_title": network.loss.title,
        "params": network.params,
        "columns": [printer.doprint(x) for x in network.x],
        "forward": forward,
        "logit": printer.doprint(logit),
        "sample_loss": printer.doprint(network.loss_of_logit(logit)),
        "deltas": deltas,
        "grads": grads,
        "helpers": sorted(printer.used_helpers),
    }


MODULE_HASH_LINE = 'MODULE_SHA256 = "{}"\n'
_PENDING = "0" * 64


def module_sha256(text: str) -> str:
    """sha256 of a generated module's text without its MODULE_SHA256 line."""
    lines = [line for line in text.splitlines(keepends=True)
             if not line.startswith(MODULE_HASH_LINE[:16])]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _string_literal(text: str, width: int = 80) -> str:
    """A long string as a parenthesised run of short literals, for readable 100-column code."""
    chunks = [text[k:k + width] for k in range(0, len(text), width)]
    body = "".join(f"    {chunk!r}\n" for chunk in chunks)
    return f"(\n{body})"


def render_module(gradients: Gradients, stamp: str) -> str:
    """The generated NumPy module for one spec, stamped with its inputs and its own hash."""
    network = gradients.network
    context = module_context(gradients)
    spec_json = network.spec.canonical_json()
    activations = tuple(layer.activation.name for layer in network.layers)
    text = template_environment().get_template("module.py.j2").render(
        stamp=stamp, spec_json=_string_literal(spec_json),
        activations="(" + "".join(f'"{name}", ' for name in activations).rstrip() + ")",
        module_sha256=_PENDING, **context)
    pending = MODULE_HASH_LINE.format(_PENDING)
    return text.replace(pending, MODULE_HASH_LINE.format(module_sha256(text)), 1)
