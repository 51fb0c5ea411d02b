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

"""Configuration of the `maskformer_adamw` optimizer, for Model Garden.

`OptimizationConfig` is Model Garden's optimization config whose optimizer
one-of gains the choice 'maskformer_adamw' (`MaskFormerAdamWConfig`). The
optimizer itself, `MaskFormerAdamW`, lives in `projects/maskformer/
optimization.py`, which registers it with Model Garden's optimizer factory
under that name; the task imports it, so a config naming 'maskformer_adamw'
builds it.
"""
import dataclasses
from typing import List
from typing import Optional

from official.modeling import optimization

from projects.maskformer.configs import variable_names

# detectron2 gives `lr * BACKBONE_MULTIPLIER` to every backbone parameter.
DEFAULT_BACKBONE_VARIABLE_REGEXES = (variable_names.BACKBONE_VARIABLE_REGEX,)

# GroupNorm/LayerNorm parameters and the query embedding are not decayed.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = (
    variable_names.NORM_VARIABLE_REGEX,
    variable_names.QUERY_EMBED_VARIABLE_REGEX,
)


@dataclasses.dataclass
class MaskFormerAdamWConfig(optimization.BaseOptimizerConfig):
  """Configuration of `MaskFormerAdamW`; the defaults are the R50 recipe.

  Attributes:
    name: the optimizer's name.
    beta_1: decay of the first moment.
    beta_2: decay of the second moment.
    epsilon: added to the bias-corrected sqrt(v).
    weight_decay_rate: decoupled weight decay (`WEIGHT_DECAY`).
    exclude_from_weight_decay: regexes (`re.search`) of the names of variables
      not decayed: normalization parameters and the query embedding.
    backbone_lr_multiplier: learning-rate factor of the backbone
      (`BACKBONE_MULTIPLIER`).
    backbone_variable_regexes: regexes of the backbone's variable names.
    global_clipnorm: the whole model's gradient is clipped to this L2 norm
      with torch's `clip_grad_norm_` formula after the cross-replica sum;
      None disables it.
  """
  name: str = 'MaskFormerAdamW'
  beta_1: float = 0.9
  beta_2: float = 0.999
  epsilon: float = 1e-8
  weight_decay_rate: float = 1e-4
  exclude_from_weight_decay: List[str] = dataclasses.field(
      default_factory=lambda: list(DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY))
  backbone_lr_multiplier: float = 0.1
  backbone_variable_regexes: List[str] = dataclasses.field(
      default_factory=lambda: list(DEFAULT_BACKBONE_VARIABLE_REGEXES))
  global_clipnorm: Optional[float] = 0.01


@dataclasses.dataclass
class OptimizerConfig(optimization.OptimizerConfig):
  """Model Garden's optimizer choice, extended with `maskformer_adamw`."""
  maskformer_adamw: MaskFormerAdamWConfig = dataclasses.field(
      default_factory=MaskFormerAdamWConfig)


@dataclasses.dataclass
class OptimizationConfig(optimization.OptimizationConfig):
  """Model Garden's optimization config whose optimizer may be
  `maskformer_adamw`."""
  optimizer: OptimizerConfig = dataclasses.field(
      default_factory=OptimizerConfig)
