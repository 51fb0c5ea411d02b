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

"""MaskFormer task config and registered experiments."""
import dataclasses

from official.core import config_definitions as cfg
from official.core import exp_factory

from projects.maskformer.configs import model as model_cfg


@dataclasses.dataclass
class MaskFormerTask(cfg.TaskConfig):
  """MaskFormer task.

  Attributes:
    model: the architecture.
    init_checkpoint_modules: 'all' or 'backbone': what `init_checkpoint`
      restores.
  """
  model: model_cfg.MaskFormer = dataclasses.field(
      default_factory=model_cfg.MaskFormer)
  init_checkpoint_modules: str = 'all'


@exp_factory.register_config_factory('maskformer_coco_panoptic_r50')
def maskformer_coco_panoptic_r50() -> cfg.ExperimentConfig:
  """COCO panoptic, ResNet-50 with the "+6 Enc" pixel decoder, 133 classes."""
  return cfg.ExperimentConfig(task=MaskFormerTask())
