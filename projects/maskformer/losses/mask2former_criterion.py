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

"""Mask2Former's matcher and criterion: mask costs and losses at points.

What the original computes (`mask2former_semantics.md`, sections 4 and 5):

* matching (`PointSampledMatcher`): per image and decoder layer one set of P
  uniform points shared by all queries and targets; the targets are sampled
  bilinearly at the padded image size, the mask logits at theirs (1/4); cost
  = `cost_mask_weight * BCE + cost_class_weight * (-prob) +
  cost_dice_weight * dice`, the BCE a mean over the points, in float32;
* `loss_mask` / `loss_dice` (`Mask2FormerCriterion.mask_sums`): per matched
  pair P points, `importance_sample_ratio` of them where the predicted mask
  is most uncertain (`point_sampling.uncertain_point_coords`), the rest
  uniform; sigmoid BCE (mean over the points) and dice of the sampled logits
  against the bilinearly sampled target masks, summed over the pairs and
  divided by the global `num_masks`. `loss_ce`, the matching itself, the
  normalizers, the term names and the weighted total are those of
  `criterion.MaskClassificationCriterion`.

Sigmoid BCE is twice the sigmoid focal loss with alpha 1/2 and gamma 0
(alpha_t = 1/2, modulating factor 1), so the cost reuses MaskFormer's
`matching_cost.mask_costs` (which skips the chunks of target slots without a
valid target) and the loss `mask_loss.pair_losses`.

Static shapes: the matched pairs of the replica's batch are compacted to the
front of its B * T target slots, in the original's order (image by image,
queries ascending), and visited `mask_loss_chunk_size` pairs at a time: a
`tf.while_loop` runs as many chunks as hold matched pairs, so the work
follows the number of real targets (the memory its gradient keeps, the
sampling positions and values of every chunk, grows with B * T * P).
Everything is a TensorFlow computation of the train step (XLA-compilable;
the batch size must be static).

Points: the random points come from `point_sampling.uniform_points` with
the per-step seed `targets[POINT_SEED]` (e.g. `[run seed, step]`), the layer
and purpose as streams, and as row keys the image's index in the global
batch (the matcher's) or that and the pair's rank in its image (the
losses'): each image and pair gets the same points whichever replica and
chunk hold it, so 2 replicas compute what 1 computes. Recorded points
(`MATCHER_POINTS`, `LOSS_POINTS`), e.g. those of a reference run, replace
the draws; `with_point_sampling` adds either to the targets.
"""
from typing import Dict
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.losses import criterion as criterion_lib
from projects.maskformer.losses import mask_loss
from projects.maskformer.losses import matcher as matcher_lib
from projects.maskformer.losses import matching_cost
from projects.maskformer.losses import point_sampling
from projects.maskformer.ops import precision

# Keys of the targets that steer the point sampling (`with_point_sampling`).
POINT_SEED = 'point_seed'
MATCHER_POINTS = 'matcher_points'
LOSS_POINTS = 'loss_points'

# The focal parameters under which the focal loss is half the sigmoid BCE.
_BCE_ALPHA = 0.5
_BCE_GAMMA = 0.0

# Stream ids of the draws (`point_sampling.uniform_points`).
_MATCHER_STREAM = 0
_CANDIDATE_STREAM = 1
_RANDOM_STREAM = 2


def with_point_sampling(targets: Mapping[str, tf.Tensor],
                        seed: Optional[tf.Tensor] = None,
                        matcher_points: Optional[tf.Tensor] = None,
                        loss_points: Optional[tf.Tensor] = None
                        ) -> Dict[str, tf.Tensor]:
  """The targets with the seed of the draws or the points to use instead.

  Args:
    targets: The loss targets (`criterion.MaskClassificationCriterion`).
    seed: An int32 or int64 [2] tensor, the per-step seed of the draws (the
      same on every replica).
    matcher_points: A float [L, B, P, 2] tensor: for each layer (final
      first) and image the (x, y) points of the matching cost.
    loss_points: A float [L, B, T, P, 2] tensor: for each layer and image the
      (x, y) points of its k-th matched pair in row k, the image's pairs
      ordered by query (as the original's matched-pair order). Only rows
      below the image's number of targets are read.

  Returns:
    A new dict: `targets` and the given entries.
  """
  extra = {POINT_SEED: seed, MATCHER_POINTS: matcher_points,
           LOSS_POINTS: loss_points}
  return dict(targets, **{k: v for k, v in extra.items() if v is not None})


def _seed(targets: Mapping[str, tf.Tensor], points_key: str) -> tf.Tensor:
  """The per-step seed of the targets; an error if the draws have none."""
  if POINT_SEED not in targets:
    raise ValueError(
        f'Mask2Former draws random points: the targets need {POINT_SEED!r} '
        f"(a per-step seed) or {points_key!r} (`with_point_sampling`)")
  return targets[POINT_SEED]


def point_matching_cost(pred_logits: tf.Tensor, pred_masks: tf.Tensor,
                        targets: Mapping[str, tf.Tensor], points: tf.Tensor,
                        params: losses_cfg.PointSampledLosses) -> tf.Tensor:
  """One layer's matching cost at one set of points per image.

  Args:
    pred_logits: A float [B, Q, K+1] tensor of class logits.
    pred_masks: A float [B, Q, h, w] tensor of mask logits.
    targets: The loss targets (either mask form, at the padded image size).
    points: A float [B, P, 2] tensor of (x, y) in [0, 1].
    params: The cost weights.

  Returns:
    A float32 [B, Q, T] tensor; the mask costs of chunks of slots without a
    valid target are skipped (`matching_cost.mask_costs`), so columns of
    invalid slots are finite but meaningless.
  """
  points = tf.cast(points, tf.float32)
  valid = tf.cast(targets['valid'], tf.bool)
  slots = tf.broadcast_to(tf.range(valid.shape[1])[tf.newaxis], tf.shape(valid))
  target_samples = point_sampling.sample_target_masks(
      targets, tf.range(tf.shape(valid)[0]), slots, points)
  maps = tf.transpose(tf.cast(pred_masks, tf.float32), [0, 2, 3, 1])
  logits = tf.transpose(point_sampling.point_sample(maps, points), [0, 2, 1])
  half_bce, dice = matching_cost.mask_costs(logits, target_samples, _BCE_ALPHA,
                                            _BCE_GAMMA, valid)
  return (params.cost_mask_weight * (2.0 * half_bce) +
          params.cost_class_weight *
          matching_cost.class_cost(pred_logits, targets['classes']) +
          params.cost_dice_weight * dice)


class PointSampledMatcher(matcher_lib.HungarianMatcher):
  """Mask2Former's matcher: `point_matching_cost`, then `matcher.assign`.

  Its params are a `PointSampledLosses` (the cost weights and
  `train_num_points`).
  """

  def costs(self, layers: Sequence[Tuple[tf.Tensor, tf.Tensor]],
            targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The matching cost of every layer, each at its own points.

    Args:
      layers: The L layers' (pred_logits, pred_masks), final layer first.
      targets: The loss targets, with `POINT_SEED` or `MATCHER_POINTS`.

    Returns:
      A float32 [L, B, Q, T] tensor.
    """
    images = point_sampling.global_image_index(tf.shape(targets['valid'])[0])
    costs = []
    for layer, (pred_logits, pred_masks) in enumerate(layers):
      if MATCHER_POINTS in targets:
        points = targets[MATCHER_POINTS][layer]
      else:
        points = point_sampling.uniform_points(
            _seed(targets, MATCHER_POINTS), images,
            self._params.train_num_points, (_MATCHER_STREAM, layer))
      costs.append(point_matching_cost(pred_logits, pred_masks, targets,
                                       points, self._params))
    return tf.stack(costs)


def matched_pairs(valid: tf.Tensor, query_for_target: tf.Tensor,
                  num_queries: int, chunk_size: int
                  ) -> Tuple[tf.Tensor, tf.Tensor]:
  """The matched pairs first, in the original's order, padded to chunks.

  Args:
    valid: A bool [B, T] tensor (B and T static).
    query_for_target: An int [B, T] tensor, the query of each target
      (ignored for invalid targets; clipped to [0, Q)).
    num_queries: Q.
    chunk_size: C.

  Returns:
    (pairs, num_pairs): an int32 [ceil(B * T / C) * C, 4] tensor of (image,
    slot, query, rank) rows, where rank is the pair's position among its
    image's pairs, the `num_pairs` (int32 scalar) matched pairs first, image
    by image and by ascending query; the other rows are padding.

  Raises:
    ValueError: if the batch size is not static.
  """
  batch_size, num_slots = valid.shape
  if batch_size is None:
    raise ValueError('the point-sampled mask losses need a static batch size')
  queries = tf.clip_by_value(tf.cast(query_for_target, tf.int32), 0,
                             num_queries - 1)
  images = tf.broadcast_to(tf.range(batch_size)[:, tf.newaxis],
                           [batch_size, num_slots])
  order = tf.argsort(tf.reshape(
      tf.where(valid, images * num_queries + queries, batch_size * num_queries),
      [-1]), stable=True)
  image = order // num_slots
  counts = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
  rank = (tf.range(batch_size * num_slots) -
          tf.gather(tf.cumsum(counts, exclusive=True), image))
  pairs = tf.stack([image, order % num_slots,
                    tf.gather(tf.reshape(queries, [-1]), order),
                    tf.clip_by_value(rank, 0, num_slots - 1)], axis=1)
  padding = -(batch_size * num_slots) % chunk_size
  return tf.pad(pairs, [[0, padding], [0, 0]]), tf.reduce_sum(counts)


class Mask2FormerCriterion(criterion_lib.MaskClassificationCriterion):
  """Mask2Former's criterion: `PointSampledMatcher`, point-sampled losses.

  The targets need `POINT_SEED` (a per-step seed), or recorded points for
  both the matching and the losses, or recorded loss points and given
  matchings (`with_point_sampling`).
  """

  def __init__(self, params: losses_cfg.PointSampledLosses,
               jit_compile: bool = False):
    """Initialises the criterion.

    Args:
      params: A `PointSampledLosses` config.
      jit_compile: see `criterion.MaskClassificationCriterion`.
    """
    super().__init__(params, PointSampledMatcher(params), jit_compile)

  def loss_points(self, logits: tf.Tensor, targets: Mapping[str, tf.Tensor],
                  pairs: tf.Tensor, layer: int) -> tf.Tensor:
    """The points of a chunk of matched pairs: recorded, or drawn.

    Drawn points are keyed by the pair's image in the global batch and its
    rank among the image's pairs (`point_sampling.uniform_points`).

    Args:
      logits: A float [C, h, w] tensor, the pairs' mask logits.
      targets: The loss targets, with `POINT_SEED` or `LOSS_POINTS`.
      pairs: An int32 [C, 4] tensor of `matched_pairs` rows.
      layer: The layer's index (0 for the final layer).

    Returns:
      A [C, P, 2] tensor of (x, y) points of the logits' dtype.
    """
    if LOSS_POINTS in targets:
      recorded = tf.gather_nd(targets[LOSS_POINTS][layer],
                              tf.stack([pairs[:, 0], pairs[:, 3]], axis=1))
      return tf.cast(recorded, logits.dtype)
    params = self._params
    num_points = params.train_num_points
    seed = _seed(targets, LOSS_POINTS)
    valid = targets['valid']
    images = tf.gather(point_sampling.global_image_index(tf.shape(valid)[0]),
                       pairs[:, 0])
    row_keys = images * valid.shape[1] + pairs[:, 3]
    candidates = point_sampling.uniform_points(
        seed, row_keys, int(num_points * params.oversample_ratio),
        (_CANDIDATE_STREAM, layer), logits.dtype)
    random_rest = point_sampling.uniform_points(
        seed, row_keys,
        num_points - int(params.importance_sample_ratio * num_points),
        (_RANDOM_STREAM, layer), logits.dtype)
    return point_sampling.uncertain_point_coords(
        logits, num_points, params.oversample_ratio,
        params.importance_sample_ratio, candidates, random_rest)

  def mask_sums(self, pred_masks: tf.Tensor, targets: Mapping[str, tf.Tensor],
                query_for_target: tf.Tensor,
                layer: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """Point-sampled sigmoid BCE and dice of one layer's matched pairs.

    Args:
      pred_masks: A float [B, Q, h, w] tensor of mask logits (B static;
        computed in float32, or float64 if it is float64).
      targets: The loss targets (see `Mask2FormerCriterion`).
      query_for_target: An int32 [B, T] tensor, the layer's matching.
      layer: The layer's index (0 for the final layer).

    Returns:
      (bce_sum, dice_sum): scalars of the predictions' accumulation dtype,
      the sums over the matched pairs (not yet divided by `num_masks`).
    """
    pred_masks = precision.widen(pred_masks)
    dtype = pred_masks.dtype
    chunk_size = self._params.mask_loss_chunk_size
    pairs, num_pairs = matched_pairs(
        tf.cast(targets['valid'], tf.bool), query_for_target,
        pred_masks.shape[1], chunk_size)

    def chunk_sums(chunk, sums):
      start = chunk * chunk_size
      rows = tf.slice(pairs, [start, 0], [chunk_size, 4])
      weights = tf.cast(start + tf.range(chunk_size) < num_pairs, dtype)
      logits = tf.gather_nd(pred_masks, tf.stack([rows[:, 0], rows[:, 2]],
                                                 axis=1))
      points = tf.stop_gradient(self.loss_points(logits, targets, rows,
                                                 layer))
      labels = point_sampling.sample_target_masks(targets, rows[:, 0],
                                                  rows[:, 1:2], points)
      half_bce, dice = mask_loss.pair_losses(
          point_sampling.point_sample(logits, points)[..., tf.newaxis],
          tf.transpose(labels, [0, 2, 1]), _BCE_ALPHA, _BCE_GAMMA)
      return chunk + 1, sums + tf.stack([
          tf.reduce_sum(weights * 2.0 * half_bce),
          tf.reduce_sum(weights * dice)])

    _, sums = tf.while_loop(
        lambda chunk, _: chunk * chunk_size < num_pairs, chunk_sums,
        (tf.constant(0), tf.zeros([2], dtype)),
        maximum_iterations=pairs.shape[0] // chunk_size)
    return sums[0], sums[1]
