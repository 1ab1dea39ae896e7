"""The optional PyTorch referee (train.py --compare-torch): the course notebook's loop in
torch, float64, from the same initial parameters and with the same torch.optim rule.

torch is imported only when the referee is asked for; nothing else in trainer/ needs it.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from trainer import optim
from trainer.errors import BadInput
from trainer.loops import batch_orders

TORCH_HINT = "run `make setup-torch` (torch==2.13.0, a CPU build)"


def import_torch() -> ModuleType:
    """torch, or a one-line BadInput saying how to install it."""
    try:
        import torch
    except ImportError:
        raise BadInput(f"--compare-torch needs PyTorch: {TORCH_HINT}") from None
    return torch


def torch_function(torch: ModuleType, dotted: str):
    """A function named in the generated module's TORCH_* metadata (from derive's registry):
    `torch.tanh`, `torch.nn.functional.silu`; "" is the identity."""
    if not dotted:
        return lambda tensor: tensor
    head, *path = dotted.split(".")
    if head != "torch" or not path:
        raise BadInput(f"the generated module names {dotted!r}, not a torch function")
    found = torch
    for part in path:
        found = getattr(found, part, None)
        if found is None:
            raise BadInput(f"torch {torch.__version__} has no {dotted}")
    return found


def torch_reference(model: ModuleType, init: dict[str, np.ndarray], X: np.ndarray,
                    y: np.ndarray, lr: float, epochs: int,
                    optimizer: optim.Optimizer | None = None, batch_size: int | None = None,
                    seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The course notebook's loop in PyTorch (float64): nn.Linear layers, each followed by
    the torch function the registry names for its activation, the registry's loss, torch.optim,
    from the same initial parameters. Optional: only --compare-torch uses it."""
    torch = import_torch()
    names = [name for name, _, _ in model.PARAMS]
    linears, functions = [], [torch_function(torch, f) for f in model.TORCH_ACTIVATIONS]
    for weight, bias in zip(names[0::2], names[1::2]):
        W = np.atleast_2d(init[weight])
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.copy()))
            linear.bias.copy_(torch.from_numpy(np.atleast_1d(init[bias]).copy()))
        linears.append(linear)
    net = torch.nn.ModuleList(linears)
    loss_fn = torch_function(torch, model.TORCH_LOSS)

    def forward(a):
        for linear, function in zip(linears, functions):
            a = function(linear(a))
        return a

    settings = optimizer or optim.make("sgd", lr)
    if settings.name == "adam":
        rule = torch.optim.Adam(net.parameters(), lr=settings.lr, betas=settings.betas,
                                eps=settings.eps, weight_decay=settings.weight_decay)
    else:
        rule = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum,
                               nesterov=settings.nesterov, weight_decay=settings.weight_decay)
    inputs, targets = torch.from_numpy(X.copy()), torch.from_numpy(y.copy()).reshape(-1, 1)
    if model.LABELS == "classes":  # cross_entropy takes the logits and the class indices
        targets = torch.from_numpy(y.astype(np.int64))
    history = np.empty(epochs)
    if batch_size is None:
        for step in range(epochs):
            rule.zero_grad()
            loss = loss_fn(forward(inputs), targets)
            history[step] = loss.item()
            loss.backward()
            rule.step()
    for epoch, order in enumerate(batch_orders(seed, len(X), epochs) if batch_size else ()):
        losses = []  # the same batches in the same order as trainer/loops.py's descend
        for start in range(0, len(X), batch_size):
            chosen = torch.from_numpy(order[start:start + batch_size])
            rule.zero_grad()
            loss = loss_fn(forward(inputs[chosen]), targets[chosen])
            losses.append(loss.item())
            loss.backward()
            rule.step()
        history[epoch] = sum(losses) / len(losses)
    tensors = [p.detach().numpy() for p in net.parameters()]
    params = {name: np.asarray(t, dtype=np.float64).reshape(init[name].shape)
              for name, t in zip(names, tensors)}
    return params, history


def compare_with_torch(model: ModuleType, init: dict[str, np.ndarray], X: np.ndarray,
                       y: np.ndarray, lr: float, epochs: int, params: dict[str, np.ndarray],
                       history: np.ndarray, optimizer: optim.Optimizer | None = None,
                       batch_size: int | None = None, seed: int = 0) -> dict[str, object]:
    """Train the PyTorch referee from `init` and print how far it lands from our run."""
    torch = import_torch()
    # torch_reference reads only the settings, never the state this run left in `optimizer`
    torch_params, torch_history = torch_reference(model, init, X, y, lr, epochs, optimizer,
                                                  batch_size, seed)
    loss_gap = float(np.max(np.abs(torch_history - history)))
    param_gap = max(float(np.max(np.abs(torch_params[k] - params[k]))) for k in params)
    name = "Adam" if optimizer is not None and optimizer.name == "adam" else "SGD"
    print(f"PyTorch {torch.__version__} (float64, same init, {name} lr {lr:g}, {epochs} epochs): "
          f"max |loss difference| {loss_gap:.3g}, max |parameter difference| {param_gap:.3g}")
    summary = {"version": torch.__version__, "max_loss_difference": loss_gap,
               "max_param_difference": param_gap}
    return {"history": torch_history, "summary": summary}
