"""Backpropagation at the matrix level: the batch size and every width are symbols, so
deriving 784-128-10 costs what deriving 2-2-1 costs.

SymPy's matrix calculus cannot differentiate a whole network's loss (element-wise functions
defeat it), so the derivation goes layer by layer, from local expressions, as by hand:

- the affine map Z = A W^T + 1 b^T: SymPy differentiates tr(G^T Z), for an upstream
  gradient G of Z's shape, with respect to A, W and b (matrices of symbolic size), which
  gives dA = G W, dW = G^T A, db = G^T 1;
- the element-wise activation A = f(Z): its vector-Jacobian product is G o f'(Z), with
  f'(z) SymPy's derivative of one generic element (derive/gradients.py's, written through
  a = f(z) where f can be inverted);
- the loss, the mean over samples of l(y_hat, y) summed over the outputs: its gradient
  with respect to the output logits, element by element, from SymPy (sigmoid with binary
  cross-entropy gives (Y_hat - Y) / N).

`prove` instantiates the result at concrete widths and a batch of two samples and checks
it symbolically against the unit-by-unit derivation (derive/gradients.py), so the two
derivations check each other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter

from derive.functions import ACTIVATIONS, CLASSIFIERS, LOSSES, Activation, Classifier
from derive.gradients import DerivationError, Gradients, activation_derivative, element_output_delta
from derive.spec import NetworkSpec


@dataclass(frozen=True)
class MatrixLayer:
    """Layer l's matrices, of symbolic shapes: W (n_l x n_(l-1)), b (n_l x 1), and the
    batch's Z, A and Delta = dL/dZ (N x n_l)."""

    number: int
    activation: Activation
    W: sp.MatrixSymbol
    b: sp.MatrixSymbol
    Z: sp.MatrixSymbol
    A: sp.MatrixSymbol
    Delta: sp.MatrixSymbol
    fprime: sp.Expr | None  # f'(z) of one element, in z and a (None: a row-wise output)


@dataclass(frozen=True)
class MatrixGradients:
    """The chain rule per layer, as SymPy derived it.

    `upstream[l]` is dL/dA(l) = Delta(l+1) W(l+1) for a hidden layer; Delta(l) is
    upstream[l] o f'(Z(l)) element-wise. `output_element` is N dL/dZ(L) of one element, in
    the element symbols y_hat and y. `grads` maps each parameter's name to dL/dW(l) =
    Delta(l)^T A(l-1) and dL/db(l) = Delta(l)^T 1.
    """

    spec: NetworkSpec
    N: sp.Symbol
    widths: tuple[sp.Symbol, ...]  # n_0 .. n_L
    X: sp.MatrixSymbol
    Y: sp.MatrixSymbol
    layers: tuple[MatrixLayer, ...]
    z: sp.Symbol  # the generic element symbols the scalar formulas use
    a: sp.Symbol
    y_hat: sp.Symbol
    y: sp.Symbol
    output_element: sp.Expr
    upstream: dict[int, sp.MatrixExpr]
    grads: dict[str, sp.MatrixExpr]

    def inputs_of(self, layer: MatrixLayer) -> sp.MatrixSymbol:
        """A(l-1): the layer's input, X for the first layer."""
        return self.X if layer.number == 1 else self.layers[layer.number - 2].A


def affine_vjp(G: sp.MatrixSymbol, A: sp.MatrixSymbol, W: sp.MatrixSymbol,
               b: sp.MatrixSymbol) -> tuple[sp.MatrixExpr, sp.MatrixExpr, sp.MatrixExpr]:
    """(dA, dW, db) of Z = A W^T + 1 b^T given dL/dZ = G, by SymPy's matrix calculus on
    tr(G^T Z), whose derivative with respect to each argument is exactly that product."""
    ones = sp.OneMatrix(A.shape[0], 1)
    local = sp.Trace(G.T * (A * W.T + ones * b.T))
    return tuple(sp.simplify(local.diff(m)) for m in (A, W, b))


def softmax_output_delta(classifier: Classifier, y_hat: sp.Symbol, y: sp.Symbol) -> sp.Expr:
    """N dL/dZ of one output element of a softmax with cross-entropy, from SymPy: the
    per-sample loss over rows of symbolic length K differentiated by z_m, given that y is
    one-hot (sum_k y_k = 1) and writing softmax(z)_m as y_hat. Expected: y_hat - y."""
    K = sp.Symbol("K", integer=True, positive=True)
    z, t = sp.IndexedBase("z", real=True), sp.IndexedBase("y", real=True)
    j, k, m = sp.symbols("j k m", integer=True, positive=True)
    derivative = classifier.sample_loss(z, t, k, j, K).diff(z[m]).doit()
    derivative = sp.piecewise_fold(sp.simplify(derivative))
    if isinstance(derivative, sp.Piecewise):  # the branch for 1 <= m <= K
        derivative = next(e for e, c in derivative.args if c != sp.true)
    total = sp.Sum(sp.exp(z[j]), (j, 1, K))
    one_hot = derivative.subs(sp.Sum(t[k], (k, 1, K)), 1)
    element = sp.simplify(one_hot.subs(sp.exp(z[m]), y_hat * total)).xreplace({t[m]: y})
    if element.free_symbols != {y_hat, y}:
        raise DerivationError(f"softmax output delta did not simplify: {element}")
    return element


def prove_softmax_delta(classifier: Classifier, element: sp.Expr, y_hat: sp.Symbol,
                        y: sp.Symbol, classes: int = 3) -> None:
    """The derived delta against the definition written out for `classes` explicit logits
    and every one-hot label, exactly."""
    zs = sp.symbols(f"z1:{classes + 1}", real=True)
    total = sp.Add(*(sp.exp(z) for z in zs))
    for label in range(classes):
        loss = -sp.log(sp.exp(zs[label]) / total)
        for m, z in enumerate(zs):
            want = sp.diff(loss, z)
            got = element.xreplace({y_hat: sp.exp(z) / total, y: int(m == label)})
            if sp.simplify(want - got) != 0:
                raise DerivationError(f"softmax output delta differs at label {label}, "
                                      f"logit {m + 1}")


def derive_matrix(spec: NetworkSpec) -> MatrixGradients:
    """The matrix-level chain rule of `spec`'s network; its widths do not enter (only the
    number of layers and their activations do)."""
    depth = len(spec.widths) - 1
    N = sp.Symbol("N", integer=True, positive=True)
    widths = tuple(sp.Symbol(f"n_{k}", integer=True, positive=True) for k in range(depth + 1))
    z, a, y_hat, y = sp.symbols("z a yhat y", real=True)
    X = sp.MatrixSymbol("X", N, widths[0])
    layers = []
    classifier = CLASSIFIERS.get(spec.output_activation)
    for number in range(1, depth + 1):
        row_output = classifier is not None and number == depth
        activation = classifier.activation if row_output else \
            ACTIVATIONS[spec.activations[number - 1]]
        n_out, n_in = widths[number], widths[number - 1]
        layers.append(MatrixLayer(
            number, activation, sp.MatrixSymbol(f"W{number}", n_out, n_in),
            sp.MatrixSymbol(f"b{number}", n_out, 1), sp.MatrixSymbol(f"Z{number}", N, n_out),
            sp.MatrixSymbol(f"A{number}", N, n_out), sp.MatrixSymbol(f"Delta{number}", N, n_out),
            None if row_output else activation_derivative(activation, z, a)))
    Y = sp.MatrixSymbol("Y", N, widths[-1])
    output = layers[-1]
    if classifier is not None:
        output_element = softmax_output_delta(classifier, y_hat, y)
        prove_softmax_delta(classifier, output_element, y_hat, y)
    else:
        output_element = element_output_delta(output.activation, LOSSES[spec.loss], z, y_hat,
                                              y)
    upstream, grads = {}, {}
    for layer in reversed(layers):
        inputs = X if layer.number == 1 else layers[layer.number - 2].A
        d_inputs, d_W, d_b = affine_vjp(layer.Delta, inputs, layer.W, layer.b)
        grads[layer.W.name] = d_W
        grads[layer.b.name] = d_b
        if layer.number > 1:
            upstream[layer.number - 1] = d_inputs
    grads = {name: grads[name] for layer in layers for name in (layer.W.name, layer.b.name)}
    return MatrixGradients(spec, N, widths, X, Y, tuple(layers), z, a, y_hat, y,
                           output_element, upstream, grads)


def instantiate(matrix: MatrixGradients, gradients: Gradients,
                samples: int = 2) -> dict[str, sp.Matrix]:
    """The matrix-level gradients at the unit-by-unit network's widths, for a batch of
    `samples` samples of its own input symbols (sample s: x_j^(s), y^(s)), as explicit
    SymPy matrices in the inputs and parameters alone."""
    network = gradients.network
    rows = [{symbol: sp.Symbol(f"{symbol.name}^({s})", real=True)
             for symbol in (*network.x, network.y)} for s in range(samples)]
    X = sp.Matrix([[row[x] for x in network.x] for row in rows])
    Y = sp.Matrix([[row[network.y]] for row in rows])
    weights, biases = {}, {}
    for layer in network.layers:
        n_in = len(network.x) if layer.number == 1 else len(network.layers[layer.number - 2].a)
        weights[layer.number] = sp.Matrix(len(layer.z), n_in, list(layer.weight.symbols))
        biases[layer.number] = sp.Matrix(len(layer.z), 1, list(layer.bias.symbols))
    ones = sp.ones(samples, 1)
    values: dict[sp.Symbol, sp.Matrix] = {}
    A = X
    for layer in matrix.layers:
        Z = A * weights[layer.number].T + ones * biases[layer.number].T
        values[layer.Z], values[layer.W], values[layer.b] = Z, weights[layer.number], \
            biases[layer.number]
        values[layer.A] = A = Z.applyfunc(layer.activation.apply)
    values[matrix.X], values[matrix.Y] = X, Y
    output = matrix.layers[-1]
    element = matrix.output_element
    delta = sp.Matrix(samples, 1, lambda i, j: element.xreplace(
        {matrix.y_hat: values[output.A][i, j], matrix.y: Y[i, j],
         matrix.z: values[output.Z][i, j]}) / samples)
    values[output.Delta] = delta
    for layer in reversed(matrix.layers[:-1]):
        upstream = _explicit(matrix.upstream[layer.number], values, samples)
        Z, A = values[layer.Z], values[layer.A]
        values[layer.Delta] = sp.Matrix(*upstream.shape, [
            upstream[i, j] * layer.fprime.xreplace({matrix.z: Z[i, j], matrix.a: A[i, j]})
            for i in range(upstream.shape[0]) for j in range(upstream.shape[1])])
    return {name: _explicit(expr, values, samples) for name, expr in matrix.grads.items()}


def _explicit(expr: sp.MatrixExpr, values: dict, samples: int) -> sp.Matrix:
    """A matrix expression evaluated with explicit matrices (the ones column as `samples`
    ones: the only matrix whose size is the batch's alone)."""
    replaced = expr.replace(lambda e: isinstance(e, sp.OneMatrix),
                            lambda e: sp.ones(samples, 1)).xreplace(values)
    return sp.Matrix(replaced.doit())


def prove(matrix: MatrixGradients, gradients: Gradients) -> None:
    """Raise DerivationError unless the matrix-level gradients, instantiated at the
    network's widths for a batch of two samples, equal the mean of the unit-by-unit
    per-sample gradients, exactly (symbolically, element by element)."""
    network = gradients.network
    explicit = instantiate(matrix, gradients, samples=2)
    composed = network.composed()
    # the same parameters in the same order (the unit-by-unit output weight is a vector, w)
    for param, name in zip(network.params, matrix.grads, strict=True):
        got = list(explicit[name])
        for index, symbol in enumerate(param.symbols):
            per_sample = gradients.expand_deltas(
                gradients.params[param.name][index]).xreplace(composed)
            want = sp.Add(*(per_sample.xreplace(
                {s: sp.Symbol(f"{s.name}^({k})", real=True) for s in (*network.x, network.y)})
                for k in range(2))) / 2
            if sp.expand(got[index] - want) != 0:
                raise DerivationError(f"matrix form of dL/d{symbol} differs from the unit-by-unit "
                                      "derivation")


SMALL_WIDTH = 2


def prove_at_small_widths(matrix: MatrixGradients) -> None:
    """Prove the matrix-level result of a network of any width.

    The derivation never looks at the widths: the same layers and activations with every
    width at most 2 derive the very same expressions (checked here). So proving that
    small network's matrix form against its unit-by-unit derivation (`prove`) proves this
    one's, at a cost that does not grow with the widths."""
    from derive.gradients import derive
    from derive.network import build

    spec = matrix.spec
    small_spec = dataclasses.replace(
        spec, n_inputs=min(spec.n_inputs, SMALL_WIDTH),
        hidden=tuple(min(width, SMALL_WIDTH) for width in spec.hidden))
    if spec.output_activation in CLASSIFIERS:
        # The unit-by-unit derivation has one output: prove the chain rule below the
        # output with a sigmoid unit, whose delta is the same y_hat - y (each delta is
        # proved on its own: softmax_output_delta, element_output_delta).
        small_spec = dataclasses.replace(small_spec, output_activation="sigmoid", loss="bce",
                                         n_outputs=1)
    small = derive_matrix(small_spec)
    if _derivation(small) != _derivation(matrix):
        raise DerivationError(f"the matrix-level derivation of {spec.name} depends on its "
                              "widths; it cannot be proved at small ones")
    prove(small, derive(build(small_spec)))


def _derivation(matrix: MatrixGradients) -> tuple[str, ...]:
    """Everything derived, as text: equal texts are equal expressions."""
    return (sp.srepr(matrix.output_element),
            *(sp.srepr(layer.fprime) for layer in matrix.layers[:-1]),
            *(f"{n}:{sp.srepr(e)}" for n, e in sorted(matrix.upstream.items())),
            *(f"{n}:{sp.srepr(e)}" for n, e in matrix.grads.items()))


def _tex_names(matrix: MatrixGradients) -> dict[sp.MatrixSymbol, sp.MatrixSymbol]:
    """Each matrix under its report name (braced, so a transpose's ^T stays valid LaTeX)."""
    names = {matrix.X: sp.MatrixSymbol("{X}", *matrix.X.shape),
             matrix.Y: sp.MatrixSymbol("{Y}", *matrix.Y.shape),
             sp.OneMatrix(matrix.N, 1): sp.MatrixSymbol(r"{\mathbf{1}}", matrix.N, 1)}
    for layer in matrix.layers:
        tag = f"^{{({layer.number})}}"
        output = layer is matrix.layers[-1]
        for symbol, letter in ((layer.W, "W"), (layer.b, "b"), (layer.Z, "Z"),
                               (layer.A, r"\hat{Y}" if output else "A"),
                               (layer.Delta, r"\Delta")):
            text = f"{{{letter}}}" if output and letter == r"\hat{Y}" else f"{{{letter}{tag}}}"
            names[symbol] = sp.MatrixSymbol(text, *symbol.shape)
    return names


def _shape_tex(shape: tuple[sp.Expr, sp.Expr], concrete: dict[sp.Symbol, int]) -> str:
    """`n_1 x n_0`, with this network's widths after it where it has them: `(2 x 2)`."""
    symbolic = [sp.sympify(s) for s in shape]
    numbers = [s.xreplace(concrete) for s in symbolic]
    text = r" \times ".join(sp.latex(s) for s in symbolic)
    if numbers != symbolic:
        text += r" \;(" + r" \times ".join(sp.latex(s) for s in numbers) + ")"
    return text


def _hadamard(expr: sp.Expr) -> sp.Expr:
    """Integer powers as repeated products, unevaluated, so that a printer with the
    product symbol set to \\odot shows element-wise squares as A \\odot A."""
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 1:
        return sp.Mul(*[_hadamard(expr.base)] * int(expr.exp), evaluate=False)
    if expr.args:
        return expr.func(*[_hadamard(arg) for arg in expr.args], evaluate=False)
    return expr


class StepLatexPrinter(LatexPrinter):
    """SymPy's LaTeX, with the ReLU's derivative as the indicator 1[z > 0] that the reports
    and the grader use (SymPy writes Heaviside's step as an undefined theta)."""

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        text = rf"\mathbf{{1}}\left[{self._print(expr.args[0])} > 0\right]"
        return rf"\left({text}\right)^{{{exp}}}" if exp else text


def matrix_report(matrix: MatrixGradients) -> list[tuple[str, str]]:
    """(caption, LaTeX body) of the batch's chain rule in matrix form, each gradient
    followed by the shapes of its factors: what SymPy derived, printed."""
    names = _tex_names(matrix)
    concrete = {symbol: width for symbol, width in zip(matrix.widths, matrix.spec.widths)}
    tex = lambda expr: sp.latex(expr.xreplace(names))  # noqa: E731
    formulas = []
    output = matrix.layers[-1]
    element = sp.latex(sp.factor(matrix.output_element), symbol_names={matrix.y_hat: r"\hat{y}"})
    if matrix.output_element == matrix.y_hat - matrix.y:
        formulas.append(("output delta", rf"{tex(output.Delta)} = \frac{{1}}{{N}}"
                                         rf"\left({tex(output.A)} - {tex(matrix.Y)}\right)"))
    else:
        formulas.append(("output delta", rf"{tex(output.Delta)} = \frac{{1}}{{N}}\, "
                                         rf"g\!\left({tex(output.A)}, {tex(matrix.Y)}\right), "
                                         rf"\quad g(\hat{{y}}, y) = {element}"))
    for layer in reversed(matrix.layers[:-1]):
        upstream = rf"{tex(layer.Delta)} = \left({tex(matrix.upstream[layer.number])}\right)"
        if layer.fprime.free_symbols <= {matrix.a}:  # sigmoid, tanh: f' through A alone
            through_a = _hadamard(layer.fprime.xreplace({matrix.a: sp.Symbol(tex(layer.A))}))
            formulas.append((f"delta of layer {layer.number}", rf"{upstream} \odot \left("
                             + sp.latex(through_a, mul_symbol=r" \odot ") + r"\right)"))
            continue
        f = f"f_{{{layer.number}}}"
        fprime = StepLatexPrinter().doprint(layer.fprime)
        where = rf" \text{{ with }} a = {f}(z)" if layer.fprime.has(matrix.a) else ""
        formulas.append((f"delta of layer {layer.number}",
                         rf"{upstream} \odot {f}'\!\left({tex(layer.Z)}\right), "
                         rf"\quad {f}'(z) = {fprime}{where}"))
    for layer in matrix.layers:
        for symbol in (layer.W, layer.b):
            gradient = matrix.grads[symbol.name]
            formulas.append((f"gradient of {symbol.name}",
                             rf"\frac{{\partial L}}{{\partial {tex(symbol)}}} = {tex(gradient)}"))
            factors = [f for f in gradient.args if isinstance(f, sp.MatrixExpr)]
            shapes = [rf"{tex(f)}: {_shape_tex(f.shape, concrete)}" for f in factors]
            shapes.append(rf"\text{{result}}: {_shape_tex(gradient.shape, concrete)}")
            formulas.append(("shapes", r",\quad ".join(shapes)))
    return formulas
