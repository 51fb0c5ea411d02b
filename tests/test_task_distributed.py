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

"""The task's train step on 2 mirrored CPU replicas equals one replica.

Two logical CPU devices must be configured before TensorFlow runs any op,
which other test modules of the same pytest process will have done, so the
comparison runs this file as a script in a fresh interpreter and the test
checks what it prints. The global batch of the first step gives replica 1
only images without any target. Both architectures: Mask2Former's random
points are keyed by each image's index in the global batch, so its replicas
draw what the single replica draws for their images.
"""
import json
import subprocess
import sys

import numpy as np
from official.core import exp_factory
import pytest
import synthetic_data
import tensorflow as tf

from projects.maskformer.tasks import maskformer_segmentation

NUM_REPLICAS = 2
BATCH = 4  # Global: 2 images per replica.
SLOTS = synthetic_data.MAX_SEGMENTS
CANVAS = synthetic_data.CANVAS
# float32 sums in a different order (per replica, then across replicas).
REL_TOL = 1e-5


def _image_labels(rng, num_segments, crowd_slot=None):
  """One image and its pipeline labels with `num_segments` segments."""
  segment_map = np.full((CANVAS, CANVAS), -1, np.int32)
  if num_segments:
    # Stuff above / below a random row, then rectangles drawn over it.
    boundary = rng.integers(16, 48)
    segment_map[:boundary] = 0
    segment_map[boundary:] = min(1, num_segments - 1)
    for slot in range(2, num_segments):
      top, left = rng.integers(0, CANVAS - 16, size=2)
      height, width = rng.integers(6, 16, size=2)
      segment_map[top:top + height, left:left + width] = slot
    segment_map[:, -3:] = -1  # Some void.
  classes = np.zeros(SLOTS, np.int32)
  classes[:num_segments] = rng.integers(0, 6, size=num_segments)
  is_crowd = np.zeros(SLOTS, bool)
  if crowd_slot is not None:
    is_crowd[crowd_slot] = True
  image = rng.normal(size=(CANVAS, CANVAS, 3)).astype(np.float32)
  labels = {
      'pixel_mask': np.ones((CANVAS, CANVAS), bool),
      'segment_map': segment_map,
      'segment_classes': classes,
      'segment_is_crowd': is_crowd,
      'segment_valid': np.arange(SLOTS) < num_segments,
      'image_info': np.array([[CANVAS, CANVAS], [CANVAS, CANVAS], [1, 1],
                              [0, 0]], np.float32),
      'image_id': np.int32(0),
  }
  return image, labels


def _global_batches():
  """Two global batches; in the first, replica 1's images have no target."""
  rng = np.random.default_rng(3)
  batches = []
  for segments, crowd in (([3, 5, 0, 0], [None] * 4),
                          ([4, 2, 6, 3], [None, None, 4, None])):
    examples = [_image_labels(rng, n, c) for n, c in zip(segments, crowd)]
    images = np.stack([e[0] for e in examples])
    labels = {k: np.stack([e[1][k] for e in examples]) for k in examples[0][1]}
    batches.append((images, labels))
  return batches


def _relative_difference(value, reference):
  return abs(value - reference) / max(abs(reference), 1e-6)


# Experiment: (tiny task overrides, supervised heads).
ARCHITECTURES = {
    synthetic_data.EXPERIMENT: ({'model': synthetic_data.TINY_MODEL}, 2),
    synthetic_data.MASK2FORMER_EXPERIMENT: (
        {'model': synthetic_data.TINY_MASK2FORMER,
         'losses': synthetic_data.TINY_MASK2FORMER_LOSSES},
        synthetic_data.MASK2FORMER_HEADS),
}


def _compare_replicas_with_single(experiment):
  """Runs both set-ups for two steps; returns a JSON-able report."""
  # Before any TF op (importing the project runs none).
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * NUM_REPLICAS)
  params = exp_factory.get_exp_config(experiment)
  params.override({'task': ARCHITECTURES[experiment][0]}, is_strict=True)
  task = maskformer_segmentation.MaskFormerSegmentationTask(params.task)

  def build(strategy):
    with strategy.scope():
      model = task.build_model()
      optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                        params.runtime)
      optimizer._create_all_weights(model.trainable_variables)  # pylint: disable=protected-access
      metrics = task.build_metrics(training=True)
    return model, optimizer, metrics

  single_model, single_optimizer, single_metrics = build(
      tf.distribute.get_strategy())
  initial = single_model.get_weights()
  strategy = tf.distribute.MirroredStrategy(
      [f'/cpu:{i}' for i in range(NUM_REPLICAS)])
  model, optimizer, metrics = build(strategy)
  model.set_weights(initial)

  @tf.function
  def single_step(inputs):
    return task.train_step(inputs, model=single_model,
                           optimizer=single_optimizer, metrics=single_metrics)

  @tf.function
  def distributed_step(inputs):
    return strategy.run(task.train_step, args=(inputs,),
                        kwargs={'model': model, 'optimizer': optimizer,
                                'metrics': metrics})

  def start_from_the_single_replica_state():
    # Each step starts from the same weights and Adam moments, so that the
    # rounding of earlier steps cannot flip Mask2Former's attention masks
    # (sigmoid thresholds) and amplify into a different step.
    for mirrored, reference in zip(model.trainable_variables,
                                   single_model.trainable_variables):
      mirrored.assign(reference.numpy())
      for slot in ('m', 'v'):
        optimizer.get_slot(mirrored, slot).assign(
            single_optimizer.get_slot(reference, slot).numpy())

  per_replica = BATCH // NUM_REPLICAS
  report = {'num_replicas': strategy.num_replicas_in_sync, 'steps': []}
  for images, labels in _global_batches():
    start_from_the_single_replica_state()
    batch = tf.nest.map_structure(tf.constant, (images, labels))

    def shard(context, batch=batch):
      begin = context.replica_id_in_sync_group * per_replica
      return tf.nest.map_structure(lambda x: x[begin:begin + per_replica],
                                   batch)

    single_logs = single_step(batch)
    replica_logs = distributed_step(
        strategy.experimental_distribute_values_from_function(shard))
    loss_error = max(
        _relative_difference(float(local), float(single_logs[name]))
        for name, value in replica_logs.items()
        for local in strategy.experimental_local_results(value))
    weight_error = 0.0
    moment_difference = moment_norm = 0.0
    for mirrored, reference in zip(model.trainable_variables,
                                   single_model.trainable_variables):
      scale = max(1.0, float(np.abs(reference.numpy()).max()))
      reference_m = single_optimizer.get_slot(reference, 'm').numpy()
      moment_norm += float(np.sum(np.square(reference_m, dtype=np.float64)))
      for local, local_m in zip(mirrored.values,
                                optimizer.get_slot(mirrored, 'm').values):
        weight_error = max(weight_error, float(
            np.abs(local.numpy() - reference.numpy()).max()) / scale)
        moment_difference = max(moment_difference, float(np.sum(np.square(
            local_m.numpy() - reference_m, dtype=np.float64))))
    report['steps'].append({
        'total_loss': float(single_logs['total_loss']),
        'replica_total_losses': [
            float(v) for v in strategy.experimental_local_results(
                replica_logs['total_loss'])],
        'num_terms': len(single_logs),
        'max_relative_loss_difference': loss_error,
        'max_weight_difference': weight_error,
        'relative_moment_difference': float(
            np.sqrt(moment_difference / moment_norm)),
        'iterations': [int(optimizer.iterations.numpy()),
                       int(single_optimizer.iterations.numpy())],
    })
  report['first_nonfinite_step'] = [
      float(m.result()) for m in metrics
      if m.name == maskformer_segmentation.FIRST_NONFINITE_STEP]
  return report


@pytest.mark.parametrize('experiment', sorted(ARCHITECTURES))
def test_two_mirrored_replicas_equal_one_replica(experiment):
  result = subprocess.run([sys.executable, __file__, experiment],
                          cwd=synthetic_data.REPO_ROOT,
                          env=synthetic_data.subprocess_env(),
                          capture_output=True, text=True, timeout=900,
                          check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  print('mirrored vs single replica:', json.dumps(report, indent=1))
  assert report['num_replicas'] == NUM_REPLICAS
  assert report['first_nonfinite_step'] == [-1.0]
  for step, values in enumerate(report['steps'], start=1):
    assert values['iterations'] == [step, step]
    assert values['num_terms'] == 1 + 1 + 3 * ARCHITECTURES[experiment][1]
    assert np.isfinite(values['total_loss'])
    # Every replica reports the global loss, not its share.
    assert len(values['replica_total_losses']) == NUM_REPLICAS
    assert values['max_relative_loss_difference'] <= REL_TOL
    # Weights relative to max(1, |w|): zero-initialized attention key biases
    # have a zero gradient up to rounding, which Adam turns into updates of
    # ~1e-9 that differ between summation orders.
    assert values['max_weight_difference'] <= REL_TOL
    # The first moments (after step 1, 0.1 x the clipped gradient) agree
    # globally: the replicas' summed gradient is the single replica's.
    assert values['relative_moment_difference'] <= REL_TOL
  # The second step's loss depends on the first update: the weights moved.
  assert report['steps'][0]['total_loss'] != report['steps'][1]['total_loss']


if __name__ == '__main__':
  print(json.dumps(_compare_replicas_with_single(sys.argv[1])))
