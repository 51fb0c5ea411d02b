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

The three exact parts and the loose one of the fixture's README, checked on
the report of tools/verify_reference.py (the same library code,
`reference.training_parity`, run once per session):

  1. step 0 with the reference matchings: losses within a relative 1e-5,
     every gradient tensor within 1e-4 * ||reference||;
  2. the optimizer replay of the reference gradients: weights within
     1e-6 * max(1, |w|) of `weights_final.pkl`;
  3. the free-running loop (the task's train_step, our own matchings): every
     step's loss within a relative 5e-2, falling as the reference's does.

Most step-0 gradient tensors miss 1e-4 * ||reference||: the gradient is
ill-conditioned in float32, as measured on this fixture's model:

  * a float64 evaluation of our model (criterion in float32) is up to
    7.7e-3 (median 1.2e-3) relative L2 away from PyTorch's float32
    gradients, so PyTorch's own float32 result misses the tolerance;
  * in float64, a relative 1e-7 perturbation of the initial weights moves
    the gradients by a median 2.9e-3 (max 8.9e-3) relative L2, 1e-9 by
    2.6e-5: errors at float32 rounding are amplified about 3e4 times;
  * our float32 gradients are a median 2.1e-3 (max 1e-2) from our float64
    ones; against PyTorch they miss the tolerance for 154 of 197 tensors.

The amplification comes from the backward pass through the attention
softmaxes of the predictor (which reads res5 directly, as in the
`r50w16_fpn` fixture whose deep auxiliary outputs are known to miss the
forward tolerance): the 43 tensors whose gradient reaches them without
crossing an attention softmax (pixel decoder, class and mask heads, the
final decoder norm, the last decoder layer after its cross-attention) are
within the tolerance, and are asserted so; the whole set is a strict xfail.
"""
import json
import re

import fixture_reports
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer import optimization as mf_optimization
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.dataloaders import targets as targets_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import training_parity
from projects.maskformer.tasks import maskformer_segmentation

_GRADIENT = 'training.step0.gradient.'


def _no_softmax_backward(num_decoder_layers):
  """Parameters whose loss gradient crosses no attention softmax."""
  last = num_decoder_layers - 1
  return re.compile(
      r'^sem_seg_head\.(pixel_decoder\.|predictor\.(class_embed|mask_embed)\.'
      r'|predictor\.transformer\.decoder\.norm\.'
      rf'|predictor\.transformer\.decoder\.layers\.{last}\.'
      r'(multihead_attn\.out_proj|norm2|linear1|linear2|norm3)\.)')


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
  images, labels = training_parity.training_batch(training)
  with np.load(reference_dir / 'r50w16_fpn' / 'reference.npz') as npz:
    # The same two COCO images at the same scale, normalized and padded by
    # the PyTorch reference.
    expected = fixture_lib.nchw_to_nhwc(npz['padded_normalized_images'])
  np.testing.assert_allclose(images, expected, rtol=0, atol=1e-5)
  masks = fixture_lib.per_image(training.batch, 'gt_masks')
  classes = fixture_lib.per_image(training.batch, 'gt_classes')
  targets = targets_lib.expand_targets(
      {k: tf.constant(v) for k, v in labels.items()})
  expected = fixture_lib.padded_targets(masks, classes, images.shape[1:3],
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

  config = training_parity.task_config(training)
  predictor = config.model.transformer_predictor
  assert (predictor.num_decoder_layers, predictor.num_queries,
          predictor.hidden_dim) == (3, 50, 16)
  assert config.model.pixel_decoder.type == 'fpn'
  assert (config.losses.mask_weight, config.losses.cost_mask_weight,
          config.losses.no_object_weight) == (5.0, 5.0, 0.2)
  optimizer = maskformer_segmentation.MaskFormerSegmentationTask(
      config).create_optimizer(training_parity.optimization_config(training))
  assert isinstance(optimizer, mf_optimization.MaskFormerAdamW)
  assert float(optimizer.learning_rate) == pytest.approx(3e-4)
  assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon,
          optimizer.weight_decay_rate, optimizer.backbone_lr_multiplier,
          optimizer.global_clipnorm) == (0.8, 0.99, 1e-6, 0.05, 0.5, 0.1)

  images, labels = training_parity.training_batch(training)
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
        training_parity.STEP0_LOSS_TOLERANCE * abs(history[
            check.name.rpartition('.')[2]]))


def test_step0_gradient_names_match(report):
  names = report.checks[[c.name for c in report.checks].index(
      _GRADIENT + 'names')]
  assert names.passed, names


def test_step0_gradients_crossing_no_attention_softmax(report, training):
  selected = _no_softmax_backward(training.config['dec_layers'])
  checks = [c for c in _checks(report, _GRADIENT)
            if selected.search(c.name[len(_GRADIENT):])]
  assert len(checks) == 43
  for check in checks:
    assert check.passed, check


@pytest.mark.xfail(strict=True, reason=(
    'ill-conditioned in float32: PyTorch\'s own float32 step-0 gradients are '
    'up to 7.7e-3 (relative L2) from a float64 evaluation, and a relative '
    '1e-7 weight perturbation moves them by up to 8.9e-3 (module docstring)'))
def test_step0_gradients_within_tolerance(report):
  checks = _checks(report, _GRADIENT)
  assert len(checks) == 198  # The names check and 197 parameters.
  failures = [c.name for c in checks if not c.passed]
  assert not failures, f'{len(failures)} of {len(checks)} fail'


def test_optimizer_replay_reproduces_the_final_weights(report):
  checks = {c.name: c for c in _checks(report, 'training.replay.')}
  assert set(checks) == {'training.replay.names', 'training.replay.weights'}
  assert checks['training.replay.weights'].tolerance == (
      training_parity.REPLAY_TOLERANCE)
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
        training_parity.TRAJECTORY_TOLERANCE * expected)
  assert checks[-1].passed, checks[-1]
  assert history[-1] < history[0]
