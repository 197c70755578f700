"""SINR of CorInfoMax and NSM beside the published tables (spec separation.md §6 A and B).

    python benchmarks/separation_sinr.py                 # quick: 100k samples, 4 trials, 4 ρ
    python benchmarks/separation_sinr.py --full          # the paper's 500k samples, 10 trials, all ρ
    python benchmarks/separation_sinr.py --matching cosine   # score with the spec's matching only
    python benchmarks/separation_sinr.py --table B       # sparse sources versus input SNR (+ WSM)
    python benchmarks/separation_sinr.py --table detmax  # Det-Max's headline: SINR versus ρ
    python benchmarks/separation_sinr.py --table polytope  # the mixed 5-dim polytope at 40 dB

Table A: nonnegative antisparse sources, equicorrelated t-copula ρ, n = 5, m = 10, 30 dB.
Table B: sparse (ℓ1) sources, ρ = 0, SNR 30 … 10 dB: CorInfoMax, and the WSM (Det-Max)
baseline as CIM-BSS runs it (``DetMaxWSM(domain="sparse")``, its preset, on the same mixtures
with every noisy row rescaled to std 0.5: ``mixture_scaling="noisy-row-std"``; ``--wsm-trials 0``
skips it; scored with the same ``--matching`` rule as the CorInfoMax column; its measured
numbers below predate this and used the cosine matching). Table detmax: Det-Max's own setup (DetMax-BSS
``simulation_correlated_antisparseV4.py``): antisparse sources, Toeplitz t-copula ρ ∈ {0, …, 0.7},
n = 4, m = 8, mixing rows rescaled to std 0.5, noise std 10^(−30/20)·0.5
(``mixture_scaling="row-std"``), the antisparse preset with ``gamma_start, gamma_stop = 0.25, 5e-4``
for ρ > 0.4 as in that script; its published numbers are figures we do not have, so only ours
are printed. Trials run as one ensemble (the K axis); the SINR is measured on 20,000 held-out noisy samples (the authors
use all N training samples: measured, the two differ by < 0.1 dB, see below). Published
values: CIM-BSS result notebooks, the mean over trials of the final SINR (100 trials for A,
50 for B; trials that raised were dropped, none for CorInfoMax).

How the published Table A was scored (CIM-BSS, read, not run): the scripts
(``Simulations/NonnegativeAntisparseCorrelated/CorInfoMax_NNAntisparse_CorrelatedV2.py``,
the pickle the analysis notebook tabulates; V6–V8 give the same within 0.8 dB) train
``fit_batch_nnantisparse`` (``B_y`` as is, no ``B_y + I/γ_y``; dynamics, updates, data,
mixing and noise all as in our code) and score ``W_f X`` on the training samples with
``evaluate_bss``. Its source-to-output matching (``find_permutation_between_source_and_estimation``)
divides ``|⟨y_i, s_j⟩|`` by ``‖s_j‖‖y_j‖``, the *j*-th output's norm, constant over the
candidate outputs i: it matches by the raw inner product, not by the cosine the spec (§1.4)
describes. For nonnegative sources (means 0.5) at high ρ the raw inner products of one
output with the different sources differ by only ≈ 6 % (ρ = 0.8), so an output that is a
few per cent larger than another is matched to two sources and one source is scored against
a wrong, merely correlated output (such trials score ≈ 14.5 dB). ``--matching authors`` (the
default) scores with that rule (task option ``sinr_matching="inner-product"``) and prints
the cosine-matched SINR beside it.

Measured (2-core machine, shared; N = 500k; seeds 0 … trials−1; mean ± sample sd over
trials; "wrong" = trials in which the authors' rule gave one output to two sources; cosine
on our 20k held-out samples, authors' rule on all 500k training samples as the scripts do;
the held-out and training SINR of a trial differ by ≤ 0.1 dB, the trial means by ≤ 0.01 dB):

=====  ======  ==============  ==================  =====  =========================
ρ      trials  cosine (spec)   authors' matching   wrong  published (V2 / V6–V8)
=====  ======  ==============  ==================  =====  =========================
0.0    10      27.66 ± 1.50    27.66 ± 1.50        0      27.24 / 27.24
0.6    10      27.01 ± 0.99    27.01 ± 0.99        0      26.49 / 25.75
0.7    100     25.98 ± 1.81    25.59 ± 2.89        6      25.21 / 25.33
0.8    100     24.85 ± 1.50    21.35 ± 5.33        36     20.80 / 21.44
=====  ======  ==============  ==================  =====  =========================

This script, ``--full --rho 0 0.6 0.7 0.8 --nsm-trials 0`` (10 trials, held-out scoring):
27.66 ± 1.50, 27.01 ± 0.99, 26.33 ± 0.92, 22.35 ± 4.21 dB (cosine: the same, and
25.05 ± 0.79 at 0.8); 4.5 min. With the authors' rule every ρ is within 0.6 dB of the V2
table (0.4 dB of V6–V8 at 0.7 and 0.8); with the cosine the drop from ρ = 0.7 to 0.8 is
1.1 dB instead of the published 4.4.
Wrongly matched trials score 14.5 dB on average (ρ = 0.8); their median is unaffected
(24.99 cosine, 24.69 authors'). The cosine 100-trial distribution at ρ = 0.8 has no failure
tail that 10 trials would miss (3 of 100 below 21 dB). Setup 2 (λ_e 0.98, neural lr
0.5 → 1e-3), 10 trials: ρ = 0 / 0.7 / 0.8 → cosine 28.07 / 25.50 / 24.00, authors'
28.07 / 24.54 / 20.85 (wrong 0 / 1 / 4; published 27.87 / 23.91 / 19.14). The W decay 1e-6
of older CIM-BSS versions (``weight_decay=1e-6``), ρ = 0.8, 10 trials: cosine 25.70 ± 0.77,
authors' 23.97 ± 4.02 (without: 25.05 ± 0.79 / 22.34 ± 4.22): it does not lower the SINR.
Conclusion: same circuit, same data; the published high-ρ values are lowered by the
authors' scoring, not by the separation. Earlier runs of this benchmark (cosine): NSM,
4 trials, N = 100k: ρ = 0 / 0.4 / 0.6 / 0.7 → 29.61 / 10.67 / 6.26 / 4.93 dB (published
29.54 / 10.88 / 5.70 / 4.36). Table B, 4 trials, N = 500k: 29.68, 25.11, 20.15, 15.25,
10.51 dB (published 29.90, 24.88, 20.11, 15.16, 10.42).

Table polytope: the mixed polytope of CIM-BSS ``CorInfoMax_GeneralPolytope5dimV4.py`` (signed
{0, 1, 3}, nonnegative {2, 4}, groups {0, 1, 4}, {1, 2, 3}), n = 5, m = 10, 40 dB, setup 1
(B_e = 1000 I) and setup 2 (B_e = 2500 I). The authors ran 100 trials at N = 500k, but their
result table is not available to us, so no published number is printed.
Measured (2-core machine shared with other jobs; SINR on 20,000 held-out samples): quick
(N = 100k, 4 trials): setup 1 28.87 ± 0.99 dB (27.18–29.72), setup 2 26.07 ± 8.76 dB (one trial
still at 10.91, the others 30.7–31.5); --full --trials 6 (N = 500k): setup 1 28.74 ± 0.84 dB
(27.79–29.91), setup 2 31.33 ± 0.72 dB (30.50–32.58), ≈ 280–320 s per setup.
Det-Max / WSM (2-core machine shared with other jobs; fused kernel):
Table B, WSM column, 10 trials (seeds 0–9), N = 500k (``--table B --trials 0 --wsm-trials 10
--samples 500000``): SNR 30 / 25 / 20 / 15 / 10 dB → 27.15 ± 3.01, 22.74 ± 2.64, 19.25 ± 1.49,
11.46 ± 1.39, 4.54 ± 1.80 dB (published 26.55, 22.84, 18.82, 10.91, 4.72: +0.6 / −0.1 / +0.4 /
+0.6 / −0.2 dB, within the 2.5 dB target at every SNR; the collapse below 20 dB is
reproduced). 1–6.5 min per SNR. 4 trials (seeds 0–3): 26.17, 23.05, 18.86, 10.17, 4.18 dB.
Table detmax, 4 trials, N = 500k (``--table detmax --trials 4 --samples 500000 --rho 0.0 … 0.7``):
ρ = 0 / 0.1 / 0.2 / 0.3 / 0.4 / 0.5 / 0.6 / 0.7 → 30.17 ± 1.29, 29.71 ± 1.33, 29.21 ± 1.03,
25.88 ± 4.69, 27.29 ± 0.26, 22.78 ± 2.89, 20.27 ± 2.87, 17.87 ± 2.75 dB (no published table
is available to us: the paper shows this as a figure). 0.5–1 min per ρ on a quiet machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplausible.circuits import CorInfoMax, DetMaxWSM, NonnegativeSimilarityMatching
from bioplausible.experiments.run import run
from bioplausible.tasks import SourceSeparation

#: Provenance of the printed reference numbers (none is ours; "ours" is always computed).
#: Table A: the CIM-BSS analysis notebook's table of the V2 script
#: (``CorInfoMax_NNAntisparse_CorrelatedV2.py``; CorInfoMax setup 1 and NSM columns, 100 trials,
#: raw inner-product matching). The V6–V8 notebook differs by up to 0.8 dB (e.g. 25.75 instead of
#: 26.49 at ρ = 0.6, 25.33 / 21.44 at 0.7 / 0.8); only V2 is printed, labelled "CIM-BSS V2".
#: Table B: the CIM-BSS sparse-source notebook (CorInfoMax and its WSM baseline, 50 trials,
#: inner-product matching), labelled "CIM-BSS nb".
PUBLISHED_A = {  # ρ: (CorInfoMax setup 1, NSM), CIM-BSS V2 notebook
    0.0: (27.24, 29.54), 0.1: (27.50, 23.14), 0.2: (27.49, 17.57), 0.3: (27.32, 13.71),
    0.4: (27.58, 10.88), 0.5: (27.03, 8.19), 0.6: (26.49, 5.70), 0.7: (25.21, 4.36), 0.8: (20.80, 2.96),
}
PUBLISHED_B = {  # SNR: CorInfoMax, CIM-BSS sparse notebook
    30: 29.90, 25: 24.88, 20: 20.11, 15: 15.16, 10: 10.42}
PUBLISHED_B_WSM = {  # SNR: WSM (Det-Max) baseline, same notebook
    30: 26.55, 25: 22.84, 20: 18.82, 15: 10.91, 10: 4.72}
MATCHING = {"authors": "inner-product", "cosine": "cosine"}


def final_sinr(circuit, task: SourceSeparation, trials: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Final SINR per trial: (the task's matching, the cosine matching)."""
    result = run(circuit, task, seeds=list(range(trials)), steps=samples, eval_every=samples, progress=False)
    data = result.dataset
    scored = data["metric_sinr_db"].values[:, -1]
    cosine = data["metric_sinr_cosine_db"].values[:, -1] if "metric_sinr_cosine_db" in data else scored
    return scored, cosine


def _cell(values: np.ndarray) -> str:
    return f"{values.mean():7.2f} ± {values.std(ddof=1) if values.size > 1 else 0.0:5.2f}"


def table_a(args: argparse.Namespace) -> None:
    authors = args.matching == "authors"
    print(f"Table A: nonnegative antisparse, n = 5, m = 10, 30 dB, N = {args.samples}, {args.trials} trials; "
          f"SINR with the {'authors' if authors else 'cosine'} matching" + (" (cosine in brackets)" if authors else ""))
    head = f"{'rho':>4} | {'CorInfoMax ours':>15}" + (f" {'[cosine]':>17}" if authors else "")
    head += f" {'CIM-BSS V2':>10} | "
    print(head + f"{'NSM ours':>15}" + (f" {'[cosine]':>17}" if authors else "") + f" {'CIM-BSS V2':>10}")
    drops: dict[str, list[float]] = {"corinfomax": [], "nsm": []}
    for rho in args.rho:
        task = SourceSeparation(correlation=rho, evaluation_samples=20_000, sinr_matching=MATCHING[args.matching])
        started = time.perf_counter()
        ours, ours_cosine = final_sinr(CorInfoMax(), task, args.trials, args.samples)
        nsm, nsm_cosine = (final_sinr(NonnegativeSimilarityMatching(), task, args.nsm_trials, args.nsm_samples)
                           if args.nsm_trials else (np.array([np.nan]),) * 2)
        published = PUBLISHED_A.get(round(rho, 1), (np.nan, np.nan))
        drops["corinfomax"].append(ours.mean())
        drops["nsm"].append(nsm.mean())
        line = f"{rho:4.1f} | {_cell(ours)}" + (f" [{_cell(ours_cosine)}]" if authors else "")
        line += f" {published[0]:10.2f} | {_cell(nsm)}" + (f" [{_cell(nsm_cosine)}]" if authors else "")
        line += f" {published[1]:10.2f}"
        print(f"{line}   ({time.perf_counter() - started:.0f} s)", flush=True)
    if 0.0 in args.rho and 0.7 in args.rho:
        first, last = args.rho.index(0.0), args.rho.index(0.7)
        print(f"drop ρ = 0 → 0.7: CorInfoMax {drops['corinfomax'][first] - drops['corinfomax'][last]:.2f} dB "
              f"(CIM-BSS V2 2.03), NSM {drops['nsm'][first] - drops['nsm'][last]:.2f} dB (CIM-BSS V2 25.18)")
    if args.nsm_samples != args.samples:
        print(f"(NSM: N = {args.nsm_samples}, {args.nsm_trials} trials)")


def table_polytope(args: argparse.Namespace) -> None:
    print(f"Table polytope: mixed 5-dim polytope, m = 10, 40 dB, N = {args.samples}, {args.trials} trials")
    print("published: not available to us (the authors' mixed-polytope results table is not public)")
    print(f"{'setup':>24} | {'CorInfoMax ours':>16} {'min':>6} {'max':>6}")
    task = SourceSeparation(domain="polytope", snr_db=40.0, evaluation_samples=20_000)
    for label, error_lateral in (("setup 1 (B_e = 1000 I)", 1000.0), ("setup 2 (B_e = 2500 I)", 2500.0)):
        started = time.perf_counter()
        ours, _ = final_sinr(CorInfoMax(**task.circuit_options(), error_lateral=error_lateral), task, args.trials,
                          args.samples)
        print(f"{label:>24} | {ours.mean():7.2f} ± {ours.std():5.2f} {ours.min():6.2f} {ours.max():6.2f}   "
              f"({time.perf_counter() - started:.0f} s; per trial: {', '.join(f'{v:.2f}' for v in ours)})",
              flush=True)


def table_b(args: argparse.Namespace) -> None:
    print(f"Table B: sparse sources, n = 5, m = 10, ρ = 0, N = {args.samples}, {args.trials} trials "
          f"(WSM: {args.wsm_trials} trials)")
    print(f"both columns scored with the {args.matching} matching; reference: CIM-BSS sparse notebook "
          f"(inner-product matching)")
    print(f"{'SNR':>4} | {'CorInfoMax ours':>15} {'CIM-BSS nb':>10} | {'WSM ours':>15} {'CIM-BSS nb':>10}")
    for snr in args.snr:
        started = time.perf_counter()
        ours = wsm = np.array([np.nan])
        if args.trials:
            task = SourceSeparation(domain="sparse", snr_db=float(snr), evaluation_samples=20_000,
                                    sinr_matching=MATCHING[args.matching])
            ours, _ = final_sinr(CorInfoMax(domain="sparse"), task, args.trials, args.samples)
        if args.wsm_trials:
            scaled = SourceSeparation(domain="sparse", snr_db=float(snr), evaluation_samples=20_000,
                                      mixture_scaling="noisy-row-std", mixture_std=0.5,
                                      sinr_matching=MATCHING[args.matching])
            wsm, _ = final_sinr(DetMaxWSM(domain="sparse"), scaled, args.wsm_trials, args.samples)
        print(f"{snr:4d} | {_cell(ours)} {PUBLISHED_B[snr]:10.2f} | {_cell(wsm)} {PUBLISHED_B_WSM[snr]:10.2f}   "
              f"({time.perf_counter() - started:.0f} s)", flush=True)


def table_detmax(args: argparse.Namespace) -> None:
    print(f"Det-Max headline setup: antisparse, Toeplitz ρ, n = 4, m = 8, 30 dB, row std 0.5, "
          f"N = {args.samples}, {args.trials} trials (no published table available to us)")
    print(f"{'rho':>4} | {'Det-Max ours':>15}")
    for rho in args.rho:
        task = SourceSeparation(domain="antisparse", n_sources=4, n_mixtures=8, correlation=rho,
                                correlation_structure="toeplitz", mixture_scaling="row-std", mixture_std=0.5,
                                evaluation_samples=20_000)
        schedule = dict(gamma_start=0.25, gamma_stop=5e-4) if rho > 0.4 else {}
        started = time.perf_counter()
        ours, _ = final_sinr(DetMaxWSM(domain="antisparse", n_sources=4, **schedule), task, args.trials,
                             args.samples)
        print(f"{rho:4.1f} | {_cell(ours)}   ({time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="N = 500k (the paper's), 10 trials, every ρ")
    parser.add_argument("--table", choices=["A", "B", "polytope", "detmax"], default="A")
    parser.add_argument("--matching", choices=sorted(MATCHING), default="authors",
                        help="source-to-output matching of the SINR: 'authors' (CIM-BSS's code: raw inner "
                             "product; the published procedure) or 'cosine' (the spec)")
    parser.add_argument("--trials", type=int, help="trials (Table B: CorInfoMax trials, 0 skips it)")
    parser.add_argument("--samples", type=int)
    parser.add_argument("--nsm-trials", type=int, help="NSM trials (0 skips NSM)")
    parser.add_argument("--nsm-samples", type=int, help="NSM samples (NSM runs in numpy, ≈ 1.5 ms/sample)")
    parser.add_argument("--wsm-trials", type=int, help="Table B: WSM trials (0 skips WSM)")
    parser.add_argument("--snr", type=int, nargs="+", choices=sorted(PUBLISHED_B), help="Table B: input SNRs")
    parser.add_argument("--rho", type=float, nargs="+")
    args = parser.parse_args(argv)
    args.trials = (10 if args.full else 4) if args.trials is None else args.trials
    args.samples = args.samples or (500_000 if args.full else 100_000)
    args.nsm_trials = args.trials if args.nsm_trials is None else args.nsm_trials
    args.nsm_samples = args.nsm_samples or min(args.samples, 100_000)
    args.wsm_trials = args.trials if args.wsm_trials is None else args.wsm_trials
    args.snr = args.snr or [30, 25, 20, 15, 10]
    if args.table == "detmax":
        args.rho = args.rho or ([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7] if args.full else [0.0, 0.4, 0.7])
    else:
        args.rho = args.rho or ([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] if args.full else [0.0, 0.4, 0.6, 0.7])
    {"A": table_a, "B": table_b, "polytope": table_polytope, "detmax": table_detmax}[args.table](args)


if __name__ == "__main__":
    main()
