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

"""The task's train step (XLA, bfloat16, non-finite steps) and evaluation.

A tiny model (`synthetic_data.TINY_MODEL`) on synthetic TFRecords read by the
real input pipeline. The graph and XLA train steps are traced once each and
shared by the tests of this module (tracing dominates the run time on CPU).
"""
import functools
import json
import math

import numpy as np
from official.core import exp_factory
from official.core import task_factory
import pytest
import synthetic_data
import tensorflow as tf
import tf_keras

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.evaluation import dataset_prediction
from projects.maskformer.evaluation import panoptic_quality
from projects.maskformer.ops import precision
from projects.maskformer.tasks import maskformer_segmentation

LEARNING_RATE = 3e-4
CLIP_NORM = 0.01  # The recipe's whole-model gradient clipping.
BETA_1 = 0.9


class TinyTraining:
  """A task, its model and one optimizer per train-step flavour."""

  def __init__(self, records: synthetic_data.SyntheticRecords):
    self.params = synthetic_data.tiny_experiment(records, train_batch=2,
                                                 val_batch=2)
    # A constant rate (the synthetic recipe's value before its boundary) is
    # a variable of the optimizer, which tests may set without retracing.
    self.params.trainer.optimizer_config.learning_rate.override(
        {'type': 'constant', 'constant': {'learning_rate': LEARNING_RATE}})
    self.params.task.evaluation.override({
        'object_mask_threshold': 0.5, 'overlap_threshold': 0.5,
        'report_per_class_metrics': True})
    self.task = maskformer_segmentation.MaskFormerSegmentationTask(
        self.params.task)
    tf_keras.utils.set_random_seed(0)  # A reproducible initialization.
    self.model = self.task.build_model()
    self.initial_weights = self.model.get_weights()
    dataset = self.task.build_inputs(self.params.task.train_data)
    self.element_spec = dataset.element_spec
    self.batches = list(dataset.take(2))
    self.steps = {'graph': tf.function(self.task.train_step),
                  'xla': tf.function(self.task.train_step, jit_compile=True)}
    self.optimizers = {}
    self.metrics = {}
    for kind in self.steps:
      optimizer = self.task.create_optimizer(
          self.params.trainer.optimizer_config, self.params.runtime)
      # Slots created before tracing: one trace, no variable creation in it.
      optimizer._create_all_weights(self.model.trainable_variables)  # pylint: disable=protected-access
      self.optimizers[kind] = optimizer
      self.metrics[kind] = self.task.build_metrics(training=True)

  def reset(self, kind: str, learning_rate: float = LEARNING_RATE):
    """Initial weights, a fresh optimizer state and fresh metrics."""
    self.model.set_weights(self.initial_weights)
    optimizer = self.optimizers[kind]
    for variable in optimizer.variables():
      variable.assign(tf.zeros_like(variable))
    optimizer.learning_rate = learning_rate
    for metric in self.metrics[kind]:
      metric.reset_state()

  def step(self, kind: str, batch):
    """One train step; returns its logs as floats (numpy scalars)."""
    logs = self.steps[kind](batch, model=self.model,
                            optimizer=self.optimizers[kind],
                            metrics=self.metrics[kind])
    return {name: value.numpy() for name, value in logs.items()}

  def metric(self, kind: str, name: str) -> float:
    return next(float(m.result()) for m in self.metrics[kind]
                if m.name == name)


@pytest.fixture(scope='module')
def records(tmp_path_factory):
  return synthetic_data.build_records(tmp_path_factory.mktemp('synthetic'),
                                      num_train=4, num_val=4)


@pytest.fixture(scope='module')
def tiny(records):
  return TinyTraining(records)


def _run(tiny, kind):
  """Two steps from the initial state: their logs and the final weights."""
  tiny.reset(kind)
  logs = [tiny.step(kind, batch) for batch in tiny.batches]
  return logs, tiny.model.get_weights()


def test_xla_train_step_equals_graph_step(tiny):
  for spec in tf.nest.flatten(tiny.element_spec):
    assert spec.shape.is_fully_defined(), spec

  graph_logs, graph_weights = _run(tiny, 'graph')
  xla_logs, xla_weights = _run(tiny, 'xla')
  # Two different batches, one trace: the shapes are static.
  assert tiny.steps['xla'].experimental_get_tracing_count() == 1
  assert tiny.steps['graph'].experimental_get_tracing_count() == 1

  # 18 terms would be the R50 recipe; the tiny model has 2 decoder layers.
  assert len(graph_logs[0]) == 1 + 1 + 3 * 2
  for step, (graph, xla) in enumerate(zip(graph_logs, xla_logs)):
    for name, value in graph.items():
      assert np.isfinite(value), (step, name)
      assert abs(xla[name] - value) <= 1e-5 * max(abs(value), 1e-3), (
          step, name, xla[name], value)
  assert graph_logs[1]['total_loss'] != graph_logs[0]['total_loss']
  weight_error = max(
      float(np.abs(xla - graph).max()) / max(1.0, float(np.abs(graph).max()))
      for graph, xla in zip(graph_weights, xla_weights))
  loss_error = max(abs(xla[k] - graph[k]) / abs(graph[k])
                   for graph, xla in zip(graph_logs, xla_logs) for k in graph)
  print(f'XLA vs graph: max relative loss difference {loss_error:.3g}, '
        f'max weight difference {weight_error:.3g} x max(1, |w|)')
  assert weight_error <= 1e-6


def test_first_step_gradients_are_finite_and_clipped(tiny):
  tiny.reset('xla')
  tiny.step('xla', tiny.batches[0])
  optimizer = tiny.optimizers['xla']
  # After one step m = (1 - beta_1) * clipped gradient, so the clipped
  # gradient is finite iff the raw one is (an infinite norm would scale
  # everything to 0 * inf = NaN) and its norm is the clip norm.
  clipped = [optimizer.get_slot(v, 'm').numpy() / (1.0 - BETA_1)
             for v in tiny.model.trainable_variables]
  assert all(np.isfinite(g).all() for g in clipped)
  norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                       for g in clipped))
  assert norm == pytest.approx(CLIP_NORM, rel=1e-4)


def test_nonfinite_loss_is_recorded_at_its_step(tiny):
  tiny.reset('graph')
  good = tiny.step('graph', tiny.batches[0])
  assert np.isfinite(good['total_loss'])
  assert tiny.metric('graph', maskformer_segmentation.FIRST_NONFINITE_STEP) == -1
  images, labels = tiny.batches[1]
  nan_pixels = tf.tensor_scatter_nd_update(images, [[1, 5, 7, 0]],
                                           [float('nan')])
  bad = tiny.step('graph', (nan_pixels, labels))
  assert np.isnan(bad['total_loss'])
  assert tiny.metric('graph', maskformer_segmentation.FIRST_NONFINITE_STEP) == 1
  # Later steps do not move the first one.
  tiny.step('graph', tiny.batches[0])
  assert tiny.metric('graph', maskformer_segmentation.FIRST_NONFINITE_STEP) == 1


def test_corrupting_update_with_a_finite_loss_is_recorded(tiny):
  tiny.reset('graph', learning_rate=float('nan'))
  logs = tiny.step('graph', tiny.batches[0])
  # The loss is computed before the update: finite. The weights are not.
  assert np.isfinite(logs['total_loss'])
  assert not all(np.isfinite(w).all() for w in tiny.model.get_weights())
  assert tiny.metric('graph', maskformer_segmentation.FIRST_NONFINITE_STEP) == 0


def test_mixed_bfloat16_train_step(tiny):
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = tiny.task.build_model()
    optimizer = tiny.task.create_optimizer(
        tiny.params.trainer.optimizer_config, tiny.params.runtime)
    before = model.get_weights()
    logs = tf.function(tiny.task.train_step)(
        tiny.batches[0], model=model, optimizer=optimizer,
        metrics=tiny.task.build_metrics(training=True))
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  compute_dtypes = {layer.compute_dtype for layer in model.submodules
                    if isinstance(layer, tf_keras.layers.Layer)}
  assert 'bfloat16' in compute_dtypes
  assert all(w.dtype == np.float32 for w in model.get_weights())
  for name, value in logs.items():
    assert value.dtype == tf.float32, name
    assert np.isfinite(value.numpy()), name
  after = model.get_weights()
  assert all(np.isfinite(w).all() for w in after)
  assert any(not np.array_equal(a, b) for a, b in zip(after, before))
  assert tf_keras.mixed_precision.global_policy().name == 'float32'


def test_float64_train_step_compiles_and_matches_float32(tiny):
  """The exact mode: the whole XLA train step in float64.

  The loss, every gradient and the update are float64; the first step's
  loss equals the float32 step's. Measured 2026-12-03: relative difference
  8.4e-10 (10.290275565 against 10.290275574); asserted within 1e-5.
  """
  logs32, _ = _run(tiny, 'xla')
  with precision.keras_policy('float64'):
    model = tiny.task.build_model()
    optimizer = tiny.task.create_optimizer(
        tiny.params.trainer.optimizer_config, tiny.params.runtime)
  model.set_weights(tiny.initial_weights)
  assert {v.dtype for v in model.variables} == {tf.float64}
  images, labels = maskformer_input.prepare_model_inputs(
      *tiny.batches[0], tiny.params.task.train_data)
  images = tf.cast(images, tf.float64)  # The float32 step's values, exactly.
  assert images.dtype == tf.float64
  before = model.get_weights()
  logs = tf.function(tiny.task.train_step, jit_compile=True)(
      (images, labels), model=model, optimizer=optimizer,
      metrics=tiny.task.build_metrics(training=True))
  assert logs['total_loss'].dtype == tf.float64
  print('float64 vs float32 first-step loss:', float(logs['total_loss']),
        float(logs32[0]['total_loss']))
  np.testing.assert_allclose(float(logs['total_loss']),
                             float(logs32[0]['total_loss']), rtol=1e-5)
  after = model.get_weights()
  assert all(w.dtype == np.float64 and np.isfinite(w).all() for w in after)
  assert any(not np.array_equal(a, b) for a, b in zip(after, before))


def test_uint8_batches_are_normalized_in_the_train_step(tiny):
  """A 'uint8' pipeline trains exactly as the host-normalized 'float32' one."""
  params = tiny.params.task.train_data.replace(parser={'dtype': 'uint8'})
  batch = next(iter(tiny.task.build_inputs(params)))
  images, labels = batch
  assert images.dtype == tf.uint8
  assert labels['segment_map'].dtype == tf.int8
  float_images, float_labels = tiny.batches[0]  # Same seed, same examples.
  prepared, prepared_labels = maskformer_input.prepare_model_inputs(
      images, labels, params)
  np.testing.assert_array_equal(prepared, float_images)
  assert prepared_labels['segment_map'].dtype == tf.int32
  for key, value in float_labels.items():
    np.testing.assert_array_equal(prepared_labels[key], value, key)

  tiny.reset('graph')
  float_logs = tiny.step('graph', tiny.batches[0])
  tiny.reset('graph')
  # A step function of its own: the shared one stays traced once.
  logs = tf.function(tiny.task.train_step)(
      batch, model=tiny.model, optimizer=tiny.optimizers['graph'],
      metrics=tiny.metrics['graph'])
  for name, value in float_logs.items():
    assert logs[name].numpy() == pytest.approx(value, rel=1e-6), name


def _fit_validation_images(tiny, records, num_steps):
  """Trains on the validation images so that predictions match some truth."""
  params = tiny.params.task.train_data.replace(input_path=records.val_pattern)
  tiny.reset('xla', learning_rate=3e-3)
  losses = []
  for batch in tiny.task.build_inputs(params).take(num_steps):
    losses.append(tiny.step('xla', batch)['total_loss'])
  assert tiny.steps['xla'].experimental_get_tracing_count() == 1
  return losses


def test_evaluation_equals_pq_compute_on_written_predictions(tiny, records,
                                                             tmp_path):
  losses = _fit_validation_images(tiny, records, num_steps=120)
  assert np.mean(losses[-5:]) < np.mean(losses[:5])

  validation_step = tf.function(functools.partial(tiny.task.validation_step,
                                                  model=tiny.model))
  state, num_images = None, 0
  for batch in tiny.task.build_inputs(tiny.params.task.validation_data):
    state = tiny.task.aggregate_logs(state, validation_step(batch))
    num_images += int(batch[0].shape[0])
  logs = tiny.task.reduce_aggregated_logs(state)

  pred_json = tmp_path / 'predictions.json'
  summary = dataset_prediction.write_panoptic_predictions(
      tiny.task, tiny.model, str(tmp_path / 'predictions'), str(pred_json),
      show_progress=False)
  assert summary['images'] == num_images == 4
  gt_json, gt_folder = records.groundtruth('val')
  truth = panoptic_quality.pq_compute(gt_json, gt_folder, str(pred_json),
                                      str(tmp_path / 'predictions'),
                                      show_progress=False)
  print('evaluation:', {k: round(v, 4) for k, v in logs.items()
                        if '/' not in k}, 'segments:', summary['segments'])
  # The trained model's predictions are not trivial.
  assert summary['segments'] > 0
  assert truth['All']['pq'] > 0.0
  for group, suffix in (('All', ''), ('Things', '_th'), ('Stuff', '_st')):
    for metric in ('pq', 'sq', 'rq'):
      assert logs[metric.upper() + suffix] == pytest.approx(
          100.0 * truth[group][metric], abs=1e-9), (group, metric)
  for category_id, values in truth['per_class'].items():
    assert logs[f'PQ/{category_id}'] == pytest.approx(
        100.0 * values['pq'], abs=1e-9), category_id


def _padding_task(tiny, eval_padding):
  params = tiny.params.task.replace(validation_data={
      'parser': {'eval_padding': eval_padding}, 'global_batch_size': 1})
  return task_factory.get_task(params)


def test_prediction_without_canvas_equals_canvas_on_canvas_sized_images(
    tiny, tmp_path):
  """The dynamic-shape path computes what the static path does.

  The synthetic images are as large as the canvas, so both paddings give the
  model the same pixels; runs after the model was fitted above, so that the
  predictions hold segments.
  """
  written = {}
  for padding in (data_cfg.EVAL_PADDING_CANVAS,
                  data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY):
    folder = tmp_path / padding
    summary = dataset_prediction.write_panoptic_predictions(
        _padding_task(tiny, padding), tiny.model, str(folder / 'png'),
        str(folder / 'predictions.json'), show_progress=False)
    assert summary['images'] == 4
    with open(folder / 'predictions.json') as f:
      written[padding] = json.load(f)['annotations']
  canvas, exact = (written[p] for p in (data_cfg.EVAL_PADDING_CANVAS,
                                        data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY))
  assert sum(len(a['segments_info']) for a in canvas) > 0
  assert exact == canvas
  for annotation in canvas:
    name = annotation['file_name']
    np.testing.assert_array_equal(
        tf.io.decode_png(tf.io.read_file(str(
            tmp_path / data_cfg.EVAL_PADDING_CANVAS / 'png' / name))),
        tf.io.decode_png(tf.io.read_file(str(
            tmp_path / data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY / 'png' /
            name))))


def test_post_process_accepts_dynamic_image_shapes(tiny):
  task = _padding_task(tiny, data_cfg.EVAL_PADDING_CANVAS)
  images, labels = next(iter(task.build_inputs(task.task_config
                                               .validation_data)))
  outputs = tiny.model(images, training=False)
  outputs = {k: outputs[k] for k in ('pred_logits', 'pred_masks')}
  static = task.post_process(outputs, images, labels)
  dynamic_images = tf.TensorSpec([None, None, None, 3], images.dtype)
  dynamic = tf.function(
      lambda o, i: task.post_process(o, i, labels),
      input_signature=[tf.nest.map_structure(tf.TensorSpec.from_tensor,
                                             outputs), dynamic_images])(
                                                 outputs, images)
  for key, value in static.items():
    np.testing.assert_array_equal(dynamic[key], value, key)


def test_validation_step_needs_the_canvas(tiny):
  task = _padding_task(tiny, data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY)
  batch = next(iter(tiny.task.build_inputs(
      tiny.params.task.validation_data)))
  with pytest.raises(ValueError, match="eval_padding='canvas'"):
    task.validation_step(batch, model=tiny.model)


def test_deep_supervision_is_the_model_switch():
  params = exp_factory.get_exp_config('maskformer_synthetic_cpu').task
  params.model.transformer_predictor.deep_supervision = False
  task = task_factory.get_task(params)
  names = [m.name for m in task.build_metrics(training=True)]
  assert names == ['total_loss', 'loss_ce', 'loss_mask', 'loss_dice',
                   'first_nonfinite_step']
