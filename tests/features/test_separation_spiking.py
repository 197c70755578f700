"""Rate vs spiking agreement for the separation family (spiking.md §3.2, §6.9).

NSM runs on the generic integrate-and-fire route (threshold 1 = (I + W₂)_ii, lateral jumps
−W₂,ij, drive W₁W_pre x, offset 0) with presentation-level learning on decoded counts; the
task metric (SINR of the learned separator on held-out samples) must agree with the rate run
on the same data, initial weights and seed.

CorInfoMax and Det-Max (box domains) run on the same route with a rate cap: outputs with
offset ``−lo`` and ceiling 1 realise the clip of the projected dynamics (zero-rate
rectification below, an absolute refractory period above). CorInfoMax's ℓ1 and simplex
domains add a graded threshold unit (an integral controller driven by the output spikes;
signed sparse outputs as ON/OFF pairs); its mixed polytope, one threshold unit per sparse
group, is tested in ``test_polytope_spiking.py``. Det-Max's ℓ1/simplex domains take the same
unit with its level scaled per output by the output's threshold. The Bio-NICA interneuron
variant without a leak refuses the spiking substrate with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from bioplausible.circuits import CorInfoMax, DetMaxWSM, NonnegativeICA, NonnegativeSimilarityMatching
from bioplausible.circuits.base import Batch, Circuit, Connection, Parameters, Population
from bioplausible.circuits.separation import DETMAX_PRESETS
from bioplausible.experiments.run import run
from bioplausible.substrates.spiking import SpikingSubstrate
from bioplausible.tasks import SourceSeparation

SPIKING = {"rate_unit": 100.0, "presentation": 0.1, "dt": 1e-3}


def _task(domain: str = "nonnegative-bernoulli", n_mixtures: int = 3) -> SourceSeparation:
    return SourceSeparation(domain=domain, n_sources=3, n_mixtures=n_mixtures, evaluation_samples=1000)


def _final_sinr(circuit, substrate: str, seeds: list[int], steps: int, task=None, options=None,
                eval_every: int | None = None) -> np.ndarray:
    result = run(circuit, task or _task(), substrate, seeds=seeds, steps=steps, eval_every=eval_every or steps,
                 progress=False, substrate_options=(options or SPIKING) if substrate == "spiking" else None)
    return result.dataset["metric_sinr_db"].values


# --------------------------------------------------------------------------- rate cap (mechanism)
@dataclass(frozen=True)
class _BoxParameters(Parameters):
    matrix: np.ndarray = None
    low: float = 0.0
    high: float = 1.0


class BoxQuadraticProgram(Circuit):
    """``y = argmin_{lo≤y≤hi} ½yᵀAy − bᵀy``: IF units, threshold A_ii, lateral −A_ij, a ceiling."""

    name = "test-box-qp"
    family = "test"
    description = "test circuit"
    default_task = ""
    Parameters = _BoxParameters

    def populations(self):
        n = self.params.matrix.shape[0]
        return [Population("drive", n, role="input"),
                Population("units", n, offset=-self.params.low, ceiling=self.params.high)]

    def connections(self):
        return [Connection("drive", "units", kind="drive"), Connection("units", "units", kind="lateral")]

    def weights(self):
        matrix = self.params.matrix
        lateral = -(matrix - np.diag(np.diag(matrix)))
        return {("drive", "units"): np.eye(len(matrix))[None], ("units", "units"): lateral[None]}

    def thresholds(self):
        return {"units": np.diag(self.params.matrix)[None].copy()}

    def initial_state(self, rng, n_inputs, n_targets):
        return {"unused": np.zeros(1)}

    def respond(self, inputs):
        return self.settle(inputs, step_size=0.05, tolerance=1e-12)

    def learn(self, activities, batch):
        self.recorded = activities


def _box_problem(low: float, samples: int = 20):
    rng = np.random.default_rng(3)
    factor = rng.uniform(0.0, 1.0, (4, 2))
    matrix = 2.0 * np.eye(4) + 0.6 * factor @ factor.T  # SPD, off-diagonal inhibition
    drive = rng.uniform(4.0 * low - 1.0, 4.0, (samples, 4))
    exact = np.stack([lsq_linear(np.linalg.cholesky(matrix).T, np.linalg.solve(np.linalg.cholesky(matrix), b),
                                 bounds=(low, 1.0), lsmr_tol="auto", tol=1e-12).x for b in drive])
    return matrix, drive, exact


def _decode(circuit, inputs, **options) -> np.ndarray:
    substrate = SpikingSubstrate(**options)
    substrate.prepare(circuit, 0)
    substrate.learn(circuit, Batch(inputs[None]), inputs.shape[0], 0)
    return circuit.recorded["units"][0]


@pytest.mark.parametrize("low", [0.0, -1.0], ids=["nonnegative", "signed"])
def test_rate_cap_matches_the_box_qp_fixed_point(low):
    """Decoded counts solve ``argmin_{lo≤y≤1} ½yᵀAy − bᵀy`` within 1/(r0 T), and the error
    shrinks with T (measured max error 0.078 / 0.024 nonnegative, 0.094 / 0.024 signed, at
    r0 T = 10 / 40; the rate
    ``settle`` of the same declaration lands on the QP solution to 1e-8)."""
    matrix, drive, exact = _box_problem(low)
    circuit = BoxQuadraticProgram(matrix=matrix, low=low).initialize(4)
    assert np.abs(circuit.respond(drive)["units"][0] - exact).max() < 1e-8
    assert np.mean(exact >= 1.0 - 1e-9) > 0.2 and np.mean(exact <= low + 1e-9) > 0.1  # both clips active
    errors = []
    for presentation in (0.1, 0.4):
        decoded = _decode(circuit, drive, rate_unit=100.0, presentation=presentation, dt=1e-3)
        errors.append(np.abs(decoded - exact).max())
        assert errors[-1] <= 1.0 / (100.0 * presentation), (presentation, errors)
        assert decoded.max() <= 1.0 + 1e-12 and decoded.min() >= low - 1e-12
    assert errors[1] < 0.5 * errors[0]


def test_saturated_unit_fires_exactly_at_the_cap():
    """A unit driven far past its ceiling fires once per refractory period, r0 (y0 + c) T spikes."""
    matrix = np.eye(2)
    circuit = BoxQuadraticProgram(matrix=matrix, low=-1.0, high=1.0).initialize(2)
    drive = np.array([[50.0, 0.2], [3.0, -5.0]])
    decoded = _decode(circuit, drive, rate_unit=100.0, presentation=0.2, dt=1e-3)
    counts = (decoded + 1.0) * 100.0 * 0.2
    np.testing.assert_array_equal(np.round(counts[:, 0], 9), [40.0, 40.0])  # 200 Hz × 0.2 s
    assert abs(decoded[0, 1] - 0.2) <= 1.0 / 20 and decoded[1, 1] == -1.0  # unclipped and rectified units


def test_ceiling_that_dt_cannot_realise_is_refused_naming_the_population():
    circuit = BoxQuadraticProgram(matrix=np.eye(2), low=0.0, high=1.0).initialize(2)
    with pytest.raises(ValueError, match="population 'units' has ceiling 1.*choose dt"):
        _decode(circuit, np.ones((2, 2)), rate_unit=300.0, presentation=0.1, dt=1e-3)  # 3.33 ms ≠ k × 1 ms


def test_ceiling_must_exceed_minus_offset():
    with pytest.raises(ValueError, match="population 'units': ceiling must exceed"):
        Population("units", 2, offset=1.0, ceiling=-1.0)


# --------------------------------------------------------------------------- NSM
@pytest.mark.slow
def test_nsm_spiking_matches_rate_sinr_over_two_seeds():
    """1200 presentations (200 prewhitening): measured 19.33 vs 19.23 dB and 21.43 vs 21.53 dB."""
    make = lambda: NonnegativeSimilarityMatching(n_sources=3, prewhitening_samples=200)  # noqa: E731
    rate = _final_sinr(make(), "rate", [0, 2], 1200)
    spiking = _final_sinr(make(), "spiking", [0, 2], 1200)
    assert np.all(np.abs(spiking[:, -1] - rate[:, -1]) <= 0.05 * rate[:, -1]), (rate, spiking)


# --------------------------------------------------------------------------- CorInfoMax
#: CorInfoMax settings that learn within a few hundred samples (n = 3 sources, m = 6
#: mixtures): μ_W = 0.1 and B_e = 200 I (γ_e B_e ≈ 6.9) instead of the 100k-sample presets.
CORINFOMAX_FAST = {"n_sources": 3, "learning_rate": 0.1, "error_lateral": 200.0}
#: r0 = 500 Hz (the cap 500 Hz = one spike per 2 ms at dt = 1 ms): r0 T = 50 counts per unit.
CORINFOMAX_SPIKING = {"rate_unit": 500.0, "presentation": 0.1, "dt": 1e-3}


@pytest.mark.slow
def test_corinfomax_nonnegative_antisparse_spiking_matches_rate_at_1000_presentations():
    """Same setting, 1000 presentations: measured 27.38 (spiking) vs 27.74 dB (rate), 1.3 %;
    at r0 = 250 Hz (r0 T = 25) 25.05 dB, 9.7 % off."""
    task = _task("nonnegative-antisparse", n_mixtures=6)
    rate = _final_sinr(CorInfoMax(**CORINFOMAX_FAST), "rate", [2], 1000, task)
    spiking = _final_sinr(CorInfoMax(**CORINFOMAX_FAST), "spiking", [2], 1000, task, CORINFOMAX_SPIKING)
    assert abs(spiking[0, -1] - rate[0, -1]) <= 0.05 * rate[0, -1], (rate, spiking)


@pytest.mark.slow
def test_corinfomax_antisparse_spiking_tracks_rate():
    """Signed antisparse (offset 1, rates r0 (1 + y) ∈ [0, 2 r0], cap 2 r0 = 500 Hz at
    r0 = 250 Hz), B_e = 100 I, seed 0, 1000 presentations: measured 21.75 (spiking) vs
    24.24 dB (rate), 10 % apart, from 5.14 dB; tolerance 15 %."""
    task = _task("antisparse", n_mixtures=6)
    params = dict(CORINFOMAX_FAST, domain="antisparse", error_lateral=100.0)
    options = dict(CORINFOMAX_SPIKING, rate_unit=250.0)
    rate = _final_sinr(CorInfoMax(**params), "rate", [0], 1000, task)
    spiking = _final_sinr(CorInfoMax(**params), "spiking", [0], 1000, task, options)
    assert spiking[0, -1] - spiking[0, 0] > 10, spiking
    assert abs(spiking[0, -1] - rate[0, -1]) <= 0.15 * rate[0, -1], (rate, spiking)


def test_corinfomax_spiking_declaration_is_the_box_fixed_point():
    """The generic declaration (threshold A_ii, lateral −A_ij, drive γ_eB_eW, ceiling 1) settles
    to the rate model's projected fixed point, on the rate side."""
    circuit = CorInfoMax(**CORINFOMAX_FAST).initialize(6, 0, 0)
    rng = np.random.default_rng(0)
    circuit.state["feedforward"] = circuit.state["feedforward"] + 0.3 * rng.standard_normal((1, 3, 6))
    circuit.state["lateral"] = circuit.state["lateral"] + 0.5 * np.eye(3)
    x = 1.5 * rng.standard_normal((50, 6))
    declared = circuit.settle(x, step_size=0.05, tolerance=1e-12)["output"]
    settled = circuit.respond(x)["output"]
    assert np.abs(declared - settled).max() < 1e-3
    assert 0.1 < np.mean(settled == 1.0) < 0.9  # the cap matters


@pytest.mark.parametrize("domain", ["nonnegative-sparse", "simplex", "sparse"])
def test_threshold_unit_realises_the_l1_fixed_point(domain):
    """IF outputs plus the graded threshold unit (integral controller, τ_λ = 5 ms; signed
    sparse: ON/OFF pairs) vs the rate loop's fixed point on fixed weights (B_e = 1000 I,
    W = I + 0.3 N(0, 1)): measured rmse 0.038 / 0.009 (nonnegative sparse), 0.037 / 0.009
    (simplex) on 40 samples, 0.054 / 0.015 (sparse) at r0 T = 10 / 40."""
    circuit = CorInfoMax(n_sources=3, domain=domain).initialize(6, 0, 0)
    rng = np.random.default_rng(0)
    circuit.state["feedforward"] = circuit.state["feedforward"] + 0.3 * rng.standard_normal((1, 3, 6))
    x = 0.5 * rng.standard_normal((1, 20, 6))
    x = x if domain == "sparse" else np.abs(x)
    rate = circuit.respond(x)["output"]
    norm = np.abs(rate).sum(-1)  # both regimes: threshold active (‖y‖₁ = 1) and inactive (λ = 0)
    if domain != "simplex":
        assert np.any(norm > 0.999) and np.any(norm < 0.9)
    if domain == "sparse":
        assert np.any(rate > 0.05) and np.any(rate < -0.05)
    recorded: list[np.ndarray] = []
    circuit.learn = lambda activities, batch: recorded.append(activities["output"])
    errors = []
    for presentation in (0.1, 0.4):
        substrate = SpikingSubstrate(rate_unit=100.0, presentation=presentation, dt=1e-3)
        substrate.prepare(circuit, 0)
        substrate.learn(circuit, Batch(x), x.shape[1], 0)
        errors.append(np.sqrt(np.mean((recorded[-1] - rate) ** 2)))
        assert errors[-1] <= 0.7 / (100.0 * presentation), errors
        grouped = recorded[-1][..., :2] if domain == "polytope" else recorded[-1]
        assert np.abs(grouped).sum(-1).max() <= 1.0 + 2.0 / (100.0 * presentation)
    assert errors[1] < 0.5 * errors[0], errors


@pytest.mark.parametrize("domain,measured", [
    ("nonnegative-sparse", "rate 15.14 / 18.84 / 21.68 / 23.13, spiking 14.88 / 17.94 / 22.46 / 25.24 (from 3.43)"),
    ("simplex", "rate 13.17 / 15.06 / 16.08 / 16.87, spiking 13.06 / 14.67 / 15.88 / 17.21 (from 9.45)"),
], ids=["nonnegative-sparse", "simplex"])
def test_corinfomax_l1_domains_spiking_tracks_rate(domain, measured):
    """Nonnegative sparse / simplex (B_e = 1000 I, μ_W = 0.1), seed 2, 500 presentations, r0 =
    500 Hz, T = 100 ms, dt = 1 ms, τ_λ = 5 ms; SINR every 125 presentations, measured as in
    ``measured``.
    Tolerance: mean over the checkpoints within 5 % (measured 2.2 % / 1.0 %), the final one
    within 10 % (9.1 % / 2.0 %); learns ≥ 7 dB on both substrates."""
    task = _task(domain, n_mixtures=6)
    params = dict(CORINFOMAX_FAST, domain=domain, error_lateral=1000.0)
    rate = _final_sinr(CorInfoMax(**params), "rate", [2], 500, task, eval_every=125)[0]
    spiking = _final_sinr(CorInfoMax(**params), "spiking", [2], 500, task, CORINFOMAX_SPIKING, eval_every=125)[0]
    assert spiking[0] == pytest.approx(rate[0])
    assert rate[-1] - rate[0] > 7 and spiking[-1] - spiking[0] > 7, (rate, spiking)
    assert abs(spiking[1:].mean() - rate[1:].mean()) <= 0.05 * rate[1:].mean(), (rate, spiking)
    assert abs(spiking[-1] - rate[-1]) <= 0.10 * rate[-1], (rate, spiking)


@pytest.mark.slow
def test_corinfomax_signed_sparse_spiking_tracks_rate():
    """Signed sparse (ON/OFF pairs + threshold unit), B_e = 1000 I, μ_W = 0.1, seed 0, 1000
    presentations, r0 = 500 Hz, T = 100 ms: measured SINR every 250, rate 1.88 / 3.63 / 8.78 /
    10.74 dB, spiking 2.13 / 2.49 / 9.29 / 11.87 (from 5.23; ≈ 75 s). The sparse preset learns
    slowly at this size, so the comparison sits on a steep, noisy part of the curve: final
    within 15 % (measured 10.5 %), both gain ≥ 4 dB."""
    task = _task("sparse", n_mixtures=6)
    params = dict(CORINFOMAX_FAST, domain="sparse", error_lateral=1000.0)
    rate = _final_sinr(CorInfoMax(**params), "rate", [0], 1000, task)[0]
    spiking = _final_sinr(CorInfoMax(**params), "spiking", [0], 1000, task, CORINFOMAX_SPIKING)[0]
    assert rate[-1] - rate[0] > 4 and spiking[-1] - spiking[0] > 4, (rate, spiking)
    assert abs(spiking[-1] - rate[-1]) <= 0.15 * rate[-1], (rate, spiking)


# --------------------------------------------------------------------------- Det-Max
def _detmax_fixed_state() -> DetMaxWSM:
    circuit = DetMaxWSM(n_sources=3).initialize(6, 0, 0)
    rng = np.random.default_rng(4)
    circuit.state["hidden_input"] = circuit.state["hidden_input"] + 0.3 * rng.standard_normal((1, 3, 6))
    circuit.state["output_input"] = circuit.state["output_input"] + 0.2 * rng.standard_normal((1, 3, 3))
    return circuit


def test_detmax_spiking_fixed_point_matches_the_declaration():
    """Det-Max/WSM, nonnegative antisparse, fixed weights: decoded counts of the hidden
    (offset 2) and output (offset 0, ceiling 1) populations vs the fixed point of the declared
    couplings (``settle``, which the rate ``respond`` reaches to 2e-6). Measured max error
    0.187 / 0.053 at r0 T = 10 / 40 (≈ 2/(r0 T): the hidden ↔ output loop amplifies count
    errors); bound 3/(r0 T)."""
    circuit = _detmax_fixed_state()
    x = 3.0 * np.random.default_rng(5).uniform(0.0, 1.0, (20, 6))
    declared = circuit.settle(x, step_size=0.05, tolerance=1e-12)
    assert np.abs(declared["output"] - circuit.respond(x)["output"]).max() < 1e-3
    assert np.mean(declared["output"] == 0.0) > 0.1  # the rectification matters
    recorded: dict[str, np.ndarray] = {}
    circuit.learn = lambda activities, batch: recorded.update(activities)
    errors = []
    for presentation in (0.1, 0.4):
        substrate = SpikingSubstrate(rate_unit=100.0, presentation=presentation, dt=1e-3)
        substrate.prepare(circuit, 0)
        substrate.learn(circuit, Batch(x[None]), x.shape[0], 0)
        error = max(np.abs(recorded[name] - declared[name]).max() for name in ("hidden", "output"))
        errors.append(error)
        assert error <= 3.0 / (100.0 * presentation), errors
    assert errors[1] < 0.5 * errors[0], errors


def _detmax_l1_problem(domain: str) -> tuple[DetMaxWSM, np.ndarray]:
    """Fixed Det-Max weights with unequal output thresholds γ_i d2_i = (1, 1.5, 0.7), a rate
    loop run to a tight tolerance (its fixed point, not the preset's early stop), 20 inputs."""
    structure = {"signed_dims": (0,), "sparse_groups": ((0, 1),)} if domain == "polytope" else {}
    circuit = DetMaxWSM(n_sources=3, domain=domain, **structure, initial_weights="identity", lateral_scales=(1.0, 1.0),
                        initial_gains=(1.0, 1.0), max_iterations=20_000, tolerance=1e-13, neural_lr_start=0.1,
                        neural_lr_stop=0.05, threshold_rate=0.05, hidden_clip=np.inf).initialize(6, 0, 0)
    rng = np.random.default_rng(4)
    circuit.state["hidden_input"] = circuit.state["hidden_input"] + 0.3 * rng.standard_normal((1, 3, 6))
    circuit.state["output_input"] = circuit.state["output_input"] + 0.2 * rng.standard_normal((1, 3, 3))
    circuit.state["output_gains"] = np.array([[1.0, 1.5, 0.7]])
    x = rng.standard_normal((1, 20, 6))
    return circuit, (x if domain in ("sparse", "polytope") else np.abs(x))


@pytest.mark.parametrize("domain,presentations,bound", [
    ("nonnegative-sparse", (0.1, 0.4), 2.0), ("simplex", (0.1, 0.4), 2.0), ("sparse", (0.4, 1.6), 8.0),
    ("polytope", (0.1, 0.4), 2.5)])
def test_detmax_scaled_threshold_unit_realises_the_l1_fixed_point(domain, presentations, bound):
    """Det-Max's ℓ1/simplex outputs soft-threshold u/(Γ_Y D2) by λ: the threshold unit's level
    reaches output i as θ_i ν (kind ``"scaled-threshold-unit"``; signed sparse: ON/OFF pairs that
    also feed the hidden layer back). Fixed weights, 20 samples, r0 = 100 Hz, τ_λ = 5 ms; rmse
    of the decoded outputs against the rate loop's fixed point, measured at r0 T = 10 / 40 / 160:
    nonnegative sparse 0.147 / 0.034 / 0.008, simplex 0.110 / 0.028 / 0.006, sparse 0.251 /
    0.145 / 0.039; the polytope with one signed coordinate, one group {0, 1} and coordinate 2
    only boxed (kind ``"scaled-polytope-groups"``; a one-unit OFF half) 0.126 / 0.045 / 0.012.
    The same unit with one uniform level (θ_i ν → mean θ · ν) stalls at 0.055
    for nonnegative sparse (0.167 / 0.060 / 0.055): the scaling is the realisation. Signed sparse
    converges more slowly because of a transient: dithered ON and OFF halves fire together in the
    first step, the level's kick inhibits every output for ≈ 30 ms, and the non-leaky outputs
    wind down by several thresholds that their weak net drive (|y| ≲ 0.7) takes a large part of a
    short window to recover (traced on single samples; an O(1/T) error, as the 160 row shows).
    Bound: ``bound``/(r0 T), and the error at least halves when T grows fourfold."""
    circuit, x = _detmax_l1_problem(domain)
    rate = circuit.respond(x)["output"]
    assert circuit.last_settling_steps.max() < 20_000  # converged, not stopped
    norm = np.abs(rate).sum(-1)
    if domain == "nonnegative-sparse":
        assert np.any(norm > 0.999) and np.any(norm < 0.9)  # the threshold both active and idle
    if domain == "sparse":
        assert np.mean(norm > 0.999) > 0.5 and np.any(rate > 0.1) and np.any(rate < -0.1)
    if domain == "polytope":  # the group's ℓ1 bound and the box both bind somewhere
        assert np.any(np.abs(rate[..., :2]).sum(-1) > 0.999) and np.any(rate[..., 2] > 0.999)
        assert np.any(rate[..., 0] < -0.1)
    recorded: list[np.ndarray] = []
    circuit.learn = lambda activities, batch: recorded.append(activities["output"])
    errors = []
    for presentation in presentations:
        substrate = SpikingSubstrate(rate_unit=100.0, presentation=presentation, dt=1e-3)
        substrate.prepare(circuit, 0)
        substrate.learn(circuit, Batch(x), x.shape[1], 0)
        errors.append(np.sqrt(np.mean((recorded[-1] - rate) ** 2)))
        assert errors[-1] <= bound / (100.0 * presentation), errors
        grouped = recorded[-1][..., :2] if domain == "polytope" else recorded[-1]
        assert np.abs(grouped).sum(-1).max() <= 1.0 + 2.0 / (100.0 * presentation)
    assert errors[1] < 0.5 * errors[0], errors


@pytest.mark.slow
def test_detmax_simplex_learns_on_spikes():
    """Det-Max on the simplex with identity initial weights and unit lateral scales and gains
    (the preset's tiny random rows do not learn at n = 3 in 5,000 samples on rates: 4.4 / 4.8
    dB, seeds 0 / 1), seed 0, 1000 presentations of T = 400 ms at r0 = 100 Hz: SINR every 250,
    measured rate 8.71 / 10.50 / 15.67 / 17.21 / 18.21 dB, spiking 8.71 / 11.90 / 18.88 / 21.79 /
    23.93 (≈ 55 s). Spikes end higher; this is not a tolerance on agreement, because learning in
    this setting is sensitive to small changes of the responses: the rate run alone, with only
    the loop's tolerance tightened (1e-5 → 1e-10), ends at 19.03 (seed 0), 6.38 (seed 1, from
    9.38) and 5.12 dB (seed 2, 16.75 with the preset tolerance). Agreement of the realisation is
    the fixed-point test above; here both start alike and both learn."""
    task = _task("simplex", n_mixtures=6)
    make = lambda: DetMaxWSM(n_sources=3, domain="simplex", initial_weights="identity",  # noqa: E731
                             lateral_scales=(1.0, 1.0), initial_gains=(1.0, 1.0))
    options = {"rate_unit": 100.0, "presentation": 0.4, "dt": 1e-3}
    rate = _final_sinr(make(), "rate", [0], 1000, task, eval_every=250)[0]
    spiking = _final_sinr(make(), "spiking", [0], 1000, task, options, eval_every=250)[0]
    assert spiking[0] == pytest.approx(rate[0])
    assert rate[-1] - rate[0] > 6 and spiking[-1] - spiking[0] > 8, (rate, spiking)
    assert spiking[-1] >= rate[-1] - 1.0, (rate, spiking)


@pytest.mark.slow
def test_detmax_nonnegative_antisparse_spiking_tracks_rate():
    """Det-Max/WSM, nonnegative antisparse sources with the antisparse preset's fast synaptic
    schedule (the nonnegative preset's slow-log schedule barely moves in 300 presentations:
    12.34 → 12.99 / 12.63 / 12.79 dB on spikes), seed 0, 300 presentations of T = 400 ms, r0 = 250 Hz,
    dt = 0.5 ms (r0 T = 100; hidden rates up to ≈ 850 Hz, output cap 250 Hz = 8 steps).
    Measured SINR every 100 presentations: 16.49 / 18.54 / 17.74 dB (spiking) vs 16.58 / 18.84 /
    16.73 (rate), from 12.34; ≈ 3 min. At r0 T = 40 (r0 = 100 Hz, dt = 1 ms) the runs part:
    16.02 / 15.10 / 8.26 dB: the Hebbian M_H ← (1−γ)M_H + γ h hᵀ picks up the count error of h
    (amplified by the hidden ↔ output loop) and the gains drift. Tolerance: the mean over the
    three checkpoints within 5 % (measured 1.2 %), each within 10 % (measured ≤ 6 %)."""
    task = _task("nonnegative-antisparse", n_mixtures=6)
    options = {"rate_unit": 250.0, "presentation": 0.4, "dt": 5e-4}
    make = lambda: DetMaxWSM(n_sources=3, domain="nonnegative-antisparse", **DETMAX_PRESETS["antisparse"])  # noqa: E731
    rate = _final_sinr(make(), "rate", [0], 300, task, eval_every=100)[0]
    spiking = _final_sinr(make(), "spiking", [0], 300, task, options, eval_every=100)[0]
    assert spiking[1:].mean() - spiking[0] > 3, spiking
    assert abs(spiking[1:].mean() - rate[1:].mean()) <= 0.05 * rate[1:].mean(), (rate, spiking)
    assert np.all(np.abs(spiking[1:] - rate[1:]) <= 0.10 * rate[1:]), (rate, spiking)


# --------------------------------------------------------------------------- Bio-NICA
@pytest.mark.slow
def test_bio_nica_direct_runs_on_spikes_and_tracks_rate():
    """600 presentations, seed 2: measured 4.58 (spiking) vs 4.70 dB (rate); permutation error
    0.719 vs 0.696 (from 1.41): it agrees, but 600 samples are early in Bio-NICA's learning."""
    make = lambda: NonnegativeICA(n_sources=3, learning_rate=1e-3, learning_rate_decay=0.0,  # noqa: E731
                                  time_constant=0.5)
    rate = _final_sinr(make(), "rate", [2], 600)
    spiking = _final_sinr(make(), "spiking", [2], 600)
    assert abs(spiking[0, -1] - rate[0, -1]) <= 0.15 * abs(rate[0, -1]) + 1.0, (rate, spiking)


def test_bio_nica_interneuron_leak_zero_is_the_paper_circuit_on_rates():
    """ε = 0 leaves the rate model unchanged; ε > 0 solves the QP with M = PPᵀ + εI."""
    x = np.abs(np.random.default_rng(0).standard_normal((20, 3)))
    plain = NonnegativeICA(n_sources=3, variant="interneuron").initialize(3, 0, 1)
    leaky = NonnegativeICA(n_sources=3, variant="interneuron", leak=0.25).initialize(3, 0, 1)
    synapses = plain.state["synapses"]
    np.testing.assert_allclose(plain._matrix(), synapses @ np.swapaxes(synapses, -1, -2))
    np.testing.assert_allclose(leaky._matrix(), plain._matrix() + 0.25 * np.eye(3))
    declared = leaky.settle(x, step_size=0.05, tolerance=1e-12)["output"]
    np.testing.assert_allclose(declared, leaky.respond(x)["output"], atol=1e-7)


# --------------------------------------------------------------------------- what refuses
@pytest.mark.parametrize("circuit,reason", [
    (NonnegativeICA(n_sources=3, variant="interneuron"), "leak=0"),
], ids=["nica-interneuron-no-leak"])
def test_configurations_without_a_spiking_realisation_refuse_with_a_reason(circuit, reason):
    domain = getattr(circuit.params, "domain", "nonnegative-bernoulli")
    task = SourceSeparation(domain=domain, n_sources=3, n_mixtures=3, evaluation_samples=100)
    with pytest.raises(ValueError, match=f"cannot run on the spiking substrate: .*{reason}"):
        run(circuit, task, "spiking", steps=2, eval_every=2, progress=False, substrate_options=SPIKING)


def test_detmax_on_the_papers_polytope_stays_in_it_on_spikes():
    """Det-Max on the 5-dimensional polytope (overlapping groups {0, 1, 4} and {1, 2, 3}; kind
    ``"scaled-polytope-groups"``), the polytope preset's initial state, 30 presentations at r0 T
    = 40: every decoded output is in the box and every group's ℓ1 norm is at most 1 + 2/(r0 T);
    the last presentation's outputs are the ones it learned from."""
    circuit = DetMaxWSM(domain="polytope").initialize(10, 0, 0)
    task = SourceSeparation(domain="polytope", evaluation_samples=100)
    x = task.reset(3).next_batch(30).inputs[None]
    recorded: list[np.ndarray] = []
    learn = circuit.learn
    circuit.learn = lambda activities, batch: (recorded.append(activities["output"]), learn(activities, batch))
    substrate = SpikingSubstrate(rate_unit=100.0, presentation=0.4, dt=1e-3)
    substrate.prepare(circuit, 0)
    substrate.learn(circuit, Batch(x), 1, 0)
    y = np.concatenate(recorded, axis=1)[0]  # (30, 5)
    assert y.shape == (30, 5) and np.abs(y).max() > 0
    assert np.all(y[:, [2, 4]] >= 0) and np.all(np.abs(y) <= 1.0)
    for group in ((0, 1, 4), (1, 2, 3)):
        assert np.abs(y[:, group]).sum(-1).max() <= 1.0 + 2.0 / 40.0
