"""The comparison harness: tidy table, same data for every circuit, figures, CLI output."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bioplausible as bpl  # noqa: E402
from bioplausible.cli import main  # noqa: E402
from bioplausible.experiments import compare as compare_module  # noqa: E402
from bioplausible.experiments.compare import substrate_agreement, summary_table  # noqa: E402
from bioplausible.experiments.probes import Probe  # noqa: E402
from bioplausible.plotting import (  # noqa: E402
    plot_final_metric,
    plot_learning_curves,
    plot_substrate_agreement,
    save_comparison_figures,
)

TASK = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=60)


def test_compare_is_tidy_one_row_per_circuit_seed_substrate_metric_step():
    frame = bpl.compare(["direct-whitening", bpl.circuits.InterneuronWhitening(learning_rate=0.02)], TASK,
                        seeds=[0, 1, 2], steps=120)
    assert list(frame.columns[:8]) == ["circuit", "family", "task", "substrate", "seed", "step", "metric", "value"]
    over_steps = frame[frame["step"].notna()]
    n_steps = over_steps["step"].nunique()
    n_metrics = over_steps["metric"].nunique()
    assert n_steps == 120 // TASK.default_eval_every + 1
    assert len(over_steps) == 2 * 3 * n_metrics * n_steps
    assert not frame.duplicated(["circuit", "substrate", "seed", "metric", "step"]).any()
    table = summary_table(frame)
    assert set(table["metric"]) == {"whitening_error", "recovery_time"}


def test_same_seed_gives_every_circuit_the_same_task_data(monkeypatch):
    results = []

    def recording_run(*args, **kwargs):
        results.append(bpl.run(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(compare_module, "run", recording_run)
    circuits = [bpl.circuits.DirectWhitening(), bpl.circuits.InterneuronWhitening(), bpl.circuits.GainWhitening()]
    bpl.compare(circuits, TASK, seeds=[3, 4], steps=50, probes=[Probe(populations=("stimulus",), samples=None)])
    stimuli = [r.dataset["trace_stimulus"].values for r in results]
    contexts = [r.dataset["trace_info_context"].values for r in results]
    for other, context in zip(stimuli[1:], contexts[1:]):
        np.testing.assert_array_equal(other, stimuli[0])
        np.testing.assert_array_equal(context, contexts[0])
    assert not np.array_equal(stimuli[0][0], stimuli[0][1])  # different seeds, different data


@pytest.mark.parametrize("kwargs, message", [
    ({"circuits": []}, "circuits"),
    ({"circuits": "direct-whitening"}, "circuits"),
    ({"circuits": [object()]}, "circuits"),
    ({"task": 3}, "task"),
    ({"seeds": []}, "seeds"),
    ({"seeds": 3}, "seeds"),
    ({"substrates": ["analog"]}, "substrates"),
    ({"substrates": "rate"}, "substrates"),
])
def test_compare_names_bad_arguments(kwargs, message):
    arguments = {"circuits": ["direct-whitening"], "task": TASK, "seeds": [0], **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        bpl.compare(**arguments)


def _fake_two_substrate_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for circuit in ("a", "b"):
        for substrate in ("rate", "spiking"):
            for seed in range(3):
                for step in (0, 10, 20):
                    value = 1.0 / (1 + step) + 0.01 * rng.standard_normal()
                    rows.append((circuit, "adaptation", "adaptation", substrate, seed, step, "whitening_error", value))
                rows.append((circuit, "adaptation", "adaptation", substrate, seed, np.nan, "recovery_time", 5.0))
    return pd.DataFrame(rows, columns=["circuit", "family", "task", "substrate", "seed", "step", "metric", "value"])


def test_substrate_agreement_and_plots():
    frame = _fake_two_substrate_frame()
    agreement = substrate_agreement(frame)
    assert len(agreement) == 2 * 3 * 2  # circuits × seeds × headline metrics
    np.testing.assert_allclose(agreement["difference"], agreement["spiking"] - agreement["rate"])
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3)
    plot_learning_curves(frame, "whitening_error", axes[0])
    plot_final_metric(frame, "recovery_time", axes[1])
    plot_substrate_agreement(frame, "whitening_error", axes[2])
    assert len(axes[2].collections) == 2  # one scatter per circuit
    assert len(axes[0].lines) == 4  # circuit × substrate
    plt.close(figure)
    with pytest.raises(ValueError, match="both"):
        plot_substrate_agreement(frame[frame["substrate"] == "rate"], "whitening_error")


def test_comparison_figures(tmp_path):
    written = save_comparison_figures(_fake_two_substrate_frame(), tmp_path)
    assert sorted(p.name for p in written) == ["adaptation.png", "agreement.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_cli_compare_writes_table_and_figures_atomically(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["compare", "--family", "adaptation", "--seeds", "2", "--substrate", "rate", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "whitening_error" in printed and "direct-whitening" in printed
    assert {p.name for p in out.iterdir()} == {"results.csv", "summary.csv", "headline.csv", "adaptation.png"}
    assert "NaN" not in printed and "± 0\n" not in printed
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # no staging folder left behind
    frame = pd.read_csv(out / "results.csv")
    assert set(frame["seed"]) == {0, 1} and set(frame["substrate"]) == {"rate"}


def test_cli_compare_rejects_unknown_family(tmp_path):
    with pytest.raises(SystemExit):
        main(["compare", "--family", "astrology", "--substrate", "rate", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_headline_table_one_row_per_circuit_with_reasons_for_missing_values():
    from bioplausible.experiments.compare import format_headline, headline_table

    frame = pd.DataFrame([
        {"circuit": c, "family": "separation", "task": "separation", "substrate": "rate", "seed": k,
         "step": step, "metric": "sinr_db", "value": v + step / 100, "wall_time_s": 1.0}
        for c, v in [("corinfomax", 20.0), ("nsm", 10.0)] for k in range(3) for step in (0.0, 10.0)
    ] + [
        {"circuit": "direct-whitening", "family": "adaptation", "task": "adaptation", "substrate": s, "seed": k,
         "step": np.nan, "metric": "whitening_error", "value": value, "wall_time_s": 1.0}
        for s, values in [("rate", [0.2, 0.3, np.nan]), ("spiking", [np.nan] * 3)] for k, value in enumerate(values)
    ])
    table = headline_table(frame, ["rate", "spiking"])
    assert list(table["circuit"]) == ["corinfomax", "nsm", "direct-whitening"]
    row = table.set_index("circuit").loc
    assert row["corinfomax", "rate"] == "20.1 ± 0"  # one value per seed, no spread: sd printed as measured
    assert row["corinfomax", "spiking"] == "— (not run on spiking)"
    assert row["corinfomax", "published"] == "26.49" and "separation_sinr.py" in row["corinfomax", "source"]
    assert row["direct-whitening", "rate"].startswith("0.25 ± 0.0707 (2 of 3 seeds")
    assert row["direct-whitening", "spiking"] == "— (undefined in every seed)"
    text = format_headline(table)
    assert "NaN" not in text and "Table A" in text


def test_a_shorter_run_on_one_substrate_is_labelled_with_its_length():
    """The quick comparison gives spikes fewer updates: the headline cell says how many, and
    the note below the table says it is an earlier point of learning."""
    from bioplausible.experiments.compare import format_headline, headline_table

    frame = pd.DataFrame([
        {"circuit": "ebd", "family": "supervised", "task": "classification", "substrate": s, "seed": k,
         "step": step, "metric": "test_accuracy", "value": 0.2 + step / 4000, "wall_time_s": 1.0}
        for s, steps in [("rate", (0.0, 36.0, 3000.0)), ("spiking", (0.0, 36.0))] for k in range(2) for step in steps
    ])
    row = headline_table(frame, ["rate", "spiking"]).set_index("circuit").loc
    assert "updates" not in row["ebd", "rate"]
    assert row["ebd", "spiking"].endswith(" after 36 updates") and row["ebd", "spiking"].startswith("0.209")
    assert "'after N updates' (spiking): a shorter run" in format_headline(headline_table(frame))
    same = frame[frame["step"] <= 36]
    assert "updates" not in format_headline(headline_table(same))


def test_the_quick_comparison_asks_each_substrate_and_reports_every_pair_it_does_not_run(monkeypatch):
    """No circuit-side flag decides what runs on spikes: the substrate's ``supports`` and its
    cost estimate do, and a run over the quick budget is reported with the estimate."""
    assert not hasattr(bpl.circuits.base.Circuit, "quick_spiking")
    monkeypatch.setattr(compare_module, "QUICK_BUDGET_S", 0.0)
    frame = compare_module.default_comparison(["recurrent"], seeds=[0], workers=1)
    missing = compare_module.not_run(frame)
    reasons = dict(zip(missing["circuit"], missing["reason"]))
    assert set(missing["substrate"]) == {"spiking"}
    assert set(reasons) == {"rnn-bptt", "rnn-rflo", "rnn-eprop"}
    assert "backpropagation through time" in reasons["rnn-bptt"]  # supports(): no spiking form
    for name in ("rnn-rflo", "rnn-eprop"):  # the substrate's own estimate, with how it reckoned it
        assert "the spiking substrate estimates" in reasons[name] and "time steps" in reasons[name]
    assert set(frame.loc[frame["metric"] != compare_module.NOT_RUN, "substrate"]) == {"rate"}


def test_the_spiking_substrate_estimates_every_run_it_supports():
    substrate = bpl.substrates.make_substrate("spiking", rate_unit=50.0, presentation=0.05, dt=1e-3)
    task = bpl.tasks.StatisticalAdaptation(n_inputs=3, n_contexts=2, samples_per_context=60)
    short = substrate.estimate_cost(bpl.circuits.DirectWhitening(), task, 100, 3, 10)
    long = substrate.estimate_cost(bpl.circuits.DirectWhitening(), task, 1000, 3, 10)
    chunked_path = bpl.substrates.make_substrate("spiking", rate_unit=50.0, presentation=0.05, dt=1e-3,
                                                 compiled_runs=False)
    chunked = chunked_path.estimate_cost(bpl.circuits.DirectWhitening(), task, 1000, 3, 10)
    assert 0 < short.seconds < long.seconds and "one run in generated code" in long.detail
    assert "chunks with Python" in chunked.detail and chunked.seconds > long.seconds
    assert long.generated_code and not chunked.generated_code


def test_the_quick_comparison_gives_runs_in_generated_code_more_presentations(monkeypatch):
    """Separation on spikes: the circuits whose learning is one run in generated code
    (CorInfoMax, NSM) get the task's ``quick_compiled_spiking_steps``, the chunked ones its
    ``quick_spiking_steps``; the rate runs keep theirs."""
    planned: dict[tuple[str, str], tuple[int, int]] = {}

    def plan(**arguments):
        key = (arguments["circuits"][0].name, arguments["substrates"][0])
        planned[key] = (arguments["steps"], arguments["eval_every"])
        return pd.DataFrame()

    monkeypatch.setattr(compare_module, "compare", plan)
    compare_module.default_comparison(["separation"], seeds=[0], workers=1)
    task = bpl.tasks.SourceSeparation
    for name in ("corinfomax", "nsm"):
        assert planned[(name, "spiking")] == (task.quick_compiled_spiking_steps,) * 2
    for name in ("detmax-wsm", "nonnegative-ica"):
        assert planned[(name, "spiking")][0] == task.quick_spiking_steps
    assert planned[("nsm", "rate")][0] == task.quick_steps
    assert bpl.substrates.make_substrate("rate").estimate_cost(bpl.circuits.DirectWhitening(), task, 100) is None


@pytest.mark.slow
def test_the_workers_give_the_same_table():
    """Every run is seeded by its own seeds: two worker processes give the table one process does."""
    one = compare_module.default_comparison(["recurrent"], seeds=[0], substrates=("rate",), workers=1)
    two = compare_module.default_comparison(["recurrent"], seeds=[0], substrates=("rate",), workers=2)
    columns = [c for c in one.columns if c != "wall_time_s"]
    pd.testing.assert_frame_equal(one[columns], two[columns])


def test_a_full_spiking_run_takes_the_tasks_full_spiking_options(tmp_path):
    """``bioplausible run`` on spikes without ``--quick`` uses the task's ``spiking_options``
    (separation: r0 T = 50, which a run in generated code affords), with ``--quick`` the quick
    comparison's; a task without full options falls back to its quick ones."""
    import json as json_module

    import xarray as xr

    from bioplausible.tasks import SourceSeparation, StatisticalAdaptation

    assert SourceSeparation.spiking_run_options(False)["rate_unit"] == 500.0
    assert SourceSeparation.spiking_run_options(True) == SourceSeparation.quick_spiking_options
    assert StatisticalAdaptation.spiking_run_options(False) == StatisticalAdaptation.quick_spiking_options
    from bioplausible.circuits import CorInfoMax, NonnegativeSimilarityMatching

    # a circuit's own full-run options over the task's (NSM's outputs need 1/(r0 dt) >= 4)
    nsm = SourceSeparation.spiking_run_options(False, NonnegativeSimilarityMatching)
    assert nsm == {"rate_unit": 2000.0, "presentation": 0.1, "dt": 1.25e-4} and 1 / (2000.0 * 1.25e-4) == 4.0
    assert SourceSeparation.spiking_run_options(False, CorInfoMax()) == SourceSeparation.spiking_options
    assert SourceSeparation.spiking_run_options(True, NonnegativeSimilarityMatching) == \
        SourceSeparation.quick_spiking_options
    for flags, rate in (([], 500.0), (["--quick"], SourceSeparation.quick_spiking_options["rate_unit"])):
        out = tmp_path / f"run{len(flags)}.nc"
        assert main(["run", "corinfomax", "--substrate", "spiking", "--steps", "40", "--eval-every", "20",
                     "--out", str(out), *flags]) == 0
        with xr.open_dataset(out) as dataset:
            assert json_module.loads(dataset.attrs["substrate"])["rate_unit"] == rate
