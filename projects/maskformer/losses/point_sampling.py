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

"""PointRend's point sampling, as Mask2Former's matcher and criterion use it.

Mask2Former compares predictions and targets at P points instead of on whole
masks (`mask2former_semantics.md`, sections 4 and 5):

* `point_sample`: values of maps at normalised (x, y) points, PyTorch's
  `grid_sample(map, 2 * points - 1, bilinear, zeros, align_corners=False)`,
  which is `ops.grid_sample`;
* `sample_target_masks`: the target masks (either form of
  `maskformer_input`) sampled so, without building the masks of a segment
  map: fractional labels at mask borders;
* `uncertain_point_coords`: PointRend's importance sampling (the candidates
  where the class-agnostic logit is closest to 0, most uncertain first, then
  uniform points);
* `uniform_points`: the random draws, from a counter-based generator: a
  row's points are a hash of the per-step seed, the use (stream) and the
  row's key (e.g. its image's index in the global batch), so that they are
  reproducible on any device, with or without XLA, differ between steps,
  uses and rows, need no random state, and do not depend on how the global
  batch is split over replicas or on which other rows are drawn with them.
  A caller that wants other points (e.g. the points a reference run
  recorded) passes those instead of drawing.
"""
from typing import Mapping
from typing import Sequence
from typing import Union

import tensorflow as tf

from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.ops import grid_sample


def point_sample(values: tf.Tensor, points: tf.Tensor) -> tf.Tensor:
  """Bilinear samples of masks or maps at normalised points, zero outside.

  Args:
    values: A float [N, H, W] tensor of masks or [N, H, W, C] of maps (H, W
      static).
    points: A float [N, P, 2] tensor of (x, y) in [0, 1], cast to the values'
      dtype.

  Returns:
    A [N, P] (for masks) or [N, P, C] (for maps) tensor of the values' dtype.
  """
  points = tf.cast(points, values.dtype)
  if values.shape.rank == 3:
    return grid_sample.grid_sample(values[..., tf.newaxis], points)[..., 0]
  return grid_sample.grid_sample(values, points)


def sample_target_masks(targets: Mapping[str, tf.Tensor],
                        batch_index: tf.Tensor, slot_index: tf.Tensor,
                        points: tf.Tensor) -> tf.Tensor:
  """Target masks, as 0/1 floats, sampled bilinearly at points.

  The masks of image `batch_index[n]` and slots `slot_index[n]` are all
  sampled at the points of row n. With a segment map, the mask of slot t at a
  point is the sum of the bilinear weights of the point's corner pixels whose
  slot is t (`point_sample` of the mask, without the mask); invalid slots
  (padding, crowd) are zero.

  Args:
    targets: The loss targets (`maskformer_input`: 'segment_map' int
      [B, H, W] or 'masks' bool or float [B, T, H, W], and 'valid' bool
      [B, T]).
    batch_index: An int32 [N] tensor of images.
    slot_index: An int32 [N, M] tensor of slots of those images.
    points: A float [N, P, 2] tensor of (x, y) in [0, 1].

  Returns:
    A [N, M, P] tensor of the points' dtype, in [0, 1].
  """
  dtype = points.dtype
  height, width = maskformer_input.mask_size(targets)
  pairs = tf.stack([tf.broadcast_to(batch_index[:, tf.newaxis],
                                    tf.shape(slot_index)), slot_index], axis=-1)
  valid = tf.cast(tf.gather_nd(tf.cast(targets['valid'], tf.bool), pairs),
                  dtype)
  if maskformer_input.SEGMENT_MAP in targets:
    indices, weights = grid_sample.corner_indices_and_weights(
        points, height, width)
    segment_map = tf.reshape(
        tf.cast(targets[maskformer_input.SEGMENT_MAP], tf.int32),
        [-1, height * width])
    corner_slots = tf.gather(tf.gather(segment_map, batch_index), indices,
                             batch_dims=1)
    hits = tf.equal(corner_slots[:, tf.newaxis],
                    slot_index[:, :, tf.newaxis, tf.newaxis])
    samples = tf.reduce_sum(
        tf.where(hits, weights[:, tf.newaxis], tf.zeros([], dtype)), axis=-1)
  else:
    masks = tf.cast(tf.gather_nd(targets[maskformer_input.MASKS], pairs),
                    dtype)
    samples = tf.transpose(
        point_sample(tf.transpose(masks, [0, 2, 3, 1]), points), [0, 2, 1])
  return samples * valid[..., tf.newaxis]


def uncertain_point_coords(logits: tf.Tensor, num_points: int,
                           oversample_ratio: float,
                           importance_sample_ratio: float,
                           candidates: tf.Tensor,
                           random_rest: tf.Tensor) -> tf.Tensor:
  """PointRend's `get_uncertain_point_coords_with_randomness`, given draws.

  The uncertainty of a candidate is `-|logit|` sampled there; the
  `int(importance_sample_ratio * num_points)` most uncertain candidates are
  kept, most uncertain first (ties: the lower candidate index first), then
  the uniform `random_rest`. No gradient flows to the logits.

  Args:
    logits: A float [N, H, W] tensor of mask logits (N may be 0).
    num_points: P.
    oversample_ratio: Candidates per point.
    importance_sample_ratio: The share of importance-sampled points.
    candidates: A float [N, int(P * oversample_ratio), 2] tensor of uniform
      (x, y) draws.
    random_rest: A float [N, P - int(P * importance_sample_ratio), 2] tensor
      of uniform (x, y) draws.

  Returns:
    A [N, P, 2] tensor of (x, y) points, of the candidates' dtype.

  Raises:
    ValueError: if the draws' static shapes do not fit the ratios.
  """
  num_candidates = int(num_points * oversample_ratio)
  num_uncertain = int(importance_sample_ratio * num_points)
  if (candidates.shape[1] != num_candidates or
      random_rest.shape[1] != num_points - num_uncertain):
    raise ValueError(
        f'{num_points} points with oversampling {oversample_ratio} and '
        f'importance {importance_sample_ratio} need {num_candidates} '
        f'candidates and {num_points - num_uncertain} random points per mask, '
        f'got {candidates.shape[1]} and {random_rest.shape[1]}')
  uncertainty = -tf.abs(point_sample(tf.stop_gradient(logits), candidates))
  _, index = tf.math.top_k(uncertainty, k=num_uncertain, sorted=True)
  chosen = tf.gather(candidates, index, batch_dims=1)
  return tf.concat([chosen, tf.cast(random_rest, chosen.dtype)], axis=1)


def global_image_index(batch_size: Union[int, tf.Tensor]) -> tf.Tensor:
  """The index of each of this replica's images in the global batch.

  Assumes the global batch is split over the replicas in order (replica r
  holds images [r * batch_size, (r + 1) * batch_size)), as
  `tf.distribute.Strategy.experimental_distribute_dataset` splits it.

  Args:
    batch_size: The per-replica batch size (an int or int32 scalar).

  Returns:
    An int32 [batch_size] tensor.
  """
  context = tf.distribute.get_replica_context()
  first = 0
  if context is not None:
    first = tf.cast(context.replica_id_in_sync_group, tf.int32) * batch_size
  return first + tf.range(batch_size)


def _mix(value: tf.Tensor) -> tf.Tensor:
  """A bijective avalanche mix of uint32 values (the 'lowbias32' finaliser).

  Each input bit flips about half of the output bits, so consecutive
  counters give unrelated values.
  """
  for shift, multiplier in ((16, 0x7feb352d), (15, 0x846ca68b)):
    value = tf.bitwise.bitwise_xor(
        value, tf.bitwise.right_shift(value, tf.constant(shift, tf.uint32)))
    value = value * tf.constant(multiplier, tf.uint32)
  return tf.bitwise.bitwise_xor(
      value, tf.bitwise.right_shift(value, tf.constant(16, tf.uint32)))


def _absorb(state: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
  """The hash state after absorbing a uint32 value (broadcasting)."""
  return _mix(tf.bitwise.bitwise_xor(state, _mix(value)))


def _as_uint32_words(value: tf.Tensor) -> tf.Tensor:
  """The 32-bit words of integers: int64 values give (low, high) each."""
  value = tf.reshape(tf.convert_to_tensor(value), [-1])
  if value.dtype == tf.int64:
    high = tf.bitwise.right_shift(value, tf.constant(32, tf.int64))
    value = tf.reshape(tf.stack([value, high], axis=1), [-1])
  return tf.cast(value, tf.uint32)


def uniform_points(seed: tf.Tensor, row_keys: tf.Tensor, num_points: int,
                   streams: Sequence[Union[int, tf.Tensor]],
                   dtype: tf.DType = tf.float32) -> tf.Tensor:
  """Uniform (x, y) points in [0, 1)^2, P per row, from a stateless seed.

  A counter-based generator: each coordinate is a 32-bit hash of the seed,
  the streams, the row's key and the coordinate's index in its row, of
  which the top 24 bits give the value. Row n's points therefore depend on
  `row_keys[n]` and not on the other rows, the replica or the compiler:
  the same seed, streams and key give the same points on any device, with
  or without XLA, and the rows of a global batch get the same points
  however it is split over replicas.

  Args:
    seed: An int32 or int64 [2] tensor, the per-step seed (e.g. a run seed
      and the step number).
    row_keys: An int32 [N] tensor naming each row (e.g. its image's index in
      the global batch); rows with one key get the same points.
    num_points: P.
    streams: ints or int32 scalars naming the use of the draw (e.g. the
      decoder layer and the purpose).
    dtype: The float dtype of the points.

  Returns:
    A [N, P, 2] tensor of `dtype`.
  """
  state = tf.constant(0x9e3779b9, tf.uint32)
  for word in tf.unstack(_as_uint32_words(seed)):
    state = _absorb(state, word)
  for stream in streams:
    state = _absorb(state, tf.cast(stream, tf.uint32))
  rows = _absorb(state, tf.cast(row_keys, tf.uint32))
  counters = tf.cast(tf.reshape(tf.range(2 * num_points), [1, num_points, 2]),
                     tf.uint32)
  bits = _absorb(rows[:, tf.newaxis, tf.newaxis], counters)
  values = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)),
                   tf.float32) * (1.0 / (1 << 24))
  return tf.cast(values, dtype)
