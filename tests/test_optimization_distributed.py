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

"""MaskFormerAdamW under a 2-replica MirroredStrategy equals one replica.

The logical CPU devices must be configured before TensorFlow runs any op, and
pytest runs every test module in one process, so the check runs this file as
a script in a fresh interpreter and compares what it prints.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The TF model's names: a backbone kernel (lr x 0.1), a GroupNorm scale (not
# decayed; its copy on replica 1 is named '.../gamma/replica_1:0').
_SHAPES = {
    'backbone/res2/0/conv1/kernel': (3, 4),
    'pixel_decoder/layer_1/group_norm/gamma': (4,),
    'transformer_predictor/class_embed/kernel': (4, 5),
}
_STEPS = 3
# Gradients of ~1e-6 per element clipped to a norm of 2e-6 land near
# epsilon = 1e-7, where Adam's step depends on the gradient's scale: clipping
# each replica before the sum would move the weights differently.
_HYPER = dict(learning_rate=1e-2, epsilon=1e-7, weight_decay_rate=0.5,
              global_clipnorm=2e-6)


def _problem():
  """Initial weights and per-replica gradients, [replica][step][name]."""
  rng = np.random.default_rng(7)
  init = {k: rng.normal(size=s).astype(np.float32) for k, s in _SHAPES.items()}
  grads = [[{k: (1e-6 * scale * rng.normal(size=s)).astype(np.float32)
             for k, s in _SHAPES.items()} for _ in range(_STEPS)]
           for scale in (1.0, 3.0)]
  return init, grads


def _run_in_child():
  """Runs both set-ups and prints the final weights as JSON."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  # Imported after the device set-up: it must not run a TF op first.
  from projects.maskformer import optimization as mf_optimization  # pylint: disable=g-import-not-at-top

  init, grads = _problem()
  names = list(_SHAPES)

  strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
  with strategy.scope():
    mirrored = [tf.Variable(init[k], name=k) for k in names]
    two_replica_opt = mf_optimization.MaskFormerAdamW(**_HYPER)

  @tf.function
  def two_replica_step(stacked):
    def replica_fn():
      replica = tf.distribute.get_replica_context().replica_id_in_sync_group
      local = [tf.gather(g, replica) for g in stacked]
      two_replica_opt.apply_gradients(zip(local, mirrored))
    strategy.run(replica_fn)

  single = [tf.Variable(init[k], name=k) for k in names]
  single_opt = mf_optimization.MaskFormerAdamW(**_HYPER)

  @tf.function
  def single_step(summed):
    single_opt.apply_gradients(zip(summed, single))

  for step in range(_STEPS):
    two_replica_step([tf.constant(np.stack([grads[0][step][k],
                                            grads[1][step][k]]))
                      for k in names])
    single_step([tf.constant(grads[0][step][k] + grads[1][step][k])
                 for k in names])

  print(json.dumps({
      'iterations': [int(two_replica_opt.iterations.numpy()),
                     int(single_opt.iterations.numpy())],
      'replica_devices': sorted({c.device for v in mirrored
                                 for c in v.values}),
      'replicas': {k: [c.numpy().tolist() for c in v.values]
                   for k, v in zip(names, mirrored)},
      'single': {k: v.numpy().tolist() for k, v in zip(names, single)},
  }))


def _per_replica_clipping_counterfactual(init, grads):
  """float64 torch AdamW fed the sum of separately clipped replica gradients."""
  max_norm = _HYPER['global_clipnorm']
  lr, eps, wd = (_HYPER['learning_rate'], _HYPER['epsilon'],
                 _HYPER['weight_decay_rate'])
  p = {k: v.astype(np.float64) for k, v in init.items()}
  m = {k: np.zeros_like(v) for k, v in p.items()}
  v = {k: np.zeros_like(x) for k, x in p.items()}
  for t in range(1, _STEPS + 1):
    summed = {k: np.zeros_like(x) for k, x in p.items()}
    for replica in grads:
      g = replica[t - 1]
      norm = np.sqrt(sum(np.sum(np.square(x, dtype=np.float64))
                         for x in g.values()))
      coef = min(max_norm / (norm + 1e-6), 1.0)
      for k in summed:
        summed[k] += coef * g[k]
    for k in p:
      k_lr = lr * (0.1 if k.startswith('backbone/') else 1.0)
      if not k.endswith('/gamma'):
        p[k] *= 1.0 - k_lr * wd
      m[k] = 0.9 * m[k] + 0.1 * summed[k]
      v[k] = 0.999 * v[k] + 0.001 * summed[k] ** 2
      p[k] -= (k_lr * m[k] / (1 - 0.9**t) /
               (np.sqrt(v[k] / (1 - 0.999**t)) + eps))
  return p


def test_two_replicas_equal_one_replica_on_the_summed_gradient():
  env = dict(os.environ, PYTHONPATH=str(_REPO_ROOT), TF_CPP_MIN_LOG_LEVEL='3')
  result = subprocess.run(
      [sys.executable, __file__], cwd=_REPO_ROOT, env=env,
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-4000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])

  assert out['iterations'] == [_STEPS, _STEPS]
  assert len(out['replica_devices']) == 2
  init, grads = _problem()
  counterfactual = _per_replica_clipping_counterfactual(init, grads)
  for name in _SHAPES:
    single = np.asarray(out['single'][name])
    replicas = [np.asarray(r) for r in out['replicas'][name]]
    assert len(replicas) == 2
    tolerance = 1e-5 * np.max(np.abs(single))
    assert not np.allclose(single, init[name], rtol=0, atol=1e-3), name
    for replica in replicas:
      assert np.max(np.abs(replica - single)) <= tolerance, name
    # Clipping per replica would be caught: it lands far outside.
    assert np.max(np.abs(counterfactual[name] - single)) > 50 * tolerance, name


if __name__ == '__main__':
  _run_in_child()
