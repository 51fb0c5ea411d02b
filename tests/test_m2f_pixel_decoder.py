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

"""Mask2Former's pixel decoder against the PyTorch model fixture.

The decoder of `m2f_r50w16_panoptic` (conv/mask dim 64, 6 encoder layers, 8
heads, 4 points, FFN 256) gets the fixture's weights through
`mask2former_mapping.pixel_decoder_targets` and the strict assignment (every
pixel-decoder tensor used once, every variable filled, shapes checked), is
fed the stored backbone maps, and every stored intermediate must be within
the README's bound max(10 * float32_error[key], 1e-6 * max(1,
reference_max_abs[key])) (manifest.json), eagerly and under XLA.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import mask2former_mapping
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.modeling.mask2former import pixel_decoder as pixel_decoder_lib
from projects.maskformer.ops import precision
from projects.maskformer.reference import checks as checks_lib

_PREFIX = 'sem_seg_head.pixel_decoder.'


def _nhwc(array: np.ndarray) -> np.ndarray:
  return np.transpose(array, [0, 2, 3, 1])


@pytest.fixture(scope='module')
def fixture(m2f_reference_dir):
  """(reference arrays, manifest, pixel-decoder state dict)."""
  folder = m2f_reference_dir / 'm2f_r50w16_panoptic'
  manifest = json.loads((folder / 'manifest.json').read_text())
  state = converter.read_state_dict(folder / 'weights.pkl')
  decoder_state = {name: value for name, value in state.items()
                   if name.startswith(_PREFIX)}
  return dict(np.load(folder / 'reference.npz')), manifest, decoder_state


def _features(reference, dtype=tf.float32):
  return {level: tf.constant(_nhwc(reference[f'backbone_res{level}']), dtype)
          for level in ('2', '3', '4', '5')}


def _load_decoder(reference, manifest, decoder_state):
  """A decoder of the fixture's config with the fixture's weights."""
  config = manifest['config']
  decoder = pixel_decoder_lib.MSDeformAttnPixelDecoder(
      conv_dim=config['conv_dim'], mask_dim=config['mask_dim'],
      num_layers=config['enc_layers'], num_heads=config['nheads'],
      num_points=config['enc_n_points'],
      dim_feedforward=config['enc_dim_feedforward'],
      dropout_rate=config['dropout'])
  decoder(_features(reference))
  targets = {}
  mask2former_mapping.pixel_decoder_targets(targets, decoder)
  state = name_mapping.CanonicalState(
      naming=name_mapping.DETECTRON2,
      tensors={name: name_mapping.CanonicalTensor(value, (name,))
               for name, value in decoder_state.items()},
      ignored=[])
  converter.assign_strict(targets, state, decoder.variables, 'weights.pkl')
  return decoder, targets


@pytest.fixture(scope='module')
def loaded(fixture):
  reference, manifest, decoder_state = fixture
  return _load_decoder(reference, manifest, decoder_state)


def _check(manifest, key, got, expected):
  bound = checks_lib.pytorch_error_bound(manifest['float32_error'][key],
                                         manifest['reference_max_abs'][key])
  error = float(np.abs(np.asarray(got, np.float64) - expected).max())
  assert np.shape(got) == expected.shape, key
  assert error <= bound, f'{key}: max error {error:.3g} > bound {bound:.3g}'


def test_every_pixel_decoder_tensor_maps_once(fixture, loaded):
  _, _, decoder_state = fixture
  decoder, targets = loaded
  assert sorted(targets) == sorted(decoder_state)
  mapped = [v.ref() for t in targets.values() for v in t.variables]
  assert len(mapped) == len(set(mapped)) == len(decoder.variables)
  for name, target in targets.items():
    assert target.torch_shape == decoder_state[name].shape, name


def test_encoder_inputs_and_first_layer_match(fixture, loaded):
  reference, manifest, _ = fixture
  decoder, _ = loaded
  inputs = decoder.encoder_inputs(_features(reference))
  assert inputs.spatial_shapes == ((6, 9), (12, 18), (24, 36))
  for level in range(3):
    _check(manifest, f'encoder_input_l{level}', inputs.maps[level],
           _nhwc(reference[f'encoder_input_l{level}']))
    expected = _nhwc(reference[f'pos_embed_l{level}'])
    _check(manifest, f'pos_embed_l{level}',
           np.broadcast_to(inputs.sine_encodings[level], expected.shape),
           expected)
  layer = decoder.encoder_layers[0]
  locations, weights = layer.self_attention.sampling(
      inputs.tokens + inputs.pos, inputs.reference_points,
      inputs.spatial_shapes)
  _check(manifest, 'enc0_sampling_locations', locations[:1],
         reference['enc0_sampling_locations'])
  _check(manifest, 'enc0_attention_weights', weights[:1],
         reference['enc0_attention_weights'])
  _check(manifest, 'encoder_layer0_output',
         layer(inputs.tokens, inputs.pos, inputs.reference_points,
               inputs.spatial_shapes),
         reference['encoder_layer0_output'])


def _check_outputs(manifest, reference, outputs):
  for level, features in enumerate(outputs['multi_scale_features']):
    _check(manifest, f'multi_scale_l{level}', features,
           _nhwc(reference[f'multi_scale_l{level}']))
  _check(manifest, 'mask_features', outputs['mask_features'],
         _nhwc(reference['mask_features']))


@pytest.mark.parametrize('jit', [False, True])
def test_outputs_match(fixture, loaded, jit):
  reference, manifest, _ = fixture
  decoder, _ = loaded

  def forward(features):
    return decoder(features, training=False)

  if jit:
    forward = tf.function(forward, jit_compile=True)
  outputs = forward(_features(reference))
  assert outputs['mask_features'].dtype == tf.float32
  _check_outputs(manifest, reference, outputs)


def test_mixed_bfloat16_computes_in_float32(fixture):
  """Under mixed_bfloat16 the decoder is float32 throughout, as the original.

  Fed the float32 maps it reproduces the reference; fed bfloat16 maps (a
  mixed-precision backbone's output) it runs and returns float32.
  """
  reference, manifest, decoder_state = fixture
  with precision.keras_policy('mixed_bfloat16'):
    decoder, _ = _load_decoder(reference, manifest, decoder_state)
    assert decoder.compute_dtype == 'float32'
    _check_outputs(manifest, reference, decoder(_features(reference)))
    outputs = decoder(_features(reference, tf.bfloat16))
  assert all(v.dtype == tf.float32 for v in decoder.variables)
  for tensor in [outputs['mask_features']] + outputs['multi_scale_features']:
    assert tensor.dtype == tf.float32
    assert np.isfinite(tensor.numpy()).all()


def test_real_size_parameter_count():
  # The R50 configuration (semantics doc): D = mask dim = 256, FFN 1024, 6
  # layers, 8 heads, 4 points, res2..res5 with 256..2048 channels.
  decoder = pixel_decoder_lib.MSDeformAttnPixelDecoder()
  decoder({level: tf.zeros([1, 64 // 2**i, 64 // 2**i, 256 * 2**i])
           for i, level in enumerate(('2', '3', '4', '5'))})
  assert sum(int(np.prod(v.shape))
             for v in decoder.trainable_variables) == 6_035_904
