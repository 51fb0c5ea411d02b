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

"""The TF side of the model benchmark: inputs, step functions, FLOP count.

Each step function is a zero-argument callable that runs one step and
returns when its results are ready.
"""
from typing import Any
from typing import Dict
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

from benchmarking import models
from benchmarking import synthetic_inputs
from projects.maskformer.dataloaders import maskformer_input


def tf_batch(workload: synthetic_inputs.Workload, num_slots: int,
             image_dtype: tf.DType):
  """The TF model / train-step input in the parser's device contract.

  This is the one place that knows that contract (the module docstring of
  `dataloaders/maskformer_input.py`): images are uint8 0-255 canvases (the
  train step normalizes them on the device, `prepare_model_inputs`) or
  normalized float tensors (what the model itself takes); labels hold the
  segment map in the narrowest dtype of `num_slots` padded target slots.

  Args:
    workload: the inputs.
    num_slots: T, the target slots per image (the parser's `max_segments`).
    image_dtype: uint8 (raw pixels) or a float dtype (normalized).

  Returns:
    The images for a forward workload, else `(images, labels)`.
  """
  if image_dtype == tf.uint8:
    images = tf.constant(workload.pixels)
  else:
    images = tf.constant(synthetic_inputs.normalized_nhwc(workload.pixels),
                         image_dtype)
  if workload.segment_map is None:
    return images
  batch, height, width = workload.segment_map.shape
  num_targets = workload.classes.shape[1]
  classes = np.zeros((batch, num_slots), np.int32)
  classes[:, :num_targets] = workload.classes
  valid = np.arange(num_slots)[None, :].repeat(batch, 0) < num_targets
  image_info = np.array([[height, width], [height, width], [1.0, 1.0],
                         [0.0, 0.0]], np.float32)
  labels = {
      maskformer_input.PIXEL_MASK: tf.ones((batch, height, width), tf.bool),
      maskformer_input.SEGMENT_MAP: tf.constant(
          workload.segment_map,
          maskformer_input.segment_map_dtype(num_slots)),
      maskformer_input.SEGMENT_CLASSES: tf.constant(classes),
      maskformer_input.SEGMENT_IS_CROWD: tf.zeros((batch, num_slots), tf.bool),
      maskformer_input.SEGMENT_VALID: tf.constant(valid),
      maskformer_input.IMAGE_INFO: tf.constant(
          np.broadcast_to(image_info, (batch, 4, 2))),
      maskformer_input.IMAGE_ID: tf.range(batch, dtype=tf.int32),
  }
  return images, labels



def _pred(outputs: Dict[str, Any]) -> Dict[str, tf.Tensor]:
  return {k: outputs[k] for k in ('pred_logits', 'pred_masks')}


def tf_forward_fn(env, pair: models.ModelPair, jit: bool, images):
  """Returns a forward step of `pair.tf_model` (inference mode)."""
  key = models.TF_XLA if jit else models.TF_GRAPH
  if key not in pair.forward_fns:
    model = pair.tf_model
    pair.forward_fns[key] = tf.function(
        lambda x: _pred(model(x, training=False)), jit_compile=jit)
  fn = pair.forward_fns[key]

  def run():
    with tf.device(env.tf_device):
      outputs = fn(images)
    return {k: v.numpy() for k, v in outputs.items()}
  return run


def tf_train_fn(env, pair: models.ModelPair, jit: bool, batch):
  """Returns one train step of the task (its own optimizer per flavour)."""
  impl = models.TF_XLA if jit else models.TF_GRAPH
  if impl not in pair.train_fns:
    task, experiment = pair.task, pair.experiment
    optimizer = task.create_optimizer(experiment.trainer.optimizer_config,
                                      experiment.runtime)
    # Slots created before tracing, as the task's tests do.
    optimizer._create_all_weights(pair.tf_model.trainable_variables)  # pylint: disable=protected-access
    metrics = task.build_metrics(training=True)
    step = tf.function(task.train_step, jit_compile=jit)
    pair.train_fns[impl] = lambda b: step(b, model=pair.tf_model,
                                          optimizer=optimizer, metrics=metrics)
  step_fn = pair.train_fns[impl]

  def run():
    with tf.device(env.tf_device):
      logs = step_fn(batch)
    return float(logs['total_loss'].numpy())
  return run


def forward_flops(fn, images) -> Optional[float]:
  """Float operations of a traced forward (TF's graph profiler)."""
  from tensorflow.python.profiler import model_analyzer  # pylint: disable=g-import-not-at-top
  from tensorflow.python.profiler import option_builder  # pylint: disable=g-import-not-at-top
  try:
    graph = fn.get_concrete_function(images).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options['output'] = 'none'
    return float(model_analyzer.profile(graph, options=options)
                 .total_float_ops)
  except Exception:  # pylint: disable=broad-except
    logging.exception('FLOP count failed')
    return None

