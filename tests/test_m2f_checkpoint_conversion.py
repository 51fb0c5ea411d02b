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

"""Strict conversion of Mask2Former checkpoints into the TF Mask2Former.

The model fixture `m2f_r50w16_panoptic` (its `weights.pkl` has the released
checkpoints' detectron2 names) is converted whole and must reproduce the
PyTorch logits within the fixture README's bound max(10 * float32_error,
1e-6 * max(1, reference_max_abs)). The same weights under the `transformers`
names (`m2f_transformers_names`, checked against the names and shapes of a
real port in tests/data) and under the version-1 detectron2 names must give
exactly the same TF variables; other families, Swin backbones and missing,
extra or mis-shaped tensors are refused without assigning anything. With
torch and transformers installed, the `transformers` port loaded with the
fixture's weights is compared with the TF model on the fixture's images.
"""
# The MaskFormer conversion test's helpers (_weights, _write_pickle, ...) are
# shared here.
# pylint: disable=protected-access
import json
import pathlib
import re

import conftest
import m2f_transformers_names
import numpy as np
import pytest
import tensorflow as tf
import test_checkpoint_conversion as mf_conversion

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import name_mapping
from projects.maskformer.modeling.mask2former import mask2former_model
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import transformers_witness

_HEAD_PIXEL_DECODER = 'sem_seg_head.pixel_decoder.'


class _Run:
  """The fixture's model, converted from `weights.pkl`, and its outputs."""

  def __init__(self, folder: pathlib.Path):
    self.weights_path = folder / 'weights.pkl'
    self.manifest = json.loads((folder / 'manifest.json').read_text())
    with np.load(folder / 'reference.npz') as arrays:
      self.arrays = dict(arrays)
    self.state = converter.read_state_dict(self.weights_path)
    self.overrides = m2f_transformers_names.model_overrides(
        self.manifest['config'])
    self.config = m2f_transformers_names.model_config(self.manifest['config'])
    self.model = mask2former_model.build_mask2former_model(self.config)
    self.summary = converter.convert_model(self.model, self.weights_path)
    self.weights = mf_conversion._weights(self.model)
    self.images = fixture_formats.nchw_to_nhwc(
        self.arrays['padded_normalized_images'])
    self.outputs = self.model(tf.constant(self.images), training=False)

  def bound(self, key):
    return max(10 * self.manifest['float32_error'][key],
               1e-6 * max(1.0, self.manifest['reference_max_abs'][key]))

  def restore(self):
    converter.convert_model(self.model, self.weights_path)


@pytest.fixture(scope='module')
def run(m2f_reference_dir):
  return _Run(m2f_reference_dir / 'm2f_r50w16_panoptic')


def _max_error(got, expected):
  return float(np.abs(np.asarray(got, np.float64) - expected).max())


def test_detectron2_checkpoint_reproduces_the_reference(run):
  assert run.summary.naming == name_mapping.DETECTRON2
  assert run.summary.family == name_mapping.MASK2FORMER
  assert run.summary.num_tensors == len(run.state)
  assert run.summary.num_variables == len(run.model.variables)
  assert run.summary.ignored == []
  for key in ('pred_logits', 'pred_masks'):
    error = _max_error(run.outputs[key], run.arrays[key])
    assert error <= run.bound(key), (key, error, run.bound(key))


def test_transformers_names_are_those_of_a_real_port(run):
  hf = m2f_transformers_names.transformers_state(run.state)
  assert {n: v.shape for n, v in hf.items()} == (
      m2f_transformers_names.read_names_file())


def test_transformers_checkpoint_gives_same_weights(run, tmp_path):
  hf = m2f_transformers_names.transformers_state(run.state)
  path = mf_conversion._write_safetensors(
      tmp_path / 'model.safetensors', hf, {'__metadata__': {'format': 'pt'}})
  try:
    mf_conversion._zero(run.model)
    summary = converter.convert_model(run.model, path)
    assert (summary.naming, summary.family) == ('transformers', 'mask2former')
    assert sorted(summary.ignored) == sorted(
        n for n in hf if n.endswith('num_batches_tracked') or
        n == 'criterion.empty_weight')
    mf_conversion._assert_same_weights(run.model, run.weights)
  finally:
    run.restore()


def _version1_name(name):
  """Version-1 heads: flat pixel-decoder names, `static_query`."""
  name = name.replace('.predictor.query_feat.', '.predictor.static_query.')
  return re.sub(r'^sem_seg_head\.pixel_decoder\.', 'sem_seg_head.', name)


def test_version1_names_give_same_weights(run, tmp_path):
  state = {_version1_name(n): v for n, v in run.state.items()}
  assert 'sem_seg_head.predictor.static_query.weight' in state
  assert 'sem_seg_head.transformer.level_embed' in state
  path = mf_conversion._write_pickle(tmp_path / 'v1.pkl', state)
  try:
    mf_conversion._zero(run.model)
    summary = converter.convert_model(run.model, path)
    assert summary.num_tensors == len(state)
    mf_conversion._assert_same_weights(run.model, run.weights)
  finally:
    run.restore()


def _assert_refused(run, path, error_type, match):
  """Converting `path` raises; the model keeps its (fixture) weights."""
  with pytest.raises(error_type, match=match) as error:
    converter.convert_model(run.model, path)
  mf_conversion._assert_same_weights(run.model, run.weights)
  return error.value


def test_other_family_is_refused(run, reference_dir):
  _assert_refused(run, reference_dir / 'r50w16_fpn' / 'weights.pkl',
                  name_mapping.NamingError,
                  r'is a MaskFormer checkpoint \(e\.g\. sem_seg_head\..*\) '
                  'but the model is a Mask2Former')
  with pytest.raises(name_mapping.NamingError,
                     match='is a Mask2Former checkpoint .* but the model is a '
                     'MaskFormer'):
    name_mapping.to_canonical(run.state, family=name_mapping.MASKFORMER)
  mixed = dict(run.state)
  mixed['sem_seg_head.predictor.transformer.decoder.norm.weight'] = (
      np.ones(64, np.float32))
  with pytest.raises(name_mapping.NamingError,
                     match='mixes MaskFormer and Mask2Former names'):
    name_mapping.to_canonical(mixed)


@pytest.mark.parametrize('swin_name', [
    'backbone.patch_embed.proj.weight',
    'model.pixel_level_module.encoder.embeddings.patch_embeddings.projection.'
    'weight',
])
def test_swin_backbone_is_refused(run, tmp_path, swin_name):
  state = {n: v for n, v in run.state.items() if not n.startswith('backbone.')}
  if swin_name.startswith('model.'):
    state = m2f_transformers_names.transformers_state(state)
  state[swin_name] = np.zeros((96, 3, 4, 4), np.float32)
  _assert_refused(run, mf_conversion._write_pickle(tmp_path / 'swin.pkl', state),
                  name_mapping.NamingError,
                  f'Swin backbone \\(e.g. {re.escape(swin_name)}\\); only '
                  'ResNet')


def test_missing_extra_and_mis_shaped_detectron2_tensors(run, tmp_path):
  state = dict(run.state)
  del state['sem_seg_head.predictor.level_embed.weight']
  state['sem_seg_head.predictor.extra.weight'] = np.zeros(3, np.float32)
  state[_HEAD_PIXEL_DECODER + 'adapter_1.weight'] = np.zeros(
      (64, 64, 3, 3), np.float32)
  error = _assert_refused(
      run, mf_conversion._write_pickle(tmp_path / 'bad.pkl', state),
      converter.CheckpointMismatchError, 'does not match the model')
  assert error.missing == ['sem_seg_head.predictor.level_embed.weight']
  assert error.unexpected == ['sem_seg_head.predictor.extra.weight']
  assert error.mis_shaped == [(_HEAD_PIXEL_DECODER + 'adapter_1.weight',
                               (64, 64, 3, 3), (64, 64, 1, 1))]


def test_incomplete_transformers_tensors(run, tmp_path):
  hf = m2f_transformers_names.transformers_state(run.state)
  layer = 'model.transformer_module.decoder.layers.3.self_attn.'
  del hf[layer + 'k_proj.weight']
  hf['model.transformer_module.extra.weight'] = np.zeros(3, np.float32)
  error = _assert_refused(
      run, mf_conversion._write_safetensors(tmp_path / 'bad.safetensors', hf),
      converter.CheckpointMismatchError, 'does not match the model')
  assert error.missing == [
      'sem_seg_head.predictor.transformer_self_attention_layers.3.self_attn.'
      'in_proj_weight']
  assert error.unexpected == [layer + 'q_proj.weight', layer + 'v_proj.weight',
                              'model.transformer_module.extra.weight']


def test_tool_converts_a_mask2former_experiment(run, tmp_path):
  result = mf_conversion._run_tool(
      f'--source={run.weights_path}', f'--output={tmp_path / "out" / "ckpt"}',
      '--experiment=mask2former_coco_panoptic_r50',
      '--params_override=' + json.dumps({'task': {'model': run.overrides}}))
  assert result.returncode == 0, result.stderr
  assert (f'converted {len(run.state)} tensors (detectron2 names) from '
          f'{run.weights_path} into {len(run.model.variables)} variables of a '
          'mask2former model') in result.stdout
  try:
    mf_conversion._zero(run.model)
    tf.train.Checkpoint(model=run.model).read(
        str(tmp_path / 'out' / 'ckpt')).assert_existing_objects_matched()
    mf_conversion._assert_same_weights(run.model, run.weights)
  finally:
    run.restore()


def test_tool_refuses_a_mask2former_checkpoint_for_maskformer(run, tmp_path):
  result = mf_conversion._run_tool(
      f'--source={run.weights_path}', f'--output={tmp_path / "ckpt"}',
      '--experiment=maskformer_coco_panoptic_r50',
      '--params_override=task.model.backbone.torch_resnet.base_width=16')
  conftest.assert_one_line_error(
      result, 'the checkpoint is a Mask2Former checkpoint (e.g. '
      'sem_seg_head.pixel_decoder.transformer.level_embed) but the model is a '
      'MaskFormer')
  assert not (tmp_path / 'ckpt.index').exists()


def test_transformers_port_with_the_fixture_weights_agrees(run):
  """Live witness: the `transformers` port vs the TF model, same weights."""
  torch = pytest.importorskip('torch')
  pytest.importorskip('transformers')
  port = transformers_witness.build_mask2former_port(run.config)
  transformers_witness.load_state(port, run.state, name_mapping.DETECTRON2)
  with torch.no_grad():
    outputs = port(pixel_values=torch.from_numpy(
        run.arrays['padded_normalized_images']))
  port_logits = outputs.class_queries_logits.numpy()
  port_masks = outputs.masks_queries_logits.numpy()
  ours_logits = np.asarray(run.outputs['pred_logits'])
  ours_masks = np.asarray(run.outputs['pred_masks'])
  differences = {
      'logits port-ours': _max_error(port_logits, ours_logits),
      'masks port-ours': _max_error(port_masks, ours_masks),
      'logits port-reference': _max_error(port_logits,
                                          run.arrays['pred_logits']),
      'masks port-reference': _max_error(port_masks, run.arrays['pred_masks']),
  }
  print(f'max abs differences: {differences}')
  assert differences['logits port-ours'] <= 1e-4, differences
  assert differences['masks port-ours'] <= 1e-4 * max(
      1.0, run.manifest['reference_max_abs']['pred_masks']), differences
