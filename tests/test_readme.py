"""Every code block of README.md runs as written.

* ```python blocks run in order, in one namespace (a later block uses an earlier one's names).
* ```bash blocks: each line (``&&`` chains split, ``#`` comments stripped) runs through the
  console entry point ``bioplausible.cli:main``, in-process. Two kinds of line are not run
  but checked: ``pip install`` (the environment under test is the installation; the extras
  it names must exist in pyproject.toml) and ``python -m pytest`` (this suite itself; the
  markers it selects must be declared), and ``.ci/run`` (the CI script that runs this
  suite; it must exist).
* ```toml blocks whose first line is ``# NAME`` are written to NAME before the bash lines run.

Sizes: ``BIOPLAUSIBLE_QUICK`` caps every run at a few updates (see
``bioplausible.experiments.run.quick_step_cap``); nothing else is changed. The Quickstart's
``bioplausible compare`` (every family, both substrates: ≈ 40 s even capped, mostly Brian2 and
numba start-up) runs in the slow tier; every other line runs in the default tier.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import matplotlib
import pytest
import tomllib

from bioplausible.cli import main

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SLOW_COMMANDS = {"bioplausible compare"}
CAP = {"python": "60", "bash": "12"}  # updates per run; python: ≥ the README's 50-sample analysis window


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def commands() -> list[str]:
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            lines.extend(part.strip() for part in line.split("&&") if part.strip())
    return lines


def test_readme_has_the_blocks_this_test_runs():
    assert len(blocks("python")) >= 2 and len(commands()) >= 6
    assert all(c.split()[0] in {"pip", "python", "bioplausible", ".ci/run"} for c in commands()), commands()


def _check_install(command: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = re.findall(r"\[([^\]]+)\]", command)
    for extra in ",".join(extras).split(",") if extras else []:
        assert extra.strip() in project["optional-dependencies"], command


def _check_pytest(command: str) -> None:
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    for name in re.findall(r'-m (?:"not )?(\w+)"?', command.replace("python -m pytest", "")):
        assert any(m.startswith(name) for m in markers), command


@pytest.fixture
def quick(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return lambda kind: monkeypatch.setenv("BIOPLAUSIBLE_QUICK", CAP[kind]) or tmp_path


def test_readme_python_blocks_run_in_sequence(quick):
    quick = quick("python")
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for number, block in enumerate(blocks("python")):
        exec(compile(block, f"README.md python block {number + 1}", "exec"), namespace)  # noqa: S102
    # the sequence the README shows: the ensemble after a single run, rate and spiking compare
    assert namespace["ensemble"].metrics["whitening_error"].sizes["seed"] == 10
    assert set(namespace["table"]["substrate"]) == {"rate", "spiking"}
    assert (quick / "run.nc").exists() and (quick / "prediction.nwb").exists()


def _run_commands(folder: Path, capsys: pytest.CaptureFixture[str], slow: bool) -> None:
    for block in blocks("toml"):
        first = block.splitlines()[0]
        if first.startswith("# "):
            (folder / first[2:].strip()).write_text(block)
    for command in commands():
        if (command in SLOW_COMMANDS) != slow:
            continue
        argv = shlex.split(command)
        if argv[0] == "pip":
            _check_install(command)
        elif argv[:3] == ["python", "-m", "pytest"]:
            _check_pytest(command)
        elif argv[0] == ".ci/run":  # the CI script runs this suite: checked to exist, not run
            assert (ROOT / ".ci" / "run").is_file(), command
        else:
            assert argv[0] == "bioplausible"
            status = main(argv[1:])
            assert status in (0, None), (command, capsys.readouterr())


def test_readme_command_lines_run(quick, capsys):
    folder = quick("bash")
    _run_commands(folder, capsys, slow=False)
    assert (folder / "run.nwb").exists() and (folder / "comparison" / "results.csv").exists()
    assert "published" in capsys.readouterr().out  # compare's headline table


@pytest.mark.slow
def test_readme_quickstart_compare_runs(quick, capsys):
    folder = quick("bash")
    _run_commands(folder, capsys, slow=True)
    assert (folder / "bioplausible-results" / "headline.csv").exists()
