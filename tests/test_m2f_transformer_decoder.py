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

"""Tests of Mask2Former's transformer decoder against the PyTorch fixture.

The fixture's decoder (hidden 64, 8 heads, FFN 256, DEC_LAYERS 10, 50
queries, 133 classes) is fed the stored pixel-decoder outputs; every head's
class logits and the stored mask logits must be within the README's bound
max(10 * float32_error, 1e-6 * max(1, reference_max_abs)), and the attention
masks fed to layers 0 and 1 identical.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import mask2former_mapping
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.modeling import layers
from projects.maskformer.modeling.mask2former import transformer_decoder as decoder_lib
from projects.maskformer.ops import precision
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture_formats

PREFIX = 'sem_seg_head.predictor.'
NUM_HEADS = 10  # DEC_LAYERS: 9 layers + the head on the learnable queries.


class _Fixture:
  """The model fixture's manifest, arrays and predictor weights."""

  def __init__(self, folder):
    self.manifest = json.loads((folder / 'manifest.json').read_text())
    with np.load(folder / 'reference.npz') as arrays:
      self.arrays = dict(arrays)
    state = converter.read_state_dict(folder / 'weights.pkl')
    self.weights = {k: v for k, v in state.items() if k.startswith(PREFIX)}

  def bound(self, key):
    return checks_lib.pytorch_error_bound(
        self.manifest['float32_error'][key],
        self.manifest['reference_max_abs'][key])

  def inputs(self, dtype):
    features = [fixture_formats.nchw_to_nhwc(self.arrays[f'multi_scale_l{i}'])
                for i in range(3)]
    mask_features = fixture_formats.nchw_to_nhwc(self.arrays['mask_features'])
    return ([tf.constant(f.astype(dtype)) for f in features],
            tf.constant(mask_features.astype(dtype)))

  def decoder(self, dtype='float32'):
    """The fixture's decoder, built under `dtype` and loaded strictly."""
    config = self.manifest['config']
    with precision.keras_policy(dtype):
      decoder = decoder_lib.MultiScaleMaskedTransformerDecoder(
          num_classes=config['num_classes'], hidden_dim=config['hidden_dim'],
          num_queries=config['num_queries'], num_heads=config['nheads'],
          dim_feedforward=config['dim_feedforward'],
          dec_layers=config['dec_layers_cfg'], mask_dim=config['mask_dim'],
          enforce_input_projection=config['enforce_input_project'])
      decoder(*self.inputs(np.float32))
    targets = {}
    mask2former_mapping.transformer_decoder_targets(targets, decoder)
    state = name_mapping.CanonicalState(
        naming=name_mapping.DETECTRON2, ignored=[],
        tensors={name: name_mapping.CanonicalTensor(value, (name,))
                 for name, value in self.weights.items()})
    converter.assign_strict(targets, state, decoder.variables, 'weights.pkl')
    return decoder, targets


@pytest.fixture(scope='module')
def m2f_fixture(m2f_reference_dir):
  return _Fixture(m2f_reference_dir / 'm2f_r50w16_panoptic')


@pytest.fixture(scope='module')
def float32_decoder_and_targets(m2f_fixture):
  return m2f_fixture.decoder()


def _assert_matches_reference(fixture, outputs, bound):
  """All 10 heads' logits, the stored mask logits, the attention masks.

  Args:
    fixture: the `_Fixture`.
    outputs: the decoder's outputs, with the attention masks.
    bound: key -> the largest allowed max abs error.
  """
  heads = outputs['aux_outputs'] + [outputs]
  assert len(heads) == NUM_HEADS
  ours = {f'aux{j}_pred_logits': head['pred_logits']
          for j, head in enumerate(heads[:-1])}
  ours.update(pred_logits=outputs['pred_logits'],
              pred_masks=outputs['pred_masks'],
              aux0_pred_masks=heads[0]['pred_masks'],
              aux1_pred_masks=heads[1]['pred_masks'])
  errors = {key: float(np.max(np.abs(np.asarray(value, np.float64) -
                                     fixture.arrays[key])))
            for key, value in ours.items()}
  failed = {key: (error, bound(key)) for key, error in errors.items()
            if not error <= bound(key)}
  assert not failed, failed
  masks = outputs['attention_masks']
  assert len(masks) == NUM_HEADS - 1
  for layer in (0, 1):
    assert masks[layer].dtype == tf.bool
    np.testing.assert_array_equal(masks[layer].numpy(),
                                  fixture.arrays[f'attn_mask_layer{layer}'])


def test_mapping_uses_every_predictor_name_once(m2f_fixture,
                                                float32_decoder_and_targets):
  decoder, targets = float32_decoder_and_targets
  assert sorted(targets) == sorted(m2f_fixture.weights)
  assert all(m2f_fixture.weights[name].shape == target.torch_shape
             for name, target in targets.items())
  mapped = [v.ref() for target in targets.values() for v in target.variables]
  assert len(mapped) == len(set(mapped)) == len(decoder.variables)
  assert all(decoder.input_proj[level] is None for level in range(3))
  np.testing.assert_array_equal(
      decoder.query_feat.numpy(),
      m2f_fixture.weights[f'{PREFIX}query_feat.weight'])


@pytest.mark.parametrize('jit_compile', [False, True], ids=['eager', 'xla'])
def test_float32_matches_reference(m2f_fixture, float32_decoder_and_targets,
                                   jit_compile):
  decoder, _ = float32_decoder_and_targets

  def run(features, mask_features):
    return decoder(features, mask_features, return_attention_masks=True)

  if jit_compile:
    run = tf.function(run, jit_compile=True)
  outputs = run(*m2f_fixture.inputs(np.float32))
  assert outputs['pred_logits'].dtype == tf.float32
  _assert_matches_reference(m2f_fixture, outputs, m2f_fixture.bound)


def test_float64_matches_reference(m2f_fixture):
  """Within 2 * float32_error: a bound tighter than float32's 10x.

  Fed the stored float32 inputs, the float64 decoder is PyTorch's float64
  decoder on those inputs, so its distance to the float32 reference is
  PyTorch's own float32 rounding in the decoder. Measured 2026-12-03: at
  most 1.00 * float32_error (exactly that for head 0, which depends on the
  weights only: its float32_error is the decoder's rounding alone).
  """
  decoder, _ = m2f_fixture.decoder('float64')
  outputs = decoder(*m2f_fixture.inputs(np.float64),
                    return_attention_masks=True)
  assert outputs['pred_masks'].dtype == tf.float64
  assert outputs['aux_outputs'][3]['pred_logits'].dtype == tf.float64
  _assert_matches_reference(
      m2f_fixture, outputs,
      lambda key: 2 * m2f_fixture.manifest['float32_error'][key])


def test_mixed_bfloat16_runs(m2f_fixture):
  decoder, _ = m2f_fixture.decoder('mixed_bfloat16')
  layer = decoder.decoder_layers[0]
  assert layer.cross_attention.compute_dtype == 'bfloat16'
  assert decoder.query_feat.dtype == tf.float32
  outputs = decoder(*m2f_fixture.inputs(np.float32),
                    return_attention_masks=True)
  for head in outputs['aux_outputs'] + [outputs]:
    for key in ('pred_logits', 'pred_masks'):
      assert head[key].dtype == tf.float32
      assert np.all(np.isfinite(head[key].numpy()))
  assert all(mask.dtype == tf.bool for mask in outputs['attention_masks'])


def test_attention_mask_is_sigmoid_below_half_with_open_rows():
  logits = tf.constant([[
      # A logit of -1e-8 has sigmoid exactly 0.5 in float32: not blocked
      # (`logit < 0` would block it); -1e-3 is blocked, 0 and 2 are not.
      [[-1e-8, -1e-3], [0.0, 2.0]],
      # Blocked everywhere: the row is opened entirely.
      [[-1e-3, -5.0], [-2.0, -1e-2]],
      [[-3.0, 1.0], [-1e-8, -4.0]],
  ]], tf.float32)
  expected = np.array([[[[False, True], [False, False]],
                        [[False, False], [False, False]],
                        [[True, False], [False, True]]]])
  assert tf.sigmoid(tf.constant(-1e-8)).numpy() == 0.5
  np.testing.assert_array_equal(
      decoder_lib.attention_mask(logits, (2, 2)).numpy(), expected)
  xla = tf.function(decoder_lib.attention_mask, jit_compile=True)
  np.testing.assert_array_equal(xla(logits, (2, 2)).numpy(), expected)
  # The mask is taken after a bilinear resize to the level's size.
  resized = decoder_lib.attention_mask(
      tf.constant([[[[-1.0, 3.0]]]]), (1, 4)).numpy()
  np.testing.assert_array_equal(resized, [[[[True, False, False, False]]]])


def test_blocked_keys_get_no_attention():
  """A blocked key contributes exactly nothing, as PyTorch's -inf."""
  rng = np.random.default_rng(3)
  query = tf.constant(rng.normal(size=(2, 3, 8)), tf.float32)
  memory = tf.constant(rng.normal(size=(2, 5, 8)) * 30.0, tf.float32)
  keep = np.array([0, 2, 3])
  blocked = np.ones((2, 3, 5), bool)
  blocked[:, :, keep] = False
  attention = layers.MultiHeadAttention(2)
  masked = attention(query, memory, memory, blocked=tf.constant(blocked))
  subset = tf.gather(memory, keep, axis=1)
  np.testing.assert_allclose(masked.numpy(),
                             attention(query, subset, subset).numpy(),
                             rtol=1e-6, atol=1e-6)


def _small_decoder(**kwargs):
  return decoder_lib.MultiScaleMaskedTransformerDecoder(
      num_classes=5, hidden_dim=16, num_queries=7, num_heads=2,
      dim_feedforward=24, dec_layers=5, mask_dim=12, **kwargs)


def _small_inputs(channels=16):
  rng = np.random.default_rng(0)
  features = [tf.constant(rng.normal(size=(2, 2 * 2**i, 3 * 2**i, channels)),
                          tf.float32) for i in range(3)]
  return features, tf.constant(rng.normal(size=(2, 16, 24, 12)), tf.float32)


@pytest.mark.parametrize('channels,enforce,deep_supervision', [
    (16, False, True), (24, False, False), (16, True, True)])
def test_output_contract(channels, enforce, deep_supervision):
  decoder = _small_decoder(enforce_input_projection=enforce,
                           deep_supervision=deep_supervision)
  outputs = decoder(*_small_inputs(channels), return_attention_masks=True)
  assert outputs['pred_logits'].shape == (2, 7, 6)
  assert outputs['pred_masks'].shape == (2, 7, 16, 24)
  assert len(outputs['aux_outputs']) == (4 if deep_supervision else 0)
  # Layers 0..3 attend to levels 0, 1, 2, 0 (1/32, 1/16, 1/8, 1/32).
  assert [tuple(m.shape) for m in outputs['attention_masks']] == [
      (2, 7, 2, 3), (2, 7, 4, 6), (2, 7, 8, 12), (2, 7, 2, 3)]
  projected = channels != 16 or enforce
  assert [p is not None for p in decoder.input_proj] == [projected] * 3
  targets = {}
  mask2former_mapping.transformer_decoder_targets(targets, decoder)
  assert (f'{PREFIX}input_proj.2.weight' in targets) == projected
  assert 'attention_masks' not in decoder(*_small_inputs(channels))


def test_gradients_reach_every_variable():
  decoder = _small_decoder()
  with tf.GradientTape() as tape:
    outputs = decoder(*_small_inputs(), training=True)
    loss = sum(tf.reduce_sum(head['pred_logits']) +
               tf.reduce_sum(head['pred_masks'])
               for head in outputs['aux_outputs'] + [outputs])
  gradients = tape.gradient(loss, decoder.trainable_variables)
  assert all(g is not None and np.all(np.isfinite(g.numpy()))
             for g in gradients)


@pytest.mark.parametrize('num_classes,expected', [
    (133, 14_493_062), (150, 14_497_431), (80, 14_479_441)])
def test_real_size_parameter_count(num_classes, expected):
  decoder = decoder_lib.MultiScaleMaskedTransformerDecoder(
      num_classes=num_classes, hidden_dim=256, num_queries=100, num_heads=8,
      dim_feedforward=2048, dec_layers=10, mask_dim=256)
  features = [tf.zeros([1, 1, 1, 256])] * 3
  decoder(features, tf.zeros([1, 2, 2, 256]))
  assert len(decoder.decoder_layers) == 9
  assert sum(int(np.prod(v.shape))
             for v in decoder.trainable_variables) == expected
