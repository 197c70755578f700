"""Learning over time: theory beside simulation, and the rules compared.

1. **Integration theory** (Bordelon, Cotler, Pehlevan & Zavatone-Veth, arXiv 2503.18754):
   BPTT on a linear RNN from small initial W (rich regime) against the reduced outlier
   dynamics of :func:`bioplausible.theory.integration.reduced_dynamics` — the largest gap of
   the outlier eigenvalue along the trajectory, relative to the learned eigenvalue — and from
   large initial W (lazy regime): how much W moves, and the final loss of the lazy
   (frozen-W) prediction beside the simulated one.
2. **Rule comparison**: BPTT, RFLO and e-prop on the integration task (linear units; the full
   run adds rectified units and the damped oscillator): final normalised MSE and learned
   timescale over seeds (mean ± sd), and training throughput in trial steps per second
   (all seeds of a row are one batched ensemble run).
3. **On spikes**: e-prop (and, in the full run, RFLO) on the two-compartment IF network of
   :mod:`bioplausible.substrates.spiking.recurrent` against the same runs on rates.
4. **TD value learning**: :func:`td_section`, the slot where ``benchmarks/td_dynamics.py``
   (the TD side of issue 15) plugs in: its ``td_dynamics_gaps`` rows, when that file is there.

    python benchmarks/learning_over_time.py          # quick (≈ 1–2 min on an idle core)
    python benchmarks/learning_over_time.py --full   # the paper's size, N = 100
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np

import bioplausible as bpl
from bioplausible.tasks.integration import target_filter
from bioplausible.theory import integration as theory

RULES = ("rnn-bptt", "rnn-rflo", "rnn-eprop")


def theory_gap(quick: bool = True) -> list[dict[str, float]]:
    """Rich and lazy runs of BPTT against the theory, one row per (regime, seed)."""
    n_hidden, trials, steps, updates = (32, 32, 60, 150) if quick else (100, 64, 100, 300)
    seeds = [0, 1, 2]
    rows = []
    for regime, scale in (("rich", 0.05), ("lazy", 0.9)):
        task = bpl.tasks.Integration(trial_steps=steps, evaluation_trials=16)
        circuit = bpl.circuits.RecurrentBPTT(n_hidden=n_hidden, initial_scale=scale, learning_rate=0.1,
                                             readout_rate=0.1)
        result = bpl.run(circuit, task, seeds=seeds, steps=updates, eval_every=updates // 10, batch_size=trials,
                         probes=["recurrent", "readout", "input_weights"], progress=False)
        kernel = target_filter("leaky", task.timescale, task.frequency, task.dt, steps - 1)
        alpha = circuit.params.alpha
        for k, seed in enumerate(seeds):
            recurrent = result.dataset["state_recurrent"].values[k]
            read_in = result.dataset["state_input_weights"].values[k][0]
            readout = result.dataset["state_readout"].values[k][0]
            simulated = theory.outlier_eigenvalue(np.linalg.eigvals(recurrent)).real
            reduced = theory.reduced_dynamics(recurrent[0], read_in, readout, kernel, alpha, task.dt, 0.1, 0.1,
                                              updates, every=updates // 10)
            lazy = theory.lazy_dynamics(recurrent[0], read_in, readout, kernel, alpha, task.dt, 0.1, updates,
                                        every=updates // 10)
            full = theory.expected_dynamics(recurrent[0], read_in, readout, kernel, alpha, task.dt, 0.1, 0.1,
                                            updates, every=updates // 10)
            silent = theory.expected_loss(recurrent[0], read_in, np.zeros_like(readout), kernel, alpha, task.dt)
            rows.append({
                "regime": regime, "seed": seed, "n_hidden": n_hidden,
                "outlier_sim": simulated[-1], "outlier_theory": reduced.outlier.real[-1],
                "gap": (theory.outlier_gap(simulated, reduced.outlier.real, bulk_radius=scale)
                        if regime == "rich" else float(np.max(np.abs(simulated - reduced.outlier.real)))),
                "gap_unreduced": float(np.max(np.abs(simulated[1:] - full.outlier.real[1:]))
                                       / abs(full.outlier.real[-1])),
                "weight_change": float(np.linalg.norm(recurrent[-1] - recurrent[0]) / np.linalg.norm(recurrent[0])),
                "nmse_sim": float(result.metrics["normalized_mse"].values[k, -1]),
                # expected loss over that of a silent output: the expected normalised MSE
                "nmse_theory": float(full.loss[-1] / silent), "nmse_lazy": float(lazy.loss[-1] / silent),
            })
    return rows


def rule_comparison(quick: bool = True) -> list[dict[str, object]]:
    """Each rule on the integration task: final error, learned timescale, throughput."""
    seeds = [0, 1, 2, 3, 4]
    updates, trials, steps = (150, 16, 60) if quick else (400, 16, 100)
    settings = [("linear", "leaky")] if quick else [("linear", "leaky"), ("rectified", "leaky"),
                                                     ("linear", "oscillator")]
    rows = []
    for nonlinearity, target in settings:
        task = bpl.tasks.Integration(target=target, trial_steps=steps, evaluation_trials=32)
        for name in RULES:
            circuit = bpl.circuits.make_circuit(name, n_hidden=16, learning_rate=0.1, readout_rate=0.1,
                                                nonlinearity=nonlinearity)
            started = time.perf_counter()
            result = bpl.run(circuit, task, seeds=seeds, steps=updates, eval_every=updates, batch_size=trials,
                             progress=False)
            wall = time.perf_counter() - started
            error = result.metrics["normalized_mse"].values[:, -1]
            timescale = result.metrics["learned_timescale"].values[:, -1]
            rows.append({"rule": name, "units": nonlinearity, "target": target, "nmse": error,
                         "timescale": timescale, "steps_per_s": len(seeds) * updates * trials * steps / wall})
    return rows


def spiking_agreement(quick: bool = True) -> list[dict[str, object]]:
    """e-prop and RFLO on spikes (two-compartment IF units) against the same runs on rates:
    same data, initial weights and seeds; the learned weights scored alike."""
    seeds = [0, 1] if quick else [0, 1, 2]
    updates = 40 if quick else 120
    options = {"rate_unit": 500.0, "presentation": 0.01, "dt": 1e-4}
    task = bpl.tasks.Integration(trial_steps=30, evaluation_trials=16)
    rows = []
    for name in ("rnn-eprop",) if quick else ("rnn-eprop", "rnn-rflo"):
        for substrate in ("rate", "spiking"):
            circuit = bpl.circuits.make_circuit(name, n_hidden=16, learning_rate=0.1, readout_rate=0.1)
            started = time.perf_counter()
            result = bpl.run(circuit, task, substrate, seeds=seeds, steps=updates, eval_every=updates, batch_size=8,
                             progress=False, substrate_options=options if substrate == "spiking" else None)
            wall = time.perf_counter() - started
            rows.append({"rule": name, "substrate": substrate, "nmse": result.metrics["normalized_mse"].values[:, -1],
                         "steps_per_s": len(seeds) * updates * 8 * 30 / wall})
    return rows


def td_section(quick: bool = True) -> None:
    """TD value learning: the rows of ``td_dynamics_gaps`` from ``benchmarks/td_dynamics.py``
    (the TD side of issue 15; quick: its quick grid, 64 seeds, 200 updates), printed as a
    table; says so when that file is not there."""
    path = Path(__file__).with_name("td_dynamics.py")
    if not path.is_file():
        print("TD value learning: benchmarks/td_dynamics.py is not in this tree (the TD side of issue 15)")
        return
    spec = importlib.util.spec_from_file_location("td_dynamics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grid, seeds, steps = (module.QUICK_GRID, 64, 200) if quick else (module.FULL_GRID, 256, 400)
    rows = module.td_dynamics_gaps(grid, seeds, steps)
    print(f"TD(0) loss dynamics (value task, {seeds} seeds, {steps} updates): theory against simulation")
    print(f"{'γ':>5} {'η':>5} {'plateau sim':>12} {'theory':>10} {'gap':>7} {'curve gap':>10}")
    for row in rows:
        print(f"{row['discount']:5.2f} {row['learning_rate']:5.2f} {row['plateau_simulated']:12.3e} "
              f"{row['plateau_theory']:10.3e} {row['plateau_gap']:7.1%} {row['curve_gap']:10.1%}")


def _print_theory(rows: list[dict[str, float]]) -> None:
    print("integration theory (BPTT, linear units, τ⋆ = 5 s, τ_m = 1 s: λ⋆ = 0.8)")
    print(f"{'regime':>6} {'seed':>4} {'N':>4} {'λ sim':>7} {'λ theory':>8} {'gap':>7} {'gap (full)':>10} "
          f"{'|ΔW|/|W0|':>9} {'NMSE sim':>9} {'theory':>9} {'lazy':>9}")
    for row in rows:
        print(f"{row['regime']:>6} {row['seed']:>4} {row['n_hidden']:>4} {row['outlier_sim']:7.4f} "
              f"{row['outlier_theory']:8.4f} {row['gap']:7.2%} {row['gap_unreduced']:10.2%} "
              f"{row['weight_change']:9.3f} {row['nmse_sim']:9.2e} {row['nmse_theory']:9.2e} {row['nmse_lazy']:9.2e}")
    print("λ theory: the reduced (span{u, v}) outlier; gap: max |λ_sim − λ_theory| / λ_theory(end) once the outlier "
          "has left the bulk (rich), absolute (lazy); gap (full): against the unreduced expected dynamics; NMSE "
          "theory: the unreduced expected dynamics, lazy: W frozen (readout only)")


def _print_rules(rows: list[dict[str, object]]) -> None:
    print("\nrule comparison (N = 16, η = 0.1, 5 seeds; mean ± sd)")
    print(f"{'rule':>10} {'units':>9} {'target':>10} {'NMSE':>19} {'timescale (s)':>15} {'steps/s':>9}")
    for row in rows:
        error, timescale = row["nmse"], row["timescale"]
        finite = timescale[np.isfinite(timescale)]
        shown = f"{finite.mean():.2f} ± {finite.std():.2f}" if finite.size else "inf"
        print(f"{row['rule']:>10} {row['units']:>9} {row['target']:>10} {error.mean():9.2e} ± {error.std():7.1e} "
              f"{shown:>15} {row['steps_per_s']:9.0f}")


def _print_spiking(rows: list[dict[str, object]]) -> None:
    print("\non spikes (N = 16, 8 trials of 30 steps per update, r0 = 500 Hz, T = 10 ms per step; per seed)")
    print(f"{'rule':>10} {'substrate':>9} {'NMSE':>28} {'steps/s':>9}")
    for row in rows:
        values = " ".join(f"{v:8.4f}" for v in row["nmse"])
        print(f"{row['rule']:>10} {row['substrate']:>9} {values:>28} {row['steps_per_s']:9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the paper's size (N = 100) and every setting")
    args = parser.parse_args()
    quick = not args.full
    started = time.perf_counter()
    _print_theory(theory_gap(quick))
    _print_rules(rule_comparison(quick))
    _print_spiking(spiking_agreement(quick))
    print()
    td_section(quick)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
