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

"""Hungarian matching of every decoder layer's queries to the targets.

As the original `HungarianMatcher` (`docs/semantics.md`, section 6): per image
and per decoder layer, the assignment of targets to queries that minimises
the weighted matching cost, with no gradient. `assign` solves the [L, B, Q, T]
costs of all layers in one exact solver loop
(`ops/linear_assignment.py`); `HungarianMatcher` builds MaskFormer's costs
(class, focal and dice on the target masks at the prediction size,
`matching_cost`). A matcher with other mask costs (e.g. Mask2Former's, on
sampled points) overrides `HungarianMatcher.costs`.

A layer is a pair (pred_logits float [B, Q, K+1], pred_masks float
[B, Q, h, w]); targets are the loss targets of `maskformer_input` (`classes`
int [B, T], `valid` bool [B, T], T <= Q, and the masks in either form).
"""
from typing import Mapping
from typing import Sequence
from typing import Tuple

import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.losses import matching_cost
from projects.maskformer.ops import linear_assignment


def assign(cost: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
  """The minimum-cost assignment of every layer and image, in one solver loop.

  Args:
    cost: A float [L, B, Q, T] tensor, each layer's matching cost.
    valid: A bool [B, T] tensor, the targets to assign (the others get -1).

  Returns:
    An int32 [L, B, T] tensor: the query matched to each target in each
    layer, -1 for invalid targets.
  """
  num_layers = cost.shape[0]
  batch_size = tf.shape(cost)[1]
  num_targets = cost.shape[3]
  cost = tf.reshape(cost, [num_layers * batch_size, cost.shape[2],
                           num_targets])
  valid = tf.tile(tf.cast(valid, tf.bool), [num_layers, 1])
  assignment = linear_assignment.linear_sum_assignment(cost, valid)
  return tf.reshape(assignment.query_for_target,
                    [num_layers, batch_size, num_targets])


class HungarianMatcher:
  """MaskFormer's matcher: its matching costs, then `assign`."""

  def __init__(self, params: losses_cfg.Losses):
    """Initialises the matcher.

    Args:
      params: A `Losses` config (the cost weights and the focal parameters).
    """
    self._params = params

  def costs(self, layers: Sequence[Tuple[tf.Tensor, tf.Tensor]],
            targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The matching cost of every layer.

    Args:
      layers: The L layers' (pred_logits, pred_masks), final layer first.
      targets: The loss targets, masks at the padded image size.

    Returns:
      A float32 [L, B, Q, T] tensor (`matching_cost.matching_cost`).
    """
    params = self._params
    size = layers[0][1].shape[-2:]
    prediction_sizes = maskformer_input.prediction_valid_sizes(targets, size)
    # The target masks at the prediction size, shared by the layers; one
    # layer's cost at a time bounds the per-pixel temporaries to one layer.
    masks = maskformer_input.all_masks(maskformer_input.resize_nearest_legacy(
        targets, size, prediction_sizes))
    return tf.stack([
        matching_cost.matching_cost(
            logits, pred_masks, targets['classes'], masks, targets['valid'],
            class_weight=params.cost_class_weight,
            mask_weight=params.cost_mask_weight,
            dice_weight=params.cost_dice_weight,
            focal_alpha=params.focal_alpha, focal_gamma=params.focal_gamma,
            valid_sizes=prediction_sizes)
        for logits, pred_masks in layers
    ])

  def __call__(self, layers: Sequence[Tuple[tf.Tensor, tf.Tensor]],
               targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Matches every layer.

    Args:
      layers: The L layers' (pred_logits, pred_masks), final layer first.
      targets: The loss targets.

    Returns:
      An int32 [L, B, T] tensor (`assign`).
    """
    return assign(self.costs(layers, targets), targets['valid'])
