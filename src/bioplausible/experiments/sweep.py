"""Sweeps: a grid of circuits × parameters × tasks × substrates × seeds, one result file per cell.

A sweep file (TOML)::

    seeds = 3                 # seeds spawned from root_seed with SeedSequence.spawn
    root_seed = 0
    substrates = ["rate"]     # any registered substrates
    quick = true              # start from the tasks' quick_options / circuits' quick_params
    steps = 400               # optional (default: the task's quick_steps or default_steps)
    eval_every = 20           # optional

    [[grid]]                  # one or more blocks; the sweep is their union
    circuits = ["direct-whitening", "interneuron-whitening"]
    tasks = ["adaptation"]    # optional: each circuit's default task
    params = { learning_rate = [0.01, 0.03] }       # lists of values: the product is swept
    task_options = { n_inputs = [3, 4] }
    substrate_options = { spiking = { presentation = 0.05 } }   # fixed per substrate

Every cell (one circuit, parameter set, task, task options, substrate and seed) is keyed by
the SHA-256 of its full configuration and written, when it finishes, to
``<out>/cells/<key>.nc`` by an atomic rename. A cell counts as done only if its file loads
and the configuration stored in it equals the one wanted, code fingerprint included (a hash
of the package's source, :func:`code_fingerprint`): a damaged file, or a cell computed by
other code, runs again (``keep_old_cells=True``, ``--keep-old-cells``, keeps cells from
other code on purpose). Temporary files a killed writer left in ``cells/`` are removed when
a sweep starts, and :func:`gather` reads only cell files. So a sweep interrupted anywhere (or
a worker killed mid-cell) loses at most the cells that were running, and they run again. A
cell that raises (e.g. a ``DivergenceError`` at a large learning rate) leaves
``<key>.failed.json`` with the error and is retried on the next run.

The sweep file's own ``out`` is a relative path inside the sweep file's folder (a file from
someone else cannot make a sweep write elsewhere); ``--out`` on the command line may be any
folder.

Executors: ``"serial"``; ``"processes"`` (a local process pool whose workers exit when the
sweep's process dies, however it dies); ``"dask"``: dask.distributed,
on a ``LocalCluster`` by default or on a running scheduler given by ``address``. The dask
scheduler reschedules the cells of a worker that dies (up to its ``allowed-failures``).
On a SLURM cluster, start workers with dask-jobqueue and point the sweep at them::

    # python, on the login node
    from dask_jobqueue import SLURMCluster
    from distributed import Client
    from bioplausible.experiments.sweep import load_spec, run_sweep

    cluster = SLURMCluster(cores=1, processes=1, memory="4GB", walltime="02:00:00")
    cluster.scale(jobs=50)                      # 50 single-core workers
    run_sweep(load_spec("sweep.toml"), "sweep-out", executor="dask", client=Client(cluster))

    # or from the shell, with a scheduler already running (e.g. cluster.scheduler_address):
    #   bioplausible sweep sweep.toml --executor dask --address tcp://10.0.0.5:8786

The output folder must be on a file system every worker can write (the cells are written by
the workers). :func:`gather` reads the finished cells into one tidy DataFrame and
:func:`final_dataset` turns its final values into an ``xarray.Dataset`` over the grid.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from ..circuits.base import CIRCUITS, make_circuit
from ..substrates.base import SUBSTRATES
from ..tasks.base import TASKS, make_task
from ..validation import check_bool, check_choice, check_integer, check_output_dir, check_seed
from .results import load_result, write_atomically
from .run import run

__all__ = ["load_spec", "spec_output", "expand", "cell_key", "cell_done", "code_fingerprint", "run_cell",
           "run_sweep", "gather", "final_dataset", "EXECUTORS"]

EXECUTORS = ("serial", "processes", "dask")
_TOP_LEVEL = {"seeds", "root_seed", "substrates", "quick", "steps", "eval_every", "batch_size", "grid", "out"}
_GRID_KEYS = {"circuits", "tasks", "params", "task_options", "substrate_options"}

CellRunner = Callable[[dict[str, Any], str], str]


def spec_output(spec: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """The output folder a sweep file asks for: its ``out`` (relative, resolved inside the
    sweep file's folder), else ``<file stem>-results`` beside the file's name in the working
    directory."""
    out = spec.get("out")
    if out is None:
        return Path(Path(path).with_suffix("").name + "-results")
    if not isinstance(out, str) or not out.strip():
        raise TypeError(f"out must be a folder name, got {out!r}")
    folder = Path(path).resolve().parent
    target = (folder / out).resolve()
    if Path(out).is_absolute() or not target.is_relative_to(folder):
        raise ValueError(f"out must be a relative folder inside the sweep file's folder {folder}, got {out!r} "
                         "(use --out to write elsewhere)")
    return target


def code_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the package version and every source file of the
    installed package: a cell computed by other code does not count as done."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        from .. import __version__

        root = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256(__version__.encode())
        for source in sorted(root.rglob("*.py")):
            digest.update(str(source.relative_to(root)).encode())
            digest.update(source.read_bytes())
        _FINGERPRINT = digest.hexdigest()[:16]
    return _FINGERPRINT


_FINGERPRINT: str | None = None


def cell_done(cell: Mapping[str, Any], out: str | os.PathLike[str], keep_old_cells: bool = False) -> bool:
    """Whether ``cell``'s file loads and holds this configuration (and, unless
    ``keep_old_cells``, was computed by this code)."""
    path = cell_path(out, cell["key"])
    if not path.is_file():
        return False
    try:
        attrs = load_result(path).dataset.attrs  # loads every variable: a truncated file fails here
        stored = json.loads(attrs["sweep_cell"])
    except Exception:  # unreadable, truncated, not ours: recompute
        return False
    if stored != json.loads(json.dumps(dict(cell), default=str)):
        return False
    return keep_old_cells or attrs.get("sweep_code") == code_fingerprint()


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sweep file (TOML) and check its keys."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no sweep file at {path}")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    with path.open("rb") as handle:
        try:
            spec = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: not valid TOML: {error}") from None
    return spec


def expand(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All cells of a sweep spec, each a full, JSON-serialisable run configuration (with ``key``)."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a mapping (a parsed sweep file), got {type(spec).__name__}")
    unknown = set(spec) - _TOP_LEVEL
    if unknown:
        raise ValueError(f"sweep: unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_LEVEL)}")
    seeds = _seeds(spec.get("seeds", 1), spec.get("root_seed", 0))
    substrates = spec.get("substrates", ["rate"])
    if isinstance(substrates, str) or not isinstance(substrates, list) or not substrates:
        raise TypeError(f"substrates must be a non-empty list of names, got {substrates!r}")
    for substrate in substrates:
        check_choice("substrates", substrate, sorted(SUBSTRATES))
    quick = spec.get("quick", True)
    if not isinstance(quick, bool):
        raise TypeError(f"quick must be true or false, got {quick!r}")
    run_options = {k: check_integer(k, spec[k], 1) for k in ("steps", "eval_every", "batch_size") if k in spec}
    grids = spec.get("grid")
    if isinstance(grids, Mapping):
        grids = [grids]
    if not isinstance(grids, list) or not grids:
        raise ValueError("sweep: needs at least one [[grid]] block with 'circuits'")
    cells: dict[str, dict[str, Any]] = {}
    for grid in grids:
        for cell in _expand_grid(grid, seeds, substrates, quick, run_options):
            cells.setdefault(cell["key"], cell)
    return list(cells.values())


def cell_key(cell: Mapping[str, Any]) -> str:
    """SHA-256 (first 20 hex digits) of the cell's configuration, without its ``key``."""
    config = {k: v for k, v in cell.items() if k != "key"}
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cell_path(out: str | os.PathLike[str], key: str) -> Path:
    return Path(out) / "cells" / f"{key}.nc"


def run_cell(cell: Mapping[str, Any], out: str, keep_old_cells: bool = False) -> str:
    """Run one cell and write its result atomically; a finished cell (see :func:`cell_done`)
    is not run again."""
    path = cell_path(out, cell["key"])
    if cell_done(cell, out, keep_old_cells):
        return str(path)
    task = make_task(cell["task"], **cell["task_options"])
    circuit = make_circuit(cell["circuit"], **cell["params"])
    result = run(circuit, task, cell["substrate"], seed=cell["seed"], progress=False,
                 substrate_options=cell["substrate_options"], **cell["run_options"])
    result.dataset.attrs["sweep_cell"] = json.dumps(dict(cell), default=str)
    result.dataset.attrs["sweep_code"] = code_fingerprint()
    result.save(path)
    return str(path)


def run_sweep(
    spec: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    out: str | os.PathLike[str],
    executor: str = "serial",
    *,
    workers: int | None = None,
    address: str | None = None,
    client: Any = None,
    progress: bool = True,
    runner: CellRunner = run_cell,
    keep_old_cells: bool = False,
) -> dict[str, Any]:
    """Run every unfinished cell of ``spec`` (a parsed sweep file, or cells from :func:`expand`).

    Returns ``{"cells": n, "skipped": already finished, "ran": finished now, "failed": [keys]}``.
    ``workers`` sizes the process pool or the LocalCluster (default: the CPU count);
    ``address``/``client`` use a running dask scheduler instead of a LocalCluster.
    A cell is finished when :func:`cell_done`; ``keep_old_cells`` keeps cells that other code
    computed. Temporary files left in ``cells/`` by killed writers are removed first.
    """
    check_choice("executor", executor, EXECUTORS)
    if workers is not None:
        workers = check_integer("workers", workers, 1)
    if (address is not None or client is not None) and executor != "dask":
        raise ValueError("address and client need executor='dask'")
    check_bool("keep_old_cells", keep_old_cells)
    cells = expand(spec) if isinstance(spec, Mapping) else [dict(c) for c in spec]
    out = check_output_dir("out", out)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    for stray in (out / "cells").iterdir():
        if stray.name.startswith(".") and stray.is_file():
            stray.unlink(missing_ok=True)
    _atomic_text(out / "sweep.json", json.dumps({"spec": spec if isinstance(spec, Mapping) else None,
                                                 "cells": cells}, indent=1, default=str))
    pending = [c for c in cells if not cell_done(c, out, keep_old_cells)]
    if keep_old_cells and runner is run_cell:
        runner = functools.partial(run_cell, keep_old_cells=True)
    report: dict[str, Any] = {"cells": len(cells), "skipped": len(cells) - len(pending), "ran": 0, "failed": []}
    bar = tqdm(total=len(pending), disable=not progress, desc="sweep", unit="cell")
    for cell, error in _execute(pending, str(out), executor, workers, address, client, runner):
        failure = out / "cells" / f"{cell['key']}.failed.json"
        if error is None:
            report["ran"] += 1
            failure.unlink(missing_ok=True)
        else:
            report["failed"].append(cell["key"])
            _atomic_text(failure, json.dumps({"cell": cell, "error": error}, indent=1, default=str))
        bar.update(1)
    bar.close()
    return report


def gather(out: str | os.PathLike[str]) -> pd.DataFrame:
    """The finished cells of a sweep as one tidy DataFrame: the columns of
    :func:`bioplausible.compare` plus ``key``, ``param_<name>`` and ``task_<option>``."""
    frames = []
    for path in sorted((Path(out) / "cells").glob("*.nc")):
        if not _CELL_NAME.fullmatch(path.name):  # temporary files, anything not a cell
            continue
        try:
            result = load_result(path)
        except (OSError, ValueError) as error:
            warnings.warn(f"gather: skipped unreadable cell {path} ({error}); a sweep run recomputes it",
                          stacklevel=2)
            continue
        cell = json.loads(result.dataset.attrs["sweep_cell"])
        frame = result.to_dataframe()
        columns = {"key": cell["key"], "circuit": cell["circuit"], "family": CIRCUITS[cell["circuit"]].family
                   if cell["circuit"] in CIRCUITS else "", "task": cell["task"], "substrate": cell["substrate"],
                   "seed_index": cell["seed_index"],
                   **{f"param_{k}": _scalar(v) for k, v in cell["swept_params"].items()},
                   **{f"task_{k}": _scalar(v) for k, v in cell["swept_task_options"].items()}}
        for position, (name, value) in enumerate(columns.items()):
            frame.insert(position, name, value)
        frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no finished cells under {Path(out) / 'cells'}")
    return pd.concat(frames, ignore_index=True)


def final_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """Final value of every metric (last step, or the summary) as an ``xarray.Dataset`` over
    the grid: one dimension per swept column (circuit, task, substrate, seed_index,
    ``param_*``, ``task_*``), one variable per metric; NaN where the grid has no cell."""
    last = frame.groupby(["key", "metric"])["step"].transform("max")
    final = frame[frame["step"].isna() | (frame["step"] == last)]
    dims = ["circuit", "task", "substrate", "seed_index",
            *[c for c in frame.columns if c.startswith(("param_", "task_"))]]
    table = final.pivot_table(index=dims, columns="metric", values="value", aggfunc="first", dropna=False)
    table.columns.name = None
    return xr.Dataset.from_dataframe(table)


# ----------------------------------------------------------------------------- helpers
def _execute(cells: list[dict[str, Any]], out: str, executor: str, workers: int | None, address: str | None,
             client: Any, runner: CellRunner) -> Iterable[tuple[dict[str, Any], str | None]]:
    """Yield (cell, error message or None) as cells finish."""
    if executor == "serial" or not cells:
        for cell in cells:
            yield cell, _call(runner, cell, out)
    elif executor == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        before = set(multiprocessing.active_children())
        pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context,
                                   initializer=_orphan_guard, initargs=(os.getpid(),))
        try:
            futures = {pool.submit(_call, runner, cell, out): cell for cell in cells}
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:  # interrupted (Ctrl-C, a closed generator): end the workers now
            pool.shutdown(wait=False, cancel_futures=True)
            for child in set(multiprocessing.active_children()) - before:
                child.terminate()
            raise
        else:
            pool.shutdown(wait=True)
    else:
        yield from _execute_dask(cells, out, workers, address, client, runner)


def _execute_dask(cells: list[dict[str, Any]], out: str, workers: int | None, address: str | None,
                  client: Any, runner: CellRunner) -> Iterable[tuple[dict[str, Any], str | None]]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if client is None:
        if address is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(address or cluster)
        own_client = True
    else:
        own_client = False
    try:
        futures = {client.submit(_call, runner, cell, out, key=f"bioplausible-cell-{cell['key']}", pure=False): cell
                   for cell in cells}
        for future in as_completed(futures):
            try:
                error = future.result()
            except Exception as failure:  # e.g. KilledWorker after repeated worker deaths
                error = f"{type(failure).__name__}: {failure}"
            yield futures[future], error
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


def _orphan_guard(parent: int) -> None:
    """Process-pool initializer: the worker exits as soon as the sweep's process is gone
    (killed with SIGKILL included, where no handler runs), instead of running on orphaned."""
    import threading
    import time

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True, name="bioplausible-orphan-guard").start()


_CELL_NAME = re.compile(r"[0-9a-f]{20}\.nc")


def _call(runner: CellRunner, cell: dict[str, Any], out: str) -> str | None:
    """Run a cell; return None, or the error (with its traceback) as text."""
    try:
        runner(cell, out)
    except Exception as error:
        return f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
    return None


def _expand_grid(grid: Mapping[str, Any], seeds: list[tuple[int, int]], substrates: list[str], quick: bool,
                 run_options: dict[str, int]) -> Iterable[dict[str, Any]]:
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a table, got {type(grid).__name__}")
    unknown = set(grid) - _GRID_KEYS
    if unknown:
        raise ValueError(f"grid: unknown keys {sorted(unknown)}; allowed: {sorted(_GRID_KEYS)}")
    circuits = _names(grid.get("circuits"), "grid.circuits", CIRCUITS)
    params = _axes(grid.get("params", {}), "grid.params")
    options = _axes(grid.get("task_options", {}), "grid.task_options")
    substrate_options = grid.get("substrate_options", {})
    if not isinstance(substrate_options, Mapping):
        raise TypeError("grid.substrate_options must map a substrate name to its options")
    for name in circuits:
        circuit_cls = CIRCUITS[name]
        tasks = _names(grid.get("tasks", [circuit_cls.default_task]), "grid.tasks", TASKS)
        for task_name, swept_params, swept_options, substrate in itertools.product(
                tasks, _product(params), _product(options), substrates):
            task_cls = TASKS[task_name]
            cell_params = {**(circuit_cls.quick_params if quick else {}), **swept_params}
            task_options = {**(task_cls.quick_options if quick else {}), **swept_options}
            make_circuit(name, **cell_params)  # fail now, naming the parameter, not in a worker
            make_task(task_name, **task_options)
            sub_options = dict(substrate_options.get(substrate, {}))
            if substrate == "spiking" and not sub_options:
                sub_options = task_cls.spiking_run_options(quick, circuit_cls)
            options_run = dict(run_options)
            if quick and "steps" not in options_run and task_cls.quick_steps:
                options_run["steps"] = task_cls.quick_steps
            for seed_index, seed in seeds:
                cell = {"circuit": name, "params": cell_params, "task": task_name, "task_options": task_options,
                        "substrate": substrate, "substrate_options": sub_options, "seed": seed,
                        "seed_index": seed_index, "run_options": options_run,
                        "swept_params": swept_params, "swept_task_options": swept_options}
                cell = json.loads(json.dumps(cell, default=str))
                cell["key"] = cell_key(cell)
                yield cell


def _seeds(seeds: Any, root_seed: Any) -> list[tuple[int, int]]:
    """(index, seed) pairs: ``seeds`` children of ``SeedSequence(root_seed)``, or explicit seeds."""
    if isinstance(seeds, list):
        return [(i, check_seed(f"seeds[{i}]", s)) for i, s in enumerate(seeds)]
    count = check_integer("seeds", seeds, 1)
    children = np.random.SeedSequence(check_seed("root_seed", root_seed)).spawn(count)
    return [(i, int(child.generate_state(1, np.uint32)[0])) for i, child in enumerate(children)]


def _names(value: Any, name: str, registry: Mapping[str, Any]) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(f"{name} must be a non-empty list of names, got {value!r}")
    for item in value:
        if item not in registry:
            raise ValueError(f"{name}: unknown name {item!r}; available: {sorted(registry)}")
    return value


def _axes(value: Any, name: str) -> dict[str, list[Any]]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a table of lists of values, got {type(value).__name__}")
    axes = {}
    for key, values in value.items():
        axes[key] = values if isinstance(values, list) else [values]
        if not axes[key]:
            raise ValueError(f"{name}.{key} must list at least one value")
    return axes


def _product(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) else json.dumps(value)


def _atomic_text(path: Path, text: str) -> None:
    write_atomically(path, lambda temporary: Path(temporary).write_text(text))
