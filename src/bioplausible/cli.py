"""Command line: ``bioplausible list | run | compare | sweep | export``."""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .circuits.base import CIRCUITS, make_circuit
from .errors import DivergenceError
from .substrates.base import SUBSTRATES, make_substrate
from .tasks.base import TASKS, make_task
from .validation import check_integer, check_output_dir, check_output_file, check_seed

DESCRIPTION = ("Biologically plausible learning rules as rate and spiking circuits on shared tasks. "
               "Commands: list, run, compare, sweep, export; 'bioplausible COMMAND --help' describes each.")


#: Exit statuses: a bad invocation (argparse's convention) and a run that failed.
USAGE_ERROR, RUN_FAILED = 2, 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every failure is one line on stderr (a traceback only with
    ``--debug``): exit 2 for a bad argument (checked before any work), 1 for a failed run."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.working = False  # set by a handler once its arguments are checked and work starts
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        _fail(args, "interrupted", 130)
    except DivergenceError as error:
        if args.debug:
            raise
        _fail(args, f"diverged: {error.quantity!r} became {error.detail} at step {error.step} "
                    f"(try a smaller learning rate)", RUN_FAILED)
    except Exception as error:
        if args.debug:
            raise
        usage = not args.working and isinstance(error, (ValueError, TypeError, LookupError, FileNotFoundError))
        kind = "error" if usage or isinstance(error, (ValueError, TypeError, OSError)) else type(error).__name__
        _fail(args, f"{kind}: {_one_line(error)}", USAGE_ERROR if usage else RUN_FAILED)
    return 0  # not reached: _fail exits


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``PROG: error: ...; see PROG --help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {_one_line(message)} (see: {self.prog} --help)\n")


def _fail(args: argparse.Namespace, message: str, status: int) -> NoReturn:
    sys.stderr.write(f"bioplausible {args.command}: {message}\n")
    raise SystemExit(status)


def _one_line(error: BaseException | str) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="bioplausible", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars and no status lines; print only results and errors")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    # -q/--debug also after the command (bioplausible run -q ...); SUPPRESS keeps the top-level value otherwise
    quiet = _Parser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress bars and no status lines; print only results and errors")
    quiet.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **options: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[quiet], **options)

    listing = command("list", help="circuits, tasks and substrates, one line each")
    listing.set_defaults(handler=_list)

    running = command("run", help="train one circuit on one task")
    running.add_argument("circuit", help="circuit name (see: bioplausible list)")
    running.add_argument("--task", help="task name (default: the circuit's default task)")
    running.add_argument("--substrate", default="rate", help="rate or spiking (default rate)")
    running.add_argument("--seed", type=int, default=0)
    running.add_argument("--steps", type=int, help="number of updates (default: the task's)")
    running.add_argument("--batch-size", type=int)
    running.add_argument("--eval-every", type=int)
    running.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                         help="circuit parameter, e.g. --param learning_rate=0.01 (repeatable)")
    running.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                         help="task option, e.g. --task-option n_inputs=5 (repeatable)")
    running.add_argument("--substrate-option", action="append", default=[], metavar="KEY=VALUE",
                         help="substrate option, e.g. --substrate-option presentation=0.2 (repeatable); "
                              "default on spikes: the task's spiking settings (--quick: its quick ones)")
    running.add_argument("--quick", action="store_true", help="the task's and circuit's quick settings")
    running.add_argument("--out", help="write the result (netCDF) here")
    running.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    running.set_defaults(handler=_run)

    comparing = command("compare", help="every family on its default task (the main job)")
    comparing.add_argument("--family", action="append", help="restrict to a family (repeatable)")
    comparing.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    comparing.add_argument("--substrate", nargs="+", default=["rate", "spiking"], choices=sorted(SUBSTRATES))
    comparing.add_argument("--out", default="bioplausible-results", help="output folder")
    comparing.add_argument("--workers", type=int, default=None,
                           help="processes for the runs (default: up to two, one per core; 1: none)")
    mode = comparing.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="quick", action="store_true", default=True, help="quick settings (default)")
    mode.add_argument("--full", dest="quick", action="store_false", help="the tasks' full default settings")
    comparing.set_defaults(handler=_compare)

    sweeping = command("sweep", help="a grid of circuits × parameters × tasks × seeds from a TOML file")
    sweeping.add_argument("file", help="sweep file (TOML; see bioplausible.experiments.sweep)")
    sweeping.add_argument("--out", help="output folder (default: the file's 'out', else <file stem>-results)")
    sweeping.add_argument("--executor", default="serial", choices=["serial", "processes", "dask"])
    sweeping.add_argument("--workers", type=int, help="processes or LocalCluster workers (default: CPU count)")
    sweeping.add_argument("--address", help="address of a running dask scheduler (with --executor dask)")
    sweeping.add_argument("--keep-old-cells", action="store_true",
                          help="count cells computed by another version of the code as done (default: rerun them)")
    sweeping.set_defaults(handler=_sweep)

    exporting = command("export", help="write a saved result (netCDF) as NWB and/or Neo")
    exporting.add_argument("result", help="a result file written by: bioplausible run --out FILE")
    exporting.add_argument("--nwb", help="write NWB here")
    exporting.add_argument("--neo", help="write a Neo block here (NeoMatlab .mat format)")
    exporting.add_argument("--seed-index", type=int, default=0, help="ensemble member to export (default 0)")
    exporting.set_defaults(handler=_export)
    return parser


def _list(args: argparse.Namespace) -> int:
    print("circuits:")
    for name, cls in sorted(CIRCUITS.items()):
        print(f"  {name:32s} [{cls.family}] {cls.description}")
    print("tasks:")
    for name, task in sorted(TASKS.items()):
        print(f"  {name:32s} {task.description}")
    print("substrates:")
    for name, substrate in sorted(SUBSTRATES.items()):
        print(f"  {name:32s} {substrate.description}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .experiments.run import check_supported, run

    if args.circuit not in CIRCUITS:
        raise ValueError(f"unknown circuit {args.circuit!r}; available: {', '.join(sorted(CIRCUITS))}")
    circuit_cls = CIRCUITS[args.circuit]
    task_name = args.task or circuit_cls.default_task
    if task_name not in TASKS:
        raise ValueError(f"--task: unknown task {task_name!r}; available: {', '.join(sorted(TASKS))}")
    if args.substrate not in SUBSTRATES:
        raise ValueError(f"--substrate must be one of {', '.join(sorted(SUBSTRATES))}, got {args.substrate!r}")
    check_seed("--seed", args.seed)
    for flag, value in (("--steps", args.steps), ("--batch-size", args.batch_size), ("--eval-every", args.eval_every)):
        if value is not None:
            check_integer(flag, value, 1)
    if args.out:
        check_output_file("--out", args.out)
    task_cls = TASKS[task_name]
    task_options = {**(task_cls.quick_options if args.quick else {}), **_pairs(args.task_option, "--task-option")}
    params = {**(circuit_cls.quick_params if args.quick else {}), **_pairs(args.param, "--param")}
    substrate_options = _pairs(args.substrate_option, "--substrate-option")
    if args.substrate == "spiking" and not substrate_options:
        substrate_options = task_cls.spiking_run_options(args.quick, circuit_cls)
    task = make_task(task_name, **task_options)
    # what the circuit must take from the task (e.g. the separation domain), unless --param sets it
    forwarded = {key: value for key, value in task.circuit_options().items()
                 if key in getattr(circuit_cls, "task_keys", ()) and key not in params}
    circuit = make_circuit(args.circuit, **forwarded, **params)
    task.check_circuit(circuit)
    engine = make_substrate(args.substrate, **substrate_options)
    check_supported(engine, circuit)
    steps = args.steps if args.steps is not None else (task_cls.quick_steps if args.quick else None)
    cost = engine.estimate_cost(circuit, task, steps or task.default_steps, 1, args.eval_every)
    if cost is not None and not getattr(args, "quiet", False):  # on stderr: --json keeps stdout to itself
        print(f"the {args.substrate} substrate estimates about {_duration(cost.seconds)}: {cost.detail}",
              file=sys.stderr)
    started = time.perf_counter()
    args.working = True
    result = run(circuit, task, args.substrate, seed=args.seed, steps=steps, batch_size=args.batch_size,
                 eval_every=args.eval_every, progress=not args.json and _progress(args),
                 substrate_options=substrate_options)
    wall_time = time.perf_counter() - started
    if args.out:
        result.save(args.out)
    if args.json:
        print(json.dumps({
            "circuit": args.circuit, "task": task_name, "substrate": args.substrate, "seed": args.seed,
            "steps": int(result.dataset.attrs["steps"]), "metrics": _finite(result.final()),
            "wall_time_s": round(wall_time, 3),
        }))
    else:
        print(result)
        if args.out:
            _status(args, f"saved {args.out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from .experiments.compare import (
        default_comparison,
        format_headline,
        headline_table,
        substrate_agreement,
        summary_table,
    )
    from .plotting import save_comparison_figures

    check_integer("--seeds", args.seeds, 1)
    for family in args.family or ():
        families = sorted({cls.family for cls in CIRCUITS.values()})
        if family not in families:
            raise ValueError(f"--family must be one of {', '.join(families)}, got {family!r}")
    out = check_output_dir("--out", args.out)
    started = time.perf_counter()
    args.working = True
    if args.workers is not None:
        check_integer("--workers", args.workers, 1)
    frame = default_comparison(args.family, range(args.seeds), args.substrate, quick=args.quick,
                               progress=_progress(args), workers=args.workers)
    table = summary_table(frame)
    headline = headline_table(frame, args.substrate)
    agreement = substrate_agreement(frame)
    with _staging(out) as staging:
        frame.to_csv(staging / "results.csv", index=False)
        table.to_csv(staging / "summary.csv", index=False)
        headline.to_csv(staging / "headline.csv", index=False)
        if not agreement.empty:
            agreement.to_csv(staging / "agreement.csv", index=False)
        figures = save_comparison_figures(frame, staging)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(format_headline(headline, frame=frame))
        if not agreement.empty:
            summary = agreement.groupby(["circuit", "metric"])[["rate", "spiking", "relative"]].mean()
            print("\nrate vs spiking (mean over seeds):")
            print(summary.to_string(float_format=lambda v: f"{v:.4g}", na_rep="— (rate is 0)"))
    written = "results.csv, summary.csv, headline.csv" + (", agreement.csv" if not agreement.empty else "")
    _status(args, f"\nwrote {written} and "
                  f"{', '.join(f.name for f in figures)} to {out} in {time.perf_counter() - started:.1f} s")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import pandas as pd

    from .experiments.sweep import expand, final_dataset, gather, load_spec, run_sweep, spec_output

    spec = load_spec(args.file)
    out = Path(args.out) if args.out else spec_output(spec, args.file)
    spec.pop("out", None)
    check_output_dir("--out", out)
    if args.workers is not None:
        check_integer("--workers", args.workers, 1)
    if args.address is not None and args.executor != "dask":
        raise ValueError("--address needs --executor dask")
    expand(spec)  # every name and value checked here, before any cell runs
    started = time.perf_counter()
    args.working = True
    report = run_sweep(spec, out, args.executor, workers=args.workers, address=args.address,
                       progress=_progress(args), keep_old_cells=args.keep_old_cells)
    _status(args, f"{report['cells']} cells: {report['skipped']} already done, {report['ran']} ran, "
          f"{len(report['failed'])} failed ({time.perf_counter() - started:.1f} s)")
    for key in report["failed"]:
        print(f"  failed: {out / 'cells' / (key + '.failed.json')}")
    if report["cells"] - len(report["failed"]) > 0:
        frame = gather(out)
        with _staging(out) as staging:
            frame.to_csv(staging / "results.csv", index=False)
            final_dataset(frame).to_netcdf(staging / "final.nc", engine="h5netcdf")
        table = final_dataset(frame).to_dataframe().dropna(how="all")
        with pd.option_context("display.width", 160, "display.max_rows", 100):
            print(table.to_string(float_format=lambda v: f"{v:.4g}"))
        _status(args, f"wrote {out / 'results.csv'} and {out / 'final.nc'}")
    return 1 if report["failed"] else 0


def _export(args: argparse.Namespace) -> int:
    from .experiments.results import load_result

    if not args.nwb and not args.neo:
        raise ValueError("export needs --nwb FILE and/or --neo FILE")
    for flag, path in (("--nwb", args.nwb), ("--neo", args.neo)):
        if path:
            check_output_file(flag, path)
    result = load_result(args.result)
    members = len(result.seeds)
    check_integer("--seed-index", args.seed_index, 0, members - 1)
    args.working = True
    if args.nwb:
        _status(args, f"wrote {result.to_nwb(args.nwb, args.seed_index)}")
    if args.neo:
        import neo

        from .experiments.results import write_atomically

        block = result.to_neo(args.seed_index)
        _status(args, f"wrote {write_atomically(args.neo, lambda path: neo.io.NeoMatlabIO(path).write_block(block))}")
    return 0


STAGING_PREFIX = ".staging-"


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """Write into a staging folder inside ``out``, then move each file into ``out`` with an
    atomic rename: a reader never sees a half-written file, a failed run leaves the files of
    ``out`` untouched and nothing beside it. Staging folders a killed run left are removed."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    try:
        yield staging
        for path in staging.iterdir():
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars on long runs when stderr is a terminal, unless ``--quiet``."""
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


def _duration(seconds: float) -> str:
    """``seconds`` as a person reads a run's length: 40 s, 12 min, 3.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _status(args: argparse.Namespace, message: str) -> None:
    """A status line (files written, timings), left out with ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(message)


def _pairs(items: Sequence[str], flag: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            values[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            values[key] = raw
    return values


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if v == v and abs(v) != float("inf") else None) for k, v in values.items()}


if __name__ == "__main__":
    sys.exit(main())
