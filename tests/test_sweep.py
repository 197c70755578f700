"""Sweeps: cell keys, resume, a worker killed mid-cell, gathering."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from bioplausible.cli import main
from bioplausible.experiments.sweep import cell_path, expand, final_dataset, gather, load_spec, run_cell, run_sweep

SPEC = {
    "seeds": 2, "steps": 40, "eval_every": 20,
    "grid": [{"circuits": ["direct-whitening", "interneuron-whitening"],
              "params": {"learning_rate": [0.01, 0.03]}, "task_options": {"n_inputs": [3]}}],
}


def test_expand_spawns_seeds_and_keys_cells_by_their_config():
    cells = expand(SPEC)
    assert len(cells) == 2 * 2 * 2
    assert len({c["key"] for c in cells}) == len(cells)
    children = np.random.SeedSequence(0).spawn(2)
    assert sorted({c["seed"] for c in cells}) == sorted(int(c.generate_state(1, np.uint32)[0]) for c in children)
    assert [c["key"] for c in expand(SPEC)] == [c["key"] for c in cells]  # stable
    changed = expand({**SPEC, "steps": 41})
    assert not {c["key"] for c in changed} & {c["key"] for c in cells}


@pytest.mark.parametrize("spec, message", [
    ({"grid": [{"circuits": ["no-such-circuit"]}]}, "grid.circuits"),
    ({"grid": [{"circuits": ["direct-whitening"], "params": {"learning_rate": [5.0]}}]}, "learning_rate"),
    ({"seeds": 0, "grid": [{"circuits": ["direct-whitening"]}]}, "seeds"),
    ({"grid": []}, "grid"),
    ({"colour": 1, "grid": [{"circuits": ["direct-whitening"]}]}, "colour"),
    ({"substrates": ["analog"], "grid": [{"circuits": ["direct-whitening"]}]}, "substrates"),
])
def test_invalid_specs_are_named(spec, message):
    with pytest.raises((ValueError, TypeError), match=message):
        expand(spec)


def test_serial_sweep_writes_cells_and_rerun_skips_them(tmp_path):
    first = run_sweep(SPEC, tmp_path, progress=False)
    assert first == {"cells": 8, "skipped": 0, "ran": 8, "failed": []}
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cells").glob("*.nc")}
    assert len(stamps) == 8
    victim = next(iter(stamps))
    victim.unlink()  # a lost cell runs again, the others are skipped
    second = run_sweep(SPEC, tmp_path, progress=False)
    assert second == {"cells": 8, "skipped": 7, "ran": 1, "failed": []}
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p != victim)
    frame = gather(tmp_path)
    assert set(frame["param_learning_rate"]) == {0.01, 0.03}
    final = final_dataset(frame)
    assert final["whitening_error"].sizes["param_learning_rate"] == 2
    assert np.isfinite(final["whitening_error"].values).all()


def test_a_cell_equals_the_same_run_outside_the_sweep(tmp_path):
    import bioplausible as bpl

    cell = expand(SPEC)[0]
    result = bpl.load_result(run_cell(cell, str(tmp_path)))
    direct = bpl.run(bpl.circuits.DirectWhitening(**cell["params"]), bpl.tasks.StatisticalAdaptation(
        **cell["task_options"]), seed=cell["seed"], steps=40, eval_every=20, progress=False)
    np.testing.assert_array_equal(result.dataset["metric_whitening_error"], direct.dataset["metric_whitening_error"])


def _fail(cell, out):
    raise FloatingPointError("diverged")


def test_failed_cells_are_reported_and_retried(tmp_path):
    spec = {"steps": 5, "grid": [{"circuits": ["direct-whitening"]}]}
    key = expand(spec)[0]["key"]
    report = run_sweep(spec, tmp_path, progress=False, runner=_fail)
    assert report["failed"] == [key] and report["ran"] == 0
    failure = json.loads((tmp_path / "cells" / f"{key}.failed.json").read_text())
    assert failure["error"].startswith("FloatingPointError: diverged")
    assert run_sweep(spec, tmp_path, progress=False) == {"cells": 1, "skipped": 0, "ran": 1, "failed": []}
    assert not (tmp_path / "cells" / f"{key}.failed.json").exists()


def _kill_once(cell, out, victim):
    """Cell runner for the test: the first attempt at cell ``victim`` SIGKILLs its own worker mid-cell."""
    marker = Path(out) / f"attempted-{cell['key']}"
    if cell["key"] == victim and not marker.exists():
        marker.write_text(str(os.getpid()))
        # leave a partial temporary file, as a crash during the write would
        (Path(out) / "cells" / f".{cell['key']}.nc.partial.tmp").write_bytes(b"\0" * 100)
        os.kill(os.getpid(), signal.SIGKILL)
    return run_cell(cell, out)


cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_dask_worker_killed_mid_cell_loses_nothing(tmp_path):
    pytest.importorskip("distributed")
    spec = {**SPEC, "seeds": 1, "grid": [{**SPEC["grid"][0], "circuits": ["direct-whitening"]}]}
    cells = expand(spec)
    victim = cells[0]["key"]
    report = run_sweep(spec, tmp_path, "dask", workers=2, progress=False,
                       runner=functools.partial(_kill_once, victim=victim))
    assert report["failed"] == [] and report["ran"] == len(cells) == 2
    assert all(cell_path(tmp_path, c["key"]).exists() for c in cells)
    assert (tmp_path / f"attempted-{victim}").exists()  # the victim's first attempt was killed
    assert len(gather(tmp_path)["key"].unique()) == 2
    assert run_sweep(spec, tmp_path, "serial", progress=False)["skipped"] == 2
    assert not list((tmp_path / "cells").glob(".*"))  # the partial temporary file was removed


def test_cli_sweep(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text('seeds = 1\nsteps = 20\n[[grid]]\ncircuits = ["direct-whitening"]\n'
                    'params = { learning_rate = [0.01, 0.02] }\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "2 cells: 0 already done, 2 ran" in capsys.readouterr().out
    assert (tmp_path / "out" / "results.csv").exists() and (tmp_path / "out" / "final.nc").exists()
    assert load_spec(path)["seeds"] == 1
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "2 already done" in capsys.readouterr().out
