"""The patch-connected network under the convolutional and locally connected circuits
(:mod:`bioplausible.circuits.supervised.conv`): parameters, layer geometry and
:class:`ConvNetwork`, whose ``learn`` is derived from the declared rules.

Hidden layer k reads, at each of its ``L_k`` locations, a ``k × k`` patch of the layer below
(all channels, stride ``s``, no padding; :mod:`bioplausible.models.receptive_fields`) and has
``C_k`` ReLU channels there::

    u_k[l, c] = Σ_d W_k[c, d] P_k[l, d] + b_k[c]           (connectivity="convolutional": shared kernels)
    u_k[l, c] = Σ_d W_k[l, c, d] P_k[l, d] + b_k[l, c]     (connectivity="locally-connected": one kernel per location)
    h_k = relu(u_k),   h_L = W_L h_{L−1} + b_L (linear, dense),   ε = h_L − y

Layouts: the task's inputs are flat images, channel-first ``(C, H, W)`` (``image_shape``, or
inferred: a square single-channel image, else three square channels); hidden populations are
flat channel-last ``(y, x, c)``. The layers are batched over the ensemble axis K: im2col is
one ``np.take`` of a precomputed index map, each layer one matmul per member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ...core.trials import TrialBatch
from ...models import receptive_fields as fields
from ...rules import supervised as rules
from ...rules.declaration import RuleBinding
from ...validation import check_choice, check_integer, check_rates, check_real
from ..base import Batch, Connection, Parameters, Population, RuleCircuit, ensemble_inputs

__all__ = ["CONNECTIVITY", "ConvParameters", "LayerGeometry", "network_geometry", "infer_image_shape", "ConvNetwork"]

CONNECTIVITY = ("convolutional", "locally-connected")


def _per_layer_integers(name: str, value: Any, n: int, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must give one value or {n} values (one per layer), got {len(value)}")
        return tuple(check_integer(name, v, minimum) for v in value)
    return (check_integer(name, value, minimum),) * n


# ============================================================================ parameters
@dataclass(frozen=True)
class ConvParameters(Parameters):
    """Shared parameters of the convolutional / locally connected circuits.

    ``connectivity`` "convolutional" (shared kernels) or "locally-connected" (one kernel per
    location); ``channels`` C_k of each hidden layer; ``kernel_size`` and ``stride`` (one
    value or one per layer); ``image_shape`` (C, H, W) of the flat, channel-first inputs
    (None: inferred from the task's ``n_inputs``); ``learning_rate`` μ of the hidden rule (one
    value or one per layer); ``output_rate`` μ_L; ``weight_decay`` μ_wd (every layer);
    ``init_gain`` g of the Kaiming-uniform init ``U(±g √(3/fan_in))``, fan_in = k² C_{k−1};
    ``bias`` learn biases (per channel, or per channel and location when locally connected).
    """

    connectivity: str = "convolutional"
    channels: tuple[int, ...] = (8, 16)
    kernel_size: Any = 3
    stride: Any = 1
    image_shape: tuple[int, int, int] | None = None
    learning_rate: Any = 0.1
    output_rate: float = 0.1
    weight_decay: float = 0.0
    init_gain: float = 0.5
    bias: bool = True

    def validate(self) -> None:
        check_choice("connectivity", self.connectivity, list(CONNECTIVITY))
        if not isinstance(self.channels, (list, tuple)) or len(self.channels) < 1:
            raise ValueError(f"channels must be a sequence of at least one channel count, got {self.channels!r}")
        object.__setattr__(self, "channels", tuple(check_integer("channels[i]", c, 1) for c in self.channels))
        n = len(self.channels)
        _per_layer_integers("kernel_size", self.kernel_size, n)
        _per_layer_integers("stride", self.stride, n)
        if self.image_shape is not None:
            if not isinstance(self.image_shape, (list, tuple)) or len(self.image_shape) != 3:
                raise ValueError(f"image_shape must be None or (channels, height, width), got {self.image_shape!r}")
            object.__setattr__(self, "image_shape",
                               tuple(check_integer("image_shape[i]", v, 1) for v in self.image_shape))
        check_rates("learning_rate", self.learning_rate, n)
        check_real("output_rate", self.output_rate, 0.0)
        check_real("weight_decay", self.weight_decay, 0.0)
        check_real("init_gain", self.init_gain, 0.0, inclusive=False)
        if not isinstance(self.bias, bool):
            raise TypeError(f"bias must be a bool, got {self.bias!r}")

    def kernels(self) -> tuple[int, ...]:
        return _per_layer_integers("kernel_size", self.kernel_size, len(self.channels))

    def strides(self) -> tuple[int, ...]:
        return _per_layer_integers("stride", self.stride, len(self.channels))


# ============================================================================ geometry
@dataclass(frozen=True)
class LayerGeometry:
    """One hidden layer: its input shape (C, H, W), ``kernel``, output ``shape`` (C_k, H', W'),
    ``index`` (L, D) of :func:`~bioplausible.models.receptive_fields.patch_index`."""

    input_shape: tuple[int, int, int]
    kernel: int
    shape: tuple[int, int, int]
    index: np.ndarray

    @property
    def locations(self) -> int:
        return self.shape[1] * self.shape[2]

    @property
    def size(self) -> int:
        return self.locations * self.shape[0]

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))


@lru_cache(maxsize=32)
def network_geometry(
    image_shape: tuple[int, int, int], channels: tuple[int, ...], kernels: tuple[int, ...], strides: tuple[int, ...]
) -> tuple[LayerGeometry, ...]:
    """The hidden layers' geometry for channel-first input images of ``image_shape``; a
    kernel that does not fit its input is a ValueError naming ``kernel_size``."""
    layers = []
    shape = image_shape
    for k, (c_out, kernel, stride) in enumerate(zip(channels, kernels, strides)):
        layout = "channel-first" if k == 0 else "channel-last"
        index = fields.patch_index(shape, kernel, stride, layout)
        index.flags.writeable = False
        out = (c_out, fields.output_side(shape[1], kernel, stride), fields.output_side(shape[2], kernel, stride))
        layers.append(LayerGeometry(shape, kernel, out, index))
        shape = out
    return tuple(layers)


def infer_image_shape(n_inputs: int) -> tuple[int, int, int]:
    """(1, s, s) when n_inputs = s², (3, s, s) when n_inputs = 3 s², else a ValueError."""
    for channels in (1, 3):
        side = int(round(np.sqrt(n_inputs / channels)))
        if channels * side * side == n_inputs:
            return channels, side, side
    raise ValueError(f"image_shape must be given for {n_inputs} inputs (not one or three square channels)")


# ============================================================================ the network
class ConvNetwork(RuleCircuit):
    """The shared convolutional / locally connected network (module docstring); subclasses
    supply the hidden modulators.

    State: ``weight_k`` (K, C_k, D_k) shared or (K, L_k, C_k, D_k) per-location kernels and
    ``bias_k`` (K, C_k) or (K, L_k, C_k) for hidden layers k = 1..L−1; ``weight_L`` (K, n_L,
    n_{L−1}) and ``bias_L`` (K, n_L) of the dense readout.
    """

    family = "supervised"
    default_task = "classification"
    Parameters = ConvParameters
    params: ConvParameters
    #: Feedforward layers with patch (receptive-field) connectivity and a linear readout.
    kind = "convolutional"

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        self._image_shape: tuple[int, int, int] | None = self.params.image_shape

    # ------------------------------------------------------------------ geometry
    @property
    def n_layers(self) -> int:
        """L: number of weight layers (hidden layers + readout)."""
        return len(self.params.channels) + 1

    @property
    def shared(self) -> bool:
        return self.params.connectivity == "convolutional"

    def geometry(self) -> tuple[LayerGeometry, ...]:
        """Geometry of each hidden layer (needs the input shape: after ``initialize``)."""
        if self._image_shape is None:
            raise RuntimeError(f"{type(self).__name__} is not initialised: call initialize() or run()")
        return network_geometry(self._image_shape, self.params.channels, self.params.kernels(),
                                self.params.strides())

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        if n_targets < 1:
            raise ValueError(f"{type(self).__name__} needs a supervised task (n_targets >= 1), got {n_targets}")
        shape = self.params.image_shape
        if shape is None:
            shape = infer_image_shape(n_inputs)
        elif int(np.prod(shape)) != n_inputs:
            raise ValueError(f"image_shape {shape} holds {int(np.prod(shape))} inputs, the task has {n_inputs}")
        network_geometry(shape, self.params.channels, self.params.kernels(), self.params.strides())
        self._image_shape = shape

    def _extra_state(self) -> dict[str, Any]:
        return {"image_shape": list(self._image_shape) if self._image_shape else None}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        shape = extra.get("image_shape")
        if shape is not None:
            self._image_shape = tuple(int(v) for v in shape)  # type: ignore[assignment]
        elif self._image_shape is None:
            raise ValueError("state['extra'] has no image_shape: pass image_shape= to the circuit to load this state")

    # ------------------------------------------------------------------ initialisation
    def initial_state(self, rng: np.random.Generator, n_inputs: int, n_targets: int) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {}
        for k, layer in enumerate(self.geometry(), start=1):
            span = layer.index.shape[1]
            bound = self.params.init_gain * np.sqrt(3.0 / span)
            shape = (layer.shape[0], span) if self.shared else (layer.locations, layer.shape[0], span)
            state[f"weight_{k}"] = rng.uniform(-bound, bound, shape)
            state[f"bias_{k}"] = np.zeros(shape[:-1])
        last = self.geometry()[-1].size
        bound = self.params.init_gain * np.sqrt(3.0 / last)
        state[f"weight_{self.n_layers}"] = rng.uniform(-bound, bound, (n_targets, last))
        state[f"bias_{self.n_layers}"] = np.zeros(n_targets)
        state.update(self._extra_initial_state(rng, n_targets))
        return state

    def _extra_initial_state(self, rng: np.random.Generator, n_targets: int) -> dict[str, np.ndarray]:
        return {}

    # ------------------------------------------------------------------ declaration
    def _hidden_names(self) -> list[str]:
        return [f"hidden_{k}" for k in range(1, self.n_layers)]

    def populations(self) -> list[Population]:
        if self._image_shape is not None:
            sizes = [int(np.prod(self._image_shape)), *[g.size for g in self.geometry()]]
        else:
            sizes = [0] * self.n_layers
        n_out = int(self.state[f"weight_{self.n_layers}"].shape[-2]) if self.state else 0
        kind = "convolutional" if self.shared else "locally connected"
        pops = [Population("input", sizes[0], role="input", description="task inputs, flat channel-first images")]
        for k, name in enumerate(self._hidden_names(), start=1):
            pops.append(Population(name, sizes[k], offset=0.0,
                                   description=f"ReLU {kind} layer {k}, flat channel-last (y, x, c)"))
        pops.append(Population("output", n_out, role="readout", description="linear output h_L = W_L h_{L−1} + b_L"))
        return pops

    def connections(self) -> list[Connection]:
        names = ["input", *self._hidden_names(), "output"]
        conns = []
        for k in range(1, self.n_layers + 1):
            if k == self.n_layers:
                conns.append(Connection(names[k - 1], names[k], rules.DELTA_RULE, kind="feedforward",
                                        description=f"dense readout W_{k}"))
            else:
                what = "shared kernels" if self.shared else "per-location kernels"
                conns.append(Connection(names[k - 1], names[k], rules.THREE_FACTOR,
                                        kind="drive" if k == 1 else "feedforward",
                                        description=f"patch connectivity W_{k} ({what})"))
        return conns

    def weights(self) -> dict[tuple[str, str], np.ndarray]:
        """Effective dense weights (K, n_target, n_source), patch kernels expanded."""
        names = ["input", *self._hidden_names(), "output"]
        out: dict[tuple[str, str], np.ndarray] = {}
        for k, layer in enumerate(self.geometry(), start=1):
            out[(names[k - 1], names[k])] = fields.dense_weights(self.state[f"weight_{k}"], layer.index,
                                                                 layer.n_inputs, self.shared)
        out[(names[-2], names[-1])] = self.state[f"weight_{self.n_layers}"]
        return out

    def synapses(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        """The patch connections' synapses, (post, pre) flat (L_k C_k D_k each): where
        :meth:`weights` can be nonzero (the dense readout is all-to-all, not listed)."""
        names = ["input", *self._hidden_names()]
        out = {}
        for k, layer in enumerate(self.geometry(), start=1):
            post, pre = fields.patch_synapses(layer.index, layer.shape[0])
            out[(names[k - 1], names[k])] = (post.reshape(-1), pre.reshape(-1))
        return out

    def biases(self) -> dict[str, np.ndarray]:
        """Constant drive of each unit, (K, n) flat channel-last: hidden layer k's ``b_k[c]``
        at every location (shared) or ``b_k[l, c]`` (locally connected), the readout's
        ``b_L``; zeros with ``bias=False``."""
        on = float(self.params.bias)
        out = {}
        for k, (name, layer) in enumerate(zip(self._hidden_names(), self.geometry()), start=1):
            bias = self.state[f"bias_{k}"]
            if self.shared:
                bias = np.broadcast_to(bias[:, None, :], (bias.shape[0], layer.locations, bias.shape[-1]))
            out[name] = bias.reshape(bias.shape[0], -1) * on
        out["output"] = self.state[f"bias_{self.n_layers}"] * on
        return out

    # ------------------------------------------------------------------ dynamics
    def _patches(self, k: int, below: np.ndarray) -> np.ndarray:
        """Patches (K, B, L_k, D_k) of layer k's input (K, B, n_{k−1})."""
        return fields.gather_patches(below, self.geometry()[k - 1].index)

    def _potential(self, k: int, patches: np.ndarray) -> np.ndarray:
        """``u_k`` (K, B, L_k, C_k) from layer k's patches."""
        weights = self.state[f"weight_{k}"]
        members, batch, locations, span = patches.shape
        if self.shared:
            u = np.matmul(patches.reshape(members, batch * locations, span), np.swapaxes(weights, -1, -2))
            u = u.reshape(members, batch, locations, -1)
        else:
            u = np.swapaxes(np.matmul(np.swapaxes(patches, 1, 2), np.swapaxes(weights, -1, -2)), 1, 2)
        if self.params.bias:
            bias = self.state[f"bias_{k}"]
            u = u + (bias[:, None, None, :] if self.shared else bias[:, None, :, :])
        return u

    def forward(self, inputs: np.ndarray) -> list[np.ndarray]:
        """``[h_0, h_1, …, h_L]`` (flat, (K, B, n_k)) for inputs (K, B, n_0) or (B, n_0)."""
        n_in = int(np.prod(self._image_shape)) if self._image_shape else 0
        x = np.ascontiguousarray(ensemble_inputs(inputs, self.ensemble_size, n_in))
        layers = [x]
        for k in range(1, self.n_layers):
            u = self._potential(k, self._patches(k, layers[-1]))
            layers.append(np.maximum(u, 0.0).reshape(*x.shape[:2], -1))
        layers.append(self.readout(layers[-1]))
        return layers

    def readout(self, last_hidden: np.ndarray) -> np.ndarray:
        """``h_L = W_L h_{L−1} + b_L`` (the non-simulated output)."""
        out = np.matmul(last_hidden, np.swapaxes(self.state[f"weight_{self.n_layers}"], -1, -2))
        if self.params.bias:
            out = out + self.state[f"bias_{self.n_layers}"][..., None, :]
        return out

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        layers = self.forward(inputs)
        return dict(zip(["input", *self._hidden_names(), "output"], layers))

    # ------------------------------------------------------------------ learning (declared)
    def kernel_signals(self, k: int, patches: np.ndarray, post: np.ndarray, modulator: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hidden layer k's three-factor quantities in the rule's layout: patches, gain
        ``f'(u_k)`` and modulator as (K, B·L, ·) for shared kernels (locations as samples) or
        (K, L, B, ·) for per-location kernels (locations as a leading axis)."""
        members, batch, locations, span = patches.shape
        post = post.reshape(members, batch, locations, -1)
        modulator = modulator.reshape(post.shape)
        gain = rules.relu_gain(post)
        if self.shared:
            return (patches.reshape(members, batch * locations, span), gain.reshape(members, batch * locations, -1),
                    modulator.reshape(members, batch * locations, -1))
        return np.swapaxes(patches, 1, 2), np.swapaxes(gain, 1, 2), np.swapaxes(modulator, 1, 2)

    def transposed(self, k: int, delta: np.ndarray) -> np.ndarray:
        """Layer k's transpose applied to ``δ_k`` (K, B, n_k): col2im of ``δ_k W_k``, (K, B, n_{k−1})."""
        layer = self.geometry()[k - 1]
        weights = self.state[f"weight_{k}"]
        members, batch = delta.shape[:2]
        delta = delta.reshape(members, batch, layer.locations, -1)
        if self.shared:
            back = np.matmul(delta.reshape(members, batch * layer.locations, -1), weights)
            back = back.reshape(members, batch, layer.locations, -1)
        else:
            back = np.swapaxes(np.matmul(np.swapaxes(delta, 1, 2), weights), 1, 2)
        return fields.scatter_patches(back, layer.index, layer.n_inputs)

    def _modulators(self, layers: list[np.ndarray], error: np.ndarray) -> list[np.ndarray]:
        """Per hidden layer the modulator q_k (K, B, n_k), from the state before the update."""
        raise NotImplementedError(f"{type(self).__name__} must supply its hidden modulators")

    def _sign(self) -> float:
        return -1.0

    def local_signals(self, activities: Mapping[str, np.ndarray], targets: np.ndarray) -> dict[str, np.ndarray]:
        """The per-sample quantities the rules read: ``input``, ``hidden_k`` (rates), ``error``
        ε = h_L − y (h_L the readout of the last hidden layer), ``broadcast`` (zero), and per
        hidden layer ``patches_k``, ``gain_k``, ``modulator_k`` (:meth:`kernel_signals`; the
        modulator negated for the "ascent" sign)."""
        names = ["input", *self._hidden_names()]
        layers = [np.asarray(activities[name], dtype=float) for name in names]
        layers.append(self.readout(layers[-1]))
        error = layers[-1] - np.asarray(targets, dtype=float)
        signals = dict(zip(names, layers))
        signals.update({"error": error, "broadcast": np.zeros_like(error)})
        ascent = self._sign() > 0
        for k, modulator in enumerate(self._modulators(layers, error), start=1):
            patches, gain, modulator = self.kernel_signals(k, self._patches(k, layers[k - 1]), layers[k], modulator)
            signals[f"patches_{k}"], signals[f"gain_{k}"] = patches, gain
            signals[f"modulator_{k}"] = -modulator if ascent else modulator
        return signals

    def rule_activities(self, activities: Mapping[str, np.ndarray], batch: Batch | TrialBatch | None
                        ) -> dict[str, np.ndarray]:
        """:meth:`local_signals` of the batch's targets."""
        if batch is None or batch.targets is None:
            raise ValueError(f"{self.name}.learn needs a batch with targets")
        return self.local_signals(activities, batch.targets)

    def rule_bindings(self) -> list[RuleBinding]:
        """The readout by the delta rule, hidden layer k by the three-factor rule on its
        patches (rate ``L_k μ_k`` for shared kernels), biases with ``bias=True`` (built once
        per parameters, image shape and state arrays: they depend on nothing else)."""
        key = (self._image_shape, frozenset(self.state))
        cached = self.__dict__.get("_declared")
        if cached is None or cached[0] is not self.params or cached[1] != key:
            cached = (self.params, key, self._declared_bindings())
            self.__dict__["_declared"] = cached
        return list(cached[2])

    def _declared_bindings(self) -> list[RuleBinding]:
        p, L = self.params, self.n_layers
        names = ["input", *self._hidden_names(), "output"]
        rates = check_rates("learning_rate", p.learning_rate, L - 1)
        output = {"learning_rate": p.output_rate, "broadcast_rate": 0.0}
        errors = {"error": "error", "broadcast": "broadcast"}
        bindings = [RuleBinding(f"weight_{L}", rules.DELTA_RULE, names[-2], "output", {"x": names[-2], **errors},
                                {**output, "weight_decay": p.weight_decay})]
        if p.bias:
            bindings.append(RuleBinding(f"bias_{L}", rules.DELTA_RULE_BIAS, "output", "output", errors, output))
        for k, layer in enumerate(self.geometry(), start=1):
            rate = rates[k - 1] * layer.locations if self.shared else rates[k - 1]
            signals = {"gain": f"gain_{k}", "modulator": f"modulator_{k}"}
            bindings.append(RuleBinding(f"weight_{k}", rules.THREE_FACTOR, names[k - 1], names[k],
                                        {"x": f"patches_{k}", **signals},
                                        {"learning_rate": rate, "weight_decay": p.weight_decay}))
            if p.bias:
                bindings.append(RuleBinding(f"bias_{k}", rules.THREE_FACTOR_BIAS, names[k], names[k], signals,
                                            {"learning_rate": rate}))
        return bindings
