"""How the learning rule shapes representation dynamics (Bordelon & Pehlevan, ICLR 2023).

Part 1, lazy limit: full-batch MSE regression on a teacher–student task, each rule's
simulation (``parameterization="ntk"``) beside :func:`bioplausible.theory.lazy_loss_curve`
(conditioned on each network's initial function) at widths N = 64 … 4096; the gap
``max_t |L_sim − L_theory| / max_t L_theory`` of the test loss, averaged over seeds, and its
exponent ``gap ∝ N^a`` (least squares on log–log).

Part 2, rich regime (``parameterization="mean-field"``, two hidden layers): across richness
γ₀ and FA's forward/feedback correlation ρ, the eNTK and feature-kernel alignment with the
task and each layer's relative weight change, printed as the paper's claims, measured; the same
on one image task (digits: standardised pixels, centred one-hot targets, 10 outputs).

Part 2b, DMFT: :func:`bioplausible.theory.two_layer_dmft` (infinite width, mean-field γ₀ = 1)
beside simulations of two-layer networks at N = 64 … 4096: the training-loss gap
``max_t |L_sim − L_dmft| / max_t L_dmft`` (seed mean) and its exponent, and the final feature
alignment.

Part 3, overtraining (Kumar et al., "Do mice grok?", ICLR 2025): each rule trains on digits to
its accuracy plateau, then either reverses the labels at once or overtrains first and then
reverses (``Classification(reverse_after=...)``). Printed: test accuracy at the plateau and
after overtraining, the readout margin and the hidden layer's decoder margin (cross-validated
logistic regression, :func:`bioplausible.analysis.summary.decoder_scores`) at both points, and
how fast the reversed mapping is learned, (a) by the whole network with its own rule and (b)
by a fresh readout (delta rule) on the kept hidden features, the paper's feature-reuse account.

Part 4, summary statistics across learning (Zavatone-Veth, Bordelon & Pehlevan 2025):
:func:`bioplausible.analysis.summary.summary_statistics` in windows of one supervised run
(backprop on digits, trained past its plateau) and one separation run (NSM), as written to NWB
beside the activity (``result.to_nwb(path, summaries=[stats])``).

    PYTHONPATH=src python benchmarks/rule_representation_dynamics.py          # quick
    PYTHONPATH=src python benchmarks/rule_representation_dynamics.py --full
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import bioplausible as bpl
from bioplausible import theory
from bioplausible.analysis import summary
from bioplausible.analysis.kernels import full_batch_dynamics

RULES = {
    "backprop": lambda rho, **kw: bpl.circuits.Backprop(**kw),
    "feedback-alignment": lambda rho, **kw: bpl.circuits.FeedbackAlignment(rho=rho, **kw),
    "direct-feedback-alignment": lambda rho, **kw: bpl.circuits.DirectFeedbackAlignment(projection_gain=1.0, **kw),
    "hebbian": lambda rho, **kw: bpl.circuits.Hebbian(**kw),
}
# Hebb's always-positive ‖ε‖² gate is a positive feedback loop: in the mean-field runs its hidden
# layers collapse onto one direction and the readout diverges for η₀ ≥ 0.1 at γ₀ ≥ 1 (measured).
HEBB_RICH_RATE = 0.03
SHORT = {"backprop": "GD", "feedback-alignment": "FA", "direct-feedback-alignment": "DFA", "hebbian": "Hebb"}


def teacher_data(n_train: int, n_test: int, n_inputs: int, seed: int = 0):
    """A fixed training set and a test set from the teacher–student task (one output, unit scale)."""
    task = bpl.tasks.TeacherStudent(n_inputs=n_inputs, n_outputs=1, teacher_seed=seed).reset(seed=seed)
    train, test = task.next_batch(n_train), task.next_batch(n_test)
    scale = train.targets.std()
    return train.inputs, train.targets / scale, test.inputs, test.targets / scale


def lazy_table(widths, seeds: int, steps: int, rho: float = 0.5) -> dict[str, list[float]]:
    X, y, Xt, yt = teacher_data(20, 100, 10)
    gaps: dict[str, list[float]] = {}
    print(f"Lazy limit: P = {len(X)}, D = {X.shape[1]}, {steps} full-batch steps, {seeds} seeds, rho = {rho}")
    print("  test-loss gap max|sim − theory| / max theory:")
    print("  " + "rule".ljust(6) + "".join(f"N={n}".rjust(10) for n in widths) + "   exponent   final loss sim/theory")
    for rule, make in RULES.items():
        row = []
        for width in widths:
            circuit = make(rho, hidden_sizes=(width,), parameterization="ntk", learning_rate=1.0, output_rate=1.0,
                           bias=False, **({"synaptic_scaling": False} if rule == "hebbian" else {}))
            circuit.initialize(X.shape[1], 1, list(range(seeds)))
            curve = theory.lazy_loss_curve(rule, X, y, Xt, yt, steps=steps, rho=rho,
                                           initial=(circuit.forward(X)[-1], circuit.forward(Xt)[-1]))
            sim = full_batch_dynamics(circuit, X, y, steps, test_inputs=Xt, test_targets=yt)
            test = sim["test_loss"].mean("seed").values
            row.append(float(np.max(np.abs(test - curve["test_loss"])) / np.max(curve["test_loss"])))
        slope = np.polyfit(np.log(widths), np.log(row), 1)[0]
        gaps[rule] = row
        print("  " + SHORT[rule].ljust(6) + "".join(f"{g:10.4f}" for g in row)
              + f"   {slope:+8.2f}   {test[-1]:.4f} / {curve['test_loss'][-1]:.4f}")
    return gaps


def dmft_table(widths, seeds: int, steps: int, samples: int, gamma0: float = 1.0) -> dict[str, list[float]]:
    X, y, _, _ = teacher_data(40, 10, 20, seed=1)
    print(f"DMFT (two layers, mean-field gamma0 = {gamma0}, P = {len(X)}, {steps} full-batch steps, {seeds} seeds, "
          f"{samples} single-site samples): train-loss gap max|sim − DMFT| / max DMFT")
    print("  " + "rule".ljust(6) + "".join(f"N={n}".rjust(10) for n in widths)
          + "   exponent   final feature alignment sim (widest) / DMFT")
    gaps = {}
    for rule in theory.DMFT_RULES:
        dmft = theory.two_layer_dmft(rule, X, y, steps, gamma0=gamma0, rho=0.0, samples=samples)
        row = []
        for width in widths:
            circuit = RULES[rule](0.0, hidden_sizes=(width,), parameterization="mean-field", gamma0=gamma0,
                                  learning_rate=1.0, output_rate=1.0, bias=False)
            circuit.initialize(X.shape[1], 1, list(range(seeds)))
            sim = full_batch_dynamics(circuit, X, y, steps, every=steps)
            loss = sim["train_loss"].mean("seed").values
            row.append(float(np.max(np.abs(loss - dmft["train_loss"])) / np.max(dmft["train_loss"])))
        slope = np.polyfit(np.log(widths), np.log(row), 1)[0]
        gaps[rule] = row
        final = float(sim["feature_alignment"].isel(kernel_step=-1, hidden_layer=0).mean("seed"))
        print("  " + SHORT[rule].ljust(6) + "".join(f"{g:10.4f}" for g in row)
              + f"   {slope:+8.2f}   {final:.4f} / {dmft['feature_alignment'][-1]:.4f}")
    return gaps


def digits_data(n_train: int):
    """The first ``n_train`` digits (standardised pixels scaled to unit norm per sample on average),
    one-hot targets centred over the classes."""
    task = bpl.tasks.Classification(dataset="digits", n_train=n_train, normalize="standardize", predictions=False)
    train = task.training_set()
    X = train.inputs / np.sqrt(train.inputs.shape[1])
    return X, train.targets - train.targets.mean(-1, keepdims=True)


def rich_runs(gammas, rhos, width: int, seeds: int, steps: int, data=None):
    X, y = teacher_data(40, 10, 20, seed=1)[:2] if data is None else data
    results = {}
    for gamma in gammas:
        for rule in RULES:
            for rho in (rhos if rule == "feedback-alignment" else [0.0]):
                rate = HEBB_RICH_RATE if rule == "hebbian" else 1.0
                circuit = RULES[rule](rho, hidden_sizes=(width, width), parameterization="mean-field", gamma0=gamma,
                                      learning_rate=rate, output_rate=1.0, bias=False)
                circuit.initialize(X.shape[1], y.shape[1], list(range(seeds)))
                results[rule, rho, gamma] = full_batch_dynamics(circuit, X, y, steps, every=steps)
    return results


def claims(results, gammas, rhos, title: str = "teacher-student") -> None:
    def final(rule, rho, gamma, name, layer=None):
        data = results[rule, rho, gamma][name].isel(kernel_step=-1)
        if layer is not None:
            data = data.isel({data.dims[-1]: layer})
        return float(data.mean("seed"))

    def start(rule, rho, gamma, name, layer):
        data = results[rule, rho, gamma][name].isel(kernel_step=0)
        return float(data.isel({data.dims[-1]: layer}).mean("seed"))

    g_hi = max(gammas)
    print(f"Rich regime on {title} (mean-field, two hidden layers): alignment A = tr(Yᵀ K Y)/(‖K‖ ‖Y‖²)")
    print("  rule    rho  gamma0   eNTK A0 → A    feature A (h1, h2)  ΔΦ/Φ (h1, h2)   ΔW/W (1, 2, out)     "
          "eNTK share (1, 2, out)   train loss")
    for (rule, rho, gamma), data in results.items():
        a = data["entk_alignment"].mean("seed").values
        last = data.isel(kernel_step=-1).mean("seed")
        f, move = last["feature_alignment"].values, last["feature_movement"].values
        change, share = last["weight_change"].values, last["entk_layer_share"].values
        loss = data["train_loss"].mean("seed").values
        print(f"  {SHORT[rule]:6s} {rho:4.2f} {gamma:6.2f}   {a[0]:.3f} → {a[-1]:.3f}   {f[0]:.3f} {f[1]:.3f}"
              f"         {move[0]:.3f} {move[1]:.3f}     {change[0]:.3f} {change[1]:.3f} {change[2]:7.2f}"
              f"    {share[0]:.3f} {share[1]:.3f} {share[2]:.3f}      {loss[0]:.3f} → {loss[-1]:.4f}")
    print("Claims, as measured:")
    for rule in ("backprop", "feedback-alignment", "direct-feedback-alignment"):
        rho = 0.0
        values = ", ".join(f"{final(rule, rho, g, 'feature_alignment', -1):.3f}" for g in gammas)
        print(f"  {SHORT[rule]} last-hidden feature alignment at gamma0 = {list(gammas)}: {values}"
              "  (claim: rises with gamma0)")
    fa = [final("feedback-alignment", r, g_hi, "feature_alignment", -1)
          - start("feedback-alignment", r, g_hi, "feature_alignment", -1) for r in rhos]
    fa_w = [final("feedback-alignment", r, g_hi, "weight_change", 0) for r in rhos]
    fa_m = [final("feedback-alignment", r, g_hi, "feature_movement", 0) for r in rhos]
    fa_e = [final("feedback-alignment", r, g_hi, "entk_alignment") - float(
        results["feedback-alignment", r, g_hi]["entk_alignment"].isel(kernel_step=0).mean("seed")) for r in rhos]
    print(f"  FA at rho = {list(rhos)}, gamma0 = {g_hi} (claim: more feature learning for smaller rho):")
    print("     first-layer feature-kernel movement ΔΦ/Φ: " + " vs ".join(f"{v:.3f}" for v in fa_m))
    print("     first-layer weight change ΔW/W:           " + " vs ".join(f"{v:.3f}" for v in fa_w))
    print("     last-hidden feature-alignment gain:       " + " vs ".join(f"{v:+.3f}" for v in fa))
    print("     eNTK alignment gain:                      " + " vs ".join(f"{v:+.3f}" for v in fa_e))
    g_lo = min(gammas)
    for rule, gamma in (("direct-feedback-alignment", g_lo), ("hebbian", g_lo), ("hebbian", g_hi),
                        ("direct-feedback-alignment", g_hi), ("backprop", g_hi)):
        shares = results[rule, 0.0, gamma]["entk_layer_share"].mean("seed").values
        claim = {("direct-feedback-alignment", g_lo): "  (claim, lazy: readout only)",
                 ("hebbian", g_lo): "  (claim, lazy: readout only)",
                 ("hebbian", g_hi): "  (claim: Hebb learns mostly in the last layer)"}.get((rule, gamma), "")
        print(f"  {SHORT[rule]} eNTK share of (layer 1, layer 2, readout) at gamma0 = {gamma}, init → end: "
              + ", ".join(f"{v:.3f}" for v in shares[0]) + " → " + ", ".join(f"{v:.3f}" for v in shares[-1]) + claim)
    hebb = final("hebbian", 0.0, g_hi, "entk_alignment") - float(
        results["hebbian", 0.0, g_hi]["entk_alignment"].isel(kernel_step=0).mean("seed"))
    gd = final("backprop", 0.0, g_hi, "entk_alignment") - float(
        results["backprop", 0.0, g_hi]["entk_alignment"].isel(kernel_step=0).mean("seed"))
    print(f"  eNTK alignment gain at gamma0 = {g_hi}: Hebb {hebb:+.3f} vs GD {gd:+.3f}"
          "  (claim: Hebb gains very little)")


# (circuit, its rates): GD, FA and DFA at the largest of 0.05, 0.1, 0.2 at which every seed stays
# finite over the whole protocol (FA diverges at 0.2); Hebb at its defaults (its weights grow
# without bound at 0.05 for both rates; measured)
OVERTRAIN_RULES = {
    "GD": (lambda **kw: bpl.circuits.Backprop(**kw), {"learning_rate": 0.2, "output_rate": 0.2}),
    "FA": (lambda **kw: bpl.circuits.FeedbackAlignment(**kw), {"learning_rate": 0.1, "output_rate": 0.1}),
    "DFA": (lambda **kw: bpl.circuits.DirectFeedbackAlignment(**kw), {"learning_rate": 0.1, "output_rate": 0.1}),
    "Hebb": (lambda **kw: bpl.circuits.Hebbian(**kw), {}),
}


def _margins(circuit, X: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """Median readout margin ``f_y − max_{c≠y} f_c``, the hidden layer's decoder margin and the
    training accuracy (seed means) on the training set."""
    layers = circuit.forward(X)
    out = layers[-1].copy()
    accuracy = float(np.mean(np.argmax(out, axis=-1) == labels))
    rows = np.arange(labels.size)
    own = out[:, rows, labels]
    out[:, rows, labels] = -np.inf
    readout = float(np.mean(np.median(own - out.max(-1), axis=-1)))
    hidden = float(np.mean([summary.decoder_scores(h, labels)["margin"] for h in layers[-2]]))
    return readout, hidden, accuracy


def _updates_to(accuracy: np.ndarray, steps: np.ndarray, criterion: float) -> float:
    """First update (after the reversal) at which the seed-mean accuracy reaches ``criterion``."""
    reached = np.flatnonzero(accuracy >= criterion)
    return float(steps[reached[0]] - steps[0]) if reached.size else float("nan")


def overtraining(plateau: int, overtrain: int, reversal: int, seeds: int, n_train: int = 300,
                 width: int = 64) -> dict[str, dict[str, float]]:
    """The overtraining-reversal protocol for each rule (module docstring, part 3)."""
    def task(reverse_after):
        return bpl.tasks.Classification(dataset="digits", n_train=n_train, n_test=300, predictions=False,
                                        reverse_after=reverse_after)

    base = task(None)
    X, labels = base.training_set().inputs, base.training_set().info["label"]
    per_epoch = base.updates_per_epoch
    members = list(range(seeds))
    print(f"Overtraining (digits, {n_train} training samples, one hidden layer of {width}, {seeds} seeds): "
          f"{plateau} epochs to the plateau, {overtrain} epochs of overtraining, {reversal} epochs after reversal")
    print("  rule rate train acc      test acc plateau → overtrained   readout margin   hidden decoder margin   "
          "reversal (whole net) acc@1ep, updates to 50%   reversal (fresh readout) acc@1ep, updates to 50%")
    out = {}
    for rule, (make, rates) in OVERTRAIN_RULES.items():
        circuit = make(hidden_sizes=(width,), **rates)
        rate = float(circuit.params.learning_rate)
        first = bpl.run(circuit, task(plateau), seeds=members, steps=plateau * per_epoch, progress=False)
        acc_p = float(first.metrics["test_accuracy"].mean("seed")[-1])
        margin_p = _margins(circuit, X, labels)
        early = circuit.state_dict()
        second = bpl.run(circuit, task(plateau + overtrain), seeds=members, steps=overtrain * per_epoch,
                         progress=False)
        acc_o = float(second.metrics["test_accuracy"].mean("seed")[-1])
        margin_o = _margins(circuit, X, labels)
        row = {"acc_plateau": acc_p, "acc_overtrained": acc_o, "readout_margin_plateau": margin_p[0],
               "readout_margin_overtrained": margin_o[0], "hidden_margin_plateau": margin_p[1],
               "hidden_margin_overtrained": margin_o[1], "train_acc_plateau": margin_p[2],
               "train_acc_overtrained": margin_o[2]}
        for label, state, reverse_at in (("early", early, plateau), ("overtrained", circuit.state_dict(),
                                                                      plateau + overtrain)):
            for mode in ("whole", "readout"):
                if mode == "whole":
                    learner = make(hidden_sizes=(width,), **rates).load_state_dict(state)
                else:  # features kept, readout relearned from zero by the delta rule
                    learner = make(hidden_sizes=(width,), **{**rates, "learning_rate": 0.0}).load_state_dict(state)
                    for name in (f"weight_{learner.n_layers}", f"bias_{learner.n_layers}"):
                        learner.state[name] = np.zeros_like(learner.state[name])
                result = bpl.run(learner, task(reverse_at), seeds=members, steps=reversal * per_epoch,
                                 eval_every=max(1, per_epoch // 5), progress=False)
                accuracy = result.metrics["test_accuracy"].mean("seed")
                steps = accuracy["step"].values
                row[f"{mode}_{label}_acc_1epoch"] = float(np.interp(steps[0] + per_epoch, steps, accuracy.values))
                row[f"{mode}_{label}_updates_to_half"] = _updates_to(accuracy.values[1:], steps[1:], 0.5)
        out[rule] = row
        print(f"  {rule:4s} {rate:4.2f} {margin_p[2]:.3f} → {margin_o[2]:.3f}  {acc_p:.3f} → {acc_o:.3f}"
              f"                  {margin_p[0]:.3f} → {margin_o[0]:.3f}"
              f"    {margin_p[1]:.3f} → {margin_o[1]:.3f}           "
              f"early {row['whole_early_acc_1epoch']:.3f}, {row['whole_early_updates_to_half']:.0f} / "
              f"overtrained {row['whole_overtrained_acc_1epoch']:.3f}, "
              f"{row['whole_overtrained_updates_to_half']:.0f}     "
              f"early {row['readout_early_acc_1epoch']:.3f}, {row['readout_early_updates_to_half']:.0f} / "
              f"overtrained {row['readout_overtrained_acc_1epoch']:.3f}, "
              f"{row['readout_overtrained_updates_to_half']:.0f}")
    print("Claims, as measured (Kumar et al.: margin grows while accuracy is flat; faster reversal after it):")
    for rule, row in out.items():
        print(f"  {rule}: hidden decoder margin {row['hidden_margin_plateau']:.3f} → "
              f"{row['hidden_margin_overtrained']:.3f} while training accuracy {row['train_acc_plateau']:.3f} → "
              f"{row['train_acc_overtrained']:.3f} (test {row['acc_plateau']:.3f} → {row['acc_overtrained']:.3f}); "
              f"reversal accuracy after one epoch, early vs overtrained: whole "
              f"network {row['whole_early_acc_1epoch']:.3f} vs {row['whole_overtrained_acc_1epoch']:.3f}, "
              f"fresh readout on kept features {row['readout_early_acc_1epoch']:.3f} vs "
              f"{row['readout_overtrained_acc_1epoch']:.3f}")
    return out


SUMMARY_COLUMNS = ("accuracy", "margin", "r2", "alignment", "cka_to_first", "procrustes_to_first", "unit_drift")


def _print_summary(stats, metric: str) -> None:
    mean = stats.mean("seed")
    columns = [c for c in SUMMARY_COLUMNS if c in mean]
    print("    window  samples        " + "".join(c.rjust(20) for c in columns) + f"{metric.rjust(20)}")
    for w in range(mean.sizes["window"]):
        row = mean.isel(window=w)
        print(f"    {w:6d}  {int(row['window_start']):6d}-{int(row['window_stop']):<6d} "
              + "".join(f"{float(row[c]):20.3f}" for c in columns) + f"{float(row['metric_' + metric]):20.3f}")


def summaries(quick: bool = True) -> dict[str, object]:
    """Summary statistics of a supervised and a separation run (module docstring, part 4)."""
    seeds = [0, 1]
    task = bpl.tasks.Classification(dataset="digits", n_train=300, n_test=300, predictions=False)
    epochs = 45 if quick else 90
    supervised = bpl.run(bpl.circuits.Backprop(hidden_sizes=(64,), learning_rate=0.2, output_rate=0.2), task,
                         steps=epochs * task.updates_per_epoch, seeds=seeds, progress=False,
                         probes=[bpl.Probe(populations=("hidden_1",), samples=4)])
    stats = summary.summary_statistics(supervised, "hidden_1", label="label", windows=5)
    print(f"Summary statistics, supervised: backprop (64 hidden) on digits (300 samples), {epochs} epochs, "
          f"{len(seeds)} seeds, hidden layer in 5 windows")
    _print_summary(stats, "test_accuracy")
    steps = 12000 if quick else 40000
    separation = bpl.run(bpl.circuits.NonnegativeSimilarityMatching(), bpl.tasks.SourceSeparation(), steps=steps,
                         eval_every=1000, seeds=seeds, progress=False, probes=[bpl.Probe(samples=1, every=4)])
    sep = summary.summary_statistics(separation, "output", target="mixtures", windows=6)
    print(f"Summary statistics, separation: NSM on SourceSeparation, {steps} samples, {len(seeds)} seeds, output "
          "decoding the mixtures in 6 windows")
    _print_summary(sep, "sinr_db")
    return {"supervised": stats, "separation": sep}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="more widths, seeds and steps")
    parser.add_argument("--part", choices=["all", "lazy", "rich", "dmft", "digits", "overtraining", "summary"],
                        default="all",
                        help="run one part only")
    args = parser.parse_args()
    started = time.perf_counter()
    wanted = ({"lazy", "rich", "dmft", "digits", "overtraining", "summary"} if args.part == "all"
              else {args.part})
    if "lazy" in wanted:
        lazy_table([64, 128, 256, 512, 1024, 2048, 4096] if args.full else [64, 256, 1024, 4096],
                   seeds=16 if args.full else 4, steps=200 if args.full else 100)
    if "rich" in wanted:
        if args.full:
            gammas, rhos = (0.05, 0.5, 1.0, 2.0), (0.0, 0.25, 0.5, 1.0)
            results = rich_runs(gammas, rhos, width=512, seeds=4, steps=1000)
        else:
            gammas, rhos = (0.05, 1.0, 2.0), (0.0, 0.5)
            results = rich_runs(gammas, rhos, width=256, seeds=2, steps=400)
        claims(results, gammas, rhos)
    if "dmft" in wanted:
        dmft_table([64, 128, 256, 512, 1024, 2048, 4096] if args.full else [64, 256, 1024, 4096],
                   seeds=16 if args.full else 4, steps=200 if args.full else 100,
                   samples=1 << 17 if args.full else 1 << 15)
    if "digits" in wanted:
        gammas, rhos = ((0.05, 0.5, 1.0, 2.0), (0.0, 0.25, 0.5, 1.0)) if args.full else ((0.05, 1.0, 2.0), (0.0, 0.5))
        n_train, width, steps = (200, 512, 1000) if args.full else (60, 128, 300)
        results = rich_runs(gammas, rhos, width=width, seeds=4 if args.full else 2, steps=steps,
                            data=digits_data(n_train))
        claims(results, gammas, rhos, f"digits ({n_train} images, width {width}, {steps} full-batch steps)")
    if "overtraining" in wanted:
        if args.full:
            overtraining(plateau=20, overtrain=60, reversal=8, seeds=8)
        else:
            overtraining(plateau=15, overtrain=30, reversal=4, seeds=3)
    if "summary" in wanted:
        summaries(quick=not args.full)
    print(f"[{time.perf_counter() - started:.0f} s]")


if __name__ == "__main__":
    main()
