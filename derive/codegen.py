"""Code from the derivation: one SymPy printer per target, Jinja for the files around it.

NumPyCodePrinter writes array code (a sample-indexed symbol is a length-N array, so each
expression is vectorised over the batch as it stands); PythonScalarPrinter and CCodePrinter
write one sample of one network on plain floats, for the whole-loop fast paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp
from sympy.printing.c import C99CodePrinter
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from derive.files import template_environment
from derive.functions import HELPER_IMPORTS, HELPER_NEEDS, NUMPY_CALLS, SPELLINGS, MarkerBase
from derive.gradients import DerivationError, Gradients
from derive.network import Network, SymbolInfo
from derive.stamps import C_MARKER, PY_MARKER, self_hash, stamp_self


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


class _FormulaOrder:
    """Code that reads like its formula: products in the LaTeX's factor order, sums as
    W x + b, `a * b` spaced as a person writes it. Every target prints in this one order,
    so the NumPy code, the plain-Python loop and the C loop round alike, to the bit."""

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, factors = expr.as_coeff_mul()
        if self._network is None or not coeff.is_Rational or \
                any(f.is_Pow and f.exp.is_negative for f in factors):
            return super()._print_Mul(expr)
        ordered = sorted(factors, key=lambda f: (*self._network.factor_rank(f), sp.srepr(f)))
        parts = [] if abs(coeff) == 1 else [self._print(abs(coeff))]
        parts += [f"({self._print(f)})" if f.is_Add else self._print(f) for f in ordered]
        return ("-" if coeff < 0 else "") + " * ".join(parts)

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        """W x + b, and subtracted terms last: `softplus(z) - y * z`, as the formulas read."""
        def rank(term: sp.Expr) -> tuple[bool, bool]:
            info = None if self._network is None else self._network.info.get(term)
            return (term.could_extract_minus_sign(), info is not None and info.family == "b")

        terms = sorted(expr.args, key=rank)
        return super()._print_Add(sp.Add(*terms, evaluate=False), order="none")


class NumPyCodePrinter(_FormulaOrder, NumPyPrinter):
    """Prints derived expressions as NumPy array code with the module's own names.

    SymPy's NumPy printer does the arithmetic and precedence; markers and functions NumPy
    lacks print as calls of helpers whose code comes from the registry (`SPELLINGS`), and
    `used_helpers` records which, so the module defines exactly those.
    """

    def __init__(self, network: Network | None,
                 sigmoid_of: dict[str, str] | None = None) -> None:
        """`sigmoid_of` names arrays already holding sigmoid(z), by the name of z; without a
        `network`, symbols print as their names (matrix-level code)."""
        super().__init__({"order": "none"})
        self._network = network
        self._sigmoid_of = sigmoid_of or {}
        self.used_helpers: set[str] = set()

    def _module_format(self, fqn: str, register: bool = True) -> str:
        """numpy.exp -> np.exp: the module imports NumPy as np."""
        if fqn.startswith("numpy."):
            fqn = "np." + fqn[len("numpy."):]
        return super()._module_format(fqn, register)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        info = None if self._network is None else self._network.info.get(expr)
        return expr.name if info is None else code_name(info, expr.name, self._network)

    def _helper_call(self, name: str, arg: sp.Expr) -> str:
        self.used_helpers.add(name)
        self.used_helpers.update(HELPER_NEEDS.get(name, ()))
        return f"{NUMPY_CALLS.get(name, name)}({self._print(arg)})"

    def _print_MarkerBase(self, expr: MarkerBase) -> str:
        name = type(expr).__name__
        if name == "softplus":
            z = self._print(expr.args[0])
            if z in self._sigmoid_of:  # reuse sigmoid(z): one log instead of exp and log
                self.used_helpers.add("softplus_from_sigmoid")
                return f"softplus_from_sigmoid({z}, {self._sigmoid_of[z]})"
        return self._helper_call(name, expr.args[0])

    def _print_erf(self, expr: sp.erf) -> str:
        return self._helper_call("erf", expr.args[0])

    def _print_erfc(self, expr: sp.erfc) -> str:
        return self._helper_call("erfc", expr.args[0])

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        """0 at 0, as PyTorch's relu gradient."""
        return f"np.heaviside({self._print(expr.args[0])}, 0.0)"


class _ScalarNames:
    """For printers of one-sample, one-network code: parameters are flat local floats
    (W1_1_2), and exp(-z) may already sit in a local (see `scalar_forward`)."""

    def __init__(self, network: Network, settings: dict) -> None:
        super().__init__({**settings, "order": "none"})
        self._network = network
        self.exp_of: dict[str, str] = {}  # z -> name of a local already holding exp(-z)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        info = self._network.info.get(expr)
        if info is None or info.family in ("W", "w", "b"):
            return expr.name
        return code_name(info, expr.name, self._network)

    def _shared_exp(self, expr: sp.Function) -> str | None:
        """The registry's form of f(z) given a local holding exp(-z), where there is one."""
        form = SPELLINGS[type(expr).__name__].shared_exp.get(self.target)
        z = self.parenthesize(expr.args[0], 100)
        if form is None or z not in self.exp_of:
            return None
        return form.format(z=z, e=self.exp_of[z])

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        return self._inline("(1.0 if {z} > 0.0 else 0.0)", "({z} > 0.0 ? 1.0 : 0.0)", expr)


class PythonScalarPrinter(_FormulaOrder, _ScalarNames, PythonCodePrinter):
    """Prints derived expressions as plain-Python float code: one sample, one network.

    An epoch runs with no NumPy call at all. exp() may raise OverflowError for |z| > 709;
    callers fall back to the NumPy code then. Functions print bare (`exp`, `erf`) and the
    names used are recorded in `math_names`, from which the module's import is written.
    """

    target = "python"

    def __init__(self, network: Network) -> None:
        super().__init__(network, {"standard": "python3", "fully_qualified_modules": False})
        self.math_names: set[str] = set()

    def _module_format(self, fqn: str, register: bool = True) -> str:
        if fqn.startswith("math."):
            self.math_names.add(fqn[len("math."):])
            return fqn[len("math."):]
        return super()._module_format(fqn, register)

    def _inline(self, python: str, c: str, expr: sp.Function) -> str:
        return python.format(z=self.parenthesize(expr.args[0], 100))

    def _print_Integer(self, expr: sp.Integer) -> str:
        """1.0, not 1: float-float arithmetic is the fast path of CPython's interpreter."""
        return f"{int(expr)}.0"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if expr.exp.is_Integer:
            return f"{self.parenthesize(expr.base, 60)}**{int(expr.exp)}"
        return super()._print_Pow(expr, rational)

    def _print_MarkerBase(self, expr: MarkerBase) -> str:
        """The registry's inline form, parenthesised whole: `x / sigmoid(z)` must not print
        as `x / 1.0 / (...)`."""
        spelling = SPELLINGS[type(expr).__name__]
        shared = self._shared_exp(expr)
        if shared is not None:
            self.math_names.update(spelling.shared_imports)
            return shared
        self.math_names.update(spelling.python_imports)
        return spelling.python.format(z=self.parenthesize(expr.args[0], 100))

    _print_erf = _print_erfc = _print_MarkerBase


class CCodePrinter(_FormulaOrder, _ScalarNames, C99CodePrinter):
    """Prints derived expressions as C for the compiled training loop (one sample, doubles).

    Same names as the plain-Python loop. Markers print as calls of static inline helpers
    whose bodies come from the registry; `used_helpers` records which to define.
    """

    target = "c"

    def __init__(self, network: Network) -> None:
        super().__init__(network, {})
        self.used_helpers: set[str] = set()

    def _inline(self, python: str, c: str, expr: sp.Function) -> str:
        return c.format(z=self._print(expr.args[0]))

    helper_prefix = ""  # the C ensemble's helpers are v_sigmoid, ...

    def _print_MarkerBase(self, expr: MarkerBase) -> str:
        shared = self._shared_exp(expr)
        if shared is not None:
            return shared
        name = type(expr).__name__
        self.used_helpers.add(name)
        return f"{self.helper_prefix}{name}({self._print(expr.args[0])})"


# The ensemble loop's function table: libm calls the compiler cannot vectorise across
# networks, and the arithmetic-only versions that replace them (templates/simd_math.c.j2).
SIMD_FUNCTIONS = {"exp": "vexp", "log": "vlog", "log1p": "vlog1p", "fmax": "vmax"}
_LIBM_CALL = re.compile(r"\b(" + "|".join(SIMD_FUNCTIONS) + r")\(")


class CEnsemblePrinter(CCodePrinter):
    """One lane of the C ensemble loop: the C loop's expressions with exp, log and log1p
    taken from SIMD_FUNCTIONS, and markers as `v_` helpers whose bodies do the same."""

    target = "c_simd"
    helper_prefix = "v_"

    def __init__(self, network: Network) -> None:
        super().__init__(network)
        self.known_functions = {**self.known_functions, **{
            name: simd for name, simd in SIMD_FUNCTIONS.items() if name in self.known_functions}}


def c_simd_helpers(names: set[str]) -> list[Line]:
    """The ensemble loop's `v_` helpers: the registry's C bodies through SIMD_FUNCTIONS."""
    return [Line(f"v_{name}", _LIBM_CALL.sub(lambda m: SIMD_FUNCTIONS[m.group(1)] + "(",
                                              SPELLINGS[name].c))
            for name in sorted(names)]


@dataclass(frozen=True)
class Line:
    target: str
    value: str


def _array_literal(shape: tuple[int, ...], items: list[str], indent: str,
                   used: int = 0) -> str:
    """A NumPy array of per-element means, one matrix row per line; `used` is how much of
    the line stands before it (default: a dict entry at `indent`)."""
    if shape == ():
        return items[0]
    if len(shape) == 1:
        one_line = f"np.array([{', '.join(items)}])"
        if len(one_line) + (used or len(indent) + 12) <= 100:
            return one_line
        body = "".join(f"{indent}    {item},\n" for item in items)
        return f"np.array([\n{body}{indent}])"
    rows = [items[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])]
    body = "".join(f"{indent}    [{', '.join(row)}],\n" for row in rows)
    return f"np.array([\n{body}{indent}])"


# Widest layer still written unit by unit. `make bench` measures matrix code faster at every
# width (about 2x at width 2, 6x at 8), so only the assignment's 2-2-1 keeps the unit-by-unit
# form, for reading it beside its element-wise formulas.
SCALAR_MAX_WIDTH = 2


def module_context(gradients: Gradients, scalar_max_width: int = SCALAR_MAX_WIDTH) -> dict:
    """Everything the module template needs, as printed strings.

    Networks no wider than `scalar_max_width` are written unit by unit (one array per
    unit, fewest NumPy calls); wider ones as one matrix product per layer, after checking
    symbolically that the derived expressions have exactly the structure the matrix code
    computes. (`make bench` prints both forms to time them.)
    """
    network = gradients.network
    printer = NumPyCodePrinter(network)
    if max(network.spec.widths) <= scalar_max_width:
        lines = _scalar_lines(gradients, printer)
    else:
        check_matrix_structure(gradients)
        lines = _matrix_lines(gradients, printer)
    logit = network.output.z[0]
    logit_name = printer.doprint(logit) if lines["columns"] else f"z{network.output.number}"
    sample_loss = network.loss_of_logit(logit).xreplace({logit: sp.Symbol(logit_name)})
    # Where the forward pass already holds sigmoid(logit), the loss reuses it.
    with_prediction = NumPyCodePrinter(network, {logit_name: lines["forward"][-1].target})
    context = {
        "spec": network.spec,
        "loss_title": network.loss.title,
        "params": network.params,
        "mode": "scalar" if lines["columns"] else "matrix",
        **lines,
        "sample_loss": printer.doprint(sample_loss),
        "loss_with_prediction": with_prediction.doprint(sample_loss),
        "fast": None,
    }
    helpers = printer.used_helpers | with_prediction.used_helpers
    if network.n_params <= FAST_MAX_PARAMS:
        unit_lines = lines if lines["columns"] else _scalar_lines(gradients, printer)
        unit_logit, unit_prediction = (line.target for line in unit_lines["forward"][-2:])
        unit_printer = NumPyCodePrinter(network, {unit_logit: unit_prediction})
        ensemble_loss = unit_printer.doprint(network.loss_of_logit(logit))
        context["unit_lines"] = unit_lines
        context["fast"] = _fast_context(gradients, unit_lines, ensemble_loss)
        helpers |= printer.used_helpers | unit_printer.used_helpers
        helpers |= context["fast"]["numpy_helpers"]
    context["helpers"] = numpy_helpers(helpers)
    context["helper_imports"] = helper_imports(helpers)
    return context


def _scalar_lines(gradients: Gradients, printer: NumPyCodePrinter) -> dict:
    network = gradients.network
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
    columns = [printer.doprint(x) for x in network.x]
    return {"columns": columns, "forward": forward, "deltas": deltas, "grads": grads}


def numpy_helpers(names: set[str], readable: bool = False) -> list[str]:
    """The code of the NumPy helpers a printer called, from the registry, by name; with
    `readable`, the notebook's version where the registry has one."""
    extras = {code.split("(", 1)[0].removeprefix("def "): code
              for spelling in SPELLINGS.values() for code in spelling.numpy_extra}
    code = []
    for name in sorted(names):
        spelling = SPELLINGS.get(name)
        if spelling is None:
            code.append(extras[name])
        else:
            code.append(spelling.notebook if readable and spelling.notebook else spelling.numpy)
    return code


def helper_imports(names: set[str]) -> list[str]:
    """Modules the NumPy helpers need besides NumPy (math, for erf)."""
    return sorted({module for name in names for module in HELPER_IMPORTS.get(name, ())})


def c_helpers(names: set[str]) -> list[Line]:
    """(name, body) of the C loop's static inline helpers, from the registry."""
    return [Line(name, SPELLINGS[name].c) for name in sorted(names)]


def scalar_forward(network: Network, printer: _ScalarNames) -> list[Line]:
    """The forward pass unit by unit; exp(-z) of a sigmoid unit is kept in a local, e_z,
    which the sigmoid and the loss then share."""
    forward = []
    for layer in network.layers:
        for z, z_expr in zip(layer.z, layer.z_local):
            forward.append(Line(printer.doprint(z), printer.doprint(z_expr)))
        for z, a, a_expr in zip(layer.z, layer.a, layer.a_local):
            if layer.activation.name == "sigmoid":
                name = printer.doprint(z)
                forward.append(Line(f"e_{name}", printer.doprint(sp.exp(-z))))
                printer.exp_of[name] = f"e_{name}"
            forward.append(Line(printer.doprint(a), printer.doprint(a_expr)))
    return forward


FAST_MAX_PARAMS = 40  # networks up to this size also get train_fast and train_ensemble


def _fast_context(gradients: Gradients, numpy_lines: dict, sample_loss: str) -> dict:
    """What train_fast (plain Python) and train_ensemble (NumPy over K networks) print."""
    network = gradients.network
    py = PythonScalarPrinter(network)
    logit = network.output.z[0]
    forward = scalar_forward(network, py)
    params = []
    for param in network.params:
        names = [s.name for s in param.symbols]
        grads = [Line(f"g_{name}", py.doprint(e))
                 for name, e in zip(names, gradients.params[param.name])]
        zero = [" = ".join(f"g_{name}" for name in names[k:k + 6]) + " = 0.0"
                for k in range(0, len(names), 6)]
        params.append({"name": param.name, "shape": param.shape, "locals": names,
                       "grads": grads, "zero": zero, "rebuild": _nested(param.shape, names),
                       "unpack": _unpack(names, f'_floats(params["{param.name}"])')})
    ensemble_updates = []
    printer = NumPyCodePrinter(network)
    for param in network.params:
        for symbol, expr in zip(param.symbols, gradients.params[param.name]):
            entry = printer.doprint(symbol)
            entry += "" if "[" in entry else "[...]"  # update the array in place
            ensemble_updates.append(Line(entry, f"lr * (np.sum({printer.doprint(expr)}, "
                                                f"axis=0) / n)"))
    loss = py.doprint(network.loss_of_logit(logit))
    deltas = [Line(py.doprint(s), py.doprint(e)) for s, e in gradients.deltas]
    return {
        "forward": forward,
        "loss": loss,
        "deltas": deltas,
        "params": params,
        "inputs": [py.doprint(x) for x in network.x],
        "ensemble_updates": ensemble_updates,
        "ensemble_loss": sample_loss,
        "prediction": numpy_lines["forward"][-1].target,
        "math_names": sorted(py.math_names),
        "numpy_helpers": printer.used_helpers,
    }


def _nested(shape: tuple[int, ...], names: list[str]) -> str:
    """Python literal rebuilding an array of `shape` from flat local names, a row a line."""
    if shape == ():
        return names[0]
    if len(shape) == 1:
        return f"[{', '.join(names)}]"
    rows = [names[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])]
    if len(rows) <= 2:
        return "[" + ", ".join(f"[{', '.join(row)}]" for row in rows) + "]"
    body = "".join(f"            [{', '.join(row)}],\n" for row in rows)
    return f"[\n{body}        ]"


def _unpack(names: list[str], source: str) -> str:
    """`a, b, c = source`, wrapped in parentheses over lines of at most 100 columns."""
    line = f"    {', '.join(names)}{',' if len(names) == 1 else ''} = {source}"
    if len(line) <= 100:
        return line
    rows = [names[k:k + 8] for k in range(0, len(names), 8)]
    body = ",\n     ".join(", ".join(row) for row in rows)
    return f"    ({body}) = {source}"


def _layer_names(network: Network) -> dict[int, tuple[str, str]]:
    """(z, a) array names per layer in matrix code; layer 0's output is X itself."""
    names = {0: ("", "X")}
    for layer in network.layers:
        is_output = layer is network.output
        hidden = "h" if len(network.layers) == 2 else f"h{layer.number}"
        names[layer.number] = (f"z{layer.number}", "y_hat" if is_output else hidden)
    return names


def _matrix_lines(gradients: Gradients, printer: NumPyCodePrinter) -> dict:
    network = gradients.network
    names = _layer_names(network)
    forward, deltas, grads = [], [], []
    for layer in network.layers:
        z_name, a_name = names[layer.number]
        previous = names[layer.number - 1][1]
        weight, bias = layer.weight.name, layer.bias.name
        product = f"{previous} @ {weight}" if layer is network.output else \
            f"{previous} @ {weight}.T"
        forward.append(Line(z_name, f"{product} + {bias}"))
        activation = layer.a_local[0].xreplace({layer.z[0]: sp.Symbol(z_name)})
        forward.append(Line(a_name, printer.doprint(activation)))
    out = network.output
    deltas.append(Line(f"delta{out.number}", printer.doprint(gradients.output_delta)))
    for layer in reversed(network.layers[:-1]):
        above = network.layers[layer.number]
        z_name, a_name = names[layer.number]
        upstream = (f"np.outer(delta{above.number}, {above.weight.name})" if above is out
                    else f"delta{above.number} @ {above.weight.name}")
        local = gradients.derivatives[layer.number].xreplace(
            {layer.a[0]: sp.Symbol(a_name), layer.z[0]: sp.Symbol(z_name)})
        deltas.append(Line(f"delta{layer.number}", f"({upstream})*({printer.doprint(local)})"))
    for layer in network.layers:
        previous = names[layer.number - 1][1]
        delta = f"delta{layer.number}"
        if layer is out:
            grads.append(Line(layer.weight.name, f"{previous}.T @ {delta} / X.shape[0]"))
            grads.append(Line(layer.bias.name, f"np.mean({delta})"))
        else:
            grads.append(Line(layer.weight.name, f"{delta}.T @ {previous} / X.shape[0]"))
            grads.append(Line(layer.bias.name, f"{delta}.mean(axis=0)"))
    return {"columns": [], "forward": forward, "deltas": deltas, "grads": grads}


def check_matrix_structure(gradients: Gradients) -> None:
    """Prove the derived expressions are what the matrix code computes, entry by entry.

    z = W a + b per layer; dL/dW_ij = delta_i a_j and dL/db_i = delta_i; and each hidden
    delta_i = (sum_k delta_k W_ki) f'_i. Raises DerivationError otherwise.
    """
    network = gradients.network
    delta_of = {}
    for symbol, _ in gradients.deltas:
        info = network.info[symbol]
        delta_of[(info.layer, info.units[0][1] if info.units else 1)] = symbol
    expr_of = dict(gradients.deltas)
    inputs = {0: network.x}
    for layer in network.layers:
        inputs[layer.number] = layer.a
    for layer in network.layers:
        previous = inputs[layer.number - 1]
        n_in = len(previous)
        weights, biases = layer.weight.symbols, layer.bias.symbols
        for i, z_expr in enumerate(layer.z_local):
            row = weights[i * n_in:(i + 1) * n_in]
            affine = sp.Add(*(w * a for w, a in zip(row, previous))) + biases[i]
            delta = delta_of[(layer.number, i + 1)]
            checks = [(z_expr - affine, f"z{layer.number}_{i + 1} is not W a + b")]
            grad_w = gradients.params[layer.weight.name][i * n_in:(i + 1) * n_in]
            checks += [(g - delta * a, f"dL/d{w} is not delta a") for g, w, a in
                       zip(grad_w, row, previous)]
            checks.append((gradients.params[layer.bias.name][i] - delta,
                           f"dL/d{biases[i]} is not delta"))
            if layer is not network.output:
                above = network.layers[layer.number]
                n_above = len(above.z)
                column = above.weight.symbols[i::len(layer.z)][:n_above]
                upstream = sp.Add(*(delta_of[(above.number, k + 1)] * w
                                    for k, w in enumerate(column)))
                local = gradients.derivatives[layer.number].xreplace(
                    {layer.z[0]: layer.z[i], layer.a[0]: layer.a[i]})
                checks.append((expr_of[delta] - upstream * local,
                               f"{delta} is not (W^T delta) * f'"))
            for difference, message in checks:
                if sp.expand(difference) != 0:
                    raise DerivationError(f"matrix form does not hold: {message}")


def module_sha256(text: str) -> str:
    """sha256 of a generated module with its own hash's digits zeroed (derive/stamps.py)."""
    return self_hash(text, PY_MARKER)


def strings(items: list[str]) -> str:
    """A tuple literal of strings, on one line where it fits beside its name."""
    one_line = "(" + "".join(f'"{item}", ' for item in items).rstrip() + ")"
    if len(one_line) <= 70:
        return one_line
    return "(\n" + "".join(f'    "{item}",\n' for item in items) + ")"


def render_module(gradients: Gradients, scalar_max_width: int = SCALAR_MAX_WIDTH) -> str:
    """The generated NumPy module for one spec, stamped with its own hash."""
    network = gradients.network
    context = module_context(gradients, scalar_max_width)
    fast = context["fast"]
    math_names = [] if fast is None else fast["math_names"]
    text = template_environment().get_template("module.py.j2").render(
        math_names=math_names,
        activations=strings([layer.activation.name for layer in network.layers]),
        torch_activations=strings([layer.activation.torch for layer in network.layers]),
        torch_loss=network.loss.torch, labels=network.loss.labels,
        module_sha256="0" * 64, **context)
    return stamp_self(text, PY_MARKER)


def c_context(gradients: Gradients) -> dict | None:
    """The compiled loop's lines: the plain-Python loop's expressions, printed as C."""
    network = gradients.network
    if network.n_params > FAST_MAX_PARAMS:
        return None
    printer = CCodePrinter(network)
    forward = scalar_forward(network, printer)
    params, offset = [], 0
    for param in network.params:
        entries = []
        for symbol, expr in zip(param.symbols, gradients.params[param.name]):
            entries.append({"name": symbol.name, "offset": offset,
                            "grad": printer.doprint(expr)})
            offset += 1
        params.append({"name": param.name, "shape": param.shape, "entries": entries})
    loss = printer.doprint(network.loss_of_logit(network.output.z[0]))
    deltas = [Line(printer.doprint(s), printer.doprint(e)) for s, e in gradients.deltas]
    return {
        "forward": forward,
        "loss": loss,
        "deltas": deltas,
        "params": params,
        "n_params": offset,
        "inputs": [printer.doprint(x) for x in network.x],
        "helpers": c_helpers(printer.used_helpers),
        "ensemble": _c_ensemble_context(gradients),
    }


def _c_ensemble_context(gradients: Gradients) -> dict:
    """The same expressions for the ensemble loop, one network per SIMD lane."""
    network = gradients.network
    printer = CEnsemblePrinter(network)
    forward = scalar_forward(network, printer)
    grads = [printer.doprint(expr) for param in network.params
             for expr in gradients.params[param.name]]
    loss = printer.doprint(network.loss_of_logit(network.output.z[0]))
    deltas = [Line(printer.doprint(s), printer.doprint(e)) for s, e in gradients.deltas]
    return {"forward": forward, "loss": loss, "deltas": deltas, "grads": grads,
            "prediction": printer.doprint(network.y_hat),
            "helpers": c_simd_helpers(printer.used_helpers)}


def render_c(gradients: Gradients, module_sha256: str) -> str | None:
    """The C training loop of a small network, or None for networks too large for it."""
    context = c_context(gradients)
    if context is None:
        return None
    text = template_environment().get_template("train_loop.c.j2").render(
        spec=gradients.network.spec, module_sha256=module_sha256, c=context)
    return stamp_self(text, C_MARKER)


def readable_model_context(gradients: Gradients) -> dict:
    """The notebook's model code: one forward pass, the loss and the gradients, printed in
    the factor order of the formulas above it, with no speed helpers or input checks.

    A network with one hidden layer gets each gradient entry written out as its element-wise
    formula; deeper ones name the deltas of the backpropagation recursion.
    """
    network = gradients.network
    printer = NumPyCodePrinter(network)
    scalar = max(network.spec.widths) <= SCALAR_MAX_WIDTH
    lines = _scalar_lines(gradients, printer) if scalar else _matrix_lines(gradients, printer)
    logit = network.output.z[0]
    logit_name = printer.doprint(logit) if scalar else f"z{network.output.number}"
    sample_loss = network.loss_of_logit(logit).xreplace({logit: sp.Symbol(logit_name)})
    loss_line = f"np.mean({printer.doprint(sample_loss)})"
    grads: list[Line] = []
    deltas = lines["deltas"]
    if scalar:
        expand = len(network.layers) == 2
        deltas = [] if expand else deltas
        for param in network.params:
            for index, expr in zip(param.indices, gradients.params[param.name]):
                if expand:
                    expr = gradients.expand_deltas(expr)
                target = f'grads["{param.name}"]' + (
                    f"[{', '.join(map(str, index))}]" if index else "")
                grads.append(Line(target, f"np.mean({printer.doprint(expr)})"))
    else:
        for line in lines["grads"]:
            value = line.value.replace("/ X.shape[0]", "/ len(X)")
            grads.append(Line(f'grads["{line.target}"]', value))
    names = [p.name for p in network.params]
    return {
        "unpack": _unpack(names, "(params[name] for name in SHAPES)"),
        "columns": lines["columns"],
        "forward": lines["forward"],
        "logit_form": (network.output.activation.name, network.loss.name) == ("sigmoid", "bce"),
        "logit": logit_name,
        "loss": loss_line,
        "deltas": deltas,
        "grads": grads,
        "helpers": numpy_helpers(printer.used_helpers, readable=True),
        "helper_imports": helper_imports(printer.used_helpers),
    }
