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

"""The task config that every mask-classification experiment shares.

`MaskClassificationTask` holds the fields of the task that do not depend on
the architecture (losses, data, evaluation, checkpoint and XLA options); an
architecture's config module (`maskformer.py`) subclasses it with its model
config and registers its experiments, whose trainer config `trainer`
builds.
"""
import dataclasses

from official.core import config_definitions as cfg
from official.modeling import hyperparams
from official.modeling import optimization

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.configs import losses as losses_cfg

XLA_COMPILE_AUTO = 'auto'
XLA_COMPILE_WHOLE_STEP = 'whole_step'
XLA_COMPILE_CRITERION = 'criterion'


@dataclasses.dataclass
class Evaluation(hyperparams.Config):
  """Inference and metrics of the validation step.

  The metric follows `validation_data.decoder.label_type`: panoptic data is
  scored with PQ (panopticapi's definition), semantic data with mIoU. Values
  are reported in percent, as detectron2 does.

  Attributes:
    category_map_file: the category JSON written by the TFRecord converter
      (`categories_<name>.json`): thing/stuff flags and dataset category ids.
      Required for panoptic evaluation.
    object_mask_threshold: panoptic inference: minimum class score of a query.
    overlap_threshold: panoptic inference: minimum visible fraction of a
      query's mask.
    report_per_class_metrics: also log per-class PQ / IoU.
  """
  category_map_file: str = ''
  object_mask_threshold: float = 0.8
  overlap_threshold: float = 0.8
  report_per_class_metrics: bool = False


@dataclasses.dataclass
class MaskClassificationTask(cfg.TaskConfig):
  """The task config every mask-classification architecture shares.

  An architecture's task config subclasses it and sets `model` to its model
  config.

  Attributes:
    losses: loss and matching-cost weights.
    train_data: training data.
    validation_data: evaluation data (its parser must set
      `groundtruth_padded_size` for panoptic evaluation).
    evaluation: inference thresholds and metrics.
    init_checkpoint_modules: 'all' or 'backbone': what `init_checkpoint`
      restores (a checkpoint of `tools/convert_pytorch_checkpoint.py`, with or
      without `--backbone_only`, or one of this task's own).
    xla_compile: what of the train and validation steps the task compiles
      with XLA itself. 'whole_step': nothing; the step's caller compiles the
      whole step (TPUStrategy does; so does `tf.function(jit_compile=True)`).
      'criterion': the matcher and the loss sums (the criterion's
      `jit_compile=True`), the model running as the caller runs it: on a
      CPU, Model Garden's graph-mode step then uses TensorFlow's oneDNN
      convolutions, faster than XLA:CPU's (docs/benchmarks.md). 'auto':
      'criterion' on a machine without GPU or TPU, else 'whole_step'.
  """
  losses: losses_cfg.Losses = dataclasses.field(
      default_factory=losses_cfg.Losses)
  train_data: data_cfg.DataConfig = dataclasses.field(
      default_factory=lambda: data_cfg.DataConfig(is_training=True))
  validation_data: data_cfg.DataConfig = dataclasses.field(
      default_factory=lambda: data_cfg.DataConfig(is_training=False))
  evaluation: Evaluation = dataclasses.field(default_factory=Evaluation)
  init_checkpoint_modules: str = 'all'
  xla_compile: str = 'auto'


def trainer(train_steps: int,
            optimizer_config: optimization.OptimizationConfig,
            validation_steps: int, steps_per_loop: int = 1000,
            best_metric: str = 'PQ') -> cfg.TrainerConfig:
  """The trainer of the experiments: checkpoints, summaries, best export.

  Args:
    train_steps: the number of training steps.
    optimizer_config: the optimizer and learning-rate schedule.
    validation_steps: the number of validation batches.
    steps_per_loop: steps per inner loop (also the summary interval; every
      fifth loop writes a checkpoint).
    best_metric: the validation metric of the best checkpoint (higher is
      better).

  Returns:
    A `TrainerConfig`; validation every 5000 steps (every loop below 1000
    steps per loop).
  """
  return cfg.TrainerConfig(
      train_steps=train_steps,
      validation_steps=validation_steps,
      validation_interval=5000 if steps_per_loop >= 1000 else steps_per_loop,
      steps_per_loop=steps_per_loop,
      summary_interval=steps_per_loop,
      checkpoint_interval=steps_per_loop * 5,
      max_to_keep=5,
      optimizer_config=optimizer_config,
      best_checkpoint_export_subdir='best_ckpt',
      best_checkpoint_eval_metric=best_metric,
      best_checkpoint_metric_comp='higher')
