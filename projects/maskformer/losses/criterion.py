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

"""The set criterion of mask classification: matched CE, focal and dice losses.

Semantics of the original `SetCriterion` (`docs/semantics.md`, section 7):
for the final decoder layer and, with deep supervision, every auxiliary layer,

* `loss_ce`: cross-entropy of all B*Q queries, unmatched queries labelled "no
  object" (class K) with weight `no_object_weight`, other classes weight 1,
  PyTorch's weighted mean `sum(w_i * nll_i) / sum(w_i)`;
* `loss_mask`: sigmoid focal loss (mean over pixels) of each matched pair,
  the prediction bilinearly upsampled (align_corners=False) to the target
  size, summed over targets and divided by `num_masks`;
* `loss_dice`: dice loss of each matched pair, summed and divided by
  `num_masks`.

`MaskClassificationCriterion` holds what every mask-classification model
shares: the deep supervision loop over the layers, the matching (a matcher,
`matcher.py`), the cross-entropy with its "no object" weight, the global
normalizers and the weighted total. A subclass gives its matcher and the
mask and dice sums of the matched pairs (`mask_sums`): `MaskFormerCriterion`
upsamples the predictions to the target size
(`mask_loss.matched_mask_losses`: both mask terms visit the real targets
only, a few at a time, and never hold all T slots at the full size); its
matcher builds the target masks at the prediction size from the downsampled
targets.

`mask2former_criterion.Mask2FormerCriterion` computes both mask terms at
sampled points instead.

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
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import NamedTuple
from typing import Optional
from typing import Sequence
from typing import Tuple

import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.losses import mask_loss
from projects.maskformer.losses import matcher as matcher_lib
from projects.maskformer.ops import precision

TERM_NAMES = ('loss_ce', 'loss_mask', 'loss_dice')
# The model outputs the criterion reads.
PREDICTION_KEYS = ('pred_logits', 'pred_masks', 'aux_outputs')


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


def classification_sum(pred_logits: tf.Tensor, classes: tf.Tensor,
                       no_object_weight: float) -> tf.Tensor:
  """Weighted cross-entropy summed over every query of this replica's batch.

  Args:
    pred_logits: A float [B, Q, K+1] tensor (computed in float32, or float64
      if it is float64).
    classes: An int32 [B, Q] tensor from `query_classes`.
    no_object_weight: The weight of class K.

  Returns:
    A float32 (float64 for float64 logits) scalar, `sum(w_i * nll_i)`; divided
    by the global weight sum it is this replica's share of `loss_ce`.
  """
  logits = precision.widen(pred_logits)
  nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=classes,
                                                       logits=logits)
  weights = class_weights(classes, logits.shape[-1] - 1, no_object_weight,
                          logits.dtype)
  return tf.reduce_sum(weights * nll)


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


# A matcher: the L layers' (pred_logits, pred_masks) and the targets to the
# int32 [L, B, T] matchings (`matcher.HungarianMatcher`).
Matcher = Callable[[Sequence[Tuple[tf.Tensor, tf.Tensor]],
                    Mapping[str, tf.Tensor]], tf.Tensor]


def compiled_with_recomputing_gradient(
    fn: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
  """`fn(outputs, *rest)` compiled, and its gradient a second compiled program.

  Differentiating a compiled function makes TF hand every tensor the backward
  program reads from the forward program to it as an extra output, which XLA
  must copy when it is one of the program's own inputs: for the criterion,
  two copies of every layer's mask logits (150 MiB at 512 x 512, batch 2,
  6 layers), alive from the loss to the backward pass. Here the forward
  program sees inputs that are not watched (so it is compiled plain), and the
  gradient is a second program that recomputes `fn` from `outputs` and
  differentiates it: the forward pass keeps nothing alive but the model's own
  outputs. The recomputation is cheap for the criterion (its mask sums
  recompute their chunks in the backward pass anyway).

  Args:
    fn: A function of a nest of float tensors `outputs` (differentiated) and
      further arguments (not differentiated) returning one tensor.

  Returns:
    A function with `fn`'s signature and value whose gradient with respect to
    `outputs` is `fn`'s (zeros where `fn` does not depend on them).
  """
  forward = tf.function(fn, jit_compile=True)

  @tf.function(jit_compile=True)
  def backward(outputs, rest, upstream):
    with tf.GradientTape() as tape:
      tape.watch(outputs)
      value = fn(outputs, *rest)
    return tape.gradient(value, outputs, output_gradients=upstream,
                         unconnected_gradients=tf.UnconnectedGradients.ZERO)

  def call(outputs, *rest):

    @tf.custom_gradient
    def value(*flat_outputs):
      structured = tf.nest.pack_sequence_as(outputs, flat_outputs)
      result = forward(tf.nest.map_structure(tf.stop_gradient, structured),
                       *rest)

      def gradient(upstream):
        return tf.nest.flatten(backward(structured, rest, upstream))

      return result, gradient

    return value(*tf.nest.flatten(outputs))

  return call


class MaskClassificationCriterion:
  """Matches every decoder layer's predictions and computes all loss terms.

  `outputs` is the model's output dict: `pred_logits` float [B, Q, K+1]
  ("no object" last), `pred_masks` float [B, Q, h, w] mask logits, and
  `aux_outputs`, a list (decoder layers 0..L-2) of dicts with the same keys.
  `targets` is a dict (`dataloaders/maskformer_input.py`): `classes` int
  [B, T], `valid` bool [B, T], with T <= Q, and the masks at the padded image
  size, either as `segment_map` int [B, H, W] (training:
  `maskformer_input.loss_targets`) or as `masks` bool or float [B, T, H, W].

  Layers are ordered final first, then auxiliary layer 0, 1, ...
  (`layer_suffixes`). To check the 18 terms against reference matchings, call
  `criterion(outputs, targets, query_for_target)` (or `losses`) with the
  reference matchings written into an int [L, B, T] array in that order (-1
  for padded targets); without `query_for_target` it uses its own matchings.

  Subclasses implement `mask_sums`.
  """

  def __init__(self, params: losses_cfg.Losses, matcher: Matcher,
               jit_compile: bool = False):
    """Initialises the criterion.

    Args:
      params: A `Losses` config.
      matcher: The matcher of the layers (see `Matcher`).
      jit_compile: compile the matching and the per-replica loss sums
        (`local_sums`) with XLA, each a `tf.function(jit_compile=True)`, for a
        caller that does not compile its whole step (the cross-replica sums
        of the normalizers stay outside, in the caller's replica context).
        Inside a step that is compiled as a whole it changes nothing.
    """
    self._params = params
    self._matcher = matcher
    if jit_compile:
      self._match = tf.function(self._match_layers, jit_compile=True)
      self._local_sums = compiled_with_recomputing_gradient(self.local_sums)
    else:
      self._match = self._match_layers
      self._local_sums = self.local_sums

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
    return self._match(outputs, targets)

  def _match_layers(self, outputs: Mapping[str, tf.Tensor],
                    targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """`match`, not compiled by itself."""
    return self._matcher(self.layers(outputs), targets)

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
    classes = tf.stack([
        query_classes(query_for_target[i], targets['classes'], valid,
                      num_queries, no_object_class)
        for i in range(len(layers))
    ])
    loss_dtype = precision.accumulation_dtype(layers[0][0].dtype)
    normalizers = global_normalizers(valid, class_weights(
        classes, no_object_class, params.no_object_weight, loss_dtype))
    sums = self._local_sums(outputs, targets, query_for_target, classes)
    terms = {}
    for i, suffix in enumerate(layer_suffixes(len(layers))):
      terms['loss_ce' + suffix] = sums[i, 0] / normalizers.class_weight_sums[i]
      terms['loss_mask' + suffix] = sums[i, 1] / normalizers.num_masks
      terms['loss_dice' + suffix] = sums[i, 2] / normalizers.num_masks
    return terms

  def local_sums(self, outputs: Mapping[str, tf.Tensor],
                 targets: Mapping[str, tf.Tensor], query_for_target: tf.Tensor,
                 classes: tf.Tensor) -> tf.Tensor:
    """The numerators of the terms over this replica's batch.

    Args:
      outputs: The model outputs (see the class docstring).
      targets: The targets (see the class docstring).
      query_for_target: An int32 [L, B, T] tensor, each layer's matching.
      classes: An int32 [L, B, Q] tensor, each layer's `query_classes`.

    Returns:
      A float32 (float64 for float64 outputs) [L, 3] tensor: per layer the
      weighted cross-entropy sum (`classification_sum`) and the mask and
      dice sums of the matched pairs (`mask_sums`).
    """
    params = self._params
    return tf.stack([
        tf.stack([classification_sum(logits, classes[i],
                                     params.no_object_weight),
                  *self.mask_sums(masks, targets, query_for_target[i], i)])
        for i, (logits, masks) in enumerate(self.layers(outputs))
    ])

  def mask_sums(self, pred_masks: tf.Tensor, targets: Mapping[str, tf.Tensor],
                query_for_target: tf.Tensor,
                layer: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """The mask and dice losses of one layer's matched pairs, summed.

    Args:
      pred_masks: A float [B, Q, h, w] tensor, one layer's mask logits.
      targets: The targets (see the class docstring).
      query_for_target: An int32 [B, T] tensor, the layer's matching.
      layer: The layer's index in `layers` (0 for the final layer).

    Returns:
      (mask_sum, dice_sum): float32 (float64 for float64 outputs) scalars
      over this replica's valid targets.
    """
    raise NotImplementedError

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


class MaskFormerCriterion(MaskClassificationCriterion):
  """MaskFormer's criterion: `HungarianMatcher`, mask losses at full size."""

  def __init__(self, params: losses_cfg.Losses, jit_compile: bool = False):
    """Initialises the criterion.

    Args:
      params: A `Losses` config.
      jit_compile: see `MaskClassificationCriterion`.
    """
    super().__init__(params, matcher_lib.HungarianMatcher(params), jit_compile)

  def mask_sums(self, pred_masks: tf.Tensor, targets: Mapping[str, tf.Tensor],
                query_for_target: tf.Tensor,
                layer: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """`mask_loss.matched_mask_losses` at the targets' padded image size."""
    del layer  # Every layer's losses are computed alike.
    params = self._params
    return mask_loss.matched_mask_losses(
        pred_masks, targets, query_for_target, params.mask_loss_chunk_size,
        params.focal_alpha, params.focal_gamma)
