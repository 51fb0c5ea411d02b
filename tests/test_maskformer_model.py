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

"""Tests of the whole MaskFormer: PyTorch parity, XLA, bfloat16, sizes."""
import re

import model_fixture_runs
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.modeling import maskformer_model
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import model_parity

# End-to-end checks of r50w16_fpn that miss the 1e-4 tolerance. That
# fixture's predictor reads res5 (values up to ~2000) directly and amplifies
# float32 rounding in res5: a relative 1e-6 perturbation of res5 moves
# aux4_pred_logits by 3.4e-4 (float64 run), and PyTorch's own float32 result
# is 3.4e-4 (aux4 logits) / 4.9e-4 (aux4 masks) from a float64 evaluation of
# the same model, beyond the 2.6e-4 / 3.4e-4 tolerances. The same outputs
# pass when the predictor is fed the reference's res5 (see
# test_transformer_predictor.py).
_FPN_ILL_CONDITIONED = frozenset({
    'aux2_pred_logits', 'aux3_pred_logits', 'aux4_pred_logits',
    'aux4_pred_masks'})


def _run(reference_dir, name):
  return model_fixture_runs.model_run(str(reference_dir / name))


@pytest.mark.parametrize('name', model_fixture_runs.MODEL_FIXTURES)
def test_end_to_end_matches_reference(reference_dir, name):
  run = _run(reference_dir, name)
  checks = model_parity.model_output_checks(run)
  names = [c.name for c in checks]
  assert names[:7] == ['num_params', 'backbone_res2', 'backbone_res3',
                       'backbone_res4', 'backbone_res5', 'mask_features',
                       'transformer_encoder_output' if name.endswith('enc')
                       else 'pred_logits']
  assert {f'aux{j}_pred_logits' for j in range(5)} <= set(names)
  for check in checks:
    if name == 'r50w16_fpn' and check.name in _FPN_ILL_CONDITIONED:
      continue
    assert check.passed, check


@pytest.mark.xfail(strict=True, reason=(
    'ill-conditioned in float32: PyTorch itself is outside the tolerance of a '
    'float64 evaluation for these outputs (see _FPN_ILL_CONDITIONED)'))
def test_fpn_deep_auxiliary_outputs_end_to_end(reference_dir):
  run = _run(reference_dir, 'r50w16_fpn')
  checks = [c for c in model_parity.model_output_checks(run)
            if c.name in _FPN_ILL_CONDITIONED]
  assert len(checks) == len(_FPN_ILL_CONDITIONED)
  assert all(c.passed for c in checks), checks


def test_xla_compiled_forward_matches_eager_and_reference(reference_dir):
  run = _run(reference_dir, 'r50w16_enc')
  images = tf.constant(fixture_lib.nchw_to_nhwc(
      run.fixture.arrays['padded_normalized_images']))
  forward = tf.function(lambda x: run.model(x, training=False),
                        jit_compile=True)
  compiled = forward(images)
  reference = run.fixture.arrays
  for key in ('pred_logits', 'pred_masks'):
    assert checks_lib.compare_scaled(key, compiled[key], run.outputs[key]).passed
    assert checks_lib.compare_scaled(key, compiled[key], reference[key]).passed
  for j, aux in enumerate(compiled['aux_outputs']):
    assert checks_lib.compare_scaled(
        'aux', aux['pred_logits'], reference[f'aux{j}_pred_logits']).passed


def _relative_error(ours, reference):
  ours = np.asarray(tf.cast(ours, tf.float32), np.float64)
  reference = np.asarray(reference, np.float64)
  return np.abs(ours - reference).max() / np.abs(reference).max()


@pytest.fixture(scope='module')
def bfloat16_outputs(reference_dir):
  """Outputs of the r50w16_enc model built under mixed_bfloat16."""
  run = _run(reference_dir, 'r50w16_enc')
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = maskformer_model.build_maskformer_model(
        fixture_lib.model_config(run.fixture.config))
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  converter.convert_model(model, run.fixture.weights_path)
  images = fixture_lib.nchw_to_nhwc(
      run.fixture.arrays['padded_normalized_images'])
  outputs = model(tf.constant(images), training=False)
  assert model.backbone.compute_dtype == 'bfloat16'
  assert all(v.dtype == tf.float32 for v in model.variables)
  assert outputs['mask_features'].dtype == tf.bfloat16
  return run.outputs, outputs


def test_bfloat16_logits_within_2e_2_of_float32(bfloat16_outputs):
  float32, bfloat16 = bfloat16_outputs
  assert bfloat16['pred_logits'].dtype == tf.float32
  assert _relative_error(bfloat16['pred_logits'],
                         float32['pred_logits']) <= 2e-2
  for ours, theirs in zip(bfloat16['aux_outputs'], float32['aux_outputs']):
    assert _relative_error(ours['pred_logits'], theirs['pred_logits']) <= 2e-2


@pytest.mark.xfail(strict=True, reason=(
    'bfloat16 rounding in the backbone (1-3% on res2..res5 with the fixture '
    'weights) is amplified by the GroupNorms and the mask dot product: the '
    'mask logits differ by 6-11% of their peak'))
def test_bfloat16_masks_within_2e_2_of_float32(bfloat16_outputs):
  float32, bfloat16 = bfloat16_outputs
  assert bfloat16['pred_masks'].dtype == tf.float32
  assert _relative_error(bfloat16['pred_masks'], float32['pred_masks']) <= 2e-2


@pytest.mark.parametrize('config,expected', [
    (model_cfg.MaskFormer(), 45_012_038),
    (model_cfg.MaskFormer(backbone=model_cfg.Backbone(
        torch_resnet=model_cfg.TorchResNet(model_id=101))), 63_951_942),
    (model_cfg.MaskFormer(num_classes=150,
                          pixel_decoder=model_cfg.PixelDecoder(type='fpn')),
     41_254_743),
], ids=['r50_6enc_coco', 'r101_6enc_coco', 'r50_fpn_ade'])
def test_real_size_trainable_parameter_counts(config, expected):
  model = maskformer_model.build_maskformer_model(config)
  count = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
  assert count == expected


def _classify(model, regex):
  return {v.name for v in model.variables if re.search(regex, v.name)}


def test_variable_name_regexes(reference_dir):
  model = _run(reference_dir, 'r50w16_enc').model
  backbone = {v.name for v in model.backbone.variables}
  everything = {v.name for v in model.variables}
  assert _classify(model, maskformer_model.BACKBONE_VARIABLE_REGEX) == backbone
  assert _classify(model,
                   maskformer_model.HEAD_VARIABLE_REGEX) == everything - backbone
  assert all(n.startswith('backbone/') for n in backbone)
  norms = _classify(model, maskformer_model.NORM_VARIABLE_REGEX)
  # GroupNorms: 3 adapters + 4 layers; LayerNorms: 2 per encoder layer, 3 per
  # decoder layer and the decoder's final one; gamma and beta each.
  assert len(norms) == 2 * (7 + 2 * 6 + 3 * 6 + 1)
  assert not norms & backbone
  assert _classify(model, maskformer_model.QUERY_EMBED_VARIABLE_REGEX) == {
      'maskformer/transformer_predictor/query_embed:0'}


def test_model_garden_backbone_through_the_factory():
  config = model_cfg.MaskFormer(
      num_classes=3,
      backbone=model_cfg.Backbone(type='resnet'),
      pixel_decoder=model_cfg.PixelDecoder(
          type='fpn', conv_dim=32, mask_dim=32, num_groups=8),
      transformer_predictor=model_cfg.TransformerPredictor(
          hidden_dim=32, num_queries=5, num_heads=2, dim_feedforward=32,
          num_decoder_layers=2))
  config.backbone.resnet.model_id = 18
  model = maskformer_model.build_maskformer_model(config)
  outputs = model(tf.zeros([1, 96, 64, 3]), training=False)
  assert outputs['pred_masks'].shape == (1, 5, 24, 16)
  assert outputs['backbone_features']['5'].shape == (1, 3, 2, 512)
  backbone = {v.name for v in model.backbone.variables}
  assert _classify(model, maskformer_model.BACKBONE_VARIABLE_REGEX) == backbone
  with pytest.raises(model_mapping.UnsupportedModelError, match='torch_resnet'):
    model_mapping.maskformer_targets(model)


def test_input_normalization_uses_reference_mean_and_std(reference_dir):
  arrays = np.load(reference_dir / 'r50w16_enc' / 'reference.npz')
  image = arrays['image_0']
  height, width = arrays['image_sizes'][0]
  normalized = maskformer_input.normalize_image(
      tf.cast(image, tf.float32)).numpy()
  expected = fixture_lib.nchw_to_nhwc(
      arrays['padded_normalized_images'])[0, :height, :width]
  np.testing.assert_allclose(normalized, expected, atol=1e-5)
