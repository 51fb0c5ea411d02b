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

"""Mask2Former's model and task configs and registered experiments.

Experiments (each mirrored by a YAML file in `configs/`), following the
official configs of facebookresearch/Mask2Former:
  * `mask2former_coco_panoptic_r50`: `maskformer2_R50_bs16_50ep` (COCO
    panoptic): R50, 133 classes, batch 16, 368,750 steps, large-scale jitter
    1024 (scale 0.1-2.0), mixed precision;
  * `mask2former_ade20k_semantic_r50`: `maskformer2_R50_bs16_160k` (ADE20K
    semantic): 150 classes, batch 16, 160k steps, poly learning rate, 512
    crops;
  * `mask2former_coco_instance_r50`: `maskformer2_R50_bs16_50ep` (COCO
    instance): the COCO panoptic recipe with the 80 thing classes; this
    project's input pipeline has no instance-annotation path (see the
    experiment's docstring);
  * `mask2former_synthetic_cpu`: a small Mask2Former on the synthetic dataset
    of `tools/make_synthetic_coco.py`, trainable on a 2-core CPU (the demo).

`Mask2FormerTask` is the shared task config (`task.py`) with Mask2Former's
model config and its point-sampled losses; the task class is MaskFormer's
(`tasks/maskformer_segmentation.py`), which builds the architecture that the
config's model type names.
"""
import dataclasses
from typing import List
from typing import Optional

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.vision.configs import common

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.configs import optimization as optimization_cfg
from projects.maskformer.configs import task as task_cfg
from projects.maskformer.configs import variable_names


@dataclasses.dataclass
class MSDeformAttnPixelDecoder(hyperparams.Config):
  """The multi-scale deformable-attention pixel decoder.

  Attributes:
    conv_dim: D, the width of the input projections, the encoder and the FPN.
    mask_dim: channels of the mask features.
    num_groups: GroupNorm groups.
    num_layers: deformable encoder layers.
    num_heads: encoder attention heads (the original's `MASK_FORMER.NHEADS`).
    num_points: sampling points per head and level (hard-coded 4).
    dim_feedforward: encoder FFN width (hard-coded 1024 in the original).
    dropout_rate: encoder dropout (0.0 in the released configs).
  """
  conv_dim: int = 256
  mask_dim: int = 256
  num_groups: int = 32
  num_layers: int = 6
  num_heads: int = 8
  num_points: int = 4
  dim_feedforward: int = 1024
  dropout_rate: float = 0.0


@dataclasses.dataclass
class MaskedTransformerDecoder(hyperparams.Config):
  """The masked-attention transformer decoder with its prediction heads.

  Attributes:
    hidden_dim: transformer width E.
    num_queries: learnable queries Q.
    num_heads: attention heads.
    dim_feedforward: FFN width.
    dec_layers: the original's `DEC_LAYERS`: supervised prediction heads, one
      on the learnable queries and one after each of `dec_layers - 1` layers.
    enforce_input_projection: use the 1x1 input projections even when the
      levels already have `hidden_dim` channels.
    deep_supervision: return (and supervise) every earlier head.
  """
  hidden_dim: int = 256
  num_queries: int = 100
  num_heads: int = 8
  dim_feedforward: int = 2048
  dec_layers: int = 10
  enforce_input_projection: bool = False
  deep_supervision: bool = True


@dataclasses.dataclass
class Mask2FormerModel(hyperparams.Config):
  """The whole Mask2Former.

  Attributes:
    num_classes: number of classes K, without the "no object" class.
    input_size: [height, width, channels]; height and width may be None
      (the model then runs at any static multiple of 32).
    backbone: the backbone (default: detectron2's ResNet-50).
    norm_activation: norm/activation settings of Model Garden backbones
      (unused by 'torch_resnet', whose norm is always FrozenBN).
    pixel_decoder: the pixel decoder.
    transformer_decoder: the transformer decoder.
  """
  num_classes: int = 133
  input_size: List[Optional[int]] = dataclasses.field(
      default_factory=lambda: [None, None, 3])
  backbone: model_cfg.Backbone = dataclasses.field(
      default_factory=model_cfg.Backbone)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=lambda: common.NormActivation(use_sync_bn=False))
  pixel_decoder: MSDeformAttnPixelDecoder = dataclasses.field(
      default_factory=MSDeformAttnPixelDecoder)
  transformer_decoder: MaskedTransformerDecoder = dataclasses.field(
      default_factory=MaskedTransformerDecoder)


@dataclasses.dataclass
class Mask2FormerTask(task_cfg.MaskClassificationTask):
  """Mask2Former task.

  Attributes:
    model: the architecture.
    losses: the point-sampled losses and matching costs.
    point_sampling_seed: the seed of the criterion's random points; each
      train step draws from (this seed, its step index), validation steps
      from (this seed, -1); each image's points are keyed by its index in
      the global batch, so they do not depend on the number of replicas.
  """
  model: Mask2FormerModel = dataclasses.field(
      default_factory=Mask2FormerModel)
  losses: losses_cfg.PointSampledLosses = dataclasses.field(
      default_factory=losses_cfg.PointSampledLosses)
  point_sampling_seed: int = 0


def _adamw(learning_rate: dict, backbone_lr_multiplier: float = 0.1,
           warmup_steps: int = 0) -> optimization_cfg.OptimizationConfig:
  """The original's optimizer: AdamW, weight decay 0.05, clip 0.01.

  Norms and the decoder's embeddings (`WEIGHT_DECAY_EMBED` 0: the queries,
  their positional encoding and the level embedding) are not decayed.
  """
  config = {
      'optimizer': {
          'type': 'maskformer_adamw',
          'maskformer_adamw': {
              'weight_decay_rate': 0.05,
              'exclude_from_weight_decay': [
                  *optimization_cfg.DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
                  variable_names.DECODER_EMBEDDING_VARIABLE_REGEX,
              ],
              'backbone_lr_multiplier': backbone_lr_multiplier,
              'global_clipnorm': 0.01,
          },
      },
      'learning_rate': learning_rate,
  }
  if warmup_steps:
    # detectron2's linear warm-up with factor 1.0: the full rate throughout.
    config['warmup'] = {'type': 'linear', 'linear': {
        'warmup_steps': warmup_steps, 'warmup_learning_rate': 1e-4}}
  return optimization_cfg.OptimizationConfig(config)


def _experiment(task: Mask2FormerTask, train_steps: int,
                optimizer: optimization_cfg.OptimizationConfig,
                validation_steps: int, best_metric: str = 'PQ',
                runtime: Optional[cfg.RuntimeConfig] = None,
                steps_per_loop: int = 1000) -> cfg.ExperimentConfig:
  return cfg.ExperimentConfig(
      runtime=runtime or cfg.RuntimeConfig(mixed_precision_dtype='bfloat16'),
      task=task,
      trainer=task_cfg.trainer(train_steps, optimizer, validation_steps,
                               steps_per_loop=steps_per_loop,
                               best_metric=best_metric),
      restrictions=[
          'task.train_data.is_training != None',
          'task.validation_data.is_training != None',
      ])


def _coco_lsj_experiment(num_classes: int) -> cfg.ExperimentConfig:
  """The COCO recipe of `maskformer2_R50_bs16_50ep` for `num_classes`.

  AdamW lr 1e-4 (backbone x 0.1), weight decay 0.05 except norms and
  embeddings, whole-model clip 0.01, batch 16, 368,750 steps, the learning
  rate x 0.1 at steps 327,778 and 355,092 (Model Garden's stepwise
  boundaries are inclusive, hence one less), 10 warm-up steps at the full
  rate; large-scale jitter onto 1024 x 1024 with scale 0.1-2.0; bfloat16;
  panoptic-format data (the only instance-carrying format of the pipeline),
  evaluated at 800/1333 on a 1344 x 1344 canvas, each image computed
  padding-exactly on its size rounded up to a multiple of 32 (the
  original's input), thresholds 0.8 / 0.8.
  """
  batch_size = 16
  train_data = data_cfg.coco_panoptic_data(is_training=True,
                                           global_batch_size=batch_size)
  train_data.parser.output_size = [1024, 1024]
  train_data.parser.augmentation = data_cfg.Augmentation(
      type='large_scale_jitter',
      large_scale_jitter=data_cfg.LargeScaleJitter(scale_min=0.1,
                                                   scale_max=2.0))
  validation_data = data_cfg.coco_panoptic_data(is_training=False,
                                                global_batch_size=8)
  validation_data.parser.groundtruth_padded_size = [1344, 1344]
  # Mask2Former pads every input to a multiple of 32 (SIZE_DIVISIBILITY).
  validation_data.parser.size_divisibility = 32
  for data in (train_data, validation_data):
    data.decoder.num_classes = num_classes
  learning_rate = {
      'type': 'stepwise',
      'stepwise': {'boundaries': [327777, 355091],
                   'values': [1e-4, 1e-5, 1e-6]},
  }
  return _experiment(
      Mask2FormerTask(
          model=Mask2FormerModel(num_classes=num_classes),
          train_data=train_data,
          validation_data=validation_data,
          evaluation=task_cfg.Evaluation(object_mask_threshold=0.8,
                                         overlap_threshold=0.8)),
      368750, _adamw(learning_rate, warmup_steps=10),
      validation_steps=data_cfg.COCO_VAL_EXAMPLES // 8)


@exp_factory.register_config_factory('mask2former_coco_panoptic_r50')
def mask2former_coco_panoptic_r50() -> cfg.ExperimentConfig:
  """COCO panoptic, ResNet-50 (`maskformer2_R50_bs16_50ep`), 133 classes.

  The recipe of `_coco_lsj_experiment`; validation reports PQ.
  """
  return _coco_lsj_experiment(num_classes=133)


@exp_factory.register_config_factory('mask2former_coco_instance_r50')
def mask2former_coco_instance_r50() -> cfg.ExperimentConfig:
  """COCO instance, ResNet-50 (instance `maskformer2_R50_bs16_50ep`).

  The original's instance config: the panoptic recipe of
  `_coco_lsj_experiment` (same solver, schedule, large-scale jitter and
  architecture) with the 80 COCO thing classes, trained on `instances_*.json`
  and tested with instance inference only (`INSTANCE_ON`, no `PANOPTIC_ON`:
  the top 100 (query, class) pairs over all 80 classes).

  What this experiment does NOT reproduce: this project's input pipeline has
  no instance-annotation path. It reads panoptic or semantic labels only, one
  non-overlapping segment map per image; there is no converter or decoder
  for COCO's instance annotations (overlapping masks, 80 contiguous thing
  classes), and the task's validation step scores PQ or mIoU, not mask AP.
  The data fields below are therefore the panoptic recipe's, with 80
  classes: they fit only panoptic-format TFRecords whose category map holds
  80 thing categories, which the converters do not produce from COCO.

  What it is for today: the real-size architecture (43,970,257 trainable
  parameters, as the original's), as the model of the released instance
  checkpoint and of instance inference. The post-processor keeps the
  instance pairs of the classes that the category map flags as things; with
  a category map whose 80 categories are all things, every class is kept,
  as in the original with panoptic inference off. `tools/
  evaluate_coco_panoptic.py --instance_ap` scores mask AP against instances
  derived from panoptic ground truth.
  """
  return _coco_lsj_experiment(num_classes=80)


@exp_factory.register_config_factory('mask2former_ade20k_semantic_r50')
def mask2former_ade20k_semantic_r50() -> cfg.ExperimentConfig:
  """ADE20K-150 semantic, ResNet-50 (`maskformer2_R50_bs16_160k`).

  The COCO optimizer, batch 16, 160k steps, poly learning rate with power
  0.9 down to 0, no warm-up; 512 x 512 crops. Semantic inference runs
  before the resize to the original size (the semantic-only configs'
  `SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE` False).
  """
  train_steps = 160000
  learning_rate = {
      'type': 'polynomial',
      'polynomial': {'initial_learning_rate': 1e-4, 'decay_steps': train_steps,
                     'power': 0.9, 'end_learning_rate': 0.0},
  }
  validation_data = data_cfg.ade20k_semantic_data(is_training=False,
                                                  global_batch_size=8)
  validation_data.parser.groundtruth_padded_size = [2048, 2048]
  return _experiment(
      Mask2FormerTask(
          model=Mask2FormerModel(num_classes=150),
          train_data=data_cfg.ade20k_semantic_data(is_training=True,
                                                   global_batch_size=16),
          validation_data=validation_data),
      train_steps, _adamw(learning_rate),
      validation_steps=data_cfg.ADE20K_VAL_EXAMPLES // 8, best_metric='mIoU')


@exp_factory.register_config_factory('mask2former_synthetic_cpu')
def mask2former_synthetic_cpu() -> cfg.ExperimentConfig:
  """A small Mask2Former on the synthetic COCO-format dataset (the demo).

  The architecture at a CPU size: a detectron2 bottleneck ResNet with one
  block per stage at base width 16, 64-channel decoders, 2 deformable
  encoder layers, `dec_layers` 4 (3 masked-attention layers), 16 queries, 6
  classes, 1,024 sampled points per mask; 400 steps of batch 8, lr 3e-4,
  x 0.1 for the last 50 (`make demo MODEL=mask2former DEMO_SEED=1`,
  2026-12-04: validation PQ 79.8 at step 100, 83.0 at step 400, 15 min on
  the shared 2-core machine). Set the data paths and
  `task.evaluation.category_map_file` as for `maskformer_synthetic_cpu`
  (`make demo MODEL=mask2former` does).
  """
  batch_size = 8
  train_steps = 400
  # The validation losses need a static batch: 32 images, 4 whole batches.
  validation_data = data_cfg.synthetic_cpu_data('', False, 8)
  validation_data.drop_remainder = True
  validation_data.parser.size_divisibility = 32
  learning_rate = {
      'type': 'stepwise',
      'stepwise': {'boundaries': [349], 'values': [3e-4, 3e-5]},
  }
  return _experiment(
      Mask2FormerTask(
          model=Mask2FormerModel(
              num_classes=6,
              input_size=[128, 128, 3],
              backbone=model_cfg.Backbone(
                  type='torch_resnet',
                  torch_resnet=model_cfg.TorchResNet(
                      depths=[1, 1, 1, 1], base_width=16)),
              pixel_decoder=MSDeformAttnPixelDecoder(
                  conv_dim=64, mask_dim=64, num_layers=2, num_heads=4,
                  dim_feedforward=128),
              transformer_decoder=MaskedTransformerDecoder(
                  hidden_dim=64, num_queries=16, num_heads=4,
                  dim_feedforward=128, dec_layers=4)),
          losses=losses_cfg.PointSampledLosses(train_num_points=1024),
          train_data=data_cfg.synthetic_cpu_data('', True, batch_size),
          validation_data=validation_data,
          evaluation=task_cfg.Evaluation(object_mask_threshold=0.8,
                                         overlap_threshold=0.8)),
      train_steps, _adamw(learning_rate, backbone_lr_multiplier=1.0),
      validation_steps=4,
      runtime=cfg.RuntimeConfig(distribution_strategy='one_device',
                                num_gpus=0),
      steps_per_loop=100)
