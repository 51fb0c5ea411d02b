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

"""Training parity against the PyTorch training-run fixture (`training/`).

The three exact parts and the loose one of docs/semantics.md (section 11),
checked on the report of tools/verify_reference.py (the same library code,
`reference.training_checks`, run once per session):

  1. step 0 with the reference matchings: losses within a relative 1e-5;
     every gradient tensor against the exact (float64) step-0 gradient within
     a relative L2 of max(1e-4, 5 x PyTorch's largest float32 error in the
     same part), the zero-gradient tensor by an absolute floor; and the
     float64 identity: our float64 step-0 gradients within a relative L2 of
     1e-6 of the exact ones, our float64 losses within 2e-7;
  2. the optimizer replay of the reference gradients: weights within
     1e-6 * max(1, |w|) of `weights_final.pkl`;
  3. the free-running loop (the task's train_step, our own matchings): every
     step's loss within a relative 5e-2, falling as the reference's does.

The float32 gradients are ill-conditioned (PyTorch's own are a median 1.2e-3
from the exact ones), which is why they are judged against the exact answer
with PyTorch's own error as the scale, and why the float64 identity decides
fidelity (docs/numerics.md).
"""
import json

import fixture_reports
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer import optimization as mf_optimization
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import training_checks
from projects.maskformer.tasks import maskformer_segmentation

_GRADIENT = 'training.step0.gradient.'


@pytest.fixture(scope='module')
def training_dir(reference_dir):
  return reference_dir / 'training'


@pytest.fixture(scope='module')
def training(training_dir):
  return fixture_lib.load_training_fixture(training_dir)


@pytest.fixture(scope='module')
def report(training_dir):
  return fixture_reports.report(str(training_dir))


def _checks(report, prefix):
  return [c for c in report.checks if c.name.startswith(prefix)]


def test_batch_follows_the_input_contract(training, reference_dir):
  """Images as PyTorch's preprocessing; targets from the segment map."""
  images, labels = training_checks.training_batch(training)
  with np.load(reference_dir / 'r50w16_fpn' / 'reference.npz') as npz:
    # The same two COCO images at the same scale, normalized and padded by
    # the PyTorch reference.
    expected = fixture_formats.nchw_to_nhwc(npz['padded_normalized_images'])
  np.testing.assert_allclose(images, expected, rtol=0, atol=1e-5)
  masks = fixture_formats.per_image(training.batch, 'gt_masks')
  classes = fixture_formats.per_image(training.batch, 'gt_classes')
  targets = maskformer_input.loss_targets(
      {k: tf.constant(v) for k, v in labels.items()})
  targets['masks'] = maskformer_input.all_masks(targets)
  expected = fixture_formats.padded_targets(masks, classes, images.shape[1:3],
                                            max(len(c) for c in classes))
  for key in ('masks', 'classes', 'valid'):
    np.testing.assert_array_equal(targets[key].numpy(), expected[key],
                                  err_msg=key)
  for b, mask in enumerate(masks):
    height, width = mask.shape[1:]
    pixel_mask = labels[maskformer_input.PIXEL_MASK][b]
    assert pixel_mask[:height, :width].all() and pixel_mask.sum() == (
        height * width)
    np.testing.assert_array_equal(
        labels[maskformer_input.IMAGE_INFO][b, :2], [[height, width]] * 2)
  assert not labels[maskformer_input.SEGMENT_IS_CROWD].any()


def test_task_and_optimizer_follow_the_json(training_dir, tmp_path):
  """Another architecture, step count, learning rate and padding rule."""
  folder = tmp_path / 'other_run'
  folder.mkdir()
  for name in fixture_lib.TRAINING_FILES[1:]:
    (folder / name).symlink_to(training_dir / name)
  trajectory = json.loads((training_dir / 'trajectory.json').read_text())
  trajectory['config'].update(dec_layers=3, num_queries=50, hidden_dim=16,
                              size_divisibility=64)
  trajectory['optimizer'].update(lr=3e-4, betas=[0.8, 0.99], eps=1e-6,
                                 weight_decay=0.05, backbone_lr_multiplier=0.5,
                                 full_model_grad_clip_norm=0.1)
  trajectory['loss_weights'].update(mask=5.0, eos_coef=0.2)
  trajectory['history'] = trajectory['history'][:3]
  (folder / 'trajectory.json').write_text(json.dumps(trajectory))
  training = fixture_lib.load_training_fixture(folder)
  assert training.steps == 3

  config = training_checks.task_config(training)
  predictor = config.model.transformer_predictor
  assert (predictor.num_decoder_layers, predictor.num_queries,
          predictor.hidden_dim) == (3, 50, 16)
  assert config.model.pixel_decoder.type == 'fpn'
  assert (config.losses.mask_weight, config.losses.cost_mask_weight,
          config.losses.no_object_weight) == (5.0, 5.0, 0.2)
  optimizer = maskformer_segmentation.MaskFormerSegmentationTask(
      config).create_optimizer(training_checks.optimization_config(training))
  assert isinstance(optimizer, mf_optimization.MaskFormerAdamW)
  assert float(optimizer.learning_rate) == pytest.approx(3e-4)
  assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon,
          optimizer.weight_decay_rate, optimizer.backbone_lr_multiplier,
          optimizer.global_clipnorm) == (0.8, 0.99, 1e-6, 0.05, 0.5, 0.1)

  images, labels = training_checks.training_batch(training)
  assert images.shape == (2, 192, 320, 3)  # 288 rounded up to 5 x 64.
  assert not images[:, :, 288:].any()
  assert labels[maskformer_input.SEGMENT_MAP].shape == (2, 192, 320)


def test_step0_losses_with_reference_matchings(report, training):
  checks = _checks(report, 'training.step0.loss.')
  history = training.trajectory['history'][0]
  expected = [k for k in history if k.startswith('loss_')] + ['total']
  assert [c.name for c in checks] == [
      f'training.step0.loss.{k}' for k in expected]
  assert len(checks) == 3 * training.config['dec_layers'] + 1
  for check in checks:
    assert check.passed, check
    assert check.tolerance == pytest.approx(
        training_checks.STEP0_LOSS_TOLERANCE * abs(history[
            check.name.rpartition('.')[2]]))


def test_step0_gradient_names_match(report):
  names = report.checks[[c.name for c in report.checks].index(
      _GRADIENT + 'names')]
  assert names.passed, names


def _exact_gradient_norms(training):
  exact = training.exact_gradients()
  norms = {name: np.linalg.norm(g.astype(np.float64).ravel())
           for name, g in exact.items()}
  return norms, np.sqrt(sum(n * n for n in norms.values()))


def test_step0_gradients_within_the_exact_answer_bounds(report, training):
  """float32 accuracy of the step-0 gradients (docs/semantics.md, section 11).

  The bounds are recomputed from the json here.
  """
  checks = {c.name[len(_GRADIENT):]: c for c in _checks(report, _GRADIENT)}
  assert len(checks) == 198  # The names check and 197 parameters.
  norms, total = _exact_gradient_norms(training)
  errors = {k[len('step0/'):]: v for k, v in
            training.float32_error['gradients_rel_l2'].items()}
  zero = [n for n, norm in norms.items() if norm <= 1e-9 * total]
  assert zero == ['sem_seg_head.predictor.transformer.decoder.layers.0.'
                  'self_attn.in_proj_weight']
  parts = ('backbone.', 'sem_seg_head.pixel_decoder.',
           'sem_seg_head.predictor.')
  largest = {p: max(e for n, e in errors.items()
                    if n.startswith(p) and n not in zero) for p in parts}
  for name, norm in norms.items():
    check = checks[name]
    assert check.passed, check
    if name in zero:
      assert check.tolerance == pytest.approx(1e-6 * total)
    else:
      part = next(p for p in parts if name.startswith(p))
      assert check.tolerance == pytest.approx(
          max(1e-4, 5 * largest[part]) * norm)
    assert check.pytorch_err == pytest.approx(errors[name] * norm)
  # Measured 2026-12-03 (AMD EPYC, oneDNN on): the worst tensor is at 0.13
  # of its bound (the stem conv): the verdict has 7x headroom.
  assert checks['names'].passed


def test_step0_float32_reference_comparisons_are_notes(report):
  notes = [n for n in report.notes
           if n.name.startswith(_GRADIENT + 'vs_float32_reference.')]
  assert len(notes) == 197
  assert all('tolerance units from the float32 reference' in n.value
             for n in notes)


def test_step0_float64_identity(report, training):
  prefix = 'training.float64.step0.'
  losses = _checks(report, prefix + 'loss.')
  exact = training.float32_error['losses_step0']
  assert [c.name for c in losses] == [prefix + 'loss.' + k for k in exact]
  for check in losses:
    assert check.passed, check
  gradients = {c.name[len(prefix + 'gradient.'):]: c
               for c in _checks(report, prefix + 'gradient.')}
  assert len(gradients) == 198
  norms, total = _exact_gradient_norms(training)
  for name, norm in norms.items():
    check = gradients[name]
    assert check.passed, check
    assert check.tolerance == pytest.approx(
        1e-9 * total if norm <= 1e-9 * total else 1e-6 * norm)
  # Measured 2026-12-03: the worst tensor is at 0.034 of the 1e-6 bound
  # (float64 rounding plus the exact gradients' storage in float32).
  assert gradients['names'].passed


def test_optimizer_replay_reproduces_the_final_weights(report):
  checks = {c.name: c for c in _checks(report, 'training.replay.')}
  assert set(checks) == {'training.replay.names', 'training.replay.weights'}
  assert checks['training.replay.weights'].tolerance == (
      training_checks.REPLAY_TOLERANCE)
  assert all(c.passed for c in checks.values()), checks


def test_free_running_loop_follows_the_trajectory(report, training):
  checks = _checks(report, 'training.free_running.')
  history = [h['total'] for h in training.trajectory['history']]
  assert [c.name for c in checks] == [
      f'training.free_running.step{k}.total' for k in range(len(history))
  ] + ['training.free_running.loss_falls']
  for check, expected in zip(checks, history):
    assert check.passed, check
    assert check.tolerance == pytest.approx(
        training_checks.TRAJECTORY_TOLERANCE * expected)
  assert checks[-1].passed, checks[-1]
  assert history[-1] < history[0]
