"""The NumPy module of a network derived at the matrix level only (derive/matrix.py): one
matrix product per layer, every line printed from an expression SymPy derived, so the code
is as long for 784-1024-10 as for 2-4-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from derive.codegen import Line, NumPyCodePrinter, helper_imports, numpy_helpers, strings
from derive.files import template_environment
from derive.functions import CLASSIFIERS, LOSSES
from derive.matrix import MatrixGradients, MatrixLayer
from derive.stamps import PY_MARKER, stamp_self

# The NumPy helpers of a row-wise output: each row's largest logit subtracted first, the
# same values without overflow. NumPy reduces a short row in about 40 ns, a column of a
# (N, K) array in about N ns plus a 1 us call: row maxima and sums of many rows go column by
# column or as one matrix-vector product (1347 x 10: 15 us against 55; 5 us against 27).
ROW_HELPERS = {
    "row_max": """def row_max(M):
    \"\"\"Each row's largest entry; of many short rows, taken column by column.\"\"\"
    if M.shape[0] < 32 * M.shape[1]:
        return M.max(axis=1)
    top = M[:, 0].copy()
    for k in range(1, M.shape[1]):
        np.maximum(top, M[:, k], out=top)
    return top""",
    "row_sums": """def row_sums(M):
    \"\"\"Each row's sum; of many short rows, as M 1 (one matrix-vector product).\"\"\"
    if M.shape[0] < 32 * M.shape[1]:
        return M.sum(axis=1)
    return M @ np.ones(M.shape[1])""",
    "softmax": """def softmax(Z):
    \"\"\"Each row's exp(z_k) / sum_j exp(z_j), computed without overflow.\"\"\"
    E = np.exp(Z - row_max(Z)[:, None])
    return E / row_sums(E)[:, None]""",
    "logsumexp": """def logsumexp(Z):
    \"\"\"Each row's log sum_j exp(z_j), computed without overflow.\"\"\"
    top = row_max(Z)
    return top + np.log(row_sums(np.exp(Z - top[:, None])))""",
    "logsumexp_from_softmax": """def logsumexp_from_softmax(Z, P):
    \"\"\"Each row's log sum_j exp(z_j) from its softmax P, without another exp: the largest
    logit minus the log of its probability (at least 1/K, so the log loses nothing).\"\"\"
    rows, top = np.arange(len(Z)), Z.argmax(axis=1)
    return Z[rows, top] - np.log(P[rows, top])""",
}


# The same two helpers as a reader of the notebook expects them: the same values (a max is
# exact; a sum may differ in its last bit), NumPy's plainest spelling.
READABLE_ROW_HELPERS = {
    "row_max": """def row_max(M):
    \"\"\"Each row's largest entry.\"\"\"
    return M.max(axis=1)""",
    "row_sums": """def row_sums(M):
    \"\"\"Each row's sum.\"\"\"
    return M.sum(axis=1)""",
}


class MatrixCodePrinter(NumPyCodePrinter):
    """Matrix expressions as NumPy: A B -> A @ B, A^T -> A.T, and the ones column by what
    it does: 1 b^T (b's row for every sample) -> b, broadcast; G^T 1 (G's column sums) ->
    G.T @ np.ones(N), as the formula reads and faster than G.sum(axis=0). Element-wise
    expressions print as NumPyCodePrinter prints them."""

    def __init__(self, sigmoid_of: dict[str, str] | None = None) -> None:
        super().__init__(None, sigmoid_of)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return expr.name

    def _atom(self, expr: sp.Expr) -> str:
        """`expr` where a method call follows it: parenthesised unless a name."""
        return self.parenthesize(expr, PRECEDENCE["Atom"], strict=True)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self._atom(expr.arg)}.T"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        factors = list(expr.args)
        if len(factors) == 2 and isinstance(factors[0], sp.OneMatrix):
            row = factors[1]
            return self._print(row.arg if isinstance(row, sp.Transpose) else row)
        if len(factors) == 2 and isinstance(factors[1], sp.OneMatrix):
            summed, ones = factors
            if isinstance(summed, sp.Transpose):
                return f"{self._atom(summed.arg)}.T @ np.ones({self._print(ones.shape[0])})"
            return f"{self._atom(summed)}.sum(axis=1)"
        return " @ ".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors)

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        """A W^T + 1 b^T: the product first, the broadcast bias last, as the formula reads."""
        terms = sorted(expr.args, key=lambda t: t.has(sp.OneMatrix))
        return " + ".join(self._print(t) for t in terms)


@dataclass(frozen=True)
class MatrixParam:
    """A parameter as the module stores it (the output layer of one unit keeps the names
    and shapes of the unit-by-unit modules: w_L a vector, b_L a scalar) and as the matrix
    code computes with it."""

    name: str
    shape: tuple[int, ...]
    fan_in: int
    code: str  # the array name in the matrix code
    code_shape: tuple[int, ...]  # W (n_l, n_(l-1)), b (n_l,): a row, broadcast over samples


def matrix_params(matrix: MatrixGradients) -> list[MatrixParam]:
    widths = matrix.spec.widths
    params = []
    for layer in matrix.layers:
        n_out, n_in = widths[layer.number], widths[layer.number - 1]
        single = layer is matrix.layers[-1] and n_out == 1
        params.append(MatrixParam(f"w{layer.number}" if single else layer.W.name,
                                  (n_in,) if single else (n_out, n_in), n_in, layer.W.name,
                                  (n_out, n_in)))
        params.append(MatrixParam(layer.b.name, () if single else (n_out,), n_in,
                                  layer.b.name, (n_out,)))
    return params


def _element(expr: sp.Expr, values: dict[sp.Symbol, str]) -> sp.Expr:
    return expr.xreplace({symbol: sp.Symbol(name) for symbol, name in values.items()})


def _layer_arrays(matrix: MatrixGradients, layer: MatrixLayer) -> tuple[str, str]:
    """(Z, A) array names of a layer: the output layer's A is Y_hat."""
    return layer.Z.name, "Y_hat" if layer is matrix.layers[-1] else layer.A.name


def _mean_of(per_sample: str) -> str:
    """The mean over the batch as the sum over N: what np.mean computes, bit for bit, without
    its Python-level overhead (10 us a call, as much as the rest of a 64-sample loss)."""
    return f"float(({per_sample}).sum()) / N"


def matrix_module_context(matrix: MatrixGradients) -> dict:
    """What module.py.j2 needs for a matrix-level module, every line printed by SymPy."""
    spec = matrix.spec
    printer = MatrixCodePrinter()
    params = matrix_params(matrix)
    forward = []
    renames: dict[sp.MatrixSymbol, sp.MatrixSymbol] = {}
    for layer in matrix.layers:
        inputs = matrix.inputs_of(layer)
        z_name, a_name = _layer_arrays(matrix, layer)
        ones = sp.OneMatrix(matrix.N, 1)
        affine = (inputs * layer.W.T + ones * layer.b.T).xreplace(renames)
        forward.append(Line(z_name, printer.doprint(affine)))
        if layer.fprime is None:  # a row-wise output: its helper, by name
            forward.append(Line(a_name, f"{layer.activation.name}({z_name})"))
        else:
            activated = layer.activation.apply(sp.Symbol(z_name))
            forward.append(Line(a_name, printer.doprint(activated)))
        renames[layer.A] = sp.MatrixSymbol(a_name, *layer.A.shape)
    output = matrix.layers[-1]
    z_out, a_out = _layer_arrays(matrix, output)
    classifier = CLASSIFIERS.get(spec.output_activation)
    with_prediction = MatrixCodePrinter({z_out: a_out})
    if classifier is not None:
        # -sum_k y_k log softmax(z)_k for one-hot y, through the logits: log-sum-exp of the
        # row minus the label's logit (verify.py checks it against the definition).
        title, labels = classifier.title, "classes"
        row_helpers = ["row_max", "row_sums", "softmax", "logsumexp", "logsumexp_from_softmax"]
        label_logit = f"row_sums(Y * {z_out})"
        sample_loss = f"logsumexp({z_out}) - {label_logit}"
        loss_with_prediction = f"logsumexp_from_softmax({z_out}, {a_out}) - {label_logit}"
        targets_line = "Y = _one_hot(y, X.shape[0])"
        prediction = a_out
    else:
        loss = LOSSES[spec.loss]
        title, labels, row_helpers = loss.title, loss.labels, []
        logit_form = loss.logit_forms.get(output.activation.name)
        element_loss = (logit_form(matrix.z, matrix.y) if logit_form is not None
                        else loss.of_prediction(output.activation.apply(matrix.z), matrix.y))
        element_loss = _element(element_loss, {matrix.z: z_out, matrix.y: "Y"})
        sample_loss = printer.doprint(element_loss)
        loss_with_prediction = with_prediction.doprint(element_loss)
        targets_line = "Y = _targets(y, X.shape[0]).reshape(-1, 1)  # a row per sample"
        prediction = f"{a_out}[:, 0]"
    delta_out = _element(matrix.output_element,
                         {matrix.y_hat: a_out, matrix.y: "Y", matrix.z: z_out})
    deltas = [Line(output.Delta.name, printer.doprint(delta_out / sp.Symbol("N")))]
    for layer in reversed(matrix.layers[:-1]):
        z_name, a_name = _layer_arrays(matrix, layer)
        upstream = printer.doprint(matrix.upstream[layer.number].xreplace(renames))
        local = printer.doprint(_element(layer.fprime, {matrix.z: z_name, matrix.a: a_name}))
        deltas.append(Line(layer.Delta.name, f"({upstream}) * ({local})"))
    grads, loads, copies, updates = [], [], [], []
    for param in params:  # dL/dW = Delta^T A and dL/db = Delta^T 1 come out in code shapes
        value = printer.doprint(matrix.grads[param.code].xreplace(renames))
        updates.append(Line(param.code, f"lr * ({value})"))
        reshape = f".reshape({param.code_shape})" if param.shape != param.code_shape else ""
        if reshape:
            value = f"np.reshape({value}, {param.shape})"
        grads.append(Line(param.name, value))
        loads.append(Line(param.code, f'np.asarray(params["{param.name}"], dtype=np.float64)'
                                      + reshape))
        copies.append(Line(param.code, f'np.array(params["{param.name}"], dtype=np.float64)'
                                       + reshape))
    helpers = printer.used_helpers | with_prediction.used_helpers
    return {
        "spec": spec,
        "loss_title": title,
        "labels": labels,
        "targets_line": targets_line,
        "params": params,
        "mode": "matrix",
        "matrix_only": True,
        "loads": loads,
        "copies": copies,
        "updates": updates,
        "columns": [],
        "forward": forward,
        "prediction": prediction,
        "deltas": deltas,
        "grads": grads,
        "sample_loss": sample_loss,
        "loss_with_prediction": loss_with_prediction,
        "loss_line": Line("loss_value", _mean_of(loss_with_prediction)),
        "mean_of": _mean_of,
        "fast": None,
        "helpers": numpy_helpers(helpers) + [ROW_HELPERS[name] for name in row_helpers],
        # the notebook has loss_and_gradients only, which uses no logsumexp
        "notebook_helpers": numpy_helpers(helpers) + [
            READABLE_ROW_HELPERS.get(name, ROW_HELPERS[name])
            for name in row_helpers if name != "logsumexp"],
        "helper_imports": helper_imports(helpers),
    }


def render_matrix_module(matrix: MatrixGradients) -> str:
    """The generated NumPy module of a network derived at the matrix level only."""
    spec = matrix.spec
    context = matrix_module_context(matrix)
    activations = [layer.activation for layer in matrix.layers]
    classifier = CLASSIFIERS.get(spec.output_activation)
    torch_loss = classifier.torch if classifier else LOSSES[spec.loss].torch
    text = template_environment().get_template("module.py.j2").render(
        math_names=[],
        activations=strings([a.name for a in activations]),
        torch_activations=strings([a.torch for a in activations]),
        torch_loss=torch_loss, module_sha256="0" * 64, **context)
    return stamp_self(text, PY_MARKER)

