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

"""MaskFormer's set criterion: matched cross-entropy, focal and dice losses.

Semantics of the original `SetCriterion` (reference_semantics.md section 7):
for the final decoder layer and, with deep supervision, every auxiliary layer,

* `loss_ce`: cross-entropy of all B*Q queries, unmatched queries labelled "no
  object" (class K) with weight `no_object_weight`, other classes weight 1,
  PyTorch's weighted mean `sum(w_i * nll_i) / sum(w_i)`;
* `loss_mask`: sigmoid focal loss (mean over pixels) of each matched pair,
  the prediction bilinearly upsampled (align_corners=False) to the target
  size, summed over targets and divided by `num_masks`;
* `loss_dice`: dice loss of each matched pair, summed and divided by
  `num_masks`.

The terms of the auxiliary layer i are named `loss_ce_i`, `loss_mask_i`,
`loss_dice_i`.

Distribution: `num_masks` (clamped at 1) and the cross-entropy weight sum are
summed over the replicas of the current `tf.distribute` replica context, so
each replica returns its share of the global-batch loss and the shares add up
to the single-replica loss of the global batch. A train step must therefore
sum (not average) the replicas' gradients, as the optimizers do under
MirroredStrategy and TPUStrategy, and must not divide the loss by
`num_replicas_in_sync` (multiply the logged loss by it instead, as Model
Garden's DETR task does).
"""
from typing import Dict
from typing import List
from typing import Mapping
from typing import NamedTuple
from typing import Optional
from typing import Tuple

import tensorflow as tf

from projects.maskformer.configs import losses as losses_config
from projects.maskformer.losses import matching_cost
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import linear_assignment
from projects.maskformer.ops import precision

TERM_NAMES = ('loss_ce', 'loss_mask', 'loss_dice')


class Normalizers(NamedTuple):
  """Denominators of the losses, summed over all replicas.

  Attributes:
    num_masks: A float scalar, the number of valid targets in the global
      batch, clamped at 1.
    class_weight_sums: A float [L] tensor, the sum of the cross-entropy
      weights of all queries of the global batch for each layer.
  """
  num_masks: tf.Tensor
  class_weight_sums: tf.Tensor


def layer_suffixes(num_layers: int) -> List[str]:
  """Term-name suffixes of the layers in the order used here.

  Args:
    num_layers: L, the final layer plus the auxiliary layers.

  Returns:
    `['', '_0', '_1', ..., '_{L-2}']`: the final layer, then auxiliary layer i.
  """
  return [''] + [f'_{i}' for i in range(num_layers - 1)]


def query_classes(query_for_target: tf.Tensor, target_classes: tf.Tensor,
                  target_valid: tf.Tensor, num_queries: int,
                  no_object_class: int) -> tf.Tensor:
  """The class each query is trained towards ("no object" if unmatched).

  Args:
    query_for_target: An int32 [B, T] tensor, the query matched to each target
      (ignored for invalid targets).
    target_classes: An int [B, T] tensor.
    target_valid: A bool [B, T] tensor.
    num_queries: Q.
    no_object_class: K, the index of the "no object" class.

  Returns:
    An int32 [B, Q] tensor.
  """
  queries = tf.range(num_queries, dtype=tf.int32)
  matched = ((tf.cast(query_for_target, tf.int32)[:, tf.newaxis, :] ==
              queries[tf.newaxis, :, tf.newaxis]) &
             target_valid[:, tf.newaxis, :])
  classes = tf.cast(target_classes, tf.int32)[:, tf.newaxis, :]
  return tf.where(tf.reduce_any(matched, axis=2),
                  tf.reduce_max(tf.where(matched, classes, -1), axis=2),
                  no_object_class)


def class_weights(classes: tf.Tensor, no_object_class: int,
                  no_object_weight: float,
                  dtype: tf.DType = tf.float32) -> tf.Tensor:
  """Cross-entropy weights: `no_object_weight` for "no object", else 1."""
  return tf.where(tf.equal(classes, no_object_class),
                  tf.constant(no_object_weight, dtype), tf.constant(1.0, dtype))


def classification_loss(pred_logits: tf.Tensor, classes: tf.Tensor,
                        no_object_weight: float,
                        class_weight_sum: tf.Tensor) -> tf.Tensor:
  """Weighted cross-entropy of every query, divided by the global weight sum.

  Args:
    pred_logits: A float [B, Q, K+1] tensor (computed in float32, or float64
      if it is float64).
    classes: An int32 [B, Q] tensor from `query_classes`.
    no_object_weight: The weight of class K.
    class_weight_sum: A scalar of the logits' accumulation dtype, the weight
      sum over the global batch.

  Returns:
    A float32 (float64 for float64 logits) scalar, this replica's share of
    `loss_ce`.
  """
  logits = precision.widen(pred_logits)
  nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=classes,
                                                       logits=logits)
  weights = class_weights(classes, logits.shape[-1] - 1, no_object_weight,
                          logits.dtype)
  return tf.reduce_sum(weights * nll) / class_weight_sum


def mask_losses(pred_masks: tf.Tensor, target_masks: tf.Tensor,
                target_valid: tf.Tensor, query_for_target: tf.Tensor,
                num_masks: tf.Tensor, focal_alpha: float = 0.25,
                focal_gamma: float = 2.0) -> Tuple[tf.Tensor, tf.Tensor]:
  """Focal and dice losses of the matched (query, target) pairs.

  Only the T matched prediction masks are gathered and upsampled to the
  target size; padded target slots contribute zero.

  Args:
    pred_masks: A float [B, Q, h, w] tensor of mask logits (computed in
      float32, or float64 if it is float64).
    target_masks: A bool or float [B, T, H, W] tensor of 0/1 target masks.
    target_valid: A bool [B, T] tensor.
    query_for_target: An int32 [B, T] tensor, the query matched to each target
      (ignored for invalid targets).
    num_masks: A scalar of the masks' accumulation dtype, the global number
      of targets (>= 1).
    focal_alpha: Alpha of the focal loss.
    focal_gamma: Gamma of the focal loss.

  Returns:
    (loss_mask, loss_dice): float32 (float64 for float64 masks) scalars,
    this replica's shares.
  """
  height, width = target_masks.shape[-2], target_masks.shape[-1]
  queries = tf.clip_by_value(tf.cast(query_for_target, tf.int32), 0,
                             tf.shape(pred_masks)[1] - 1)
  matched = tf.gather(precision.widen(pred_masks), queries, batch_dims=1)
  logits = interpolation.resize_bilinear(matched, (height, width))
  targets = tf.cast(target_masks, logits.dtype)
  valid = tf.cast(target_valid, logits.dtype)

  probs = tf.sigmoid(logits)
  cross_entropy = (tf.nn.relu(logits) - logits * targets +
                   tf.math.log1p(tf.exp(-tf.abs(logits))))
  p_t = probs * targets + (1.0 - probs) * (1.0 - targets)
  alpha_t = focal_alpha * targets + (1.0 - focal_alpha) * (1.0 - targets)
  focal = alpha_t * cross_entropy * tf.pow(1.0 - p_t, focal_gamma)
  focal_per_mask = tf.reduce_mean(focal, axis=[-2, -1])

  numerator = 2.0 * tf.reduce_sum(probs * targets, axis=[-2, -1])
  denominator = (tf.reduce_sum(probs, axis=[-2, -1]) +
                 tf.reduce_sum(targets, axis=[-2, -1]))
  dice_per_mask = 1.0 - (numerator + 1.0) / (denominator + 1.0)
  return (tf.reduce_sum(focal_per_mask * valid) / num_masks,
          tf.reduce_sum(dice_per_mask * valid) / num_masks)


def global_normalizers(target_valid: tf.Tensor,
                       query_weights: tf.Tensor) -> Normalizers:
  """Sums `num_masks` and the cross-entropy weights over all replicas.

  Args:
    target_valid: A bool [B, T] tensor.
    query_weights: A float [L, B, Q] tensor, each layer's `class_weights`
      (float32, or float64 in the float64 mode); the sums have its dtype.

  Returns:
    `Normalizers`. In a replica context (inside `strategy.run`, or with no
    strategy) the sums are all-reduced over its replicas in one call; in a
    cross-replica context they are this batch's.
  """
  local = tf.concat([
      tf.reduce_sum(tf.cast(target_valid, query_weights.dtype))[tf.newaxis],
      tf.reduce_sum(query_weights, axis=[1, 2]),
  ], axis=0)
  replica_context = tf.distribute.get_replica_context()
  if replica_context is not None:
    local = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, local)
  return Normalizers(num_masks=tf.maximum(local[0], 1.0),
                     class_weight_sums=local[1:])


class MaskFormerCriterion:
  """Matches every decoder layer's predictions and computes all loss terms.

  `outputs` is the model's output dict: `pred_logits` float [B, Q, K+1]
  ("no object" last), `pred_masks` float [B, Q, h, w] mask logits, and
  `aux_outputs`, a list (decoder layers 0..L-2) of dicts with the same keys.
  `targets` is a dict: `masks` bool or float [B, T, H, W] at the padded image
  size, `classes` int [B, T], `valid` bool [B, T], with T <= Q.

  Layers are ordered final first, then auxiliary layer 0, 1, ...
  (`layer_suffixes`). To check the 18 terms against reference matchings, call
  `criterion(outputs, targets, query_for_target)` (or `losses`) with the
  reference matchings written into an int [L, B, T] array in that order (-1
  for padded targets); without `query_for_target` it uses its own matchings.
  """

  def __init__(self, params: losses_config.Losses):
    """Initialises the criterion.

    Args:
      params: A `Losses` config.
    """
    self._params = params

  def layers(self, outputs: Mapping[str, tf.Tensor]
             ) -> List[Tuple[tf.Tensor, tf.Tensor]]:
    """(pred_logits, pred_masks) of the final layer, then of each aux layer.

    Deep supervision is the model's switch (as the original's single
    DEEP_SUPERVISION flag): every auxiliary layer the model returns in
    `aux_outputs` is matched and supervised.
    """
    layers = [(outputs['pred_logits'], outputs['pred_masks'])]
    layers += [(aux['pred_logits'], aux['pred_masks'])
               for aux in outputs.get('aux_outputs', ())]
    return layers

  def match(self, outputs: Mapping[str, tf.Tensor],
            targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Hungarian matching of every layer, all layers in one solver loop.

    Args:
      outputs: The model outputs (see the class docstring).
      targets: The targets (see the class docstring).

    Returns:
      An int32 [L, B, T] tensor: the query matched to each target in each
      layer, -1 for invalid targets. No gradient flows through it.
    """
    layers = self.layers(outputs)
    num_layers = len(layers)
    params = self._params
    # The queries of all layers side by side share the target masks.
    cost = matching_cost.matching_cost(
        tf.concat([tf.cast(logits, tf.float32) for logits, _ in layers], 1),
        tf.concat([tf.cast(masks, tf.float32) for _, masks in layers], 1),
        targets['classes'], targets['masks'],
        class_weight=params.cost_class_weight,
        mask_weight=params.cost_mask_weight,
        dice_weight=params.cost_dice_weight,
        focal_alpha=params.focal_alpha, focal_gamma=params.focal_gamma)
    batch_size = tf.shape(cost)[0]
    num_queries = layers[0][0].shape[1]
    num_targets = cost.shape[2]
    cost = tf.reshape(cost, [batch_size, num_layers, num_queries, num_targets])
    cost = tf.reshape(tf.transpose(cost, [1, 0, 2, 3]),
                      [num_layers * batch_size, num_queries, num_targets])
    valid = tf.tile(tf.cast(targets['valid'], tf.bool), [num_layers, 1])
    assignment = linear_assignment.linear_sum_assignment(cost, valid)
    return tf.reshape(assignment.query_for_target,
                      [num_layers, batch_size, num_targets])

  def losses(self, outputs: Mapping[str, tf.Tensor],
             targets: Mapping[str, tf.Tensor],
             query_for_target: tf.Tensor) -> Dict[str, tf.Tensor]:
    """The unweighted loss terms for given matchings.

    Args:
      outputs: The model outputs (see the class docstring).
      targets: The targets (see the class docstring).
      query_for_target: An int [L, B, T] tensor, each layer's matching, in the
        order of `layers`.

    Returns:
      A dict of float32 (float64 for float64 outputs) scalars `loss_ce`,
      `loss_mask`, `loss_dice` and
      `loss_{ce,mask,dice}_i` for each auxiliary layer i: this replica's
      shares of the global-batch terms.
    """
    layers = self.layers(outputs)
    params = self._params
    query_for_target = tf.stop_gradient(tf.cast(query_for_target, tf.int32))
    valid = tf.cast(targets['valid'], tf.bool)
    num_queries = layers[0][0].shape[1]
    no_object_class = layers[0][0].shape[2] - 1
    classes = [
        query_classes(query_for_target[i], targets['classes'], valid,
                      num_queries, no_object_class)
        for i in range(len(layers))
    ]
    loss_dtype = precision.accumulation_dtype(layers[0][0].dtype)
    normalizers = global_normalizers(valid, tf.stack([
        class_weights(c, no_object_class, params.no_object_weight, loss_dtype)
        for c in classes
    ]))
    terms = {}
    for i, ((logits, masks), suffix) in enumerate(
        zip(layers, layer_suffixes(len(layers)))):
      terms['loss_ce' + suffix] = classification_loss(
          logits, classes[i], params.no_object_weight,
          normalizers.class_weight_sums[i])
      terms['loss_mask' + suffix], terms['loss_dice' + suffix] = mask_losses(
          masks, targets['masks'], valid, query_for_target[i],
          normalizers.num_masks, params.focal_alpha, params.focal_gamma)
    return terms

  def weighted_total(self, terms: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Sum of the terms of `losses` times their weights (ce / mask / dice)."""
    weights = (self._params.class_weight, self._params.mask_weight,
               self._params.dice_weight)
    num_layers = len(terms) // len(TERM_NAMES)
    return tf.add_n([
        weight * terms[name + suffix]
        for suffix in layer_suffixes(num_layers)
        for name, weight in zip(TERM_NAMES, weights)
    ])

  def __call__(self, outputs: Mapping[str, tf.Tensor],
               targets: Mapping[str, tf.Tensor],
               query_for_target: Optional[tf.Tensor] = None
               ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """Matches (unless matchings are given) and computes the loss.

    Args:
      outputs: The model outputs (see the class docstring).
      targets: The targets (see the class docstring).
      query_for_target: Optional int [L, B, T] matchings to use instead of the
        matcher's.

    Returns:
      (total, terms): the weighted float32 (float64 for float64 outputs)
      total and the dict of unweighted
      terms (see `losses`), this replica's shares.
    """
    if query_for_target is None:
      query_for_target = self.match(outputs, targets)
    terms = self.losses(outputs, targets, query_for_target)
    return self.weighted_total(terms), terms
