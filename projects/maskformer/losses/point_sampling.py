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
* `uniform_points`: the random draws, from a stateless per-step seed with the
  replica id folded in, so that they are reproducible, differ between steps,
  between replicas and between uses, and need no random state. A caller that
  wants other points (e.g. the points a reference run recorded) passes those
  instead of drawing.
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


def replica_id() -> tf.Tensor:
  """This replica's id in its sync group (0 outside a replica context)."""
  context = tf.distribute.get_replica_context()
  if context is None:
    return tf.constant(0, tf.int32)
  return tf.cast(context.replica_id_in_sync_group, tf.int32)


def uniform_points(seed: tf.Tensor, shape: Sequence[Union[int, tf.Tensor]],
                   streams: Sequence[Union[int, tf.Tensor]],
                   dtype: tf.DType = tf.float32) -> tf.Tensor:
  """Uniform (x, y) points in [0, 1)^2 from a stateless seed.

  The replica id, then every stream id, is folded into the seed
  (`tf.random.experimental.stateless_fold_in`): the same seed gives the same
  points on the same replica, and independent points on another replica or
  for other streams. (The same points on the same kind of device and
  compilation: XLA's generator differs from TensorFlow's kernels.)

  Args:
    seed: An int32 or int64 [2] tensor, the per-step seed (e.g. a run seed
      and the step number).
    shape: The leading dimensions [N, P].
    streams: ints or int32 scalars naming the use of the draw (e.g. the
      decoder layer and the purpose).
    dtype: The float dtype of the points.

  Returns:
    A [*shape, 2] tensor of `dtype`.
  """
  seed = tf.random.experimental.stateless_fold_in(seed, replica_id())
  for stream in streams:
    seed = tf.random.experimental.stateless_fold_in(seed, stream)
  return tf.random.stateless_uniform(list(shape) + [2], seed, dtype=dtype)
