"""The network's shape as data: one small object drives derivation, templates and training."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainingDefaults:
    """What `train.py` uses when no flag overrides it (the course notebook's settings)."""

    lr: float = 1.0
    epochs: int = 2001
    seed: int = 0


@dataclass(frozen=True)
class NetworkSpec:
    """A fully connected network: input width, hidden widths, activations and loss.

    The output layer has width 1. `output_activation` and `loss` together decide the
    output delta (sigmoid + binary cross-entropy gives y_hat - y).
    """

    name: str
    n_inputs: int
    hidden: tuple[int, ...]
    hidden_activation: str
    output_activation: str
    loss: str
    dataset: str
    description: str
    training: TrainingDefaults = TrainingDefaults()

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.n_inputs, *self.hidden, 1)

    def canonical_json(self) -> str:
        """A stable text of the spec, hashed into every generated file's stamp."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


XOR = NetworkSpec(
    name="xor",
    n_inputs=2,
    hidden=(2,),
    hidden_activation="sigmoid",
    output_activation="sigmoid",
    loss="bce",
    dataset="xor",
    description="The assignment's 2-2-1 sigmoid network with binary cross-entropy on XOR",
    training=TrainingDefaults(lr=1.0, epochs=2001, seed=1),
)

SPECS: dict[str, NetworkSpec] = {XOR.name: XOR}
