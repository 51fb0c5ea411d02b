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

"""MaskFormer training driver (Model Garden's `train_lib.run_experiment`).

Run as `python -m official.projects.maskformer.train --experiment=...
--mode=train --model_dir=...`; every Model Garden flag (`--config_file`,
`--params_override`, `--tpu`, ...) applies. Three additions to Model Garden's
own driver: training stops at the first non-finite step before its weights
are checkpointed (`NonFiniteLossGuard`), the optimizer's slots are created
before the train loop is traced (`build_trainer`), which also trains on the
set of canvases of `train_data.parser.canvases` (`canvas_trainer`), and
`--seed` fixes the random initial weights, dropout and data order.
"""
from absl import app
from absl import flags
import gin
from official.common import distribute_utils
from official.common import flags as tfm_flags
from official.core import base_trainer
from official.core import config_definitions as cfg
from official.core import task_factory
from official.core import train_lib
from official.core import train_utils
from official.modeling import performance
import tensorflow as tf
import tf_keras

from projects.maskformer import canvas_trainer
from projects.maskformer import registry_imports  # noqa: F401
from projects.maskformer.tasks import maskformer_segmentation

FLAGS = flags.FLAGS
_SEED = flags.DEFINE_integer(
    'seed', None, 'Seed of Python\'s, NumPy\'s and TensorFlow\'s random '
    'generators, set before the task is built: the randomly initialized '
    'weights, dropout and the data order repeat between runs (up to the '
    'CPU kernels\' rounding). Unset: unseeded.')


class NonFiniteLossGuard:
  """Orbit train action: stops training at the first non-finite step.

  The task records, in the metric `first_nonfinite_step`, the first step of a
  loop whose global loss or updated weights were NaN or infinite; this action
  raises before the controller checkpoints the corrupted weights, so the
  latest checkpoint holds the weights of a step before it.
  """

  def __call__(self, train_output) -> None:
    step = train_output.get(maskformer_segmentation.FIRST_NONFINITE_STEP)
    if step is None or float(step) < 0:
      return
    step = int(step)
    values = ', '.join(f'{name}={float(value):.6g}'
                       for name, value in sorted(train_output.items())
                       if name != maskformer_segmentation.FIRST_NONFINITE_STEP)
    raise FloatingPointError(
        f'training stopped at step {step} (the update from global step '
        f'{step} to {step + 1}): its loss or its updated weights are NaN or '
        f'infinite. The loop\'s averages: {values}. No checkpoint after '
        f'global step {step} was written; the latest one in the model '
        'directory is intact. Lower the learning rate, check the data, or '
        'train in float32.')


def build_trainer(params: cfg.ExperimentConfig, task, mode: str,
                  model_dir: str,
                  strategy: tf.distribute.Strategy) -> base_trainer.Trainer:
  """Model Garden's trainer for `mode`, with the optimizer's slots created.

  A Keras optimizer creates its slot variables in its first
  `apply_gradients`, inside the traced train loop, so tf.function traces the
  loop twice (once to capture the new variables). Creating them here, as
  Model Garden's runner would build the trainer otherwise, traces it once; a
  checkpoint restored afterwards fills them as before.

  Args:
    params: the experiment.
    task: the task, built in `strategy`'s scope.
    mode: the driver's mode ('train', 'eval', 'train_and_eval', ...).
    model_dir: the model directory (for the best-checkpoint exporter).
    strategy: the distribution strategy.

  Returns:
    The trainer, to pass to `train_lib.run_experiment`.
  """
  with strategy.scope():
    trainer = train_utils.create_trainer(
        params, task, train='train' in mode, evaluate='eval' in mode,
        checkpoint_exporter=train_lib.maybe_create_best_ckpt_exporter(
            params, model_dir),
        trainer_cls=(canvas_trainer.CanvasSetTrainer
                     if params.task.train_data.parser.canvases
                     else base_trainer.Trainer))
    if 'train' in mode:
      variables = trainer.model.trainable_variables
      if isinstance(trainer.optimizer, tf_keras.optimizers.legacy.Optimizer):
        trainer.optimizer._create_all_weights(variables)  # pylint: disable=protected-access
      else:
        trainer.optimizer.build(variables)
  return trainer


def main(_):
  gin.parse_config_files_and_bindings(FLAGS.gin_file, FLAGS.gin_params)
  params = train_utils.parse_configuration(FLAGS)
  model_dir = FLAGS.model_dir
  if 'train' in FLAGS.mode:
    # Evaluation-only jobs do not write the config, so that a continuous
    # evaluator never races the trainer for the same file.
    train_utils.serialize_config(params, model_dir)
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
  strategy = distribute_utils.get_distribution_strategy(
      distribution_strategy=params.runtime.distribution_strategy,
      all_reduce_alg=params.runtime.all_reduce_alg,
      num_gpus=params.runtime.num_gpus,
      tpu_address=params.runtime.tpu)
  if _SEED.value is not None:
    tf_keras.utils.set_random_seed(_SEED.value)
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=model_dir)
  train_lib.run_experiment(
      distribution_strategy=strategy,
      task=task,
      mode=FLAGS.mode,
      params=params,
      model_dir=model_dir,
      train_actions=[NonFiniteLossGuard()],
      trainer=build_trainer(params, task, FLAGS.mode, model_dir, strategy))
  train_utils.save_gin_config(FLAGS.mode, model_dir)


def run():
  """Defines Model Garden's flags and runs `main`."""
  tfm_flags.define_flags()
  flags.mark_flags_as_required(['experiment', 'mode', 'model_dir'])
  app.run(main)


if __name__ == '__main__':
  run()
