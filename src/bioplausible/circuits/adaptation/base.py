"""The shared machinery of the whitening circuits (:class:`WhiteningCircuit`: steady state,
expected updates, the whitening error, the positive-definiteness invariant), the family's
agreement case and the declaration pieces every circuit of the family uses."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from ...core.agreement import AgreementCase
from ...core.whitening import whitening_error
from ...validation import check_integer
from ..base import Batch, Connection, Population, RuleCircuit, ensemble_inputs

__all__ = ["WhiteningCircuit", "agreement_cases", "stimulus_and_principal", "identity_drive", "check_sizes",
           "interneuron_connections", "interneuron_thresholds"]


class WhiteningCircuit(RuleCircuit):
    """Shared machinery: steady state ``y = M⁻¹x``, expected (offline) updates, PD check.
    ``learn`` is derived from each circuit's declared rules (:meth:`rule_bindings`)."""

    family = "adaptation"
    default_task = "adaptation"

    @abstractmethod
    def effective_matrix(self) -> np.ndarray:
        """The recurrent matrix M (K, n, n) of the steady state ``M y = x``."""

    #: The state array whose second-to-last axis has the input dimension.
    _input_axis_array: str = "synapses"

    @property
    def n_inputs(self) -> int:
        return int(self.state[self._input_axis_array].shape[-2])

    def respond(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        x = ensemble_inputs(inputs, self.ensemble_size, self.n_inputs)
        y = np.swapaxes(np.linalg.solve(self.effective_matrix(), np.swapaxes(x, -1, -2)), -1, -2)
        return {"stimulus": x, "principal": y, **self._interneuron_activity(y)}

    def _interneuron_activity(self, principal: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def expected_update(self, covariance: np.ndarray) -> None:
        """One offline step: the expectation of the online update under input covariance C.

        Every rule here is quadratic in the activities, so its batch mean over the ``n``
        pseudo-samples ``x_b = √n S[:, b]`` (``S Sᵀ = C``) is exactly its expectation.
        """
        covariance = np.asarray(covariance, dtype=float)
        factor = np.linalg.cholesky(covariance)
        pseudo = np.sqrt(self.n_inputs) * np.swapaxes(factor, -1, -2)
        if pseudo.ndim == 2:
            pseudo = np.broadcast_to(pseudo, (self.ensemble_size, *pseudo.shape))
        batch = Batch(np.ascontiguousarray(pseudo))
        self.learn(self.respond(batch.inputs), batch)

    def steps_to_whiten(self, covariance: np.ndarray, threshold: float = 0.1, max_steps: int = 1_000_000) -> np.ndarray:
        """Offline (expected) updates until ``‖C_yy − I‖₂ < threshold``; steps per member, (K,).

        Members that never reach the threshold get ``max_steps + 1``. Used for the
        linear-versus-logarithmic convergence result (Lipshutz et al., ICLR 2023; see
        :ref:`theory-adaptation-interneurons`).
        """
        steps = np.full(self.ensemble_size, max_steps + 1)
        for step in range(max_steps + 1):
            done = (self.whitening_error(covariance) < threshold) & (steps > max_steps)
            steps[done] = step
            if np.all(steps <= max_steps) or step == max_steps:
                break
            self.expected_update(covariance)
            self.check_finite(step + 1)
        return steps

    def whitening_error(self, covariance: np.ndarray) -> np.ndarray:
        """``‖C_yy − I‖₂`` with ``C_yy = M⁻¹ C M⁻¹`` (exact, per member), shape (K,)."""
        return whitening_error(self.effective_matrix(), covariance)

    invariant = ("effective_matrix", "no longer positive definite")

    def invariant_values(self) -> np.ndarray:
        matrix = self.effective_matrix()
        return 0.5 * (matrix + np.swapaxes(matrix, -1, -2))

    def first_invalid(self, stacked: np.ndarray) -> int | None:
        """First update whose (symmetrised) M is not positive definite (Cholesky fails)."""
        try:
            np.linalg.cholesky(stacked)
            return None
        except np.linalg.LinAlgError:
            pass
        for index, matrices in enumerate(stacked):
            try:
                np.linalg.cholesky(matrices)
            except np.linalg.LinAlgError:
                return index
        return None

    def _check_sizes(self, n_inputs: int, n_targets: int) -> None:
        super()._check_sizes(n_inputs, n_targets)
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")


def agreement_cases(params: dict[str, Any]) -> tuple[AgreementCase, ...]:
    """The family's agreement case: 300 online updates of one context (N = 3) on each
    substrate, whitening error of the last 100 updates within 25 %, and halved by learning."""
    return (AgreementCase(
        "adaptation", {"whitening_error": (0.25, 0.0)}, params=params,
        task_options={"n_inputs": 3, "n_contexts": 1, "samples_per_context": 300}, eval_every=25, tail=4,
        substrate_options={"spiking": {"rate_unit": 50.0, "presentation": 0.1, "dt": 5e-4}},
        learns={"whitening_error": ("relative", -0.5)}, same_start=True,
        note="300 online updates, r0 T = 5, mean of the last 100 updates; was test_adaptation_spiking"),)


def stimulus_and_principal(n: int, offset: float, principal_note: str) -> list[Population]:
    return [
        Population("stimulus", n, role="input", description="input x (the task's samples)"),
        Population("principal", n, offset=offset, description=principal_note),
    ]


def identity_drive(ensemble_size: int, n: int) -> np.ndarray:
    return np.broadcast_to(np.eye(n), (ensemble_size, n, n)).copy()


def check_sizes(params: Any) -> None:
    """The population sizes a whitening circuit's parameters may fix: ``n_inputs`` and, where
    the circuit has interneurons, ``n_interneurons``, each None (from the task) or >= 1."""
    for name in ("n_inputs", "n_interneurons"):
        value = getattr(params, name, None)
        if value is not None:
            check_integer(name, value, 1)


def interneuron_connections(forward: tuple[Any, str], feedback: tuple[Any, str]) -> list[Connection]:
    """The connections of a whitening circuit with interneurons: the one-to-one drive of the
    principal neurons, principal → interneuron (``feedforward``) and interneuron → principal
    (``feedback``), each given as (its rule or None, its description)."""
    return [
        Connection("stimulus", "principal", kind="drive"),
        Connection("principal", "interneuron", forward[0], kind="feedforward", description=forward[1]),
        Connection("interneuron", "principal", feedback[0], kind="feedback", description=feedback[1]),
    ]


def interneuron_thresholds(ensemble_size: int, synapses: np.ndarray, leak: float) -> dict[str, np.ndarray]:
    """Self-terms of a circuit with interneurons over ``synapses`` W (K, N, k): the principal
    neurons' leak α, the interneurons' 1."""
    n, k = synapses.shape[-2:]
    return {
        "principal": np.full((ensemble_size, n), leak),
        "interneuron": np.ones((ensemble_size, k)),
    }
