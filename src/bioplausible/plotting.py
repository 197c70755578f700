"""Plots: ax in, ax out. Nothing here runs a simulation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .circuits.base import Circuit

_ROLE_COLOURS = {"input": "#8da0cb", "neurons": "#fc8d62", "readout": "#66c2a5"}
_SIGN_COLOURS = {"excitatory": "#d62728", "inhibitory": "#1f77b4", "signed": "#444444"}
#: Metrics drawn on a log axis in the comparison figures (positive errors spanning decades).
LOG_METRICS = frozenset({"whitening_error", "whitening_error_frobenius", "amari_index", "permutation_error"})
#: The x axis of every learning curve.
STEP_LABEL = "updates of the local rules (steps)"


def axis_label(name: str, width: int = 38) -> str:
    """An axis label from a metric's long name and units (:mod:`bioplausible.experiments.metadata`),
    wrapped to ``width`` characters; dimensionless metrics say so."""
    import textwrap

    from .experiments.metadata import metric_info

    long_name, units = metric_info(name)
    unit = "dimensionless" if units in ("1", "") else units
    return textwrap.fill(f"{long_name} [{unit}]", width)


#: How a metric name's words read in a panel title (acronyms and units).
_TITLE_WORDS = {"sinr": "SINR", "db": "(dB)", "msnr": "mSNR", "amari": "Amari", "mse": "MSE", "td": "TD"}


def panel_title(name: str) -> str:
    """A short panel title from a metric's name: ``"sinr_db"`` → ``"SINR (dB)"``,
    ``"whitening_error"`` → ``"Whitening error"`` (the axis label carries the long name)."""
    words = [_TITLE_WORDS.get(word, word) for word in name.split("_")]
    title = " ".join(words)
    return title[:1].upper() + title[1:]


def plot_circuit(circuit: Circuit, ax: Any = None) -> Any:
    """Draw the circuit's populations and every declared connection.

    Nodes are populations (area by size, colour by role), in declaration order left to right.
    Each connection is its own arrow — two connections between the same populations (either
    direction, or the same one twice) bend apart — coloured by its sign (excitatory,
    inhibitory, signed), solid and labelled with its rule when plastic, dashed when fixed.
    A legend for roles, signs and fixed/plastic sits outside the drawing.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    ax = _axes(ax)
    populations = circuit.populations()
    names = [p.name for p in populations]
    positions = {name: (float(index), 0.6 * (index % 2)) for index, name in enumerate(names)}
    for population in populations:
        x, y = positions[population.name]
        ax.scatter([x], [y], s=500 + 25 * min(population.size, 60), color=_ROLE_COLOURS.get(population.role, "grey"),
                   zorder=3, edgecolor="k", linewidth=0.6)
        # the name below the node (a long name does not fit inside it), clear of the arrows
        ax.annotate(f"{population.name} (n={population.size})", (x, y), xytext=(0, -17), textcoords="offset points",
                    ha="center", va="top", fontsize=8, zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    seen: dict[frozenset[str], int] = {}
    signs, plasticity = set(), set()
    for connection in circuit.connections():
        pair = frozenset((connection.source, connection.target))
        order = seen.get(pair, 0)
        seen[pair] = order + 1
        start, end = positions[connection.source], positions[connection.target]
        rad = 0.25 + 0.2 * order  # each further connection between the pair bends further
        if connection.source == connection.target:
            rad = 1.5
        sign = getattr(connection, "sign", "signed")
        colour = _SIGN_COLOURS.get(sign, "#444444")
        signs.add(sign)
        plasticity.add(bool(connection.plastic))
        arrow = FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                mutation_scale=12, color=colour, linewidth=1.4,
                                linestyle="-" if connection.plastic else "--", shrinkA=16, shrinkB=16, zorder=2)
        ax.add_patch(arrow)
        (x0, y0), (x1, y1) = start, end
        # the midpoint of an arc3 curve (a quadratic Bézier with control point chord midpoint +
        # rad·(dy, −dx)) is the chord's midpoint moved by rad/2 along that normal (equal aspect)
        mx, my = (x0 + x1) / 2 + rad / 2 * (y1 - y0), (y0 + y1) / 2 - rad / 2 * (x1 - x0)
        label = connection.rule_name if connection.plastic and connection.rule_name else "fixed"
        ax.annotate(label.replace("_", " "), (mx, my), ha="center", va="center", fontsize=7, color=colour,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85}, zorder=5)
    # the legend lists what the drawing shows (roles, signs, plastic/fixed present)
    roles = {p.role for p in populations}
    handles = [Line2D([], [], marker="o", linestyle="", color=c, markersize=8, label=f"{role} population")
               for role, c in _ROLE_COLOURS.items() if role in roles]
    handles += [Line2D([], [], color=c, label=f"{sign} connection") for sign, c in _SIGN_COLOURS.items()
                if sign in signs]
    if True in plasticity:
        handles.append(Line2D([], [], color="k", linestyle="-", label="plastic (labelled with its rule)"))
    if False in plasticity:
        handles.append(Line2D([], [], color="k", linestyle="--", label="fixed"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    xs = [x for x, _ in positions.values()]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(-0.9, 1.5)
    ax.set_aspect("equal")
    ax.set_title(circuit.name)
    ax.set_axis_off()
    return ax


def plot_learning_curves(frame: pd.DataFrame, metric: str, ax: Any = None, logy: bool | None = None,
                         legend: bool = True, events: bool = True) -> Any:
    """Mean across seeds of ``metric`` over steps, with a ±sd band, one line per circuit × substrate
    (spiking dashed). On a log axis (``logy``; default: for :data:`LOG_METRICS`) mean and band
    are geometric — exp(mean ± sd of the log) — so the band stays positive. Context switches of
    the task (where its ``context`` metric changes) are dotted vertical lines. The y label is
    the metric's long name and units; the legend sits outside the axes, right. When the runs
    differ in length by 5× or more (a circuit given more samples in the quick comparison),
    the step axis is logarithmic (symlog, linear below the first evaluation).

    ``frame`` is the tidy table of :func:`bioplausible.compare`.
    """
    ax = _axes(ax)
    data = frame[(frame["metric"] == metric) & frame["step"].notna()]
    if data.empty:
        raise ValueError(f"metric {metric!r} has no recorded steps in the table")
    logy = metric in LOG_METRICS if logy is None else logy
    colours = circuit_colours(frame)
    for (circuit, substrate), group in data.groupby(["circuit", "substrate"]):
        values = group["value"].astype(float)
        if logy:
            values = np.log(values.where(values > 0))
        stats = values.groupby(group["step"]).agg(["mean", "std"]).fillna({"std": 0.0})
        low, mid, high = stats["mean"] - stats["std"], stats["mean"], stats["mean"] + stats["std"]
        if logy:
            low, mid, high = np.exp(low), np.exp(mid), np.exp(high)
        line = ax.plot(stats.index, mid, label=f"{circuit} ({substrate})", marker="." if len(stats) < 30 else None,
                       markersize=3, linestyle="-" if substrate == "rate" else "--", color=colours[circuit])[0]
        ax.fill_between(stats.index, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if events:
        for index, step in enumerate(context_switches(frame)):
            ax.axvline(step, color="0.5", linestyle=":", linewidth=1.0, label="context switch" if index == 0 else None)
    ax.set_xlabel(STEP_LABEL)
    lengths = data.groupby(["circuit", "substrate"])["step"].max()
    if lengths.min() > 0 and lengths.max() >= 5 * lengths.min():  # runs of very different lengths
        positive = data.loc[data["step"] > 0, "step"]
        threshold = float(positive.min())
        ax.set_xscale("symlog", linthresh=threshold, linscale=0.3)
        decades = range(int(np.ceil(np.log10(threshold))), int(np.floor(np.log10(lengths.max()))) + 1)
        ax.set_xticks([0.0] + [10.0**k for k in decades if 10.0**k >= 2 * threshold])  # 0 apart from the decades
        ax.set_xlabel(STEP_LABEL + ", log scale")
    ax.set_ylabel(axis_label(metric))
    if logy:
        ax.set_yscale("log")
    if legend:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return ax


def circuit_colours(frame: pd.DataFrame) -> dict[str, Any]:
    """One colour per circuit of ``frame`` (its rate and spiking lines share it; the line style
    tells them apart), distinct for up to 20 circuits: tab10, or tab20 beyond 10 circuits."""
    import matplotlib

    circuits = sorted(str(c) for c in frame["circuit"].unique())
    cmap = matplotlib.colormaps["tab10" if len(circuits) <= 10 else "tab20"]
    return {circuit: cmap(index % cmap.N) for index, circuit in enumerate(circuits)}


def context_switches(frame: pd.DataFrame) -> list[float]:
    """Steps at which the task's ``context`` metric changes (its first circuit, substrate and
    seed: every circuit of a comparison sees the same stream); empty without one."""
    data = frame[(frame["metric"] == "context") & frame["step"].notna()]
    if data.empty:
        return []
    first = data[(data["circuit"] == data["circuit"].iloc[0]) & (data["substrate"] == data["substrate"].iloc[0])
                 & (data["seed"] == data["seed"].iloc[0])].sort_values("step")
    values, steps = first["value"].to_numpy(), first["step"].to_numpy()
    changed = np.flatnonzero(np.diff(values) != 0) + 1
    # the recorded context at step s is the one of the last sample before s: the switch lies between
    return [float((steps[i - 1] + steps[i]) / 2) for i in changed]


def plot_raster(result: Any, ax: Any = None, seed_index: int = 0, populations: list[str] | None = None,
                window: tuple[float, float] | None = None) -> Any:
    """Spike raster of one ensemble member of a spiking run recorded with
    ``substrate_options={"record_spikes": True}``: one row per unit, populations stacked bottom
    to top in declaration order, one colour each, time in seconds of simulated time.
    ``window`` (start, stop) in s restricts the time axis."""
    ax = _axes(ax)
    dataset = result.dataset if hasattr(result, "dataset") else result
    recorded = [str(name)[len("spikes_"):] for name in dataset.data_vars
                if str(name).startswith("spikes_") and not str(name).endswith(("_unit", "_member"))]
    if not recorded:
        raise ValueError("the result holds no spikes: run on the spiking substrate with "
                         "substrate_options={'record_spikes': True}")
    sizes = {p["name"]: int(p["size"]) for p in _populations(dataset)}
    populations = [p for p in sizes if p in recorded] if populations is None else list(populations)
    unknown = [p for p in populations if p not in recorded]
    if unknown:
        raise ValueError(f"populations: no spikes recorded for {unknown}; recorded: {recorded}")
    base, ticks, colours = 0, [], ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
    for index, population in enumerate(populations):
        times = dataset[f"spikes_{population}"].values
        units = dataset[f"spikes_{population}_unit"].values
        member = dataset[f"spikes_{population}_member"].values == seed_index
        keep = member if window is None else member & (times >= window[0]) & (times <= window[1])
        size = sizes.get(population, int(units.max()) + 1 if units.size else 1)
        ax.scatter(times[keep], base + units[keep], s=2, marker="|", color=colours[index % len(colours)],
                   label=f"{population} ({size} units)")
        ticks.append((base + (size - 1) / 2, population))
        base += size + 1
    ax.set_yticks([t for t, _ in ticks], [name for _, name in ticks])
    ax.set_ylim(-1, base)
    if window is not None:
        ax.set_xlim(*window)
    ax.set_xlabel("simulated time [s]")
    ax.set_ylabel("unit, by population")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, markerscale=4)
    return ax


def _populations(dataset: Any) -> list[dict[str, Any]]:
    import json

    return json.loads(dataset.attrs.get("populations", "[]"))


def plot_final_metric(frame: pd.DataFrame, metric: str, ax: Any = None) -> Any:
    """Strip plot of the final value of ``metric`` per seed, one column per circuit × substrate
    (values that all lie in [0, 1] are shown on the whole unit range)."""
    ax = _axes(ax)
    data = frame[frame["metric"] == metric]
    if data.empty:
        raise ValueError(f"metric {metric!r} is not in the table")
    last = data[data["step"].isna() | (data["step"] == data.groupby(["circuit", "substrate"])["step"].transform("max"))]
    groups = list(last.groupby(["circuit", "substrate"]))
    rng = np.random.default_rng(0)
    for position, (_, group) in enumerate(groups):
        values = group["value"].astype(float)
        jitter = rng.uniform(-0.15, 0.15, len(group))
        ax.scatter(position + jitter, values, s=14)
        if values.notna().any():
            ax.hlines(values.mean(), position - 0.3, position + 0.3, color="k")
        missing = int(values.isna().sum())
        if missing:  # undefined values (e.g. a recovery never reached) are said, not dropped silently
            ax.annotate(f"— {missing} of {len(values)}\nseeds undefined", (position, 0.02),
                        xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=6, color="0.3")
    finite = last["value"].astype(float)
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:  # a fraction: show its whole range
        ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(range(len(groups)))
    # one line per label: two-line labels rotated 45° run into their neighbours
    ax.set_xticklabels([f"{c} ({s})" for (c, s), _ in groups], rotation=45, ha="right", rotation_mode="anchor",
                       fontsize=7)
    ax.set_ylabel(axis_label(metric))
    return ax


def plot_substrate_agreement(frame: pd.DataFrame, metric: str, ax: Any = None) -> Any:
    """Final ``metric`` on the rate substrate (x) against the spiking substrate (y): one point
    per circuit × seed, one colour per circuit, the identity line dashed.

    ``frame`` is the tidy table of :func:`bioplausible.compare` with both substrates.
    """
    from .experiments.compare import substrate_agreement

    ax = _axes(ax)
    table = substrate_agreement(frame, [metric])
    if table.empty:
        raise ValueError(f"no circuit has final values of {metric!r} on both the rate and spiking substrates")
    for circuit, group in table.groupby("circuit"):
        ax.scatter(group["rate"], group["spiking"], s=18, label=circuit)
    values = np.concatenate([table["rate"].to_numpy(), table["spiking"].to_numpy()])
    values = values[np.isfinite(values)]
    low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
    pad = 0.05 * (high - low or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], "k--", linewidth=0.8)
    ax.set_xlabel(axis_label(metric) + "\non the rate substrate")
    ax.set_ylabel(axis_label(metric) + "\non the spiking substrate")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return ax


def save_comparison_figures(frame: pd.DataFrame, folder: str | os.PathLike[str], dpi: int = 110) -> list[Path]:
    """The comparison's figures as PNG files in ``folder``: per family, learning curves (mean ±
    sd over seeds) of each headline metric recorded over steps and strip plots of whole-run
    metrics (``<family>.png``; strip plots of the final values throughout for a task whose
    ``learning_curve_figure`` is False); and, when some circuit ran on both substrates, rate versus
    spiking final metrics (``agreement.png``). Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .experiments.compare import headline_metrics_of, substrate_agreement, summary_table
    from .tasks.base import TASKS

    folder = Path(folder)
    written = []
    tasks = {cls.name: cls for cls in TASKS.values()}
    for family, part in frame.groupby("family"):
        present = set(summary_table(part)["metric"])
        metrics = [m for m in headline_metrics_of(part) if m in present]  # the task's order: headline first
        task_cls = tasks.get(str(part["task"].iloc[0]))
        curves = task_cls is None or task_cls.learning_curve_figure
        figure = _grid_figure(plt, len(metrics))
        axes = figure.axes
        for ax, metric in zip(axes, metrics):
            if curves and part.loc[part["metric"] == metric, "step"].notna().any():
                plot_learning_curves(part, metric, ax, legend=False)
            else:
                plot_final_metric(part, metric, ax)
            ax.set_title(panel_title(metric), fontsize=9)
        _figure_legend(figure, axes)
        summary = "mean ± sd over seeds" if curves else "final values: one point per seed, bar the mean"
        figure.suptitle(f"{family}: task {part['task'].iloc[0]} ({summary})")
        written.append(folder / f"{family}.png")
        figure.savefig(written[-1], dpi=dpi, bbox_inches="tight")
        plt.close(figure)
    agreement = substrate_agreement(frame)
    metrics = list(agreement["metric"].unique())
    if metrics:
        figure = _grid_figure(plt, len(metrics))
        for ax, metric in zip(figure.axes, metrics):
            plot_substrate_agreement(frame, metric, ax)
            ax.get_legend().remove()
            ax.set_title(panel_title(metric), fontsize=9)
        _figure_legend(figure, figure.axes)
        figure.suptitle("rate vs spiking: final values, one point per circuit and seed (dashed: identity)")
        written.append(folder / "agreement.png")
        figure.savefig(written[-1], dpi=dpi, bbox_inches="tight")
        plt.close(figure)
    return written


#: Panels per row of the comparison figures.
PANELS_PER_ROW = 3


def _grid_figure(plt: Any, panels: int) -> Any:
    """A figure of ``panels`` axes, at most :data:`PANELS_PER_ROW` per row, 4.6 × 3.6 in each."""
    columns = min(PANELS_PER_ROW, panels)
    rows = -(-panels // columns)
    figure = plt.figure(figsize=(4.6 * columns, 3.6 * rows + 0.8), layout="constrained")
    for index in range(panels):
        figure.add_subplot(rows, columns, index + 1)
    return figure


def _figure_legend(figure: Any, axes: list[Any]) -> None:
    """One legend for the figure, below the panels (outside every axes), without duplicates."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        figure.legend(list(entries.values()), list(entries), loc="outside lower center",
                      ncols=min(4, len(entries)), fontsize=8, frameon=False)


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax
