"""Every registered circuit's default run does its circuit's job, on every substrate it runs on.

Two tiers:

* the quick twin (default tier): each circuit at a reduced size (:func:`twin`: fewer
  inputs, samples or epochs) on the rate substrate, and on the spiking substrate for
  :data:`SPIKING_TWINS`, a few seconds each;
* the default run (``@pytest.mark.slow``): ``bioplausible run CIRCUIT`` as a user types it —
  the circuit's default parameters on its default task at the task's default size — on the
  rate substrate; spiking at the quick settings (the quick comparison's) for
  :data:`SPIKING_DEFAULT_RUNS`. The other circuits' spiking realisations are checked to learn, at their own
  small settings, by the agreement harness (``tests/features/test_agreement.py``).

"Its job" is the family's headline metric (:data:`JOBS`) past a threshold in every seed. The
thresholds are set from the spread measured over seeds (2-core machine, under load), written
beside each one; they sit below the worst measured seed by a margin of about the measured sd,
and well above what the untrained circuit scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.circuits.base import CIRCUITS, Circuit
from bioplausible.tasks import Classification, SequenceRecall, SourceSeparation, StatisticalAdaptation
from bioplausible.tasks.base import TASKS, Task

#: family -> (headline metric, "below" or "above", quick-twin threshold, default-run threshold).
JOBS: dict[str, tuple[str, str, float, float]] = {
    # whitening error ‖C_yy − I‖₂ at the end of the last context (untrained: ≈ 3, the spectrum
    # spans 1/4 … 4). Quick twin, 8 seeds: worst seed 0.27 (direct), 0.38 (interneuron),
    # 0.42 (gain, multi-timescale); spiking direct 5 seeds ≤ 0.25. Default run: the task's
    # docstring (8 seeds): 0.19 ± 0.06 … 0.23 ± 0.08; the target is < 0.3 on average.
    "adaptation": ("whitening_error", "below", 0.55, 0.45),
    # SINR (dB) of the linear separator (untrained: ≈ 2–8 dB). Per-circuit thresholds below.
    "separation": ("sinr_db", "above", 0.0, 0.0),
    # fraction of transitions recalled exactly (measured: 1 in every seed of every circuit)
    "sequence": ("transition_success", "above", 0.99, 0.99),
    # test accuracy on sklearn digits (chance 0.1). Per-circuit thresholds below.
    "supervised": ("test_accuracy", "above", 0.0, 0.0),
    # normalized MSE of the integrator's readout (untrained ≈ 0.94–1.0); quick settings, seeds
    # 0–4: BPTT 0.001 in every seed, RFLO 0.001–0.102, e-prop 0.003–0.005
    "recurrent": ("normalized_mse", "below", 0.25, 0.25),
    # value error of the TD estimate (untrained 1.0); quick settings, seeds 0–4: 0.001–0.005
    "temporal-difference": ("value_error", "below", 0.05, 0.05),
}

#: Families whose default run (slow tier) has no measured threshold yet: the quick twin covers them.
UNMEASURED_DEFAULTS = ("recurrent", "temporal-difference")

#: Per-circuit thresholds (quick twin, default run) where the family's differ.
THRESHOLDS: dict[str, tuple[float, float]] = {
    # SINR, dB. Quick twin: n = 3 sources, m = 6, ρ = 0 (untrained separator: 8.8–12.6 dB over
    # seeds 0–4); measured, seeds 0–4: CorInfoMax (60k samples) 27.0, 21.2, 28.8, 15.4, 25.6;
    # NSM (3k) 28.9, 26.7, 27.7, 25.4, 25.4; Det-Max (10k) 23.2, 12.8, 20.9, 15.7, 20.3.
    # Default run: n = 5, m = 10, 100k samples, ρ = 0; CorInfoMax 22.2, 25.8, 26.3 (the issue's
    # target is 20 dB); NSM ≈ 29 at 10k already; Det-Max 16.8, 15.9, 21.3 at 50k.
    "corinfomax": (13.0, 20.0),
    "nsm": (20.0, 25.0),
    # Bio-NICA (defaults η₀ = 0.03, decay 3e-4, τ = 0.1; NonnegativeICAParameters says why).
    # Quick twin, 10k samples (≈ 5 s of CPU for two seeds), seeds 0–4: 19.0, 16.4, 20.5, 18.8,
    # 14.5 (from 7.6, 8.5, 11.3, 10.8, 11.2; at 20k: 19.4, 24.6, 24.2, 20.1, 19.2). Default run
    # (100k), seeds 0–4: 25.1, 24.2, 23.5, 15.3, 26.7 (seed 3 converges slowly: 11.7 at 50k).
    # The authors' demo settings (η₀ = 1e-3, decay 0, τ = 0.5) gave 7.7–13.4 dB (quick twin,
    # 3k samples).
    "nonnegative-ica": (13.0, 14.0),
    "detmax-wsm": (11.0, 14.0),
    # test accuracy on digits. Quick twin: 3 epochs, worst of seeds 0–4: BP 0.894, FA 0.733,
    # DFA 0.793, EBD 0.791, Hebbian 0.612, CorInfoMax-EBD 0.940, CorInfoMax-EP 0.771 (seeds
    # 0–4: 0.819, 0.798, 0.773, 0.771, 0.829; potential output contrast, output rate 0.3).
    # Default run (60 epochs, the digits setting of benchmarks/supervised_accuracy.py), seeds
    # 0–2: BP 0.987–0.990, FA 0.985–0.987, DFA 0.982–0.987, EBD 0.980–0.987, Hebbian
    # 0.889–0.935, CorInfoMax-EBD 0.985–0.992, CorInfoMax-EP 0.982 / 0.990 / 0.982 (top-layer
    # angle 87.4→63.8°, 89.4→65.7°, 86.3→66.3°; with the authors' rate contrast seed 1 had
    # two output units silent in both phases, 0.788, see CorInfoMaxEP). Patch networks
    # (ebd-cnn & co., convolutional at their defaults):
    # 3 epochs BP 0.932–0.947, DFA 0.640–0.851, EBD 0.791–0.892; 60 epochs BP 0.992–0.995,
    # DFA 0.965–0.985, EBD 0.980–0.992 (seeds 0–2).
    "backprop": (0.85, 0.96),
    "feedback-alignment": (0.65, 0.96),
    "direct-feedback-alignment": (0.7, 0.96),
    "ebd": (0.7, 0.96),
    "hebbian": (0.5, 0.85),
    "corinfomax-ebd": (0.85, 0.96),
    "corinfomax-ep": (0.65, 0.95),
    "backprop-cnn": (0.85, 0.97),
    "dfa-cnn": (0.5, 0.93),
    "ebd-cnn": (0.7, 0.95),
}

#: Circuits whose default run does not do its job yet (strict: the test fails once it does).
KNOWN_FAILURES: dict[str, str] = {}


#: Spiking quick twins in the default tier (a Brian2 run costs seconds whatever its size); the
#: other :data:`SPIKING_DEFAULT_RUNS` run on spikes in the slow tier, and every circuit's spiking
#: realisation is checked to learn by the agreement harness.
SPIKING_TWINS = ("seqnet",)
#: Circuits whose default run on spikes (at the quick comparison's spiking settings) has a
#: measured threshold here (the slow tier).
SPIKING_DEFAULT_RUNS = ("direct-whitening", "interneuron-whitening", "seqnet", "densenet", "pseudoinverse",
                        "two-layer-sequence")


def twin(cls: type[Circuit], substrate: str = "rate") -> tuple[Circuit, Task, int | None, dict[str, Any] | None]:
    """The quick twin of ``cls``'s default run: (circuit, task, steps, substrate options)."""
    family = cls.family
    spiking = TASKS[cls.default_task].quick_spiking_options if substrate == "spiking" else None
    if family == "adaptation":
        options = dict(StatisticalAdaptation.quick_options)
        if substrate == "spiking":  # one context: the spiking simulation is the cost
            options["n_contexts"] = 1
        return cls(**cls.quick_params), StatisticalAdaptation(**options), None, spiking
    if family == "separation":
        params: dict[str, Any] = {"n_sources": 3}
        if cls.name == "nsm":
            params["prewhitening_samples"] = 1000
        steps = {"corinfomax": 60_000, "detmax-wsm": 10_000, "nonnegative-ica": 10_000}.get(cls.name, 3_000)
        task = SourceSeparation(n_sources=3, n_mixtures=6, evaluation_samples=1000, output_samples=200)
        return cls(**params), task, steps, spiking
    if family == "sequence":
        options = dict(SequenceRecall.quick_options)
        if substrate == "spiking":  # half the units and patterns (the same load P ln N / N)
            options.update(n_neurons=100, sequence_length=5)
        return cls(**cls.quick_params), SequenceRecall(**options), None, spiking
    if family == "supervised":
        return cls(**cls.quick_params), Classification(epochs=3), None, spiking
    # other families: their own quick settings (the quick comparison's)
    task_cls = TASKS[cls.default_task]
    return cls(**cls.quick_params), task_cls(**task_cls.quick_options), cls.quick_steps or task_cls.quick_steps, spiking


def _threshold(cls: type[Circuit], full: bool) -> tuple[str, str, float]:
    metric, direction, quick, default = JOBS[cls.family]
    if cls.name in THRESHOLDS:
        quick, default = THRESHOLDS[cls.name]
    return metric, direction, default if full else quick


def _assert_job_done(cls: type[Circuit], result: bpl.Result, full: bool) -> None:
    metric, direction, threshold = _threshold(cls, full)
    final = result.dataset["metric_" + metric].values[:, -1]
    passed = final < threshold if direction == "below" else final > threshold
    assert np.all(passed), f"{cls.name}: final {metric} {np.round(final, 3)} not {direction} {threshold}"


def _cases(full: bool) -> list[Any]:
    cases = []
    for name, cls in sorted(CIRCUITS.items()):
        for substrate in ("rate", "spiking"):
            if substrate == "spiking" and not (name in SPIKING_DEFAULT_RUNS and (full or name in SPIKING_TWINS)):
                continue
            marks = [] if cls.family in JOBS else [pytest.mark.skip(
                reason=f"no job criterion for the {cls.family!r} family in tests/test_defaults.py: add one to JOBS")]
            if full and cls.family in UNMEASURED_DEFAULTS:
                marks.append(pytest.mark.skip(reason=f"the {cls.family!r} default run has no measured threshold yet "
                                                     "(UNMEASURED_DEFAULTS); its quick twin runs in the default tier"))
            if name in KNOWN_FAILURES:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name]))
            cases.append(pytest.param(name, substrate, id=f"{name}-{substrate}", marks=marks))
    return cases


@pytest.mark.parametrize(("name", "substrate"), _cases(full=False))
def test_quick_twin_does_its_job(name: str, substrate: str) -> None:
    cls = CIRCUITS[name]
    circuit, task, steps, options = twin(cls, substrate)
    seeds = [0, 1] if substrate == "rate" else [0]
    result = bpl.run(circuit, task, substrate, seeds=seeds, steps=steps, progress=False, substrate_options=options)
    _assert_job_done(cls, result, full=False)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "substrate"), _cases(full=True))
def test_default_run_does_its_job(name: str, substrate: str) -> None:
    """``bioplausible run NAME`` as typed, seed 0 (rate: the defaults; spiking: the quick
    settings). Measured under load 14 on the 2-core machine, 3 seeds: NSM 670 s, Det-Max 146 s,
    the sequence circuits on spikes 40–200 s, the others ≤ 63 s; with one seed the pure-Python
    circuits (NSM) cost about the same, the ensemble-vectorised ones about a third."""
    cls = CIRCUITS[name]
    task_cls = TASKS[cls.default_task]
    if substrate == "rate":
        circuit, task, steps, options = cls(), task_cls(), None, None
    else:
        circuit, task = cls(**cls.quick_params), task_cls(**task_cls.quick_options)
        steps, options = cls.quick_steps or task_cls.quick_steps, task_cls.quick_spiking_options
    result = bpl.run(circuit, task, substrate, seed=0, steps=steps, progress=False, substrate_options=options)
    _assert_job_done(cls, result, full=True)
    if cls.family == "adaptation":  # recovered (below the task's threshold) in at least 3 of 4 contexts
        recovered = result.dataset["summary_fraction_recovered"].values if substrate == "rate" else None
        if recovered is not None:
            assert np.all(recovered >= 0.75), f"{name}: fraction of contexts recovered {recovered}"


@pytest.mark.slow
def test_quick_comparison_interneuron_whitening_on_spikes_agrees_with_rate():
    """The quick comparison's adaptation run of interneuron whitening (quick params, quick task,
    seeds 0–2): the spiking final whitening error within the features harness's 25 % of the
    rate one. Measured (mean): rate 0.196; spiking 0.211 at the quick settings' 100 ms windows
    (r0·T = 5), 0.297 at 50 ms and 0.337 at 50 ms with dt = 0.5 ms (≈ 15 s on spikes)."""
    cls = CIRCUITS["interneuron-whitening"]
    task = StatisticalAdaptation(**StatisticalAdaptation.quick_options)
    final = {}
    for substrate in ("rate", "spiking"):
        options = StatisticalAdaptation.quick_spiking_options if substrate == "spiking" else None
        result = bpl.run(cls(**cls.quick_params), task, substrate, seeds=[0, 1, 2], progress=False,
                         substrate_options=options)
        final[substrate] = float(result.dataset["metric_whitening_error"].values[:, -1].mean())
    assert abs(final["spiking"] - final["rate"]) <= 0.25 * final["rate"], final
