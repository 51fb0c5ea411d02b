# Copyright 2026 The MaskFormer-TF Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Times the deformable-attention sampling: one gather vs one-hot matmuls.

`ops.deformable_attention.multi_scale_deformable_attention` reads the four
corners of every sampling point with one gather. The alternative measured
here replaces the gather, for the k smallest levels, by a one-hot sampling
matrix per head ([Lq, H*W], built from the same corners and weights) and a
matmul with the level's values (TPUs are fast at matmuls and slow at
gathers); the other levels keep the gather. The workload is the
Mask2Former encoder at a given input size: levels H/32, H/16, H/8 (every
token of the three levels is a query), real widths by default.

For every variant, under XLA (`jit_compile=True`), it prints the forward time
and the forward + backward time (gradients of a sum of squares with respect
to the values, locations and weights), min / median of warm runs (in rounds
that run every program once, so that load changes hit all alike), the first
call (tracing and compilation) and the largest difference from the gather's
output; then the fastest variant of each mode. A variant that runs out of
memory is reported as such.

Example:
  python tools/benchmark_deformable_attention.py --image_size=512 --repeats=5
"""
import os
import statistics
import sys
import time

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from projects.maskformer.ops import deformable_attention
from projects.maskformer.ops import grid_sample

_IMAGE_SIZE = flags.DEFINE_integer(
    'image_size', 512, 'Square input size; the levels are size/32, size/16 '
    'and size/8 (must be a multiple of 32).', lower_bound=32)
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 1, 'Images per call.',
                                   lower_bound=1)
_CHANNELS = flags.DEFINE_integer('channels', 256, 'Model width D.',
                                 lower_bound=1)
_HEADS = flags.DEFINE_integer('heads', 8, 'Attention heads M (must divide '
                              '--channels).', lower_bound=1)
_POINTS = flags.DEFINE_integer('points', 4, 'Sampling points P per head and '
                               'level.', lower_bound=1)
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed runs per variant and '
                                'mode after the first call.', lower_bound=1)
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the random inputs.')
_ONE_HOT_MAX_PIXELS = flags.DEFINE_integer(
    'one_hot_max_pixels', 32 * 32, 'Largest level (H*W) that a one-hot '
    'variant may sample with a matmul: its [Lq, M, H*W] sampling matrix and '
    'the intermediates of its gradient grow with H*W (at 512x512 the 64x64 '
    'level needs more than 15 GB).', lower_bound=0)


def _one_hot_levels(value, spatial_shapes, locations, weights, count):
  """The sampling with one-hot matmuls on the `count` smallest levels.

  The levels are in Mask2Former's order (smallest first); the rest goes
  through the library's gather.

  Args:
    value: [N, S, M, d] values.
    spatial_shapes: the levels' (H, W).
    locations: [N, Lq, M, L, P, 2] normalised locations.
    weights: [N, Lq, M, L, P] attention weights.
    count: how many leading levels use the matmul.

  Returns:
    [N, Lq, M * d], the library op's output.
  """
  batch = tf.shape(value)[0]
  _, num_queries, num_heads, _, _, _ = locations.shape
  starts = deformable_attention.level_start_index(spatial_shapes) + (
      value.shape[1],)
  output = 0.0
  for level, (height, width) in enumerate(spatial_shapes[:count]):
    indices, corner_weights = grid_sample.corner_indices_and_weights(
        locations[:, :, :, level], height, width)
    point_weights = corner_weights * weights[:, :, :, level, :, tf.newaxis]
    # [N, Lq, M, H*W]: the sum of the weighted one-hot rows of all corners.
    sampling = tf.reduce_sum(
        tf.reshape(point_weights, [batch, num_queries, num_heads, -1, 1]) *
        tf.one_hot(tf.reshape(indices, [batch, num_queries, num_heads, -1]),
                   height * width, dtype=value.dtype), axis=3)
    level_value = value[:, starts[level]:starts[level + 1]]
    output += tf.einsum('nqms,nsmd->nqmd', sampling, level_value)
  output = tf.reshape(output, [batch, num_queries, -1])
  if count < len(spatial_shapes):
    output += deformable_attention.multi_scale_deformable_attention(
        value[:, starts[count]:], spatial_shapes[count:],
        locations[:, :, :, count:], weights[:, :, :, count:])
  return output


def _variants(spatial_shapes, max_pixels):
  """name -> fn(value, locations, weights), gather first.

  Args:
    spatial_shapes: the levels' (H, W), smallest first.
    max_pixels: one-hot variants cover the leading levels up to this H*W.

  Returns:
    The gather, then the one-hot matmul on the first 1, 2, ... levels.
  """
  variants = {'gather (all levels)': lambda v, x, w: (
      deformable_attention.multi_scale_deformable_attention(
          v, spatial_shapes, x, w))}
  small = sum(1 for h, w in spatial_shapes if h * w <= max_pixels)
  for count in range(1, small + 1):
    sizes = ', '.join(f'{h}x{w}' for h, w in spatial_shapes[:count])
    variants[f'one-hot matmul on {sizes}'] = (
        lambda v, x, w, count=count: _one_hot_levels(
            v, spatial_shapes, x, w, count))
  return variants


def _forward_backward(fn):
  def step(value, locations, weights):
    with tf.GradientTape() as tape:
      tape.watch([value, locations, weights])
      loss = tf.reduce_sum(tf.square(fn(value, locations, weights)))
    return tape.gradient(loss, [value, locations, weights])
  return step


def _call_seconds(fn, args):
  """Seconds of one call, synchronised on all its outputs."""
  start = time.perf_counter()
  tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
  return time.perf_counter() - start


def _measure(programs, args, repeats):
  """First-call seconds and warm-call seconds of every program.

  The warm calls run in rounds, every program once per round, in an order
  that alternates between rounds, so that a change of the machine's load
  affects all programs alike. A program that runs out of memory on its
  first call is left out of the rounds.

  Args:
    programs: {key: compiled function}.
    args: the functions' arguments.
    repeats: rounds.

  Returns:
    ({key: first-call seconds, or None if out of memory},
     {key: [warm seconds]}).
  """
  first, warm = {}, {}
  for key, fn in programs.items():
    try:
      first[key] = _call_seconds(fn, args)
      warm[key] = []
    except tf.errors.ResourceExhaustedError:
      first[key] = None
  order = list(warm)
  for round_index in range(repeats):
    for key in order if round_index % 2 == 0 else order[::-1]:
      warm[key].append(_call_seconds(programs[key], args))
  return first, warm


def _ms(seconds: float) -> str:
  return f'{seconds * 1e3:,.1f}'


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  if _IMAGE_SIZE.value % 32:
    raise app.UsageError('--image_size must be a multiple of 32')
  if _CHANNELS.value % _HEADS.value:
    raise app.UsageError('--heads must divide --channels')
  size, heads, points = _IMAGE_SIZE.value, _HEADS.value, _POINTS.value
  spatial_shapes = [(size // s, size // s) for s in (32, 16, 8)]
  length = sum(h * w for h, w in spatial_shapes)
  rng = np.random.default_rng(_SEED.value)
  batch, levels = _BATCH_SIZE.value, len(spatial_shapes)
  value = tf.constant(rng.normal(size=(
      batch, length, heads, _CHANNELS.value // heads)).astype(np.float32))
  # Like the fixture: a good share of the locations outside [0, 1].
  locations = tf.constant(rng.uniform(
      -0.2, 1.2, (batch, length, heads, levels, points, 2)).astype(np.float32))
  weights = tf.nn.softmax(tf.constant(rng.normal(
      size=(batch, length, heads, levels * points)).astype(np.float32)))
  weights = tf.reshape(weights, [batch, length, heads, levels, points])
  args = (value, locations, weights)
  print(f'Machine: {os.cpu_count()} CPUs, load average '
        f'{", ".join(f"{x:.2f}" for x in os.getloadavg())} at start; '
        f'TensorFlow {tf.__version__}, XLA on '
        f'{tf.config.list_logical_devices()[-1].device_type}. '
        f'Input {size}x{size}: levels '
        f'{", ".join(f"{h}x{w}" for h, w in spatial_shapes)} ({length} '
        f'queries), batch {batch}, D={_CHANNELS.value}, M={heads}, P={points}; '
        f'min / median of {_REPEATS.value} warm runs.\n')
  variants = _variants(spatial_shapes, _ONE_HOT_MAX_PIXELS.value)
  programs = {}
  for name, fn in variants.items():
    programs[name, 'forward'] = tf.function(fn, jit_compile=True)
    programs[name, 'forward + backward'] = tf.function(
        _forward_backward(fn), jit_compile=True)
  first, warm = _measure(programs, args, _REPEATS.value)
  print('| variant | forward (ms) | forward + backward (ms) | first calls '
        '(s) | max abs diff vs gather |')
  print('|---|---|---|---|---|')
  reference = None
  best = {}
  for name in variants:
    cells, firsts = [], []
    for mode in ('forward', 'forward + backward'):
      times = warm.get((name, mode))
      if times is None:
        cells.append('out of memory')
        firsts.append('-')
        continue
      cells.append(f'{_ms(min(times))} / {_ms(statistics.median(times))}')
      firsts.append(f'{first[name, mode]:.1f}')
      if mode not in best or min(times) < best[mode][1]:
        best[mode] = (name, min(times))
    difference = '-'
    if (name, 'forward') in warm:
      output = programs[name, 'forward'](*args).numpy()
      reference = output if reference is None else reference
      difference = f'{np.abs(output - reference).max():.1e}'
    print(f'| {name} | {cells[0]} | {cells[1]} | {" / ".join(firsts)} | '
          f'{difference} |')
  print()
  for mode, (name, seconds) in best.items():
    print(f'Fastest {mode}: {name} ({_ms(seconds)} ms).')


if __name__ == '__main__':
  cli.run(main)
