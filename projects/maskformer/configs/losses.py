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

"""Loss and matching-cost settings (the originals' defaults).

`Losses` is MaskFormer's; `PointSampledLosses` is Mask2Former's, whose mask
loss and cost are computed at sampled points.
"""
import dataclasses

from official.modeling import hyperparams


@dataclasses.dataclass
class Losses(hyperparams.Config):
  """Weights of the criterion and of the Hungarian matching cost.

  Attributes:
    class_weight: weight of `loss_ce` (and of every `loss_ce_i`).
    mask_weight: weight of the sigmoid focal `loss_mask` terms
      (`MASK_WEIGHT`).
    dice_weight: weight of the `loss_dice` terms (`DICE_WEIGHT`).
    cost_class_weight: weight of -prob[class] in the matching cost.
    cost_mask_weight: weight of the pairwise focal cost in the matching cost.
    cost_dice_weight: weight of the pairwise dice cost in the matching cost.
    no_object_weight: cross-entropy weight of the "no object" class
      (`NO_OBJECT_WEIGHT`; the other classes weigh 1).
    focal_alpha: alpha of the sigmoid focal loss and cost.
    focal_gamma: gamma of the sigmoid focal loss and cost.
    mask_loss_chunk_size: matched pairs whose full-size focal and dice losses
      are computed together (`mask_loss.matched_mask_losses`): the loss holds
      about this many full-size masks at a time, whatever `max_segments` is.
      The values do not depend on it.
  """
  class_weight: float = 1.0
  mask_weight: float = 20.0
  dice_weight: float = 1.0
  cost_class_weight: float = 1.0
  cost_mask_weight: float = 20.0
  cost_dice_weight: float = 1.0
  no_object_weight: float = 0.1
  focal_alpha: float = 0.25
  focal_gamma: float = 2.0
  mask_loss_chunk_size: int = 4


@dataclasses.dataclass
class PointSampledLosses(Losses):
  """Mask2Former's criterion and matcher: point-sampled BCE and dice.

  The original's defaults (`MODEL.MASK_FORMER` of the Mask2Former configs):
  weights 2 / 5 / 5 for the class, mask and dice terms and costs, "no
  object" weight 0.1. The mask loss and cost are sigmoid binary
  cross-entropy (the focal fields do not apply), both computed at sampled
  points.

  Attributes:
    train_num_points: P, the points per matched pair in the loss and per
      image in the matching cost (`TRAIN_NUM_POINTS`).
    oversample_ratio: candidate points per loss point for the importance
      sampling (`OVERSAMPLE_RATIO`).
    importance_sample_ratio: the share of the P loss points taken where the
      predicted mask is most uncertain; the rest are uniform
      (`IMPORTANCE_SAMPLE_RATIO`).
    mask_loss_chunk_size: matched pairs whose point losses are computed
      together; chunks without a matched pair are skipped. The values do not
      depend on it.
  """
  class_weight: float = 2.0
  mask_weight: float = 5.0
  dice_weight: float = 5.0
  cost_class_weight: float = 2.0
  cost_mask_weight: float = 5.0
  cost_dice_weight: float = 5.0
  train_num_points: int = 12544
  oversample_ratio: float = 3.0
  importance_sample_ratio: float = 0.75
  mask_loss_chunk_size: int = 16
