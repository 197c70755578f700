"""Plots: ax in, ax out. Nothing here runs a simulation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from .circuits.base import Circuit

_ROLE_COLOURS = {"input": "#8da0cb", "neurons": "#fc8d62", "readout": "#66c2a5"}


def plot_circuit(circuit: Circuit, ax: Any = None) -> Any:
    """Draw the circuit's population graph: nodes sized by population size, plastic
    connections solid and labelled with their rule, fixed ones dashed."""
    ax = _axes(ax)
    graph = circuit.graph()
    # populations left to right in declaration order (inputs first), alternating heights
    positions = {node: (index, 0.4 * (index % 2)) for index, node in enumerate(graph.nodes)}
    sizes = [300 + 40 * graph.nodes[n]["size"] for n in graph.nodes]
    colours = [_ROLE_COLOURS.get(graph.nodes[n]["role"], "grey") for n in graph.nodes]
    nx.draw_networkx_nodes(graph, positions, ax=ax, node_size=sizes, node_color=colours)
    nx.draw_networkx_labels(graph, positions, ax=ax, font_size=8)
    plastic = [(u, v) for u, v, d in graph.edges(data=True) if d["plastic"]]
    fixed = [(u, v) for u, v, d in graph.edges(data=True) if not d["plastic"]]
    nx.draw_networkx_edges(graph, positions, edgelist=plastic, ax=ax, connectionstyle="arc3,rad=0.2")
    nx.draw_networkx_edges(graph, positions, edgelist=fixed, ax=ax, style="dashed", connectionstyle="arc3,rad=0.2")
    labels = {(u, v): d["rule"] for u, v, d in graph.edges(data=True) if d["rule"]}
    nx.draw_networkx_edge_labels(graph, positions, edge_labels=labels, ax=ax, font_size=6)
    ax.set_title(circuit.name)
    ax.set_axis_off()
    return ax


def plot_learning_curves(frame: pd.DataFrame, metric: str, ax: Any = None, logy: bool = False) -> Any:
    """Mean ± sd band across seeds of ``metric`` over steps, one line per circuit × substrate.

    ``frame`` is the tidy table of :func:`bioplausible.compare`.
    """
    ax = _axes(ax)
    data = frame[(frame["metric"] == metric) & frame["step"].notna()]
    if data.empty:
        raise ValueError(f"metric {metric!r} has no recorded steps in the table")
    for (circuit, substrate), group in data.groupby(["circuit", "substrate"]):
        stats = group.groupby("step")["value"].agg(["mean", "std"]).fillna(0.0)
        line = ax.plot(stats.index, stats["mean"], label=f"{circuit} ({substrate})",
                       linestyle="-" if substrate == "rate" else "--")[0]
        ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    return ax


def plot_final_metric(frame: pd.DataFrame, metric: str, ax: Any = None) -> Any:
    """Strip plot of the final value of ``metric`` per seed, one column per circuit × substrate."""
    ax = _axes(ax)
    data = frame[frame["metric"] == metric]
    if data.empty:
        raise ValueError(f"metric {metric!r} is not in the table")
    last = data[data["step"].isna() | (data["step"] == data.groupby(["circuit", "substrate"])["step"].transform("max"))]
    groups = list(last.groupby(["circuit", "substrate"]))
    rng = np.random.default_rng(0)
    for position, (_, group) in enumerate(groups):
        jitter = rng.uniform(-0.15, 0.15, len(group))
        ax.scatter(position + jitter, group["value"], s=14)
        ax.hlines(group["value"].mean(), position - 0.3, position + 0.3, color="k")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{c}\n({s})" for (c, s), _ in groups], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(metric)
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
    ax.set_xlabel(f"{metric} (rate)")
    ax.set_ylabel(f"{metric} (spiking)")
    ax.legend(fontsize=7)
    return ax


def save_comparison_figures(frame: pd.DataFrame, folder: str | os.PathLike[str], dpi: int = 110) -> list[Path]:
    """The comparison's figures as PNG files in ``folder``: per family, learning curves (mean ±
    sd over seeds) of each headline metric recorded over steps and strip plots of whole-run
    metrics (``<family>.png``); and, when some circuit ran on both substrates, rate versus
    spiking final metrics (``agreement.png``). Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .experiments.compare import substrate_agreement, summary_table

    folder = Path(folder)
    written = []
    for family, part in frame.groupby("family"):
        metrics = list(summary_table(part)["metric"].unique())
        figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            if part.loc[part["metric"] == metric, "step"].notna().any():
                plot_learning_curves(part, metric, ax)
            else:
                plot_final_metric(part, metric, ax)
        figure.suptitle(f"{family}: {part['task'].iloc[0]}")
        figure.tight_layout()
        written.append(folder / f"{family}.png")
        figure.savefig(written[-1], dpi=dpi)
        plt.close(figure)
    agreement = substrate_agreement(frame)
    metrics = list(agreement["metric"].unique())
    if metrics:
        figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 4), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            plot_substrate_agreement(frame, metric, ax)
        figure.suptitle("rate vs spiking")
        figure.tight_layout()
        written.append(folder / "agreement.png")
        figure.savefig(written[-1], dpi=dpi)
        plt.close(figure)
    return written


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax
