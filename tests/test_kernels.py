"""Effective NTKs of the layered rules (analysis.kernels) against the circuits themselves."""

import numpy as np
import pytest

import bioplausible as bpl
from bioplausible.analysis import kernels
from bioplausible.circuits.base import Batch

RULES = {
    "backprop": lambda **kw: bpl.circuits.Backprop(**kw),
    "fa": lambda **kw: bpl.circuits.FeedbackAlignment(rho=0.3, **kw),
    "dfa": lambda **kw: bpl.circuits.DirectFeedbackAlignment(projection_gain=1.0, **kw),
    "ebd": lambda **kw: bpl.circuits.EBD(projection_gain=1.0, forgetting=1.0, **kw),
    "hebbian": lambda **kw: bpl.circuits.Hebbian(synaptic_scaling=False, **kw),
}


def _data(seed=0, P=7, D=4, C=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((P, D)), rng.standard_normal((P, C))


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("parameterization", ["standard", "ntk", "mean-field"])
def test_entk_predicts_one_step_of_the_rule(rule, parameterization):
    """Δf after one full-batch step equals −(1/P) K ε to first order in the rates."""
    X, Y = _data()
    rate = 1e-5  # small enough that no unit crosses the ReLU kink in the step
    circuit = RULES[rule](hidden_sizes=(6, 5), learning_rate=rate, output_rate=rate,
                          parameterization=parameterization)
    circuit.initialize(X.shape[1], Y.shape[1], [1, 2])
    before = circuit.forward(X)[-1]
    entk = kernels.effective_ntk(circuit, X, Y)
    predicted = -np.einsum("kpcqd,kqd->kpc", entk.total, before - Y) / X.shape[0]
    circuit.learn(circuit.respond(X), Batch(np.broadcast_to(X, (2, *X.shape)), np.broadcast_to(Y, (2, *Y.shape))))
    actual = circuit.forward(X)[-1] - before
    assert np.abs(predicted).max() > 0
    np.testing.assert_allclose(actual, predicted, rtol=0, atol=2e-3 * np.abs(predicted).max())
    # the hidden layers do contribute (not only the readout)
    assert np.abs(entk.layers[0]).max() > 0


def test_backprop_entk_is_the_empirical_ntk():
    """Backprop's eNTK = Σ_θ μ_θ ∂f(x)/∂θ ∂f(x')/∂θ, derivatives by central differences."""
    X, _ = _data(P=5, D=3)
    circuit = bpl.circuits.Backprop(hidden_sizes=(4, 3), learning_rate=(0.3, 0.7), output_rate=0.2)
    circuit.initialize(3, 2, [0])
    for k in (1, 2, 3):  # nonzero biases: no unit sits exactly on the ReLU kink
        circuit.state[f"bias_{k}"] = np.random.default_rng(k).uniform(0.1, 0.3, circuit.state[f"bias_{k}"].shape)
    entk = kernels.effective_ntk(circuit, X).total[0]
    rates = {**{f"weight_{k}": r for k, r in enumerate(circuit.layer_rates(), 1)},
             **{f"bias_{k}": r for k, r in enumerate(circuit.layer_rates(), 1)},
             "weight_3": circuit.effective_output_rate(), "bias_3": circuit.effective_output_rate()}
    expected = np.zeros_like(entk)
    h = 1e-6
    for name, rate in rates.items():
        array = circuit.state[name]
        for index in np.ndindex(array.shape[1:]):
            full = (0, *index)
            old = array[full]
            array[full] = old + h
            up = circuit.forward(X)[-1][0]
            array[full] = old - h
            down = circuit.forward(X)[-1][0]
            array[full] = old
            jac = (up - down) / (2 * h)  # (P, C)
            expected += rate * jac[:, :, None, None] * jac[None, None, :, :]
    np.testing.assert_allclose(entk, expected, rtol=1e-6, atol=1e-9)


def test_alignment_closed_forms_and_bad_input():
    y = np.array([1.0, -1.0, 1.0])
    assert kernels.alignment(np.outer(y, y), y) == pytest.approx(1.0)
    assert kernels.alignment(np.eye(3), y) == pytest.approx(1 / np.sqrt(3))
    with pytest.raises(ValueError, match="disagree"):
        kernels.alignment(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match="targets"):
        kernels.effective_ntk(bpl.circuits.Hebbian(hidden_sizes=(3,)).initialize(2, 1), np.ones((2, 2)))


def test_kernel_trajectory_from_a_run():
    task = bpl.tasks.TeacherStudent(n_inputs=4, n_outputs=1)
    circuit = bpl.circuits.FeedbackAlignment(hidden_sizes=(16,), parameterization="ntk", learning_rate=0.5,
                                             output_rate=0.5)
    circuit.initialize(4, 1, [0])
    names = kernels.kernel_state_names(circuit)
    circuit.state = {}
    result = bpl.run(circuit, task, steps=20, eval_every=10, seeds=[0, 1], probes=names, progress=False)
    X, Y = _data(P=6, D=4, C=1)
    traj = kernels.kernel_trajectory(result, circuit, X, Y, keep_kernels=True)
    assert traj["entk_layer_share"].shape == (2, 3, 2)
    np.testing.assert_allclose(traj["entk_layer_share"].sum("layer"), 1.0)
    assert traj["entk"].shape == (2, 3, 6, 6)
    assert np.all(np.abs(traj["entk_alignment"]) <= 1.0 + 1e-12)
    with pytest.raises(ValueError, match="probes=kernel_state_names"):
        fresh = bpl.circuits.FeedbackAlignment(hidden_sizes=(16,), parameterization="ntk")
        kernels.kernel_trajectory(bpl.run(fresh, task, steps=2, progress=False), circuit, X, Y)


def test_parameterization_scales_the_readout_and_rates():
    """mean-field: readout std g/(γ₀ N); hidden steps η₀ γ₀² N / fan_in, readout η₀ / N."""
    for N in (64, 256):
        circuit = bpl.circuits.Backprop(hidden_sizes=(N,), parameterization="mean-field", gamma0=2.0,
                                        learning_rate=0.5, output_rate=0.3)
        circuit.initialize(10, 3, [0])
        std = circuit.state["weight_2"].std()
        assert std == pytest.approx(1 / (2.0 * N), rel=0.2)
        assert circuit.layer_rates() == pytest.approx((0.5 * 4.0 * N / 10,))
        assert circuit.effective_output_rate() == pytest.approx(0.3 / N)
    fa = bpl.circuits.FeedbackAlignment(hidden_sizes=(200,), parameterization="ntk", gamma0=4.0, rho=0.0)
    fa.initialize(5, 2, [0])
    assert fa.state["feedback_1"].std() == pytest.approx(fa.state["weight_2"].std(), rel=0.2)
    with pytest.raises(ValueError, match="gamma0"):
        bpl.circuits.Backprop(gamma0=2.0)
    with pytest.raises(ValueError, match="parameterization"):
        bpl.circuits.Backprop(parameterization="muP")


def test_kernel_probe_records_during_a_run_without_changing_it():
    """KernelProbe(every=k): the kernels every k updates, the same as rebuilt from the recorded
    state; splitting the update chunks at its records leaves metrics and learned state unchanged."""
    task = bpl.tasks.Classification(dataset="digits", n_train=100, n_test=50, epochs=2, predictions=False)

    def make():
        return bpl.circuits.Hebbian(hidden_sizes=(12, 8), synaptic_scaling=False)

    names = kernels.kernel_state_names(make().initialize(task.n_inputs, task.n_targets, [0]))
    plain = bpl.run(make(), task, seeds=[0, 1], eval_every=3, probes=names, progress=False)
    X, Y = _data(P=5, D=task.n_inputs, C=task.n_targets)
    probe = bpl.KernelProbe(every=3, inputs=X, targets=Y, keep_kernels=True)
    probed = bpl.run(make(), task, seeds=[0, 1], eval_every=3, probes=[*names, probe], progress=False)
    for name in plain.dataset.data_vars:
        np.testing.assert_array_equal(plain.dataset[name].values, probed.dataset[name].values, err_msg=name)
    data = probed.dataset
    steps = data["kernel_step"].values
    np.testing.assert_array_equal(steps, plain.dataset["step"].values)  # 0, 3, ..., and the end (10)
    rebuilt = kernels.kernel_trajectory(plain, make().initialize(task.n_inputs, task.n_targets, [0, 1]), X, Y,
                                        keep_kernels=True)
    np.testing.assert_allclose(data["kernel_entk_alignment"], rebuilt["entk_alignment"], rtol=1e-10)
    np.testing.assert_allclose(data["kernel_entk_layer_share"], rebuilt["entk_layer_share"], rtol=1e-10)
    np.testing.assert_allclose(data["kernel_feature_alignment"], rebuilt["feature_alignment"], rtol=1e-10)
    assert data["kernel_entk"].dims == ("seed", "kernel_step", "kernel_sample", "kernel_sample_other")
    assert data["kernel_entk_alignment"].attrs["units"] == "1" and "alignment" in data[
        "kernel_entk_alignment"].attrs["long_name"]
    assert np.ptp(data["kernel_entk_alignment"].values) > 0  # the kernel moves during learning
    # every 4 with evaluations every 3: records at 0, 4, 8 and the end; probe set drawn from the task
    drawn = bpl.run(make(), task, seeds=[0], eval_every=3, probes=[bpl.KernelProbe(every=4, samples=6)],
                    progress=False)
    np.testing.assert_array_equal(drawn.dataset["kernel_step"].values, [0, 4, 8, 10])
    np.testing.assert_array_equal(drawn.dataset["step"].values, plain.dataset["step"].values)
    with pytest.raises(ValueError, match="both inputs and targets"):
        bpl.KernelProbe(inputs=X)
    with pytest.raises(ValueError, match="every"):
        bpl.KernelProbe(every=0)
    with pytest.raises(TypeError, match="layered supervised"):
        bpl.run(bpl.circuits.InterneuronWhitening(), bpl.tasks.StatisticalAdaptation(n_inputs=3), steps=2,
                probes=[bpl.KernelProbe()], progress=False)
