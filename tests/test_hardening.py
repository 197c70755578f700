"""Hardening: one error path for every bad input (CLI and API), sweeps that verify their
cells, files that respect the umask and never leave partial or overwritten data.

Each test is a finding of issue 11 that failed on 1ae9365. The CLI fuzz test draws
invocations from the argument grammar (valid and invalid names, sizes, seeds, options and
paths): each one runs (exit 0), fails its run (exit 1) or is refused (exit 2), always with at
most one line on stderr and never a traceback. Invocations run in-process with tiny sizes.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bioplausible as bpl
from bioplausible.circuits.base import CIRCUITS
from bioplausible.cli import main
from bioplausible.experiments import sweep as sweep_module
from bioplausible.experiments.probes import Probe
from bioplausible.experiments.results import load_result
from bioplausible.experiments.sweep import cell_path, expand, gather, run_sweep

SMALL = {"n_inputs": 3}
SPEC = {"seeds": 1, "steps": 4, "eval_every": 2,
        "grid": [{"circuits": ["direct-whitening"], "params": {"learning_rate": [0.01, 0.02]},
                  "task_options": {"n_inputs": [3]}}]}


def _cli(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one in-process invocation."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
    return status, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- CLI
def _one_line(stderr: str) -> bool:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return len(lines) <= 1 and "Traceback" not in stderr


CIRCUIT_NAMES = st.sampled_from(["direct-whitening", "gain-whitening", "nsm", "seqnet", "hebbian",
                                 "no-such-circuit", "", "--x"])
TASK_OPTIONS = st.sampled_from([[], ["n_inputs=3"], ["n_inputs=0"], ["n_inputs=abc"], ["bogus=1"], ["n_inputs"],
                                ["n_inputs=[1,2]"], ["n_inputs=3.5"]])
PARAMS = st.sampled_from([[], ["learning_rate=0.01"], ["learning_rate=nan"], ["learning_rate=1e400"],
                          ["learning_rate=-1"], ["learning_rate='x'"], ["bogus=2"], ["=3"], ["learning_rate=0.999"]])
INTEGERS = st.sampled_from([None, "0", "1", "2", "-3", "x", "1.5", str(2**64), ""])


@st.composite
def run_invocations(draw):
    argv = ["run", draw(CIRCUIT_NAMES), "--quick"]
    task = draw(st.sampled_from([None, "adaptation", "sequence", "separation", "classification", "nope"]))
    if task:
        argv += ["--task", task]
    for flag in ("--steps", "--eval-every", "--batch-size", "--seed"):
        value = draw(INTEGERS)
        if value is not None:
            argv += [f"{flag}={value}"]
    if "--steps" not in " ".join(argv):
        argv += ["--steps", "2"]  # keep every valid run tiny
    for option in draw(TASK_OPTIONS):
        argv += ["--task-option", option]
    for param in draw(PARAMS):
        argv += ["--param", param]
    substrate = draw(st.sampled_from([None, "rate", "analog"]))
    if substrate:
        argv += ["--substrate", substrate]
    out = draw(st.sampled_from([None, "file", "under-file", "dir", "deep"]))
    if out:
        argv += ["--out", out]
    if draw(st.booleans()):
        argv += ["--json"]
    return argv


def _place_paths(argv: list[str], root: Path) -> list[str]:
    (root / "plain").write_text("x")
    (root / "folder").mkdir(exist_ok=True)
    where = {"file": root / "r.nc", "under-file": root / "plain" / "r.nc", "dir": root / "folder",
             "deep": root / "a" / "b" / "r.nc"}
    return [str(where[a]) if a in where and i and argv[i - 1] == "--out" else a for i, a in enumerate(argv)]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(argv=st.one_of(run_invocations(), st.lists(st.sampled_from(
    ["list", "run", "sweep", "export", "compare", "--seeds", "0", "--bogus", "-q", "--family", "nope", "x.toml"]),
    min_size=0, max_size=4)))
def test_cli_fuzz_every_invocation_runs_or_exits_with_one_line(argv, tmp_path_factory):
    argv = _place_paths(argv, tmp_path_factory.mktemp("cli"))
    status, _, stderr = _cli(argv)
    assert status in (0, 1, 2), (argv, status, stderr)
    assert _one_line(stderr), (argv, stderr)
    if status:
        assert stderr.strip(), argv


def test_cli_divergence_prints_step_and_quantity_and_exits_1():
    status, _, stderr = _cli(["run", "direct-whitening", "--task-option", "n_inputs=3", "--param",
                              "learning_rate=0.999", "--steps", "400"])
    assert status == 1 and _one_line(stderr)
    assert "diverged" in stderr and "at step" in stderr


def test_cli_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="unknown circuit"):
        main(["--debug", "run", "no-such-circuit"])


@pytest.mark.parametrize("argv, names", [
    (["run", "direct-whitening", "--steps", "0"], "--steps"),
    (["run", "direct-whitening", "--seed", str(2**64)], "--seed"),
    (["run", "direct-whitening", "--seed", "-1"], "--seed"),
    (["run", "gain-whitening", "--task", "sequence"], "sequence"),
    (["run", "backprop", "--task", "adaptation"], "adaptation"),
    (["run", "direct-whitening", "--substrate", "analog"], "--substrate"),
    (["compare", "--family", "nope"], "--family"),
    (["compare", "--seeds", "0"], "--seeds"),
])
def test_cli_bad_arguments_are_refused_before_any_work(argv, names, monkeypatch):
    import bioplausible.experiments.compare as compare
    import bioplausible.experiments.run as running

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(running, "run", no_work)
    monkeypatch.setattr(compare, "default_comparison", no_work)
    status, _, stderr = _cli(argv)
    assert status == 2 and _one_line(stderr) and names in stderr, stderr


def test_cli_out_problems_are_found_before_the_run(tmp_path, monkeypatch):
    import bioplausible.experiments.run as running

    monkeypatch.setattr(running, "run", lambda *a, **k: pytest.fail("the run started"))
    (tmp_path / "plain").write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        for out in (tmp_path / "plain" / "r.nc", tmp_path / "plain" / "a" / "r.nc", tmp_path, locked / "r.nc"):
            if out.parent == locked and os.access(locked, os.W_OK):  # running as root
                continue
            status, _, stderr = _cli(["run", "direct-whitening", "--out", str(out)])
            assert status == 2 and "--out" in stderr and _one_line(stderr), (out, stderr)
    finally:
        locked.chmod(0o700)


def test_cli_stale_temporaries_beside_out_are_removed_and_no_hidden_folder_is_left(tmp_path):
    stale = tmp_path / ".r.abc123.tmp.nc"
    stale.write_bytes(b"\0" * 10)
    status, _, _ = _cli(["run", "direct-whitening", "--task-option", "n_inputs=3", "--steps", "2", "--out",
                         str(tmp_path / "r.nc"), "-q"])
    assert status == 0 and not stale.exists() and (tmp_path / "r.nc").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]


# ----------------------------------------------------------------------------- API
BAD_ARRAYS = [
    (lambda shape: np.full(shape, np.nan), ValueError, "finite"),
    (lambda shape: np.full(shape, np.inf), ValueError, "finite"),
    (lambda shape: np.ones(shape) + 1j, TypeError, "complex"),
    (lambda shape: np.ones(shape).astype(object), TypeError, "object"),
    (lambda shape: np.full(shape, "a"), TypeError, "string"),
    (lambda shape: [[1.0, 2.0], [1.0]], TypeError, "rectangular"),
]


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_respond_and_learn_refuse_nan_complex_and_object_arrays(name):
    cls = CIRCUITS[name]
    task = bpl.tasks.TASKS[cls.default_task](**bpl.tasks.TASKS[cls.default_task].quick_options).reset(seed=0)
    forwarded = {k: v for k, v in task.circuit_options().items() if k in getattr(cls, "task_keys", ())}
    circuit = cls(**forwarded, **cls.quick_params).initialize(task.n_inputs, task.n_targets)
    batch = task.next_batch(2)
    good = circuit.respond(batch.inputs)
    for make, kind, word in BAD_ARRAYS:
        with pytest.raises(kind, match=f"inputs.*{word}"):
            circuit.respond(make(batch.inputs.shape))
        population = next(iter(good))
        bad = {**good, population: make(good[population].shape)}
        targets = None if batch.targets is None else batch.targets[None]
        stacked = (bpl.core.TrialBatch(batch.inputs[None], targets, dt=batch.dt)  # trials in time
                   if isinstance(batch, bpl.core.TrialBatch) else bpl.circuits.base.Batch(batch.inputs[None], targets))
        with pytest.raises(kind, match=f"activities.*{word}"):
            circuit.learn(bad, stacked)


def test_covariances_must_be_real():
    with pytest.raises(TypeError, match="complex"):
        bpl.tasks.StatisticalAdaptation(n_inputs=2, covariances=[np.eye(2) * (1 + 1j)] * 2)


def test_load_state_dict_checks_names_shapes_and_finiteness():
    circuit = bpl.circuits.DirectWhitening().initialize(3, 0, [0])
    state = circuit.state_dict()
    name = next(iter(state["state"]))
    for change, match in ((np.zeros((1, 5, 5)), "shape"), (np.full_like(state["state"][name], np.nan), "finite"),
                          (state["state"][name] * 1j, "complex")):
        bad = {**state, "state": {**state["state"], name: change}}
        with pytest.raises((ValueError, TypeError), match=match):
            bpl.circuits.DirectWhitening().initialize(3, 0, [0]).load_state_dict(bad)
    with pytest.raises(TypeError, match="state"):
        circuit.load_state_dict([1, 2])
    with pytest.raises(ValueError, match="steps"):
        circuit.load_state_dict({**state, "steps": -1})


def test_load_result_names_what_a_file_is_not(tmp_path):
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(ValueError, match="not a bioplausible result"):
        load_result(foreign)
    (tmp_path / "text.nc").write_text("hello")
    with pytest.raises(ValueError, match="not a readable netCDF4/HDF5"):
        load_result(tmp_path / "text.nc")
    status, _, stderr = _cli(["export", str(foreign), "--nwb", str(tmp_path / "x.nwb")])
    assert status == 2 and _one_line(stderr)


def test_run_checks_seeds_and_pairing_before_any_work():
    task = bpl.tasks.StatisticalAdaptation(**SMALL)
    with pytest.raises(ValueError, match="seed"):
        bpl.run(bpl.circuits.DirectWhitening(), task, seed=2**64, steps=1, progress=False)
    circuit = bpl.circuits.GainWhitening()
    with pytest.raises(ValueError, match="task 'sequence'"):
        bpl.run(circuit, bpl.tasks.TASKS["sequence"](), steps=1, progress=False)
    assert not circuit.initialized


# ----------------------------------------------------------------------------- sweeps
def test_a_damaged_or_foreign_cell_is_recomputed_and_gather_reads_only_cells(tmp_path):
    cells = expand(SPEC)
    assert run_sweep(SPEC, tmp_path, progress=False)["ran"] == 2
    first, second = (cell_path(tmp_path, c["key"]) for c in cells)
    first.write_bytes(first.read_bytes()[:200])  # truncated, as a killed writer leaves it
    second.write_bytes(b"")
    hidden = tmp_path / "cells" / f".{cells[0]['key']}.x1.tmp.nc"
    hidden.write_bytes(b"\0" * 50)
    with pytest.warns(UserWarning, match="unreadable"), pytest.raises(FileNotFoundError, match="no finished cells"):
        gather(tmp_path)  # damaged cells skipped with a warning, temporary files never read
    report = run_sweep(SPEC, tmp_path, progress=False)
    assert report == {"cells": 2, "skipped": 0, "ran": 2, "failed": []}
    assert not hidden.exists()
    assert len(gather(tmp_path)["key"].unique()) == 2
    # a cell file holding another configuration does not count as this cell
    first.write_bytes(second.read_bytes())
    assert run_sweep(SPEC, tmp_path, progress=False) == {"cells": 2, "skipped": 1, "ran": 1, "failed": []}


def test_cells_from_other_code_rerun_unless_kept(tmp_path, monkeypatch):
    assert run_sweep(SPEC, tmp_path, progress=False)["ran"] == 2
    monkeypatch.setattr(sweep_module, "_FINGERPRINT", "0" * 16)  # as if the code changed
    assert run_sweep(SPEC, tmp_path, progress=False, keep_old_cells=True)["skipped"] == 2
    assert run_sweep(SPEC, tmp_path, progress=False) == {"cells": 2, "skipped": 0, "ran": 2, "failed": []}
    stored = load_result(cell_path(tmp_path, expand(SPEC)[0]["key"])).dataset.attrs["sweep_code"]
    assert stored == "0" * 16


def test_sweep_file_out_stays_inside_its_folder_and_nothing_hidden_beside_out(tmp_path):
    path = tmp_path / "sweep.toml"
    body = 'seeds = 1\nsteps = 2\n[[grid]]\ncircuits = ["direct-whitening"]\ntask_options = { n_inputs = 3 }\n'
    for out in ("../escaped", "/tmp/escaped-abs", "a/../../escaped"):
        path.write_text(f'out = "{out}"\n' + body)
        status, _, stderr = _cli(["sweep", str(path)])
        assert status == 2 and "out must be a relative folder" in stderr and _one_line(stderr)
    path.write_text('out = "results"\n' + body)
    status, _, _ = _cli(["sweep", str(path), "-q"])
    assert status == 0 and (tmp_path / "results" / "results.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not [p for p in (tmp_path / "results").iterdir() if p.name.startswith(".")]


WORKER_MODULE = textwrap.dedent("""
    import os, time
    def slow_cell(cell, out):
        open(os.path.join(out, f"worker-{os.getpid()}"), "w").close()
        time.sleep(600)
""")
PARENT = textwrap.dedent("""
    import sys
    from bioplausible.experiments.sweep import run_sweep
    from slow_worker import slow_cell
    if __name__ == "__main__":
        spec = {"seeds": 2, "steps": 2,
                "grid": [{"circuits": ["direct-whitening"], "task_options": {"n_inputs": [3]}}]}
        run_sweep(spec, sys.argv[1], "processes", workers=1, progress=False, runner=slow_cell)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_killing_a_processes_sweep_ends_its_workers(tmp_path):
    (tmp_path / "slow_worker.py").write_text(WORKER_MODULE)
    (tmp_path / "parent.py").write_text(PARENT)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(bpl.__file__).parents[1])])}
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py"), str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        workers: list[int] = []
        for _ in range(1200):  # wait (outcome, not time) until the worker runs a cell
            workers = [int(p.name.split("-")[1]) for p in out.glob("worker-*")] if out.exists() else []
            if workers or parent.poll() is not None:
                break
            time.sleep(0.1)
        assert len(workers) == 1, parent.stdout.read().decode()[-2000:] if parent.poll() is not None else workers
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(300):
            if not any(_alive(pid) for pid in workers):
                break
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "pool workers outlived the killed sweep"
        parent.stdout.read()  # nobody holds the pipe open: reading ends (no hang)
    finally:
        parent.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- files
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_are_created_with_the_users_umask(tmp_path, umask, mode):
    result = bpl.run(bpl.circuits.DirectWhitening(), bpl.tasks.StatisticalAdaptation(**SMALL), steps=2,
                     progress=False, probes=[Probe(spill=tmp_path / f"spill{umask}.nc", chunk=1)])
    old = os.umask(umask)
    try:
        saved = result.save(tmp_path / f"r{umask}.nc")
        spilled = bpl.run(bpl.circuits.DirectWhitening(), bpl.tasks.StatisticalAdaptation(**SMALL), steps=2,
                          progress=False, probes=[Probe(spill=tmp_path / f"s{umask}.nc", chunk=1)])
    finally:
        os.umask(old)
    assert saved.stat().st_mode & 0o777 == mode
    assert Path(spilled.dataset.attrs["trace_spill"]).stat().st_mode & 0o777 == mode


def test_spill_refuses_to_overwrite_and_a_failed_run_leaves_no_spill(tmp_path):
    spill = tmp_path / "trace.nc"
    spill.write_text("precious")
    task = bpl.tasks.StatisticalAdaptation(**SMALL)
    with pytest.raises(ValueError, match="spill.*exists"):
        bpl.run(bpl.circuits.DirectWhitening(), task, steps=2, progress=False, probes=[Probe(spill=spill)])
    assert spill.read_text() == "precious"
    bpl.run(bpl.circuits.DirectWhitening(), task, steps=2, progress=False,
            probes=[Probe(spill=spill, overwrite=True, chunk=1)])
    assert spill.read_bytes()[:4] == b"\x89HDF"
    other = tmp_path / "diverged.nc"
    with pytest.raises(bpl.errors.DivergenceError):
        bpl.run(bpl.circuits.DirectWhitening(learning_rate=0.999), task, steps=40, eval_every=40,
                progress=False, probes=[Probe(spill=other, chunk=1)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.nc"]


def test_saving_with_a_spilling_probe_streams_from_disk(tmp_path):
    import tracemalloc

    # Wide traces (24 units): the in-memory index coordinates (16 bytes a step, copied while
    # encoding) and a constant ~0.4 MB of library overhead stay far below the streamed data
    # (~1.5 kB a step), so the bound tests streaming, not the machine's allocator.
    task = bpl.tasks.StatisticalAdaptation(n_inputs=24)
    result = bpl.run(bpl.circuits.DirectWhitening(), task, seeds=[0, 1, 2, 3], steps=3000, eval_every=3000,
                     progress=False, probes=[Probe(samples=None, chunk=256, spill=tmp_path / "spill.nc")])
    trace_bytes = sum(result.dataset[name].nbytes for name in result.dataset.data_vars
                      if str(name).startswith("trace_"))
    result.save(tmp_path / "warm.nc")
    tracemalloc.start()
    result.save(tmp_path / "result.nc")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.35 * trace_bytes, (peak, trace_bytes)
    saved = load_result(tmp_path / "result.nc").traces
    assert set(saved.data_vars) == set(result.traces.data_vars)
    for name in saved.data_vars:
        np.testing.assert_array_equal(saved[name].values, result.traces[name].values)


# ----------------------------------------------------------------------------- data
class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_cifar10_refuses_to_unpickle_files_that_are_not_the_published_ones(tmp_path):
    from bioplausible.tasks.datasets import cifar10

    marker = tmp_path / "code-ran"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": _Payload(str(marker)), b"labels": [0]}))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        cifar10(folder)
    assert not marker.exists()



# ----------------------------------------------------------------------------- divergence step
def test_fused_stream_reports_the_exact_divergence_step():
    pytest.importorskip("numba")
    task_cls = bpl.tasks.TASKS["separation"]
    steps = {}
    for mode in ("reference", "numba"):
        task = task_cls(**task_cls.quick_options)
        circuit = bpl.circuits.CorInfoMax(**{**bpl.circuits.CorInfoMax.quick_params, "learning_rate": 50.0,
                                             "max_iterations": 20, "fast_path": mode})
        with pytest.raises(bpl.errors.DivergenceError) as error:
            bpl.run(circuit, task, steps=300, eval_every=300, progress=False)
        steps[mode] = (error.value.step, error.value.quantity)
    assert steps["numba"] == steps["reference"] and steps["numba"][0] < 300, steps


@pytest.mark.parametrize("name", ["direct-whitening", "gain-whitening"])
def test_positive_definiteness_is_checked_in_blocks_without_losing_the_exact_step(name):
    found = set()
    for eval_every in (1, 7, 400):
        with pytest.raises(bpl.errors.DivergenceError) as error:
            bpl.run(CIRCUITS[name](learning_rate=0.3), bpl.tasks.StatisticalAdaptation(**SMALL), steps=400,
                    eval_every=eval_every, progress=False)
        found.add((error.value.step, error.value.quantity, error.value.detail))
    assert len(found) == 1, found


# ----------------------------------------------------------------------------- resume
def _resume_from_file_is_bitwise(name: str, tmp_path: Path, updates: int) -> None:
    cls = CIRCUITS[name]
    task_cls = bpl.tasks.TASKS[cls.default_task]
    task = task_cls(**task_cls.quick_options)
    whole = bpl.run(cls(**cls.quick_params), task, seed=5, steps=2 * updates, eval_every=updates, progress=False)
    first = bpl.run(cls(**cls.quick_params), task, seed=5, steps=updates, eval_every=updates, progress=False)
    loaded = load_result(first.save(tmp_path / f"{name}.nc"))
    state = loaded.final_state()
    # a Fortran-ordered copy of every array: the layout must not change a single bit
    state["state"] = {key: np.asfortranarray(value) for key, value in state["state"].items()}
    second = bpl.run(cls(**cls.quick_params).load_state_dict(state), task, seed=5, steps=updates,
                     eval_every=updates, progress=False)
    for key, value in second.final_state()["state"].items():
        np.testing.assert_array_equal(value, whole.final_state()["state"][key], err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", ["nsm", "direct-whitening", "seqnet", "hebbian"])
def test_resume_from_a_saved_result_is_bitwise(name, tmp_path):
    _resume_from_file_is_bitwise(name, tmp_path, 4)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_resume_from_a_saved_result_is_bitwise_for_every_circuit(name, tmp_path):
    # sequence circuits: one pass over the quick task's 10 transitions (a second pass would
    # store each pattern again, which the pseudoinverse rule refuses as ill-conditioned)
    _resume_from_file_is_bitwise(name, tmp_path, 5 if CIRCUITS[name].family == "sequence" else 40)
