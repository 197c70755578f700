"""Closed forms and theory curves that benchmarks and plots overlay on simulations.

* :mod:`~bioplausible.theory.kernels` — arc-cosine kernels and the infinite-width lazy eNTK of
  backprop, ρ-feedback alignment, DFA and Hebb for ReLU networks (Bordelon & Pehlevan,
  ICLR 2023);
* :mod:`~bioplausible.theory.sequence` — derived transition and sequence capacities of the
  sequence memories (SeqNet, polynomial and exponential DenseNet);
* :mod:`~bioplausible.theory.integration` — expected-gradient learning of a linear RNN that
  integrates white noise, its rich-regime reduction to the outlier eigenvalues of W and the
  lazy (frozen-W) limit (Bordelon, Cotler, Pehlevan & Zavatone-Veth 2025);
* :mod:`~bioplausible.theory.dmft` — the infinite-width rich (mean-field) dynamics of two-layer
  ReLU networks under GD, FA and DFA, by Monte Carlo over the single-site process
  (Bordelon & Pehlevan, ICLR 2023);
* :mod:`~bioplausible.theory.lazy` — train/test MSE dynamics of full-batch regression under a
  static kernel, with the random initial function's contribution in expectation;
* :mod:`~bioplausible.theory.td` — learning curves of batch TD(0) value learning with linear
  features on a Markov reward process (Bordelon, Masset, Kuo & Pehlevan, NeurIPS 2023).

Imports only numpy (and the package's input checks), so a plot needs no simulation.
"""

from .dmft import DMFT_RULES, two_layer_dmft
from .integration import expected_dynamics, expected_gradients, lazy_dynamics, outlier_gap, reduced_dynamics
from .kernels import RULES, arccos_kernel, lazy_entk, relu_expectations
from .lazy import kernel_loss_curve, lazy_loss_curve, nngp
from .sequence import theoretical_capacity
from .td import TDProblem, plateau, td_learning_curve

__all__ = ["DMFT_RULES", "two_layer_dmft",
           "expected_gradients", "expected_dynamics", "reduced_dynamics", "lazy_dynamics", "outlier_gap",
           "RULES", "arccos_kernel", "relu_expectations", "lazy_entk", "kernel_loss_curve",
           "lazy_loss_curve", "nngp", "theoretical_capacity", "TDProblem", "plateau", "td_learning_curve"]
