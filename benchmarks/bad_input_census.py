"""Census of bad inputs: how many invalid invocations get one clear line, as a new user meets them.

CLI: invocations drawn (seeded) from the argument grammar with wrong names, sizes, types,
ranges, seeds, options and output paths, run in-process. *clear*: exit 1 or 2 with one line
on stderr; *traceback*: an exception escapes or stderr holds a traceback; *unclear*: a failure
with several lines or none; *ran*: exit 0 (counted apart: some drawn invocations are valid).

API: constructors, ``respond``, ``learn``, ``load_state_dict``, ``load_result`` and ``run``
with one invalid argument each. *clear*: ``ValueError``/``TypeError``/``FileNotFoundError``
naming the argument; *unclear*: one of those not naming it; *deep*: any other exception;
*silent*: accepted.

    python benchmarks/bad_input_census.py [--cli 120] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import random
import tempfile
import warnings
from pathlib import Path

import numpy as np

import bioplausible as bpl
from bioplausible.circuits.base import CIRCUITS
from bioplausible.cli import main as cli

NAMES = ["direct-whitening", "gain-whitening", "nsm", "seqnet", "hebbian", "corinfomax", "no-such", ""]
TASKS = [None, "adaptation", "sequence", "separation", "classification", "teacher-student", "nope"]
INTEGERS = ["0", "1", "2", "-3", "x", "1.5", str(2**64), "", "1e3"]
PARAMS = ["learning_rate=0.01", "learning_rate=nan", "learning_rate=1e400", "learning_rate=-1", "learning_rate='x'",
          "bogus=2", "=3", "learning_rate=0.999", "learning_rate", "learning_rate=[1,2]", "learning_rate=1j"]
OPTIONS = ["n_inputs=3", "n_inputs=0", "n_inputs=abc", "bogus=1", "n_inputs", "n_inputs=[1,2]", "n_inputs=3.5",
           "n_inputs=-2", "n_inputs=None"]


def cli_invocation(rng: random.Random, root: Path) -> list[str]:
    command = rng.choice(["run"] * 6 + ["export", "sweep", "compare", "list", "bogus"])
    if command == "run":
        argv = ["run", rng.choice(NAMES), "--quick", "-q"]
        task = rng.choice(TASKS)
        if task:
            argv += ["--task", task]
        for flag in ("--steps", "--eval-every", "--batch-size", "--seed"):
            if rng.random() < 0.35:
                argv.append(f"{flag}={rng.choice(INTEGERS)}")
        if "--steps" not in " ".join(argv):
            argv += ["--steps", "2"]
        for _ in range(rng.randint(0, 2)):
            argv += ["--param", rng.choice(PARAMS)]
        for _ in range(rng.randint(0, 1)):
            argv += ["--task-option", rng.choice(OPTIONS)]
        if rng.random() < 0.2:
            argv += ["--substrate", rng.choice(["analog", "rate", "Rate"])]
        if rng.random() < 0.4:
            argv += ["--out", str(rng.choice([root / "r.nc", root / "plain" / "r.nc", root, root / "a" / "b.nc"]))]
        return argv
    if command == "export":
        target = rng.choice([root / "missing.nc", root / "plain", root / "foreign.nc", root])
        return ["export", str(target)] + rng.choice([[], ["--nwb", str(root / "x.nwb")], ["--seed-index", "-1"],
                                                     ["--neo", str(root / "plain" / "x.mat")]])
    if command == "sweep":
        return ["sweep", str(rng.choice([root / "missing.toml", root / "plain", root / "bad.toml",
                                         root / "escape.toml"])), "-q"]
    if command == "compare":
        return ["compare", rng.choice(["--seeds=0", "--seeds=-1", "--family=nope", "--substrate=analog",
                                       f"--out={root / 'plain'}"])]
    return [command] + rng.choice([[], ["--bogus"], ["extra"]])


def run_cli(argv: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = cli(argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - the census counts escapes
        return "traceback"
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    if "Traceback" in err.getvalue():
        return "traceback"
    if status == 0:
        return "ran"
    return "clear" if len(lines) == 1 else "unclear"


def api_cases(root: Path) -> list[tuple[str, str, object]]:
    """(what, name the message must contain, thunk)."""
    task = bpl.tasks.StatisticalAdaptation(n_inputs=3)
    cases: list[tuple[str, str, object]] = []
    for name, cls in sorted(CIRCUITS.items()):
        for value in (np.nan, -1.0, "x", 1j, [1.0], np.inf):
            field = next((f for f in ("learning_rate", "forgetting_y", "gamma_start") if f in
                          cls.Parameters.__dataclass_fields__), None)
            if field is not None:
                cases.append((f"{name}({field}={value!r})", field, lambda c=cls, f=field, v=value: c(**{f: v})))
    circuit = bpl.circuits.DirectWhitening().initialize(3, 0, [0])
    good = circuit.respond(np.ones((2, 3)))
    bads = {"nan": np.full((2, 3), np.nan), "inf": np.full((2, 3), np.inf), "complex": np.ones((2, 3)) * 1j,
            "object": np.ones((2, 3)).astype(object), "string": np.full((2, 3), "a"), "shape": np.ones((2, 4)),
            "ragged": [[1.0, 2.0, 3.0], [1.0]], "3-d wrong K": np.ones((4, 2, 3))}
    for label, bad in bads.items():
        cases.append((f"respond({label})", "inputs", lambda b=bad: circuit.respond(b)))
        cases.append((f"learn(activities {label})", "activities",
                      lambda b=bad: circuit.learn({**good, "principal": b},
                                                  bpl.circuits.base.Batch(np.ones((1, 2, 3))))))
    state = bpl.circuits.DirectWhitening().initialize(3, 0, [0]).state_dict()
    changes = {"nan": np.full((1, 3, 3), np.nan), "shape": np.ones((1, 4, 4)), "complex": np.eye(3)[None] * 1j,
               "object": np.eye(3)[None].astype(object)}
    for label, change in changes.items():
        cases.append((f"load_state_dict({label})", "state",
                      lambda c=change: bpl.circuits.DirectWhitening().initialize(3, 0, [0]).load_state_dict(
                          {**state, "state": {"recurrent": c}})))
    cases.append(("load_state_dict(list)", "state", lambda: circuit.load_state_dict([1])))
    cases.append(("load_state_dict(steps=-1)", "steps", lambda: circuit.load_state_dict({**state, "steps": -1})))
    (root / "text.nc").write_text("hello")
    import xarray as xr

    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(root / "foreign.nc", engine="h5netcdf")
    for label, path in {"text": root / "text.nc", "foreign": root / "foreign.nc", "folder": root,
                        "missing": root / "missing.nc"}.items():
        cases.append((f"load_result({label})", str(path.name if label != "folder" else path),
                      lambda p=path: bpl.load_result(p)))
    runs = (("seed 2**64", {"seed": 2**64}, "seed"), ("seed -1", {"seed": -1}, "seed"),
            ("steps 0", {"steps": 0}, "steps"), ("eval_every 1.5", {"eval_every": 1.5}, "eval_every"),
            ("seeds []", {"seeds": []}, "seeds"), ("substrate analog", {"substrate": "analog"}, "substrate"),
            ("probes 'x'", {"probes": ["x"]}, "probes"))
    for label, kwargs, named in runs:
        cases.append((f"run({label})", named, lambda k=kwargs: bpl.run(bpl.circuits.DirectWhitening(), task,
                                                                        progress=False, **{"steps": 1, **k})))
    cases.append(("run(gain-whitening on sequence)", "sequence",
                  lambda: bpl.run(bpl.circuits.GainWhitening(), bpl.tasks.TASKS["sequence"](), steps=1,
                                  progress=False)))
    cases.append(("StatisticalAdaptation(complex covariances)", "covariances",
                  lambda: bpl.tasks.StatisticalAdaptation(n_inputs=2, covariances=[np.eye(2) * (1 + 1j)] * 2)))
    return cases


def classify(named: str, thunk) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            thunk()
    except (ValueError, TypeError, FileNotFoundError) as error:
        return "clear" if named in str(error) else "unclear"
    except Exception:  # noqa: BLE001 - the census counts deep errors
        return "deep"
    return "silent"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", type=int, default=120, help="CLI invocations to draw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every case that is not clear")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    (root / "plain").write_text("x")
    (root / "bad.toml").write_text("seeds = [\n")
    (root / "escape.toml").write_text('out = "../x"\n[[grid]]\ncircuits = ["direct-whitening"]\n')
    rng = random.Random(args.seed)
    cli_counts: collections.Counter[str] = collections.Counter()
    for _ in range(args.cli):
        argv = cli_invocation(rng, root)
        outcome = run_cli(argv)
        cli_counts[outcome] += 1
        if args.verbose and outcome not in ("clear", "ran"):
            print(" CLI", outcome, argv)
    api_counts: collections.Counter[str] = collections.Counter()
    for what, named, thunk in api_cases(root):
        outcome = classify(named, thunk)
        api_counts[outcome] += 1
        if args.verbose and outcome != "clear":
            print(" API", outcome, what)
    print(f"CLI: tried {args.cli}, ran {cli_counts['ran']}, clear {cli_counts['clear']}, "
          f"traceback {cli_counts['traceback']}, unclear {cli_counts['unclear']}")
    api_total = sum(api_counts.values())
    print(f"API: tried {api_total}, clear {api_counts['clear']}, unclear {api_counts['unclear']}, "
          f"deep {api_counts['deep']}, silent {api_counts['silent']}")


if __name__ == "__main__":
    main()
