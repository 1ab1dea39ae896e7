"""LaTeX from the derivation: the formulas of the report, printed from the SymPy expressions.

Each gradient is derived for concrete entries (W_11, W_12, ...). Printing an entry with its
unit numbers replaced by index letters must give one and the same formula for every entry:
that is the element-wise formula, proved uniform rather than assumed. The vector form is
read off the same product: factors indexed by i combine with the Hadamard product, a factor
indexed by j becomes the transposed vector of an outer product.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.files import align_at_relation, template_environment
from derive.functions import ACTIVATIONS, CLASSIFIERS, LOSSES, MARKERS, SPELLINGS, MarkerBase
from derive.gradients import Gradients
from derive.matrix import MatrixGradients, StepLatexPrinter, derive_matrix, matrix_report
from derive.network import Network, SymbolInfo

LETTERS = "ijk"


def _layer_tag(layer: int) -> str:
    return f"^{{({layer})}}"


def symbol_latex(info: SymbolInfo, network: Network, letters: dict[int, str],
                 vector: bool = False) -> str:
    """A symbol in the assignment's notation; `letters` maps a layer to its index letter.

    With `vector`, an entry indexed by a letter is named as the whole vector instead.
    """
    idx = "".join(letters.get(layer, str(unit)) for layer, unit in info.units)
    single_hidden = len(network.layers) == 2
    if info.family == "x":
        return r"\vec{x}_n" if vector else f"x_{{n,{idx}}}"
    if info.family == "y":
        return "y_n"
    if info.family == "y_hat":
        return r"\hat{y}_n"
    if info.family == "a":
        tag = "" if single_hidden else _layer_tag(info.layer)
        return rf"\vec{{h}}{tag}_n" if vector else f"h{tag}_{{n,{idx}}}"
    if info.family == "z":
        if vector and info.units:
            return rf"\vec{{z}}{_layer_tag(info.layer)}_n"
        return f"z{_layer_tag(info.layer)}_{{n{',' + idx if idx else ''}}}"
    if info.family == "delta":
        return rf"\delta{_layer_tag(info.layer)}_{{n{',' + idx if idx else ''}}}"
    tag = _layer_tag(info.layer)
    if info.family == "w":
        return rf"\vec{{w}}{tag}" if vector else f"w{tag}_{{{idx}}}"
    if info.family == "W":
        return f"W{tag}" if vector else f"W{tag}_{{{idx}}}"
    return f"b{tag}" if (vector or not idx) else f"b{tag}_{{{idx}}}"


class NetworkLatexPrinter(StepLatexPrinter):
    """Prints derived expressions in the report's notation, products from output to input."""

    def __init__(self, network: Network, letters: dict[int, str] | None = None,
                 vector: bool = False) -> None:
        super().__init__({"order": "none"})
        self._network = network
        self._letters = letters or {}
        self._vector = vector

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        info = self._network.info.get(expr)
        if info is None:
            return super()._print_Symbol(expr, style)
        return symbol_latex(info, self._network, self._letters, self._vector)

    def _print_One(self, expr: sp.Expr) -> str:
        return r"\mathbf{1}" if self._vector else "1"

    def _factor_key(self, factor: sp.Expr) -> tuple:
        return (*self._network.factor_rank(factor), self._print(factor))

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        """Biases last: W x + b, as the model is written."""
        def is_bias(term: sp.Expr) -> bool:
            info = self._network.info.get(term)
            return info is not None and info.family == "b"

        terms = sorted(expr.args, key=lambda t: (is_bias(t), t.could_extract_minus_sign()))
        return super()._print_Add(sp.Add(*terms, evaluate=False), order="none")

    def _print_Mul(self, expr: sp.Mul) -> str:
        coeff, factors = expr.as_coeff_mul()
        if not (coeff.is_Rational and coeff > 0) or any(
                f.is_Pow and f.exp.is_negative for f in factors):
            return super()._print_Mul(expr)
        parts = [] if coeff == 1 else [self._print(coeff)]
        for factor in sorted(factors, key=self._factor_key):
            text = self._print(factor)
            parts.append(rf"\left({text}\right)" if factor.is_Add else text)
        return (r" \odot " if self._vector else " ").join(parts)

    def _print_MarkerBase(self, expr: MarkerBase, exp: str | None = None) -> str:
        """The registry's LaTeX for the function, as a power where SymPy asks for one."""
        text = SPELLINGS[type(expr).__name__].latex.format(z=self._print(expr.args[0]))
        return rf"\left({text}\right)^{{{exp}}}" if exp else text


@dataclass(frozen=True)
class Formula:
    """One displayed equation: a short caption and its LaTeX body (no delimiters)."""

    caption: str
    body: str

    def aligned(self) -> str:
        return align_at_relation(self.body)


@dataclass(frozen=True)
class Report:
    network: list[Formula]
    loss: list[Formula]
    derivatives: list[Formula]
    elementwise: list[Formula]
    vector: list[Formula]
    update: list[Formula]
    matrix: list[Formula]  # the batch's chain rule at the matrix level, with shapes


def _param_letters(gradients: Gradients, name: str) -> list[dict[int, str]]:
    """Per entry of a parameter: which layer's unit number each index letter stands for."""
    network = gradients.network
    param = next(p for p in network.params if p.name == name)
    out = []
    for symbol in param.symbols:
        units = network.info[symbol].units
        out.append({layer: LETTERS[k] for k, (layer, _) in enumerate(units)})
    return out


def elementwise_formula(gradients: Gradients, name: str) -> tuple[sp.Expr, dict[int, str], str]:
    """The per-sample gradient of one (any) entry, and its LaTeX, shown equal for all entries."""
    network = gradients.network
    expanded = [gradients.expand_deltas(e) for e in gradients.params[name]]
    letter_maps = _param_letters(gradients, name)
    printed = {NetworkLatexPrinter(network, m).doprint(e) for e, m in zip(expanded, letter_maps)}
    if len(printed) != 1:
        raise ValueError(f"dL/d{name}: entries differ beyond their indices; "
                         "no single element-wise formula")
    return expanded[0], letter_maps[0], printed.pop()


def vector_formula(network: Network, expr: sp.Expr, letters: dict[int, str]) -> str:
    """The same per-sample product in vector form: i-factors by Hadamard, j-factor transposed."""
    printer = NetworkLatexPrinter(network, letters, vector=True)
    groups: dict[str, list[sp.Expr]] = {"": [], "i": [], "j": []}
    for factor in sorted(sp.Mul.make_args(expr), key=printer._factor_key):
        used = {letters[u[0]] for s in factor.free_symbols if s in network.info
                for u in network.info[s].units if u[0] in letters}
        if len(used) > 1:
            raise ValueError("a factor carries two indices; no vector form")
        groups[used.pop() if used else ""].append(factor)

    def show(factor: sp.Expr) -> str:
        text = printer.doprint(factor)
        return rf"\left({text}\right)" if factor.is_Add else text

    parts = [show(f) for f in groups[""]]
    hadamard = r" \odot ".join(show(f) for f in groups["i"])
    if groups["j"]:
        if len(groups["j"]) != 1 or not groups["j"][0].is_Symbol:
            raise ValueError("the j-indexed part is not one vector; no outer-product form")
        if len(groups["i"]) > 1:
            hadamard = rf"\left({hadamard}\right)"
        parts.append(hadamard)
        parts.append(f"{show(groups['j'][0])}^{{\\top}}")
    elif hadamard:
        parts.append(hadamard)
    return " ".join(parts)


def _mean(body: str) -> str:
    return rf"\frac{{1}}{{N}} \sum_{{n=1}}^{{N}} {body}"


def _partial(target: str) -> str:
    return rf"\frac{{\partial L}}{{\partial {target}}}"


ELEMENT_FORMS_MAX_UNITS = 4  # hidden units up to which the forward pass is written unit by unit


def _hidden_name(network: Network, layer: int) -> str:
    """The vector of a layer's outputs: x for layer 0, h or h^(l) for hidden ones."""
    if layer == 0:
        return r"\vec{x}_n"
    return r"\vec{h}_n" if len(network.layers) == 2 else rf"\vec{{h}}^{{({layer})}}_n"


def _transposed(vector: str) -> str:
    """v^T, with parentheses where v already carries a superscript (TeX allows one)."""
    return rf"\left({vector}\right)^{{\top}}" if "^" in vector else rf"{vector}^{{\top}}"


def _apply(activation: str, body: str) -> str:
    if activation == "identity":
        return body
    record = CLASSIFIERS[activation] if activation in CLASSIFIERS else ACTIVATIONS[activation]
    return rf"{record.latex}\left({body}\right)"


def _forward(network: Network, plain: NetworkLatexPrinter) -> list[Formula]:
    """The network in vector form, and unit by unit when it is small enough to read."""
    formulas = []
    for layer in network.layers:
        previous = _hidden_name(network, layer.number - 1)
        tag = f"{{({layer.number})}}"
        if layer is network.output:
            target = plain.doprint(network.y_hat)
            body = rf"\vec{{w}}^{{({layer.number})\top}} {previous} + b^{tag}"
        else:
            target = _hidden_name(network, layer.number)
            body = rf"W^{tag} {previous} + b^{tag}"
        formulas.append(Formula(f"layer {layer.number}",
                                f"{target} = {_apply(layer.activation.name, body)}"))
    if sum(network.spec.hidden) <= ELEMENT_FORMS_MAX_UNITS:
        for layer in network.layers:
            for a, z_expr in zip(layer.a, layer.z_local):
                applied = _apply(layer.activation.name, plain.doprint(z_expr))
                formulas.append(Formula("", f"{plain.doprint(a)} = {applied}"))
    return formulas


def _derivatives(gradients: Gradients, plain: NetworkLatexPrinter) -> list[Formula]:
    network = gradients.network
    zs = sp.Symbol("z", real=True)
    formulas, seen, used = [], set(), set()
    for layer in network.layers[:-1]:
        name = layer.activation.name
        if name in seen or name == "identity":
            continue
        seen.add(name)
        derivative = gradients.derivatives[layer.number].xreplace(
            {layer.a[0]: layer.activation.apply(zs), layer.z[0]: zs})
        act = ACTIVATIONS[name].latex
        applied = layer.activation.apply(zs)
        if act.startswith(r"\operatorname"):  # not a symbol every reader knows: define it
            definition = applied.definition(zs) if isinstance(applied, MarkerBase) else applied
            formulas.append(Formula(f"the {name}",
                                    rf"{act}(z) = {plain.doprint(definition)}"))
            used |= {type(m) for m in (definition + derivative).atoms(MarkerBase)}
        formulas.append(Formula(f"derivative of the {name}",
                                rf"{act}'(z) = {plain.doprint(derivative)}"))
    for marker in MARKERS:  # the functions those are written with, where not common
        if marker in used and marker.__name__.startswith("normal_"):
            formulas.append(Formula(marker.__name__.replace("_", " "),
                                    f"{plain.doprint(marker(zs))} = "
                                    f"{plain.doprint(marker.definition(zs))}"))
    out = network.output
    formulas.append(Formula("the output delta: the loss differentiated through the output",
                            rf"\delta^{{({out.number})}}_n = "
                            rf"\frac{{\partial \ell_n}}{{\partial z^{{({out.number})}}_n}} = "
                            rf"{plain.doprint(gradients.output_delta)}"))
    return formulas


def _recursion(gradients: Gradients) -> list[Formula]:
    """Backpropagation as a per-layer recursion: the same size whatever the widths."""
    network = gradients.network
    out = network.output
    formulas = []
    for layer in reversed(network.layers[:-1]):
        above = network.layers[layer.number]
        vec = NetworkLatexPrinter(network, {layer.number: "i"}, vector=True)
        derivative = vec.doprint(gradients.derivatives[layer.number])
        derivative = rf"\left({derivative}\right)" if gradients.derivatives[
            layer.number].is_Add else derivative
        tag, up = f"{{({layer.number})}}", f"{{({above.number})}}"
        upstream = (rf"\vec{{w}}^{up} \delta^{up}_n" if above is out
                    else rf"W^{{({above.number})\top}} \vec{{\delta}}^{up}_n")
        delta = rf"\vec{{\delta}}^{tag}_n"
        formulas.append(Formula(f"delta of layer {layer.number}",
                                rf"{delta} = \left({upstream}\right) \odot {derivative}"))
    for layer in network.layers:
        tag = f"{{({layer.number})}}"
        previous = _hidden_name(network, layer.number - 1)
        if layer is out:
            delta = rf"\delta^{tag}_n"
            weight = rf"\vec{{w}}^{tag}"
            formulas.append(Formula("", f"{_partial(weight)} = {_mean(f'{delta} {previous}')}"))
        else:
            delta = rf"\vec{{\delta}}^{tag}_n"
            formulas.append(Formula("", rf"{_partial(f'W^{tag}')} = "
                                        + _mean(f"{delta} {_transposed(previous)}")))
        formulas.append(Formula("", rf"{_partial(f'b^{tag}')} = {_mean(delta)}"))
    return formulas


def build_report(gradients: Gradients, matrix: MatrixGradients | None = None) -> Report:
    """All formulas of the report, printed from the derivation.

    One hidden layer: every gradient element-wise and in vector form, fully written out.
    Deeper networks: the per-layer recursion of backpropagation, in vector form.
    """
    network = gradients.network
    plain = NetworkLatexPrinter(network)
    sample_loss = plain.doprint(network.sample_loss())
    loss = [Formula(network.loss.title,
                    "L = " + _mean(r"\ell_n") + rf", \qquad \ell_n = {sample_loss}")]

    elementwise, vector, update = [], [], []
    assignment_order = sorted(network.params, key=lambda p: (p.name[0].lower() == "b", p.layer))
    for param in assignment_order:
        info = network.info[param.symbols[0]]
        letters = {layer: LETTERS[k] for k, (layer, _) in enumerate(info.units)}
        whole = symbol_latex(info, network, letters, vector=True)
        update.append(Formula(param.name,
                              rf"{whole} \leftarrow {whole} - \eta\, {_partial(whole)}"))
        if len(network.layers) != 2:
            continue
        expr, letters, text = elementwise_formula(gradients, param.name)
        text = rf"\left({text}\right)" if expr.is_Add else text
        entry = symbol_latex(info, network, letters)
        in_vectors = vector_formula(network, expr, letters)
        elementwise.append(Formula(param.name, rf"{_partial(entry)} = {_mean(text)}"))
        vector.append(Formula(param.name, rf"{_partial(whole)} = {_mean(in_vectors)}"))
    if len(network.layers) != 2:
        vector = _recursion(gradients)

    matrix = matrix if matrix is not None else derive_matrix(network.spec)
    in_matrices = [Formula(caption, body) for caption, body in matrix_report(matrix)]
    return Report(_forward(network, plain), loss, _derivatives(gradients, plain), elementwise,
                  vector, update, in_matrices)


def render(gradients: Gradients, template: str, matrix: MatrixGradients | None = None) -> str:
    """Render the report through `templates/<template>` (gradients.tex.j2 or gradients.md.j2)."""
    return template_environment().get_template(template).render(
        report=build_report(gradients, matrix), spec=gradients.network.spec)


def build_matrix_report(matrix: MatrixGradients) -> Report:
    """The report of a network derived at the matrix level only: the forward pass and the
    loss for a batch, the chain rule with shapes, the updates; no element-wise forms."""
    forward = []
    for layer in matrix.layers:
        tag = f"{{({layer.number})}}"
        previous = "X" if layer.number == 1 else f"A^{{({layer.number - 1})}}"
        output = layer is matrix.layers[-1]
        target = r"\hat{Y}" if output else f"A^{tag}"
        forward.append(Formula(f"layer {layer.number}", rf"{target} = " + _apply(
            layer.activation.name, rf"{previous} W^{{({layer.number})\top}} + "
                                   rf"\mathbf{{1}} b^{{({layer.number})\top}}")))
    classifier = CLASSIFIERS.get(matrix.spec.output_activation)
    if classifier is not None:  # y_n one-hot: the label's log-probability
        title = classifier.title
        sample_loss = r"-\sum_{k=1}^{K} y_{nk} \log \hat{y}_{nk}"
    else:
        loss = LOSSES[matrix.spec.loss]
        title = loss.title
        sample_loss = sp.latex(loss.of_prediction(sp.Symbol(r"\hat{y}_n"), sp.Symbol("y_n")))
    losses = [Formula(title, "L = " + _mean(r"\ell_n") + rf", \qquad \ell_n = {sample_loss}")]
    update = []
    for layer in matrix.layers:
        for letter in ("W", "b"):
            whole = f"{letter}^{{({layer.number})}}"
            update.append(Formula(f"{letter}{layer.number}",
                                  rf"{whole} \leftarrow {whole} - \eta\, {_partial(whole)}"))
    in_matrices = [Formula(caption, body) for caption, body in matrix_report(matrix)]
    return Report(forward, losses, [], [], [], update, in_matrices)


def render_matrix(matrix: MatrixGradients, template: str) -> str:
    """The report of a network derived at the matrix level only."""
    return template_environment().get_template(template).render(
        report=build_matrix_report(matrix), spec=matrix.spec)
