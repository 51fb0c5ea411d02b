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

"""Loss and matching-cost settings of MaskFormer (the original's defaults)."""
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
