"""Receptive fields of convolutional and locally connected layers, as index maps.

A layer with square kernels of side ``k`` and stride ``s`` over an input of ``C`` channels
and ``H × W`` locations has ``L = H' W'`` output locations (``H' = ⌊(H − k)/s⌋ + 1``, no
padding) and each location reads a patch of ``D = k² C`` inputs. :func:`patch_index` gives,
for every location ``l`` and patch entry ``d``, the flat index of that input, so that

* :func:`gather_patches` is the im2col of the layer (one ``np.take``, batched over any
  leading axes, e.g. the ensemble axis K and the samples B);
* :func:`scatter_patches` is its transpose (col2im: each patch entry added back to the input
  it came from), the path an error takes down the layer under backpropagation;
* :func:`dense_weights` expands shared (convolutional, (C_out, D)) or per-location (locally
  connected, (L, C_out, D)) kernels into the effective (L C_out, n_in) weight matrix, whose
  nonzero pattern :func:`patch_synapses` lists (the synapses a spiking realisation builds).

Layouts: flat populations are channel-last, unit ``(y, x, c)`` at ``(y W' + x) C + c``; the
layer's input may instead be channel-first (``(c, y, x)`` at ``c H W + y W + x``, the layout
of flattened MNIST/CIFAR-10 images). Patch entries are ordered ``(i, j, c)`` (kernel row,
kernel column, input channel).
"""

from __future__ import annotations

import numpy as np

from ..validation import check_choice, check_integer

__all__ = ["output_side", "patch_index", "gather_patches", "scatter_patches", "patch_synapses", "dense_weights"]


def output_side(side: int, kernel: int, stride: int) -> int:
    """``⌊(side − kernel)/stride⌋ + 1`` (valid convolution), or a ValueError when the kernel
    does not fit."""
    if kernel > side:
        raise ValueError(f"kernel_size {kernel} does not fit an input of side {side}")
    return (side - kernel) // stride + 1


def patch_index(shape: tuple[int, int, int], kernel: int, stride: int, layout: str = "channel-last") -> np.ndarray:
    """Flat input index of every (location, patch entry): an int array (L, k² C).

    ``shape`` (C, H, W) of the input; ``layout`` "channel-last" or "channel-first" (how the
    input is flattened); output locations in row-major order.
    """
    check_choice("layout", layout, ["channel-last", "channel-first"])
    channels, height, width = (check_integer("shape[i]", v, 1) for v in shape)
    kernel, stride = check_integer("kernel_size", kernel, 1), check_integer("stride", stride, 1)
    rows = np.arange(output_side(height, kernel, stride)) * stride
    cols = np.arange(output_side(width, kernel, stride)) * stride
    y = rows[:, None, None, None, None] + np.arange(kernel)[None, None, :, None, None]
    x = cols[None, :, None, None, None] + np.arange(kernel)[None, None, None, :, None]
    c = np.arange(channels)[None, None, None, None, :]
    if layout == "channel-last":
        index = (y * width + x) * channels + c
    else:
        index = c * height * width + y * width + x
    return index.reshape(rows.size * cols.size, kernel * kernel * channels)


def gather_patches(inputs: np.ndarray, index: np.ndarray) -> np.ndarray:
    """im2col: ``inputs`` (..., n_in) -> patches (..., L, D) with ``index`` from :func:`patch_index`."""
    return np.take(inputs, index, axis=-1)


def scatter_patches(patches: np.ndarray, index: np.ndarray, n_inputs: int) -> np.ndarray:
    """col2im, the transpose of :func:`gather_patches`: (..., L, D) -> (..., n_in), each entry
    added to the input it was read from (overlapping patches sum; one ``np.bincount``)."""
    leading = patches.shape[:-2]
    rows = int(np.prod(leading))
    targets = (np.arange(rows)[:, None] * n_inputs + index.reshape(1, -1)).reshape(-1)
    summed = np.bincount(targets, weights=patches.reshape(-1), minlength=rows * n_inputs)
    return summed.reshape(*leading, n_inputs)


def patch_synapses(index: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(post, pre) of every synapse of a patch layer, each (L, C_out, D): output unit
    ``l C_out + c`` (channel-last) reads input ``index[l, d]`` through kernel entry
    ``(l, c, d)``; each pair occurs once (a patch reads distinct inputs)."""
    locations, span = index.shape
    rows = np.arange(locations)[:, None, None] * channels + np.arange(channels)[None, :, None]
    return (np.broadcast_to(rows, (locations, channels, span)),
            np.broadcast_to(index[:, None, :], (locations, channels, span)))


def dense_weights(kernels: np.ndarray, index: np.ndarray, n_inputs: int, shared: bool) -> np.ndarray:
    """Effective weight matrix (..., L C_out, n_in) of shared kernels (``shared``, (..., C_out, D))
    or per-location kernels (..., L, C_out, D); output units channel-last, entries at
    :func:`patch_synapses`."""
    locations = index.shape[0]
    if shared:
        per_location = np.broadcast_to(kernels[..., None, :, :], (*kernels.shape[:-2], locations, *kernels.shape[-2:]))
    else:
        per_location = kernels
    channels = per_location.shape[-2]
    dense = np.zeros((*per_location.shape[:-3], locations * channels, n_inputs))
    rows, cols = patch_synapses(index, channels)
    dense[..., rows, cols] = per_location
    return dense
