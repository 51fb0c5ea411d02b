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

"""Tests of the pixel decoders against the PyTorch fixtures and numpy."""
import model_fixture_runs
import numpy as np
import pytest
import tensorflow as tf
import torch_semantics_numpy as ops

from projects.maskformer.modeling.maskformer import pixel_decoder as pixel_decoder_lib
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import model_checks

# The exact answers are stored in float32 (a relative 6e-8), so a module fed
# them sees inputs rounded that much. Measured 2026-12-03: the float64 pixel
# decoder fed the exact backbone maps reproduces the exact mask features
# within 1.0e-7 (relative to the peak) and the encoder output within 5.4e-8.
_ISOLATED_FLOAT64_TOLERANCE = 5e-7


@pytest.mark.parametrize('name', model_fixture_runs.MODEL_FIXTURES)
def test_float64_matches_exact_given_exact_backbone_features(
    reference_dir, name):
  run = model_fixture_runs.model_run(str(reference_dir / name), 'float64')
  exact = run.fixture.exact
  features = {level: tf.constant(fixture_formats.nchw_to_nhwc(
      exact[f'backbone_res{level}']).astype(np.float64))
              for level in ('2', '3', '4', '5')}
  decoded = run.model.pixel_decoder(features, training=False)
  outputs = {'mask_features': 'mask_features'}
  if name.endswith('enc'):
    outputs['transformer_encoder_output'] = 'transformer_encoder_features'
  for key, ours in outputs.items():
    assert decoded[ours].dtype == tf.float64
    check = checks_lib.compare_scaled(
        key, decoded[ours], fixture_formats.nchw_to_nhwc(exact[key]),
        _ISOLATED_FLOAT64_TOLERANCE)
    assert check.passed, check


@pytest.mark.parametrize('name', model_fixture_runs.MODEL_FIXTURES)
def test_float32_isolated_comparisons_are_notes(reference_dir, name):
  """float32 against float32 references decides nothing: notes only."""
  run = model_fixture_runs.model_run(str(reference_dir / name))
  results = [r for r in model_checks.isolated_module_checks(run)
             if r.name.startswith('isolated.pixel_decoder.')]
  expected = {'isolated.pixel_decoder.mask_features'}
  if name.endswith('enc'):
    expected.add('isolated.pixel_decoder.transformer_encoder_output')
  assert {r.name for r in results} == expected
  assert all(isinstance(r, checks_lib.Note) for r in results)


def _random_fpn_weights(rng, in_channels, conv_dim, mask_dim):
  """detectron2 BasePixelDecoder weights (torch layouts) by module name."""
  def conv(out_channels, channels, kernel):
    return rng.normal(0.0, 1.0 / np.sqrt(channels * kernel * kernel),
                      (out_channels, channels, kernel, kernel))

  def norm():
    return rng.uniform(0.5, 1.5, conv_dim), rng.normal(0.0, 0.1, conv_dim)

  weights = {'layer_4': (conv(conv_dim, in_channels['5'], 3),) + norm()}
  for i, level in ((1, '2'), (2, '3'), (3, '4')):
    weights[f'adapter_{i}'] = (conv(conv_dim, in_channels[level], 1),) + norm()
    weights[f'layer_{i}'] = (conv(conv_dim, conv_dim, 3),) + norm()
  weights['mask_features'] = (conv(mask_dim, conv_dim, 3),
                              rng.normal(0.0, 0.1, mask_dim))
  return weights


def _numpy_base_pixel_decoder(features, weights, groups):
  """The original BasePixelDecoder.forward_features in numpy."""
  def conv_gn(x, name, kernel):
    weight, gamma, beta = weights[name]
    return ops.group_norm(ops.conv2d(x, weight, pad=kernel // 2), groups,
                          gamma, beta)

  y = ops.relu(conv_gn(features['5'], 'layer_4', 3))
  for i, level in ((3, '4'), (2, '3'), (1, '2')):
    lateral = conv_gn(features[level], f'adapter_{i}', 1)
    y = lateral + ops.interpolate_nearest(y, lateral.shape[1:3])
    y = ops.relu(conv_gn(y, f'layer_{i}', 3))
  weight, bias = weights['mask_features']
  return ops.conv2d(y, weight, bias, pad=1)


def test_fpn_matches_numpy_on_odd_sizes():
  rng = np.random.default_rng(0)
  # Sizes of an 145 x 261 input: the top-down path upsamples 5x9 -> 10x17,
  # 10x17 -> 19x33 and 19x33 -> 37x66, never an exact 2x.
  sizes = {'2': (37, 66), '3': (19, 33), '4': (10, 17), '5': (5, 9)}
  channels = {'2': 8, '3': 12, '4': 16, '5': 20}
  features = {level: rng.normal(size=(2,) + sizes[level] + (channels[level],))
              for level in sizes}
  conv_dim, mask_dim, groups = 8, 6, 4
  weights = _random_fpn_weights(rng, channels, conv_dim, mask_dim)
  decoder = pixel_decoder_lib.FPNPixelDecoder(conv_dim, mask_dim, groups)
  decoder({k: tf.constant(v, tf.float32) for k, v in features.items()})
  modules = dict(zip(('adapter_1', 'adapter_2', 'adapter_3'),
                     decoder.adapters))
  modules.update(zip(('layer_1', 'layer_2', 'layer_3'), decoder.output_convs))
  modules['layer_4'] = decoder.layer_4
  for name, module in modules.items():
    weight, gamma, beta = weights[name]
    module.conv.kernel.assign(weight.transpose(2, 3, 1, 0))
    module.group_norm.gamma.assign(gamma)
    module.group_norm.beta.assign(beta)
  decoder.mask_features.kernel.assign(
      weights['mask_features'][0].transpose(2, 3, 1, 0))
  decoder.mask_features.bias.assign(weights['mask_features'][1])

  ours = decoder({k: tf.constant(v, tf.float32) for k, v in features.items()})
  expected = _numpy_base_pixel_decoder(features, weights, groups)
  assert set(ours) == {'mask_features'}
  assert ours['mask_features'].shape == (2, 37, 66, mask_dim)
  np.testing.assert_allclose(ours['mask_features'].numpy(), expected,
                             atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_transformer_encoder_decoder_runs_on_odd_sizes():
  rng = np.random.default_rng(1)
  sizes = {'2': (37, 66), '3': (19, 33), '4': (10, 17), '5': (5, 9)}
  features = {level: tf.constant(rng.normal(size=(1,) + sizes[level] + (16,)),
                                 tf.float32) for level in sizes}
  decoder = pixel_decoder_lib.TransformerEncoderPixelDecoder(
      conv_dim=8, mask_dim=6, num_groups=4, num_layers=2, num_heads=2,
      dim_feedforward=16, dropout_rate=0.0)
  outputs = decoder(features)
  assert outputs['mask_features'].shape == (1, 37, 66, 6)
  assert outputs['transformer_encoder_features'].shape == (1, 5, 9, 8)
  assert len(decoder.transformer_encoder.encoder_layers) == 2
  names = [v.name for v in decoder.trainable_variables]
  assert sum('group_norm/gamma' in n for n in names) == 7
  assert sum('layer_norm' in n for n in names) == 2 * 2 * 2


def test_missing_backbone_level_is_reported():
  decoder = pixel_decoder_lib.FPNPixelDecoder(8, 8, 4)
  features = {level: tf.zeros([1, 4, 4, 8]) for level in ('3', '4', '5')}
  with pytest.raises(ValueError, match=r"missing \['2'\]"):
    decoder(features)
