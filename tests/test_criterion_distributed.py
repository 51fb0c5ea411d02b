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

"""The criterion under MirroredStrategy (2 logical CPUs) equals one replica.

The logical devices must be configured before TensorFlow runs any op, which
other test modules of the same pytest process will have done, so the
comparison runs in a fresh interpreter: this module executed as a script. The
pytest test starts it and checks what it reports.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import tensorflow as tf

from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.losses import criterion as criterion_lib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
NUM_REPLICAS = 2
# float32 sums in a different order; the quantities are O(1).
REL_TOL = 1e-5


def _global_batch():
  """4 images (2 per replica); replica 1's images have no target at all."""
  rng = np.random.default_rng(0)
  batch, queries, classes, slots, aux_layers = 4, 10, 5, 6, 2

  def layer():
    return {'pred_logits': rng.normal(size=(batch, queries, classes + 1)),
            'pred_masks': rng.normal(size=(batch, queries, 6, 8)) * 2.0}

  outputs = layer()
  outputs['aux_outputs'] = [layer() for _ in range(aux_layers)]
  valid = np.zeros((batch, slots), bool)
  valid[0, :4] = True
  valid[1, [1, 3, 5]] = True
  targets = {'masks': rng.random((batch, slots, 24, 32)) > 0.5,
             'classes': rng.integers(0, classes, size=(batch, slots)),
             'valid': valid}
  return outputs, targets


def _compare_replicas_with_single():
  """Runs both setups; returns a JSON-able dict of their results."""
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * NUM_REPLICAS)

  outputs, targets = _global_batch()
  outputs = tf.nest.map_structure(lambda x: tf.constant(x, tf.float32), outputs)
  targets = {'masks': tf.constant(targets['masks']),
             'classes': tf.constant(targets['classes'], tf.int32),
             'valid': tf.constant(targets['valid'])}
  criterion = criterion_lib.MaskFormerCriterion(losses_cfg.Losses())

  def step(outputs, targets):
    with tf.GradientTape() as tape:
      tape.watch(tf.nest.flatten(outputs))
      total, terms = criterion(outputs, targets)
    return total, terms, tape.gradient(total, tf.nest.flatten(outputs))

  single_total, single_terms, single_gradients = tf.function(step)(outputs,
                                                                   targets)

  strategy = tf.distribute.MirroredStrategy(
      [f'/cpu:{i}' for i in range(NUM_REPLICAS)])
  per_replica = len(targets['valid']) // NUM_REPLICAS

  def shard(context):
    begin = context.replica_id_in_sync_group * per_replica
    return tf.nest.map_structure(lambda x: x[begin:begin + per_replica],
                                 (outputs, targets))

  inputs = strategy.experimental_distribute_values_from_function(shard)

  @tf.function
  def distributed_step(inputs):
    return strategy.run(step, args=inputs)

  total, terms, gradients = distributed_step(inputs)
  summed = {name: float(strategy.reduce('SUM', value, axis=None))
            for name, value in terms.items()}
  return {
      'num_replicas': strategy.num_replicas_in_sync,
      'single_total': float(single_total),
      'single_terms': {k: float(v) for k, v in single_terms.items()},
      'summed_total': float(strategy.reduce('SUM', total, axis=None)),
      'summed_terms': summed,
      'replica_totals': [float(t) for t in
                         strategy.experimental_local_results(total)],
      'max_gradient_difference': max(
          float(np.abs(np.concatenate(
              [g.numpy() for g in strategy.experimental_local_results(dist)])
                       - single.numpy()).max())
          for dist, single in zip(gradients, single_gradients)),
      'max_gradient': max(float(np.abs(g.numpy()).max())
                          for g in single_gradients),
  }


def test_mirrored_two_replicas_equal_single_replica():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3',
             PYTHONPATH=os.pathsep.join(
                 [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(
                     os.pathsep)))
  result = subprocess.run([sys.executable, __file__], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600,
                          check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['num_replicas'] == NUM_REPLICAS
  # Each replica returns its share; the shares add up to the global loss.
  assert len(set(report['replica_totals'])) == NUM_REPLICAS
  assert len(report['single_terms']) == 9
  for name, single in report['single_terms'].items():
    summed = report['summed_terms'][name]
    assert abs(summed - single) <= REL_TOL * max(abs(single), 1e-6), name
  assert abs(report['summed_total'] - report['single_total']) <= (
      REL_TOL * abs(report['single_total']))
  assert report['max_gradient_difference'] <= (
      REL_TOL * report['max_gradient'])


if __name__ == '__main__':
  print(json.dumps(_compare_replicas_with_single()))
