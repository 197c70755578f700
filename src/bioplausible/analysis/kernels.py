"""Effective neural tangent kernels of local learning rules (Bordelon & Pehlevan, ICLR 2023).

For a layered circuit of :mod:`bioplausible.circuits.supervised` (``u_k = W_k h_{k−1} + b_k``,
ReLU hidden, linear output, error ``ε = f − y``), every rule steps hidden layer k by
``ΔW_k = −μ_k ⟨g̃_k(x_ν) ε_ν h_{k−1}(x_ν)ᵀ⟩`` with a *pseudo-gradient* ``g̃_k`` (n_k × C per
sample): backprop ``g̃_k = φ'(u_k) ⊙ W_{k+1}ᵀ g̃_{k+1}``, FA the same with B in place of Wᵀ,
DFA/EBD ``φ'(u_k) ⊙ R_k``, error-modulated Hebb ``−h_k εᵀ`` (its update is quadratic in ε, so
its kernel depends on the current error), and the readout ``g̃_L = I``. To first order in the
rates the output then moves as

    Δf_c(x) = −(1/B) Σ_ν Σ_d K_{cd}(x, x_ν) ε_{ν,d},
    K(x, x') = Σ_k μ_k Φ_{k−1}(x, x') g_k(x)ᵀ g̃_k(x'),   Φ_{k−1} = h_{k−1}·h'_{k−1} (+1 with biases)

with ``g_k = ∂f/∂u_k`` the true gradient. For backprop ``g̃ = g`` and K is the empirical NTK
(in the metric of the per-layer rates). Only the error-driven part of each rule enters (EBD's
regularisers, weight decay and Hebb's synaptic scaling are not error-driven, and EBD's R is
taken as it is before the step). Kernel–task alignment ``A = tr(Yᵀ K Y) / (‖K‖_F ‖Y‖_F²)``
(uncentred, as in the paper). Kernels over training are obtained from a run that recorded
the circuit's state arrays at its evaluations (:func:`kernel_state_names`,
:func:`kernel_trajectory`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "EffectiveNTK",
    "effective_ntk",
    "feature_kernels",
    "alignment",
    "kernel_state_names",
    "kernel_trajectory",
    "full_batch_dynamics",
    "kernel_summary",
]


@dataclass(frozen=True)
class EffectiveNTK:
    """Per-layer contributions ``layers[k−1]`` (K, P, C, P, C) of a rule's eNTK, k = 1..L
    (the last is the readout's); ``total`` their sum; ``scalar`` the output-averaged kernel
    (K, P, P) ``(1/C) Σ_c K_cc``."""

    layers: list[np.ndarray]

    @property
    def total(self) -> np.ndarray:
        return np.sum(self.layers, axis=0)

    @staticmethod
    def reduce(kernel: np.ndarray) -> np.ndarray:
        """(K, P, C, P, C) → (K, P, P): the mean of the output-diagonal blocks."""
        return np.einsum("kpcqc->kpq", kernel) / kernel.shape[-1]

    @property
    def scalar(self) -> np.ndarray:
        return self.reduce(self.total)

    def layer_scalars(self) -> list[np.ndarray]:
        return [self.reduce(layer) for layer in self.layers]

    def matrix(self) -> np.ndarray:
        """(K, P·C, P·C): the kernel acting on flattened errors ``ε`` (sample-major)."""
        K, P, C = self.layers[0].shape[:3]
        return self.total.reshape(K, P * C, P * C)


def _layers(circuit: Any, inputs: np.ndarray) -> list[np.ndarray]:
    if not hasattr(circuit, "forward") or not hasattr(circuit, "layer_rates"):
        raise TypeError(f"circuit must be a layered supervised circuit (backprop, FA, DFA, EBD, Hebb), "
                        f"got {type(circuit).__name__}")
    inputs = np.asarray(inputs, dtype=float)
    if inputs.ndim not in (2, 3):
        raise ValueError(f"inputs must be (P, n_inputs) or (K, P, n_inputs), got shape {inputs.shape}")
    return circuit.forward(inputs)


def _true_gradients(circuit: Any, layers: list[np.ndarray]) -> list[np.ndarray]:
    """``g_k = ∂f/∂u_k`` (K, P, n_k, C) for k = 1..L."""
    L = circuit.n_layers
    K, P, C = layers[-1].shape
    grads: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    grads[L - 1] = np.broadcast_to(np.eye(C), (K, P, C, C))
    for k in range(L - 1, 0, -1):
        back = np.einsum("kji,kpjc->kpic", circuit.state[f"weight_{k + 1}"], grads[k])
        grads[k - 1] = (layers[k] > 0)[..., None] * back
    return grads


def _pseudo_gradients(circuit: Any, layers: list[np.ndarray], grads: list[np.ndarray],
                      errors: np.ndarray | None) -> list[np.ndarray]:
    """The rule's ``g̃_k`` (K, P, n_k, C), k = 1..L."""
    L = circuit.n_layers
    K, P, C = layers[-1].shape
    state = circuit.state
    out: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    out[L - 1] = grads[L - 1]
    if "feedback_1" in state:  # feedback alignment: δ_k = φ' ⊙ B_{k+1} δ_{k+1}
        for k in range(L - 1, 0, -1):
            back = np.einsum("kij,kpjc->kpic", state[f"feedback_{k}"], out[k])
            out[k - 1] = (layers[k] > 0)[..., None] * back
    elif "projection_1" in state:  # DFA / EBD: φ' ⊙ R_k
        for k in range(1, L):
            out[k - 1] = (layers[k] > 0)[..., None] * state[f"projection_{k}"][:, None]
    elif circuit.name == "hebbian":
        if errors is None:
            raise ValueError("the Hebbian rule's kernel depends on the current error: pass targets")
        for k in range(1, L):
            out[k - 1] = -layers[k][..., :, None] * errors[..., None, :]
    elif circuit.name == "backprop":
        out = list(grads)
    else:
        raise TypeError(f"no pseudo-gradient known for circuit {circuit.name!r}")
    return out


def effective_ntk(circuit: Any, inputs: np.ndarray, targets: np.ndarray | None = None) -> EffectiveNTK:
    """The rule's eNTK on ``inputs`` (P samples, shared by all ensemble members or (K, P, n)),
    per layer; ``targets`` are needed only for the Hebbian rule (its kernel holds the error)."""
    layers = _layers(circuit, inputs)
    errors = None if targets is None else layers[-1] - np.asarray(targets, dtype=float)
    grads = _true_gradients(circuit, layers)
    pseudo = _pseudo_gradients(circuit, layers, grads, errors)
    rates = (*circuit.layer_rates(), circuit.effective_output_rate())
    bias = 1.0 if circuit.params.bias else 0.0
    contributions = []
    for k in range(1, circuit.n_layers + 1):
        pre = layers[k - 1]
        features = np.matmul(pre, np.swapaxes(pre, -1, -2)) + bias
        backward = np.einsum("kpic,kqid->kpcqd", grads[k - 1], pseudo[k - 1])
        contributions.append(rates[k - 1] * features[:, :, None, :, None] * backward)
    return EffectiveNTK(contributions)


def feature_kernels(circuit: Any, inputs: np.ndarray) -> list[np.ndarray]:
    """``Φ_k = h_k h_kᵀ / n_k`` (K, P, P) of every hidden layer k = 1..L−1."""
    layers = _layers(circuit, inputs)
    return [np.matmul(h, np.swapaxes(h, -1, -2)) / h.shape[-1] for h in layers[1:-1]]


def alignment(kernel: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Kernel–task alignment ``tr(Yᵀ K Y) / (‖K‖_F ‖Y‖_F²)`` of kernels (..., P, P) with targets
    (P, C) or (..., P, C); NaN where K or Y is zero."""
    kernel = np.asarray(kernel, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if targets.ndim == 1:
        targets = targets[:, None]
    if kernel.shape[-1] != kernel.shape[-2] or targets.shape[-2] != kernel.shape[-1]:
        raise ValueError(f"kernel (..., P, P) and targets (..., P, C) disagree: {kernel.shape} vs {targets.shape}")
    projected = np.sum(targets * np.matmul(kernel, targets), axis=(-2, -1))
    norm = np.linalg.norm(kernel, axis=(-2, -1)) * np.sum(targets**2, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, projected / np.where(norm > 0, norm, 1.0), np.nan)


def kernel_state_names(circuit: Any) -> list[str]:
    """State arrays to record (``run(..., probes=kernel_state_names(c))``) so that
    :func:`kernel_trajectory` can rebuild the kernels at every evaluation."""
    prefixes = ("weight_", "bias_", "feedback_", "projection_")
    return [name for name in circuit.state if name.startswith(prefixes)]


def kernel_trajectory(result: Any, circuit: Any, inputs: np.ndarray, targets: np.ndarray,
                      keep_kernels: bool = False) -> xr.Dataset:
    """eNTK and feature-kernel alignment at every recorded step of ``result``.

    ``circuit`` is the circuit the run trained (its configuration; its state is not changed);
    ``result`` must hold ``state_<name>`` for :func:`kernel_state_names`. Returns a Dataset with
    ``entk_alignment`` (seed, step), ``entk_layer_alignment`` and ``entk_layer_share`` (each
    layer's share of the eNTK's trace) (seed, step, layer), ``feature_alignment``
    (seed, step, hidden_layer) and, with ``keep_kernels``, ``entk`` (seed, step, sample,
    sample_other). Merge it into the result with ``result.dataset.update(...)``.
    """
    names = kernel_state_names(circuit)
    data = result.dataset
    missing = [n for n in names if f"state_{n}" not in data]
    if missing:
        raise ValueError(f"result lacks recorded state {missing}: run with probes=kernel_state_names(circuit)")
    probe = copy.deepcopy(circuit)
    steps = data["step"].values
    targets = np.asarray(targets, dtype=float)
    rows: dict[str, list[np.ndarray]] = {"entk": [], "layer": [], "share": [], "feature": [], "kernel": []}
    for index in range(steps.size):
        for name in names:
            probe.state[name] = np.asarray(data[f"state_{name}"].isel(step=index).values)
        summary = kernel_summary(probe, inputs, targets, keep_kernels)
        for key, value in summary.items():
            rows[key].append(value)
    coords = {"seed": data["seed"].values, "step": steps,
              "layer": np.arange(1, probe.n_layers + 1), "hidden_layer": np.arange(1, probe.n_layers)}
    out = {
        "entk_alignment": (("seed", "step"), np.stack(rows["entk"], axis=1)),
        "entk_layer_alignment": (("seed", "step", "layer"), np.stack(rows["layer"], axis=1)),
        "entk_layer_share": (("seed", "step", "layer"), np.stack(rows["share"], axis=1)),
        "feature_alignment": (("seed", "step", "hidden_layer"), np.stack(rows["feature"], axis=1)),
    }
    if keep_kernels:
        out["entk"] = (("seed", "step", "sample", "sample_other"), np.stack(rows["kernel"], axis=1))
    return xr.Dataset(out, coords=coords)


def kernel_summary(circuit: Any, inputs: np.ndarray, targets: np.ndarray,
                   keep_kernel: bool = False) -> dict[str, np.ndarray]:
    """Alignments with ``targets`` of the eNTK (``"entk"``, (K,)), of its layer terms (``"layer"``,
    (K, L)), the terms' shares of its trace (``"share"``, (K, L)) and the hidden layers' feature
    kernels (``"feature"``, (K, L−1)); with ``keep_kernel`` the scalar eNTK (``"kernel"``, (K, P, P)).
    ``inputs``/``targets`` are (P, ·) shared by the members or (K, P, ·)."""
    scalars = effective_ntk(circuit, inputs, targets).layer_scalars()
    total = np.sum(scalars, axis=0)
    traces = np.stack([np.trace(s, axis1=-2, axis2=-1) for s in scalars], axis=-1)
    out = {
        "entk": alignment(total, targets),
        "layer": np.stack([alignment(s, targets) for s in scalars], axis=-1),
        "share": traces / np.sum(traces, axis=-1, keepdims=True),
        "feature": np.stack([alignment(f, targets) for f in feature_kernels(circuit, inputs)], axis=-1),
    }
    if keep_kernel:
        out["kernel"] = total
    return out


def full_batch_dynamics(
    circuit: Any,
    inputs: np.ndarray,
    targets: np.ndarray,
    steps: int,
    *,
    test_inputs: np.ndarray | None = None,
    test_targets: np.ndarray | None = None,
    every: int = 0,
) -> xr.Dataset:
    """Train an initialised layered circuit by full-batch steps of its own rule on fixed data
    (the setting of the lazy theory, :func:`bioplausible.theory.lazy_loss_curve`) and record
    the MSE ``mean (f − y)²`` on the training (and test) set at every step; with ``every > 0``
    also, every ``every`` steps (and at the end), the kernels' alignment with the targets
    (eNTK, each layer's eNTK term and share, each hidden layer's feature kernel) and each
    layer's relative weight change ``‖W_k − W_k(0)‖_F / ‖W_k(0)‖_F`` and each hidden layer's
    feature-kernel movement ``‖Φ_k − Φ_k(0)‖_F / ‖Φ_k(0)‖_F`` (feature learning). Returns a Dataset
    (seed, step) / (seed, kernel_step, layer|hidden_layer); the circuit is trained in place.
    """
    from ..circuits.base import Batch
    from ..validation import check_integer

    steps = check_integer("steps", steps, 0)
    every = check_integer("every", every, 0)
    if not getattr(circuit, "initialized", False):
        raise ValueError("circuit must be initialised (circuit.initialize(n_inputs, n_targets, seeds))")
    inputs = np.asarray(inputs, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if targets.ndim == 1:
        targets = targets[:, None]
    if inputs.ndim != 2 or targets.shape[0] != inputs.shape[0]:
        raise ValueError(f"inputs (P, n) and targets (P, C) disagree: {inputs.shape} vs {targets.shape}")
    K = circuit.ensemble_size
    batch = Batch(np.broadcast_to(inputs, (K, *inputs.shape)).copy(),
                  np.broadcast_to(targets, (K, *targets.shape)).copy())
    initial = {f"weight_{k}": circuit.state[f"weight_{k}"].copy() for k in range(1, circuit.n_layers + 1)}
    initial_features = feature_kernels(circuit, inputs)
    train, test, kernel_steps = [], [], []
    rows: dict[str, list[np.ndarray]] = {"entk": [], "layer": [], "share": [], "feature": [], "change": [],
                                         "movement": []}

    def record_kernels(step: int) -> None:
        for key, value in kernel_summary(circuit, inputs, targets).items():
            rows[key].append(value)
        rows["change"].append(np.stack([
            np.linalg.norm((circuit.state[key] - w0).reshape(K, -1), axis=-1)
            / np.linalg.norm(w0.reshape(K, -1), axis=-1) for key, w0 in initial.items()], -1))
        rows["movement"].append(np.stack([
            np.linalg.norm(f - f0, axis=(-2, -1)) / np.linalg.norm(f0, axis=(-2, -1))
            for f, f0 in zip(feature_kernels(circuit, inputs), initial_features)], -1))
        kernel_steps.append(step)

    for step in range(steps + 1):
        train.append(np.mean((circuit.forward(inputs)[-1] - targets) ** 2, axis=(-2, -1)))
        if test_inputs is not None:
            test.append(np.mean((circuit.forward(test_inputs)[-1] - test_targets) ** 2, axis=(-2, -1)))
        if every and (step % every == 0 or step == steps):
            record_kernels(step)
        if step < steps:
            circuit.learn(circuit.respond(inputs), batch)
    coords = {"step": np.arange(steps + 1), "layer": np.arange(1, circuit.n_layers + 1),
              "hidden_layer": np.arange(1, circuit.n_layers)}
    data: dict[str, Any] = {"train_loss": (("seed", "step"), np.stack(train, 1))}
    if test:
        data["test_loss"] = (("seed", "step"), np.stack(test, 1))
    if every:
        coords["kernel_step"] = np.asarray(kernel_steps)
        data.update({
            "entk_alignment": (("seed", "kernel_step"), np.stack(rows["entk"], 1)),
            "entk_layer_alignment": (("seed", "kernel_step", "layer"), np.stack(rows["layer"], 1)),
            "entk_layer_share": (("seed", "kernel_step", "layer"), np.stack(rows["share"], 1)),
            "feature_alignment": (("seed", "kernel_step", "hidden_layer"), np.stack(rows["feature"], 1)),
            "weight_change": (("seed", "kernel_step", "layer"), np.stack(rows["change"], 1)),
            "feature_movement": (("seed", "kernel_step", "hidden_layer"), np.stack(rows["movement"], 1)),
        })
    return xr.Dataset(data, coords=coords)
