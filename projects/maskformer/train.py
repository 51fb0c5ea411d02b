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
`--params_override`, `--tpu`, ...) applies.
"""
from absl import app
from absl import flags
import gin
from official.common import distribute_utils
from official.common import flags as tfm_flags
from official.core import task_factory
from official.core import train_lib
from official.core import train_utils
from official.modeling import performance

from projects.maskformer import registry_imports  # noqa: F401
from projects.maskformer.tasks import maskformer_segmentation

FLAGS = flags.FLAGS


class NonFiniteLossGuard:
  """Orbit train action: stops training at the first non-finite loss.

  The task records, in the metric `first_nonfinite_step`, the first step of a
  loop whose global loss was NaN or infinite; this action raises before the
  controller checkpoints the corrupted weights.
  """

  def __call__(self, train_output) -> None:
    step = train_output.get(maskformer_segmentation.FIRST_NONFINITE_STEP, -1)
    if step is not None and float(step) >= 0:
      raise FloatingPointError(
          f'training stopped: the loss was not finite at step {int(step)} '
          f'(loop output: {dict(train_output)}); the last checkpoint before '
          'it is intact. Lower the learning rate, check the data, or use '
          'float32.')


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
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=model_dir)
  train_lib.run_experiment(
      distribution_strategy=strategy,
      task=task,
      mode=FLAGS.mode,
      params=params,
      model_dir=model_dir,
      train_actions=[NonFiniteLossGuard()])
  train_utils.save_gin_config(FLAGS.mode, model_dir)


def run():
  """Defines Model Garden's flags and runs `main`."""
  tfm_flags.define_flags()
  flags.mark_flags_as_required(['experiment', 'mode', 'model_dir'])
  app.run(main)


if __name__ == '__main__':
  run()
