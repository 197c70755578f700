"""Every script in examples/ runs at its small size and prints what it shows.

Convention: an example honours ``BIOPLAUSIBLE_EXAMPLE_QUICK=1`` (small sizes, no display) and
writes its outputs to the working directory. Scripts are discovered; each has a check of its
printed metric in ``CHECKS`` (``test_every_example_has_a_check`` fails for one that has none),
with the quick-mode numbers it printed when the check was written (2-core machine, loaded).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
SOURCE = Path(__file__).resolve().parents[1] / "src"


def _floats(pattern: str, text: str) -> list[float]:
    found = [float(value) for value in re.findall(pattern, text)]
    assert found, f"no match for {pattern!r} in the printed output:\n{text[-2000:]}"
    return found


def _compare_rules(out: str) -> None:
    # whitening error from 3.0 at the start; measured direct 0.28 ± 0.03, interneuron 0.38 ± 0.10
    # (quick, 600 samples per context: measured direct 0.51 ± 0.03, interneuron 0.83 ± 0.004)
    for circuit in ("direct-whitening", "interneuron-whitening"):
        (error,) = _floats(rf"{circuit}\s+whitening_error\s+([0-9.]+) ±", out)
        assert error < 1.0, (circuit, error)
    # recovery times are printed as updates or "never recovered", never NaN
    (direct,) = _floats(r"direct-whitening\s+([0-9]+) updates\s+recovered", out)
    assert direct > 0 and "nan" not in out.lower(), out[-1500:]


def _error_correlation(out: str) -> None:
    # test accuracy after 3 epochs on 300 digits (chance 0.10): measured backprop 0.79, EBD 0.35,
    # DFA 0.35, FA 0.27, Hebbian 0.26; backprop's hidden-error correlation falls 0.139 → 0.105
    rows = dict(re.findall(r"^(\S+)\s+[0-9.]+ →\s+[0-9.]+\s+[0-9.]+ →\s+[0-9.]+\s+([0-9.]+)", out, re.M))
    assert set(rows) >= {"backprop", "ebd", "direct-feedback-alignment", "feedback-alignment", "hebbian"}, rows
    assert float(rows["backprop"]) >= 0.6 and all(float(v) > 0.18 for v in rows.values()), rows
    first, last = map(float, re.search(r"^backprop\s+([0-9.]+) →\s+([0-9.]+)", out, re.M).groups())
    assert last < first


def _elephant(out: str) -> None:
    # measured 198-204 Hz, ISI CV 0.31-0.45 (regular firing of driven units)
    rates = _floats(r"mean rate ([0-9.]+) Hz", out)
    cvs = _floats(r"ISI CV ([0-9.]+)", out)
    assert len(rates) == 3 and all(50 < rate < 500 for rate in rates), rates
    assert all(0 < cv < 1 for cv in cvs), cvs


def _nwb(out: str) -> None:
    # whitening error on spikes from 3.0-ish to 0.64 measured; the file holds the spikes
    (error,) = _floats(r"final_whitening_error=([0-9.]+)", out)
    assert error < 1.0, error
    (spikes,) = _floats(r"(\d+) spikes", out)
    assert spikes > 100


def _replay(out: str) -> None:
    assert "spiking == rate trajectory: True" in out
    assert re.search(r"decoded pattern per step: \[1, 2, 3, 4, 1, 2\]", out), out[-500:]


def _natural_images(out: str) -> None:
    # small mode, 8 draws: measured median gain 4.21 dB, 7 of 8 draws improve (see the example)
    (gain,) = _floats(r"median gain ([0-9.-]+) dB", out)
    (improved,) = _floats(r"; ([0-9]+) of 8 draws improve", out)
    assert gain >= 2.5 and improved >= 6, (gain, improved)


def _rule_dynamics(out: str) -> None:
    # quick mode (N = 256, 2 seeds): lazy test-loss gap measured 0.005-0.068 (Hebb largest);
    # rich regime: Hebb's eNTK readout share 0.97, backprop's alignment 0.16 -> 0.60
    gaps = dict(re.findall(r"^\s+(\S+)\s+[0-9.]+ / [0-9.]+\s+gap ([0-9.]+)", out, re.M))
    assert set(gaps) == {"backprop", "feedback-alignment", "direct-feedback-alignment", "hebbian"}, gaps
    assert all(float(g) < 0.15 for g in gaps.values()), gaps
    (hebb,) = re.findall(r"^\s+hebbian\s+[0-9.]+ [0-9.]+ ([0-9.]+)\s+A", out, re.M)
    assert float(hebb) > 0.8, hebb
    start, end = map(float, re.search(r"^\s+backprop\s+[0-9. ]+A ([0-9.]+) → ([0-9.]+)", out, re.M).groups())
    assert end > start + 0.1


def _td_value(out: str) -> None:
    # quick mode (24 seeds, 120 updates): plateau gap simulation/theory measured 0.9-8.4%;
    # value_error after 8 updates measured rate 0.337, spiking 0.338
    gaps = _floats(r"gap ([0-9.]+)%", out)
    assert len(gaps) == 3 and all(g < 15.0 for g in gaps), gaps
    rate = float(re.search(r"rate\s+value_error after \d+ updates: ([0-9.]+)", out).group(1))
    spiking = float(re.search(r"spiking\s+value_error after \d+ updates: ([0-9.]+)", out).group(1))
    assert rate < 0.5 and abs(spiking - rate) < 0.03, (rate, spiking)


def _neurogym(out: str) -> None:
    if "NeuroGym is not available" in out:
        pytest.skip(out.strip())
    # quick mode (2 seeds, 150 updates), chance 0.5: measured e-prop and BPTT 1.00
    after = _floats(r"decision accuracy [0-9.]+ → ([0-9.]+)", out)
    assert len(after) == 2 and all(a >= 0.8 for a in after), after


CHECKS = {
    "compare_rules.py": _compare_rules,
    "compare_rules_error_correlation.py": _error_correlation,
    "elephant_spike_statistics.py": _elephant,
    "predict_adaptation_nwb.py": _nwb,
    "replay_sequence_raster.py": _replay,
    "rule_dynamics_theory.py": _rule_dynamics,
    "separate_natural_images.py": _natural_images,
    "td_value_learning.py": _td_value,
    "neurogym_decision.py": _neurogym,
}


def test_every_example_has_a_check():
    assert {p.name for p in EXAMPLES} <= set(CHECKS), sorted({p.name for p in EXAMPLES} - set(CHECKS))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_at_small_size(script, tmp_path):
    environment = {**os.environ, "BIOPLAUSIBLE_EXAMPLE_QUICK": "1", "MPLBACKEND": "Agg",
                   "PYTHONPATH": os.pathsep.join([str(SOURCE), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    CHECKS[script.name](completed.stdout)
