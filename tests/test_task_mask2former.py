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

"""The task with a Mask2Former config: train and validation steps.

A tiny Mask2Former (`mask2former_synthetic_cpu` at a 64 x 64 canvas) on
synthetic TFRecords. The criterion's random points are drawn inside XLA in
both train-step flavours compared here (the separately compiled criterion of
`xla_compile='criterion'`, and the whole step compiled), so they draw the same
points from the same (seed, step) and compute the same function.
"""
import numpy as np
from official.core import exp_factory
import pytest
import synthetic_data
import tensorflow as tf
import tf_keras

from projects.maskformer.configs import task as task_cfg
from projects.maskformer.modeling.mask2former import mask2former_model
from projects.maskformer.tasks import maskformer_segmentation

EXPERIMENT = synthetic_data.MASK2FORMER_EXPERIMENT
DEC_LAYERS = synthetic_data.MASK2FORMER_HEADS


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  records = synthetic_data.build_records(
      tmp_path_factory.mktemp('synthetic'), num_train=4, num_val=2)
  params = exp_factory.get_exp_config(EXPERIMENT)
  overrides = synthetic_data.tiny_overrides(records)
  overrides['task']['model'] = synthetic_data.TINY_MASK2FORMER
  overrides['task']['losses'] = synthetic_data.TINY_MASK2FORMER_LOSSES
  params.override(overrides, is_strict=True)
  params.trainer.optimizer_config.learning_rate.override(
      {'type': 'constant', 'constant': {'learning_rate': 3e-4}})
  params.validate()
  task = maskformer_segmentation.MaskFormerSegmentationTask(params.task)
  batches = list(task.build_inputs(params.task.train_data).take(2))
  return params, task, batches


def _train(params, task, batches, xla_compile, jit_compile):
  """Two steps from one seeded initialization: logs and final weights."""
  params = params.replace(task={'xla_compile': xla_compile})
  task = maskformer_segmentation.MaskFormerSegmentationTask(params.task)
  tf_keras.utils.set_random_seed(0)
  model = task.build_model()
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  optimizer._create_all_weights(model.trainable_variables)  # pylint: disable=protected-access
  metrics = task.build_metrics(training=True)
  step = tf.function(task.train_step, jit_compile=jit_compile)
  logs = [{k: float(v) for k, v in step(batch, model=model,
                                        optimizer=optimizer,
                                        metrics=metrics).items()}
          for batch in batches]
  assert step.experimental_get_tracing_count() == 1
  return model, logs, model.get_weights()


def test_model_and_criterion_follow_the_config(tiny):
  _, task, _ = tiny
  assert isinstance(task.build_model(), mask2former_model.Mask2Former)
  names = [m.name for m in task.build_metrics(training=True)]
  assert names[:4] == ['total_loss', 'loss_ce', 'loss_mask', 'loss_dice']
  assert len(names) == 1 + 3 * DEC_LAYERS + 1  # + first_nonfinite_step


def test_whole_step_xla_equals_separately_compiled_criterion(tiny):
  params, task, batches = tiny
  _, graph_logs, graph_weights = _train(
      params, task, batches, task_cfg.XLA_COMPILE_CRITERION, False)
  model, xla_logs, xla_weights = _train(
      params, task, batches, task_cfg.XLA_COMPILE_WHOLE_STEP, True)
  assert len(graph_logs[0]) == 1 + 1 + 3 * DEC_LAYERS
  for graph, xla in zip(graph_logs, xla_logs):
    for name, value in graph.items():
      assert np.isfinite(value), name
      assert abs(xla[name] - value) <= 1e-5 * max(abs(value), 1e-3), (
          name, xla[name], value)
  assert graph_logs[1]['total_loss'] != graph_logs[0]['total_loss']
  weight_error = max(
      float(np.abs(x - g).max()) / max(1.0, float(np.abs(g).max()))
      for g, x in zip(graph_weights, xla_weights))
  assert weight_error <= 1e-6
  assert all(np.isfinite(w).all() for w in model.get_weights())


def test_mixed_bfloat16_train_step(tiny):
  params, task, batches = tiny
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = task.build_model()
    optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                      params.runtime)
    logs = tf.function(task.train_step, jit_compile=True)(
        batches[0], model=model, optimizer=optimizer,
        metrics=task.build_metrics(training=True))
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert 'bfloat16' in {layer.compute_dtype for layer in model.submodules
                        if isinstance(layer, tf_keras.layers.Layer)}
  for name, value in logs.items():
    assert value.dtype == tf.float32 and np.isfinite(value.numpy()), name


def test_validation_step_gives_panoptic_quality(tiny):
  params, task, _ = tiny
  tf_keras.utils.set_random_seed(0)
  model = task.build_model()
  state = None
  for batch in task.build_inputs(params.task.validation_data):
    logs = tf.function(task.validation_step)(batch, model=model)
    assert np.isfinite(float(logs[task.loss]))
    state = task.aggregate_logs(state, tf.nest.map_structure(
        lambda x: x.numpy() if isinstance(x, tf.Tensor) else x, logs))
  result = task.reduce_aggregated_logs(state)
  assert {'PQ', 'SQ', 'RQ'} <= set(result)
  assert 0.0 <= result['PQ'] <= 100.0
