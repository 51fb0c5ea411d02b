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

"""Model Garden's trainer on a set of canvases (`train_data.parser.canvases`).

The trainer holds one distributed input pipeline per canvas
(`input_pipeline.build_input(..., canvas_index=k)`). Each call of `train`
(one loop of `steps_per_loop` steps, from the orbit controller) splits its
steps into runs of consecutive steps on one canvas, by the schedule of
`dataloaders.canvases` (a function of the global step, the same on every
host and replica), and runs each with Model Garden's train loop on that
canvas's iterator. The loop function is a `tf.function` of the iterator, so
it is traced and compiled once per canvas shape, with static shapes; the
loss, optimizer and metrics are the task's as on one canvas. Evaluation is
unchanged (the validation data's `output_size`).
"""
from typing import Optional

from official.core import base_task
from official.core import base_trainer
from official.core import config_definitions as cfg
import orbit
import tensorflow as tf

from projects.maskformer.dataloaders import canvases


class CanvasSetTrainer(base_trainer.Trainer):
  """`base_trainer.Trainer` whose train steps follow the canvas schedule."""

  def __init__(self, config: cfg.ExperimentConfig, task: base_task.Task,
               model, optimizer, train: bool = True, evaluate: bool = True,
               checkpoint_exporter=None):
    """Builds the trainer and, to train, one input pipeline per canvas.

    Args: those of `base_trainer.Trainer` (without the datasets).

    Raises:
      ValueError: `config.task.train_data.parser.canvases` is empty, or the
        model has a fixed input size.
    """
    parser = config.task.train_data.parser
    if not parser.canvases:
      raise ValueError('CanvasSetTrainer needs train_data.parser.canvases')
    if train and any(s is not None for s in config.task.model.input_size[:2]):
      raise ValueError(
          f'train_data.parser.canvases needs a model of any input size: set '
          f'task.model.input_size to [null, null, 3], not '
          f'{list(config.task.model.input_size)}')
    self._canvas_weights = canvases.weights(parser)
    self._schedule_seed = int(parser.canvas_schedule_seed)
    train_datasets = None
    if train:
      train_datasets = {
          _key(k): orbit.utils.make_distributed_dataset(
              tf.distribute.get_strategy(), task.build_inputs,
              config.task.train_data, canvas_index=k)
          for k in range(len(parser.canvases))}
    super().__init__(config, task, model=model, optimizer=optimizer,
                     train=train, evaluate=evaluate,
                     train_dataset=train_datasets,
                     checkpoint_exporter=checkpoint_exporter)

  def train(self, num_steps: tf.Tensor) -> Optional[dict]:
    """Runs `num_steps` steps, each on its scheduled canvas.

    Args:
      num_steps: the number of steps of this loop (orbit's controller).

    Returns:
      The output of `train_loop_end` (the loop's metrics).
    """
    self.train_loop_begin()
    if self._train_loop_fn is None:
      self._train_loop_fn = self.create_train_loop_fn()
    if self._train_iter is None:
      self._train_iter = tf.nest.map_structure(iter, self.train_dataset)
    start = int(self.global_step.numpy())
    for canvas_index, length in canvases.schedule_runs(
        start, int(num_steps), self._schedule_seed, self._canvas_weights):
      self._train_loop_fn(self._train_iter[_key(canvas_index)],
                          tf.constant(length, tf.int32))
    return self.train_loop_end()


def _key(canvas_index: int) -> str:
  """The name of canvas `canvas_index`'s dataset in the trainer's dict."""
  return f'canvas_{canvas_index}'
