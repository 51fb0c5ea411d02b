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

"""MaskFormer's task config and registered experiments.

Experiments (each mirrored by a YAML file in `configs/`):
  * `maskformer_coco_panoptic_r50`: the original `maskformer_panoptic_R50_bs64_554k`
    recipe (R50 + "+6 Enc", 133 classes, batch 64, 554,400 steps);
  * `maskformer_coco_panoptic_r101`: the same with ResNet-101;
  * `maskformer_ade20k_semantic_r50`: `maskformer_R50_bs16_160k` (R50 + FPN
    pixel decoder, 150 classes, batch 16, 160k steps, poly 0.9);
  * `maskformer_synthetic_cpu`: a small model on the synthetic dataset of
    `tools/make_synthetic_coco.py`, trainable on a 2-core CPU (the demo).

`MaskFormerTask` is the shared task config (`task.py`) with MaskFormer's
model config.
"""
import dataclasses

from official.core import config_definitions as cfg
from official.core import exp_factory

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.configs import optimization as optimization_cfg
from projects.maskformer.configs import task as task_cfg

# Per-core memory of the recipes' train steps (docs/memory.md, measured with
# tools/train_step_cost.py on XLA:CPU), written into the YAML mirrors' headers.
_COCO_MEMORY_NOTE = """Memory (docs/memory.md; tools/train_step_cost.py measures yours): the
float32 XLA train step of the R50 recipe holds ~0.5 GiB of weights and AdamW
slots plus, per image, ~1.0 GiB at a 512^2 canvas, ~3.6 GiB at 1024^2
(large-scale jitter) and ~6.8 GiB at 1344^2 (this canvas), whatever
max_segments is. Per-core batch at 1344^2, float32, with a 1.5x margin for
TPU padding: v3 / v5e (16 GiB) 1, v4 (32 GiB) 3, v5p (95 GiB) 9; bfloat16
roughly doubles it. The global batch of 64 needs 32 (2 per core, no margin)
to 64 v3 / v5e cores."""
MEMORY_NOTES = {
    'maskformer_coco_panoptic_r50': _COCO_MEMORY_NOTE,
    'maskformer_coco_panoptic_r101': (
        'These are the R50 recipe\'s figures; R101 holds more (not '
        'measured).\n' + _COCO_MEMORY_NOTE),
    'maskformer_ade20k_semantic_r50': (
        'Memory (docs/memory.md; tools/train_step_cost.py measures yours): at '
        'the\n512^2 crop the float32 XLA train step of an R50 model holds '
        'about 0.5 GiB of\nweights and AdamW slots plus ~1.0 GiB per image '
        '(measured for the COCO R50\n"+6 Enc" recipe; FPN decoder not '
        'measured): 16 GiB cores fit batch 10 with\na 1.5x TPU-padding '
        'margin.'),
}


@dataclasses.dataclass
class MaskFormerTask(task_cfg.MaskClassificationTask):
  """MaskFormer task.

  Attributes:
    model: the architecture.
  """
  model: model_cfg.MaskFormer = dataclasses.field(
      default_factory=model_cfg.MaskFormer)


def _adamw(learning_rate: dict,
           backbone_lr_multiplier: float = 0.1
           ) -> optimization_cfg.OptimizationConfig:
  """The original's optimizer (AdamW, clip 0.01) with a learning-rate plan."""
  return optimization_cfg.OptimizationConfig({
      'optimizer': {
          'type': 'maskformer_adamw',
          'maskformer_adamw': {
              'weight_decay_rate': 1e-4,
              'backbone_lr_multiplier': backbone_lr_multiplier,
              'global_clipnorm': 0.01,
          },
      },
      'learning_rate': learning_rate,
  })


@exp_factory.register_config_factory('maskformer_coco_panoptic_r50')
def maskformer_coco_panoptic_r50() -> cfg.ExperimentConfig:
  """COCO panoptic, ResNet-50 + "+6 Enc", the original recipe.

  AdamW lr 1e-4 (backbone x 0.1), weight decay 1e-4 except norms and the
  query embedding, whole-model clip 0.01, batch 64, 554,400 steps with the
  learning rate x 0.1 from step 369,600 (Model Garden's stepwise boundary is
  inclusive, hence 369,599). Training and validation images are computed
  padding-exactly on the canvas, as the original computes each COCO image
  alone (one per GPU, `SIZE_DIVISIBILITY` 0).
  """
  batch_size = 64
  train_steps = 554400
  learning_rate = {
      'type': 'stepwise',
      'stepwise': {'boundaries': [369599], 'values': [1e-4, 1e-5]},
  }
  validation_data = data_cfg.coco_panoptic_data(
      is_training=False, global_batch_size=8)
  validation_data.parser.groundtruth_padded_size = [1344, 1344]
  train_data = data_cfg.coco_panoptic_data(is_training=True,
                                           global_batch_size=batch_size)
  train_data.parser.padding_exact = True
  return cfg.ExperimentConfig(
      runtime=cfg.RuntimeConfig(mixed_precision_dtype='bfloat16'),
      task=MaskFormerTask(
          model=model_cfg.MaskFormer(num_classes=133),
          losses=losses_cfg.Losses(),
          train_data=train_data,
          validation_data=validation_data,
          evaluation=task_cfg.Evaluation(object_mask_threshold=0.8,
                                         overlap_threshold=0.8)),
      trainer=task_cfg.trainer(
          train_steps, _adamw(learning_rate),
          validation_steps=data_cfg.COCO_VAL_EXAMPLES // 8),
      restrictions=[
          'task.train_data.is_training != None',
          'task.validation_data.is_training != None',
      ])


@exp_factory.register_config_factory('maskformer_coco_panoptic_r101')
def maskformer_coco_panoptic_r101() -> cfg.ExperimentConfig:
  """COCO panoptic, ResNet-101 + "+6 Enc" (`maskformer_panoptic_R101_bs64_554k`)."""
  config = maskformer_coco_panoptic_r50()
  config.task.model.backbone.torch_resnet.model_id = 101
  return config


@exp_factory.register_config_factory('maskformer_ade20k_semantic_r50')
def maskformer_ade20k_semantic_r50() -> cfg.ExperimentConfig:
  """ADE20K-150 semantic, ResNet-50 + FPN decoder (`maskformer_R50_bs16_160k`).

  Same optimizer as COCO, batch 16, 160k steps, poly learning rate with power
  0.9 down to 0 and no warmup.
  """
  train_steps = 160000
  learning_rate = {
      'type': 'polynomial',
      'polynomial': {'initial_learning_rate': 1e-4, 'decay_steps': train_steps,
                     'power': 0.9, 'end_learning_rate': 0.0},
  }
  validation_data = data_cfg.ade20k_semantic_data(
      is_training=False, global_batch_size=8)
  validation_data.parser.groundtruth_padded_size = [2048, 2048]
  return cfg.ExperimentConfig(
      runtime=cfg.RuntimeConfig(mixed_precision_dtype='bfloat16'),
      task=MaskFormerTask(
          model=model_cfg.MaskFormer(
              num_classes=150,
              pixel_decoder=model_cfg.PixelDecoder(type='fpn')),
          losses=losses_cfg.Losses(),
          train_data=data_cfg.ade20k_semantic_data(
              is_training=True, global_batch_size=16),
          validation_data=validation_data),
      trainer=task_cfg.trainer(
          train_steps, _adamw(learning_rate),
          validation_steps=data_cfg.ADE20K_VAL_EXAMPLES // 8,
          best_metric='mIoU'),
      restrictions=[
          'task.train_data.is_training != None',
          'task.validation_data.is_training != None',
      ])


@exp_factory.register_config_factory('maskformer_synthetic_cpu')
def maskformer_synthetic_cpu() -> cfg.ExperimentConfig:
  """A small MaskFormer on the synthetic COCO-format dataset (the demo).

  The "+6 Enc" architecture at a CPU size: a detectron2 bottleneck ResNet with
  one block per stage at base width 16 (a deep FrozenBN ResNet trained from
  scratch is unstable), 64-channel decoder, 2 encoder and 3 decoder layers,
  16 queries, 6 classes; 800 steps of batch 8 reach PQ ~80 on the synthetic
  validation split. Set `task.train_data.input_path`,
  `task.validation_data.input_path` and `task.evaluation.category_map_file`
  (`make demo` does).
  """
  batch_size = 8
  train_steps = 800
  learning_rate = {
      'type': 'stepwise',
      'stepwise': {'boundaries': [699], 'values': [3e-4, 3e-5]},
  }
  return cfg.ExperimentConfig(
      runtime=cfg.RuntimeConfig(distribution_strategy='one_device',
                                num_gpus=0),
      task=MaskFormerTask(
          model=model_cfg.MaskFormer(
              num_classes=6,
              input_size=[128, 128, 3],
              backbone=model_cfg.Backbone(
                  type='torch_resnet',
                  torch_resnet=model_cfg.TorchResNet(
                      depths=[1, 1, 1, 1], base_width=16)),
              pixel_decoder=model_cfg.PixelDecoder(
                  type='transformer_encoder', conv_dim=64, mask_dim=64,
                  num_groups=32,
                  transformer_encoder=model_cfg.TransformerEncoder(
                      num_layers=2, num_heads=4, dim_feedforward=128,
                      dropout_rate=0.0)),
              transformer_predictor=model_cfg.TransformerPredictor(
                  hidden_dim=64, num_queries=16, num_heads=4,
                  dim_feedforward=128, dropout_rate=0.0,
                  num_decoder_layers=3)),
          losses=losses_cfg.Losses(),
          train_data=data_cfg.synthetic_cpu_data('', True, batch_size),
          validation_data=data_cfg.synthetic_cpu_data('', False, 8),
          evaluation=task_cfg.Evaluation(object_mask_threshold=0.8,
                                         overlap_threshold=0.8)),
      trainer=task_cfg.trainer(
          train_steps, _adamw(learning_rate, backbone_lr_multiplier=1.0),
          validation_steps=4, steps_per_loop=100),
      restrictions=[
          'task.train_data.is_training != None',
          'task.validation_data.is_training != None',
      ])
