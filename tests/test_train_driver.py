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

"""The real training driver: resumption and non-finite steps.

Runs `python -m official.projects.maskformer.train --mode=train` on a tiny
model and synthetic TFRecords:
  * interrupted: to step 3 with checkpoints, then again in the same model
    directory with `trainer.train_steps=6`;
  * uninterrupted: to step 6 in one run, from the same initial weights
    (`task.init_checkpoint`, written here);
  * non-finite: the learning rate becomes NaN at step 3, which corrupts the
    weights while that step's loss is still finite;
  * seeded: two runs of one step with `--seed=5` and no initial checkpoint
    (randomly initialized weights).
Two runs go at a time, each with one intra-op thread (the CPU time of a run
is mostly single-threaded tracing).

Every step of these runs sees the same data: Orbit does not checkpoint the
input iterator, so a resumed run restarts the data stream, and the training
data here is one batch (two images) in file order without random
augmentation. What is exact: the optimizer state a restarted trainer restores
is the saved one, bit for bit, and the step counts. The weights are not
bit-identical between processes, not even between two identical runs:
TensorFlow's CPU kernels round differently from one process to the next
(measured with oneDNN on or off, with `TF_DETERMINISTIC_OPS=1`, with one
intra-op thread: up to ~1e-7 x max(1, |w|) after 3 steps, the losses equal
to 7 digits), and gradients that are zero in
exact arithmetic (attention key biases) are pure rounding noise that Adam
turns into updates. So the resumed run is compared with the uninterrupted
one within a bound set from measurements, far below what a lost Adam state or
step count would change: the learning rate, 1e-3 then 2e-4, moves the weights
by ~1e-3 per step, and a restarted Adam state moves every weight by about the
learning rate in its first step.

Measured after 6 steps, weights (max |difference| / max(1, |w|)) and Adam
moments (relative L2): 2.4e-7 and 1.0e-6 (2026-12-03, oneDNN off); one CI run
with oneDNN off and both cores loaded measured 6.7e-6 for the weights, 28x
more (the rounding noise of the zero-gradient key biases, amplified by Adam,
varies between runs). The bounds, `WEIGHT_BOUND` 2e-5 and `MOMENT_BOUND`
1e-4, keep 3x headroom over that run's weights (and over the moments scaled
by the same factor) and stay 10x below the 2e-4 a lost state would cause.
"""
import re
import subprocess
import sys

import numpy as np
from official.core import exp_factory
from official.core import train_utils
from official.modeling import hyperparams
import pytest
import synthetic_data
import tensorflow as tf
import yaml

from projects.maskformer.checkpoints import converter
from projects.maskformer.tasks import maskformer_segmentation

STEPS_PER_LOOP = 3
NAN_STEP = 3  # The first step whose update uses the NaN learning rate.
WEIGHT_BOUND = 2e-5  # Measured margins: the module docstring.
MOMENT_BOUND = 1e-4
_BOOKKEEPING = ('_CHECKPOINTABLE_OBJECT_GRAPH', 'save_counter')
_ITERATIONS = 'optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE'
_GLOBAL_STEP = 'global_step/.ATTRIBUTES/VARIABLE_VALUE'


def _write_config(path, records, init_checkpoint, trainer):
  overrides = synthetic_data.tiny_overrides(records, train_batch=2)
  del overrides['task']['validation_data']
  del overrides['task']['evaluation']
  overrides['task']['init_checkpoint'] = str(init_checkpoint)
  overrides['trainer'] = trainer
  path.write_text(yaml.safe_dump(overrides))
  return path


def _learning_rate(values, boundary):
  return {'learning_rate': {'type': 'stepwise', 'stepwise': {
      'boundaries': [boundary], 'values': values}}}


class DriverRun:
  """One `official.projects.maskformer.train` process."""

  def __init__(self, name, model_dir, config, train_steps, env, extra=()):
    self.model_dir = model_dir
    self.log = model_dir.parent / f'{name}.log'
    with open(self.log, 'w') as log:
      self._process = subprocess.Popen(
          [sys.executable, '-m', 'official.projects.maskformer.train',
           '--experiment=' + synthetic_data.EXPERIMENT, '--mode=train',
           f'--model_dir={model_dir}', f'--config_file={config}',
           f'--params_override=trainer.train_steps={train_steps}', *extra],
          cwd=synthetic_data.REPO_ROOT, env=env, stdout=log,
          stderr=subprocess.STDOUT)

  def wait(self):
    """Waits for the run; returns (exit code, its output)."""
    code = self._process.wait(timeout=900)
    return code, self.log.read_text()

  def stop(self):
    """Kills the run if it is still going."""
    if self._process.poll() is None:
      self._process.kill()
      self._process.wait()

  def checkpoint_steps(self):
    return sorted(int(p.name[len('ckpt-'):-len('.index')])
                  for p in self.model_dir.glob('ckpt-*.index'))


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('driver')
  records = synthetic_data.build_records(root / 'data', num_train=2,
                                         num_val=2)
  params = synthetic_data.tiny_experiment(records)
  model = maskformer_segmentation.MaskFormerSegmentationTask(
      params.task).build_model()
  initial = converter.write_model_checkpoint(model, root / 'initial' / 'ckpt')
  loops = {'steps_per_loop': STEPS_PER_LOOP,
           'checkpoint_interval': STEPS_PER_LOOP,
           'summary_interval': STEPS_PER_LOOP, 'max_to_keep': 10}
  # The learning rate drops between the two halves: a resumed run that lost
  # its step count would use the wrong one.
  config = _write_config(root / 'config.yaml', records, initial, dict(
      loops, optimizer_config=_learning_rate([1e-3, 2e-4], 4)))
  nan_config = _write_config(root / 'nan.yaml', records, initial, dict(
      loops, steps_per_loop=2, checkpoint_interval=2, summary_interval=2,
      optimizer_config=_learning_rate([1e-3, float('nan')], NAN_STEP - 1)))
  seeded_config = _write_config(root / 'seeded.yaml', records, '', dict(
      steps_per_loop=1, checkpoint_interval=1, summary_interval=1))
  env = dict(synthetic_data.subprocess_env(), TF_NUM_INTRAOP_THREADS='1',
             TF_CPP_MIN_LOG_LEVEL='2')

  # Two runs at a time: more would only compete for the two cores.
  started = []

  def start(*args, extra=()):
    started.append(DriverRun(*args, env=env, extra=extra))
    return started[-1]

  try:
    first = start('first', root / 'interrupted', config, 3)
    uninterrupted = start('uninterrupted', root / 'uninterrupted', config, 6)
    outputs = {'first': first.wait()}
    checkpoints_after_first = first.checkpoint_steps()
    resumed = start('resumed', root / 'interrupted', config, 6)
    outputs['uninterrupted'] = uninterrupted.wait()
    nonfinite = start('nonfinite', root / 'nonfinite', nan_config, 6)
    outputs['resumed'] = resumed.wait()
    seeded = [start(f'seeded{i}', root / f'seeded{i}', seeded_config, 1,
                    extra=['--seed=5']) for i in (1, 2)]
    outputs['nonfinite'] = nonfinite.wait()
    for i, run in enumerate(seeded, 1):
      outputs[f'seeded{i}'] = run.wait()
  finally:
    for run in started:
      run.stop()
  for name in ('first', 'uninterrupted', 'resumed', 'seeded1', 'seeded2'):
    assert outputs[name][0] == 0, outputs[name][1][-4000:]
  return {'outputs': outputs, 'first': first, 'resumed': resumed,
          'uninterrupted': uninterrupted, 'nonfinite': nonfinite,
          'seeded': seeded,
          'checkpoints_after_first': checkpoints_after_first}


def _values(prefix):
  """{key: array} of a checkpoint, without its bookkeeping entries."""
  reader = tf.train.load_checkpoint(str(prefix))
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if not key.startswith(_BOOKKEEPING)}


def _assert_same_values(actual, expected):
  assert sorted(actual) == sorted(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(actual[key], value, err_msg=key)


def test_resumed_run_continues_at_the_saved_step(runs):
  assert runs['checkpoints_after_first'] == [3]
  _, log = runs['outputs']['resumed']
  model_dir = runs['resumed'].model_dir
  assert f'restored from checkpoint: {model_dir}/ckpt-3' in log
  assert re.search(r'train \| step:\s+3 \| training until step 6', log)
  assert runs['resumed'].checkpoint_steps() == [3, 6]
  saved = _values(model_dir / 'ckpt-3')
  final = _values(model_dir / 'ckpt-6')
  assert int(saved[_ITERATIONS]) == int(saved[_GLOBAL_STEP]) == 3
  assert int(final[_ITERATIONS]) == int(final[_GLOBAL_STEP]) == 6


def test_trainer_restores_the_saved_optimizer_state(runs, tmp_path):
  """The driver's Trainer, restored from step 3, holds what was saved."""
  model_dir = runs['resumed'].model_dir
  params = hyperparams.override_params_dict(
      exp_factory.get_exp_config(synthetic_data.EXPERIMENT),
      str(model_dir / 'params.yaml'), is_strict=True)
  task = maskformer_segmentation.MaskFormerSegmentationTask(params.task)
  trainer = train_utils.create_trainer(params, task, train=True,
                                       evaluate=False)
  status = trainer.checkpoint.restore(str(model_dir / 'ckpt-3'))
  # The optimizer creates its slots lazily; the restore is deferred to then.
  trainer.optimizer._create_all_weights(trainer.model.trainable_variables)  # pylint: disable=protected-access
  status.assert_consumed()
  assert int(trainer.optimizer.iterations.numpy()) == 3
  assert int(trainer.global_step.numpy()) == 3
  restored = _values(trainer.checkpoint.write(str(tmp_path / 'restored')))
  saved = _values(model_dir / 'ckpt-3')
  slots = [k for k in saved if '.OPTIMIZER_SLOT' in k]
  assert len(slots) == 2 * len(trainer.model.trainable_variables)
  second_moments = [saved[k] for k in slots
                    if k.endswith('/v/.ATTRIBUTES/VARIABLE_VALUE')]
  assert np.mean([np.any(v > 0) for v in second_moments]) > 0.9
  _assert_same_values(restored, saved)


def _weight_and_moment_differences(actual, expected):
  """Max weight difference / max(1, |w|), and the Adam moments' global one.

  Integer entries (the step counts) are not compared.

  Returns:
    (max over variables of max|a - e| / max(1, max|e|), and for 'm' and 'v'
    the L2 norm of the difference over all variables divided by the norm of
    the expected moments).
  """
  assert sorted(actual) == sorted(expected)
  weight = 0.0
  moments = {'m': [0.0, 0.0], 'v': [0.0, 0.0]}
  for key, value in expected.items():
    difference = actual[key].astype(np.float64) - value
    slot = re.search(r'OPTIMIZER_SLOT/optimizer/(m|v)/', key)
    if slot:
      moments[slot.group(1)][0] += float(np.sum(np.square(difference)))
      moments[slot.group(1)][1] += float(np.sum(np.square(
          value.astype(np.float64))))
    elif value.dtype.kind == 'f':
      weight = max(weight, float(np.abs(difference).max()) / max(
          1.0, float(np.abs(value).max())))
  return weight, {k: np.sqrt(d / n) for k, (d, n) in moments.items()}


def test_resumed_run_equals_uninterrupted_run(runs):
  interrupted = runs['resumed'].model_dir
  uninterrupted = runs['uninterrupted'].model_dir
  assert runs['uninterrupted'].checkpoint_steps() == [3, 6]
  results = {}
  for step in (3, 6):
    actual = _values(interrupted / f'ckpt-{step}')
    expected = _values(uninterrupted / f'ckpt-{step}')
    for key in (_ITERATIONS, _GLOBAL_STEP):
      assert int(actual[key]) == int(expected[key]) == step
    results[step] = _weight_and_moment_differences(actual, expected)
  # What a lost Adam state or step count would change: 3 steps of training.
  moved, _ = _weight_and_moment_differences(
      _values(uninterrupted / 'ckpt-6'), _values(uninterrupted / 'ckpt-3'))
  print('interrupted vs uninterrupted (weights / max(1, |w|), relative '
        f'moments): step 3 {results[3]}, step 6 {results[6]}; 3 steps of '
        f'training move the weights by {moved:.3g}')
  for weight, moments in results.values():
    assert weight <= WEIGHT_BOUND
    assert moments['m'] <= MOMENT_BOUND and moments['v'] <= MOMENT_BOUND
  assert moved > 10 * WEIGHT_BOUND


def test_nonfinite_step_stops_training_before_any_checkpoint_of_it(runs):
  code, log = runs['outputs']['nonfinite']
  assert code != 0
  assert (f'FloatingPointError: training stopped at step {NAN_STEP} (the '
          f'update from global step {NAN_STEP} to {NAN_STEP + 1})') in log
  # Loops of 2 steps: the one holding step 3 ended at global step 4 and was
  # not checkpointed; the checkpoint before it is intact.
  assert runs['nonfinite'].checkpoint_steps() == [2]
  for key, value in _values(runs['nonfinite'].model_dir / 'ckpt-2').items():
    assert np.isfinite(value).all(), key


def test_seed_repeats_the_random_initialization_and_first_step(runs):
  """Two `--seed=5` runs from random weights end step 1 with equal weights.

  Unseeded, Keras draws new initial weights in every process (differences of
  the order of the weights themselves); seeded, only the CPU kernels'
  rounding separates the runs (the bounds of the resumed-run test; measured
  2026-12-03 with oneDNN off: weights 3.0e-8, moments 1.3e-7).
  """
  first, second = (_values(run.model_dir / 'ckpt-1') for run in runs['seeded'])
  weight, moments = _weight_and_moment_differences(first, second)
  print(f'seeded runs after one step: weights {weight:.3g}, moments {moments}')
  assert weight <= WEIGHT_BOUND
  assert moments['m'] <= MOMENT_BOUND and moments['v'] <= MOMENT_BOUND
