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

"""Mask-classification inference: semantic, panoptic and instance results.

Pure functions from the predictions of a mask-classification model (class
logits [B, Q, K + 1] with "no object" last, mask logits [B, Q, H, W]) to the
results of MaskFormer's (semantic, panoptic) and Mask2Former's (instance)
inference, vectorised over queries and images, with static shapes (they run
under `tf.function(jit_compile=True)`). They compute at the spatial size of
the mask logits they are given; pixels outside `valid_mask` are void.
`postprocessing` brings the logits to each image's original size first.
"""
import fractions
from typing import Dict
from typing import Optional
from typing import Sequence
from typing import Tuple

import tensorflow as tf

from projects.maskformer.ops import precision

# Overlap thresholds are compared as exact fractions p/q with q at most this;
# see `exact_fraction`.
_MAX_THRESHOLD_DENOMINATOR = 2**20


def semantic_inference(pred_logits: tf.Tensor,
                       mask_logits: tf.Tensor) -> tf.Tensor:
  """Per-class scores: sum over queries of P(class) * sigmoid(mask).

  The original's `einsum("qc,qhw->chw", softmax(cls)[..., :-1],
  sigmoid(mask))`, "no object" dropped after the softmax. The sum over
  queries is an einsum (a matmul): exact float32 on CPU/GPU; on TPU its
  precision follows the platform's float32 matmul precision. float64 inputs
  are computed in float64.

  Args:
    pred_logits: A float [B, Q, K + 1] tensor of class logits, "no object"
      last.
    mask_logits: A float [B, Q, H, W] tensor of mask logits.

  Returns:
    A float32 (float64 for float64 logits) [B, H, W, K] tensor of class
    scores.
  """
  class_probs = tf.nn.softmax(precision.widen(pred_logits), axis=-1)
  mask_probs = tf.sigmoid(tf.cast(mask_logits, class_probs.dtype))
  return tf.einsum('bqk,bqhw->bhwk', class_probs[..., :-1], mask_probs)


def _thing_flags(thing_classes: Sequence[int], num_classes: int) -> tf.Tensor:
  """A bool [num_classes] constant, True for the contiguous ids of things."""
  flags = [False] * num_classes
  for class_id in thing_classes:
    if not 0 <= class_id < num_classes:
      raise ValueError(f'thing class {class_id} is not a contiguous class id '
                       f'in [0, {num_classes}).')
    flags[class_id] = True
  return tf.constant(flags, dtype=tf.bool)


def exact_fraction(threshold: float) -> Tuple[int, int]:
  """`threshold` as p/q, so that area/orig < threshold is exact in integers.

  The original compares Python floats: `area / original_area < threshold`.
  For a threshold equal to the double nearest p/q with q <= 2^20, and areas
  below 2^24, that comparison equals the integer comparison
  `area * q < p * original_area`: a ratio equal to p/q rounds to the
  threshold itself, and any other ratio differs from p/q by at least
  1 / (q * original_area), far more than a double's rounding. A float32
  comparison would not be exact for large areas.

  Args:
    threshold: The overlap threshold, a Python float.

  Returns:
    (p, q), Python ints.

  Raises:
    ValueError: if no fraction with q <= 2^20 rounds to `threshold`.
  """
  fraction = fractions.Fraction(threshold).limit_denominator(
      _MAX_THRESHOLD_DENOMINATOR)
  if float(fraction) != float(threshold):
    raise ValueError(
        f'overlap_threshold {threshold!r} is not a fraction with a '
        f'denominator of at most {_MAX_THRESHOLD_DENOMINATOR}; use a '
        'threshold such as 0.8.')
  return fraction.numerator, fraction.denominator


def panoptic_inference(pred_logits: tf.Tensor,
                       mask_logits: tf.Tensor,
                       valid_mask: tf.Tensor,
                       thing_classes: Sequence[int],
                       object_mask_threshold: float = 0.8,
                       overlap_threshold: float = 0.8,
                       paint_confident_pixels_only: bool = False
                       ) -> Dict[str, tf.Tensor]:
  """MaskFormer's panoptic inference, vectorised over queries and images.

  The original (`MaskFormer.panoptic_inference`) per image:
  scores, labels = max / argmax of softmax(cls) over all K + 1 classes; keep
  the queries with `labels != K and scores > object_mask_threshold`; every
  pixel goes to the kept query with the largest `score * sigmoid(mask)`
  (the first on ties); then, for the kept queries in query order, with
  `area` = pixels won and `original_area` = pixels with `sigmoid(mask) >= 0.5`
  (unweighted): skip the query if either is 0 or if
  `area / original_area < overlap_threshold`; a stuff query whose class
  already has a segment paints its pixels into that segment (no new entry);
  otherwise it gets the next id (from 1). Pixels of skipped queries stay 0
  (void). Here the same decisions are taken for all queries at once:
  accepted = kept and both areas positive and the ratio test passed; a
  segment is created by an accepted thing query or by the first accepted
  query of a stuff class; ids are the running count of created segments.

  Mask2Former (`paint_confident_pixels_only`) paints only the won pixels
  where the winner's `sigmoid(mask) >= 0.5` (the others stay void) and
  accepts a query only if it has at least one such pixel; the areas of the
  ratio test are unchanged (all won pixels over `original_area`).

  Args:
    pred_logits: A float [B, Q, K + 1] tensor of class logits, "no object"
      last.
    mask_logits: A float [B, Q, H, W] tensor of mask logits at the output
      size.
    valid_mask: A bool [B, H, W] tensor; pixels outside are void and not
      counted in any area.
    thing_classes: The contiguous class ids of the thing classes (others are
      stuff).
    object_mask_threshold: Queries need a class score above this (COCO 0.8,
      ADE20K panoptic 0.7, the original's default 0.0).
    overlap_threshold: Minimum area / original_area of a segment (0.8); a
      Python float (compared exactly, see `exact_fraction`).
    paint_confident_pixels_only: Mask2Former's rule (above); False for
      MaskFormer.

  Returns:
    A dict of tensors:
      'panoptic': int32 [B, H, W] segment ids, 0 = void.
      'segment_valid': bool [B, Q], True for the first `num_segments` slots.
      'segment_id': int32 [B, Q], slot s holds segment id s + 1 (0 if
        invalid).
      'segment_category': int32 [B, Q], the contiguous class id (-1 if
        invalid).
      'segment_isthing': bool [B, Q].
      'segment_score': float32 (float64 for float64 logits) [B, Q], the class
        score of the query that created the segment (the original reports no score; merged stuff
        queries do not change it).
      'segment_query': int32 [B, Q], the query that created the segment (-1
        if invalid).
      'num_segments': int32 [B].
  """
  pred_logits = precision.widen(pred_logits)
  mask_logits = tf.cast(mask_logits, pred_logits.dtype)
  num_queries = pred_logits.shape[1]
  num_classes = pred_logits.shape[2] - 1
  is_thing_class = _thing_flags(thing_classes, num_classes)
  ratio_numerator, ratio_denominator = exact_fraction(overlap_threshold)

  probs = tf.nn.softmax(pred_logits, axis=-1)
  scores = tf.reduce_max(probs, axis=-1)
  labels = tf.argmax(probs, axis=-1, output_type=tf.int32)
  kept = tf.not_equal(labels, num_classes) & (scores > object_mask_threshold)

  mask_probs = tf.sigmoid(mask_logits)
  weighted = tf.where(kept[:, :, tf.newaxis, tf.newaxis],
                      scores[:, :, tf.newaxis, tf.newaxis] * mask_probs, -1.0)
  winner = tf.argmax(weighted, axis=1, output_type=tf.int32)

  queries = tf.range(num_queries, dtype=tf.int32)
  valid_mask = tf.cast(valid_mask, tf.bool)
  pixel_valid = valid_mask[:, tf.newaxis]
  won = tf.equal(winner[:, tf.newaxis], queries[tf.newaxis, :, tf.newaxis,
                                                 tf.newaxis]) & pixel_valid
  area = tf.reduce_sum(tf.cast(won, tf.int32), axis=[2, 3])
  original_area = tf.reduce_sum(
      tf.cast((mask_probs >= 0.5) & pixel_valid, tf.int32), axis=[2, 3])
  ratio_passed = (tf.cast(area, tf.int64) * ratio_denominator >=
                  tf.cast(original_area, tf.int64) * ratio_numerator)
  accepted = kept & (area > 0) & (original_area > 0) & ratio_passed
  painted = valid_mask
  if paint_confident_pixels_only:
    # `won` is one-hot over the queries at valid pixels.
    winner_prob = tf.reduce_sum(tf.where(won, mask_probs, 0.0), axis=1)
    painted = valid_mask & (winner_prob >= 0.5)
    confident_area = tf.reduce_sum(
        tf.cast(won & painted[:, tf.newaxis], tf.int32), axis=[2, 3])
    accepted &= confident_area > 0

  query_isthing = tf.gather(is_thing_class,
                            tf.minimum(labels, num_classes - 1))
  # same_class_before[b, j, i]: query j <= i is accepted, of i's class.
  not_after = queries[:, tf.newaxis] <= queries[tf.newaxis, :]
  same_class_before = (
      tf.equal(labels[:, :, tf.newaxis], labels[:, tf.newaxis, :]) &
      not_after[tf.newaxis] & accepted[:, :, tf.newaxis])
  first_of_class = tf.argmax(tf.cast(same_class_before, tf.int32), axis=1,
                             output_type=tf.int32)
  creates = accepted & (query_isthing | tf.equal(first_of_class, queries))
  owner = tf.where(query_isthing, queries[tf.newaxis], first_of_class)
  created_id = tf.cumsum(tf.cast(creates, tf.int32), axis=1)
  query_segment_id = tf.where(
      accepted, tf.gather(created_id, owner, batch_dims=1), 0)
  panoptic = tf.where(painted,
                      tf.gather(query_segment_id, winner, batch_dims=1), 0)

  # slot_match[b, s, q]: query q created segment s + 1.
  slot_match = creates[:, tf.newaxis, :] & tf.equal(
      created_id[:, tf.newaxis, :], (queries + 1)[tf.newaxis, :, tf.newaxis])
  segment_valid = tf.reduce_any(slot_match, axis=2)
  segment_query = tf.argmax(tf.cast(slot_match, tf.int32), axis=2,
                            output_type=tf.int32)
  return {
      'panoptic': panoptic,
      'segment_valid': segment_valid,
      'segment_id': tf.where(segment_valid, queries[tf.newaxis] + 1, 0),
      'segment_category': tf.where(
          segment_valid, tf.gather(labels, segment_query, batch_dims=1), -1),
      'segment_isthing': segment_valid & tf.gather(
          query_isthing, segment_query, batch_dims=1),
      'segment_score': tf.where(
          segment_valid, tf.gather(scores, segment_query, batch_dims=1), 0.0),
      'segment_query': tf.where(segment_valid, segment_query, -1),
      'num_segments': tf.reduce_sum(tf.cast(creates, tf.int32), axis=1),
  }


def instance_inference(pred_logits: tf.Tensor,
                       mask_logits: tf.Tensor,
                       valid_mask: tf.Tensor,
                       thing_classes: Optional[Sequence[int]],
                       top_k: int = 100) -> Dict[str, tf.Tensor]:
  """Instance segmentation from queries, Mask2Former's rule.

  The original MaskFormer has no instance inference; this is the one
  Mask2Former added (`MaskFormer.instance_inference` there): take the
  `top_k` (query, class) pairs by class probability (softmax without the
  "no object" column) over all Q x K pairs; in panoptic mode drop the pairs
  whose class is stuff; each pair's mask is `mask_logit > 0` and its score
  is the class probability times the mean mask probability inside the mask,
  `sum(sigmoid * mask) / (sum(mask) + 1e-6)`. The pairs come sorted by class
  probability (Mask2Former leaves them unsorted; COCO evaluation re-sorts by
  score).

  Args:
    pred_logits: A float [B, Q, K + 1] tensor of class logits, "no object"
      last.
    mask_logits: A float [B, Q, H, W] tensor of mask logits at the output
      size.
    valid_mask: A bool [B, H, W] tensor; masks are empty outside it.
    thing_classes: The contiguous class ids of the thing classes; pairs of
      other classes are marked invalid. None keeps every class (an
      instance-only dataset).
    top_k: The number of (query, class) pairs per image (Mask2Former's
      `TEST.DETECTIONS_PER_IMAGE`, 100).

  Returns:
    A dict of tensors:
      'instance_masks': bool [B, top_k, H, W].
      'instance_scores': float32 (float64 for float64 logits) [B, top_k].
      'instance_classes': int32 [B, top_k], contiguous class ids.
      'instance_queries': int32 [B, top_k], the query of each pair.
      'instance_valid': bool [B, top_k], False for stuff pairs.
  """
  pred_logits = precision.widen(pred_logits)
  mask_logits = tf.cast(mask_logits, pred_logits.dtype)
  num_queries = pred_logits.shape[1]
  num_classes = pred_logits.shape[2] - 1
  class_probs = tf.nn.softmax(pred_logits, axis=-1)[..., :-1]
  flat_probs = tf.reshape(class_probs, [-1, num_queries * num_classes])
  top_probs, top_indices = tf.math.top_k(flat_probs, k=top_k, sorted=True)
  top_queries = top_indices // num_classes
  top_classes = top_indices % num_classes

  masks = tf.gather(mask_logits, top_queries, batch_dims=1)
  binary = (masks > 0.0) & tf.cast(valid_mask, tf.bool)[:, tf.newaxis]
  binary_float = tf.cast(binary, masks.dtype)
  mask_scores = (tf.reduce_sum(tf.sigmoid(masks) * binary_float, axis=[2, 3]) /
                 (tf.reduce_sum(binary_float, axis=[2, 3]) + 1e-6))
  if thing_classes is None:
    instance_valid = tf.ones_like(top_classes, dtype=tf.bool)
  else:
    instance_valid = tf.gather(_thing_flags(thing_classes, num_classes),
                               top_classes)
  return {
      'instance_masks': binary,
      'instance_scores': top_probs * mask_scores,
      'instance_classes': top_classes,
      'instance_queries': top_queries,
      'instance_valid': instance_valid,
  }
