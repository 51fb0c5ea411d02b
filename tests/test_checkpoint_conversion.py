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

"""Tests of the strict PyTorch -> TF checkpoint conversion.

The `transformers` and torchvision checkpoints are derived here from the
fixtures' detectron2 weights by the renaming documented in
docs/semantics.md (section 13), written independently of the
converter's own rules; converting them must give exactly the TF weights that
converting the detectron2 names gives.
"""
import json
import os
import pathlib
import pickle
import re
import struct
import subprocess
import sys

import model_fixture_runs
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.checkpoints import restricted_pickle
from projects.maskformer.checkpoints import safetensors
from projects.maskformer.modeling.maskformer import maskformer_model
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture_formats

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _d2_state(reference_dir, name):
  return restricted_pickle.load(reference_dir / name / 'weights.pkl')['model']


def _weights(model):
  return {v.name: v.numpy() for v in model.variables}


def _zero(model):
  for variable in model.variables:
    variable.assign(tf.zeros_like(variable))


def _assert_same_weights(model, expected):
  ours = _weights(model)
  assert ours.keys() == expected.keys()
  for name, value in expected.items():
    np.testing.assert_array_equal(ours[name], value, err_msg=name)


def _write_pickle(path, state):
  path.write_bytes(pickle.dumps({'model': state, '__author__': 'test'}))
  return path


_SAFETENSORS_DTYPES = {np.dtype('float32'): 'F32', np.dtype('int64'): 'I64',
                       np.dtype('float16'): 'F16'}


def _write_safetensors(path, tensors, extra_header=None):
  header, chunks, offset = {}, [], 0
  for name, array in tensors.items():
    data = np.ascontiguousarray(array).tobytes()
    header[name] = {'dtype': _SAFETENSORS_DTYPES[array.dtype],
                    'shape': list(array.shape),
                    'data_offsets': [offset, offset + len(data)]}
    chunks.append(data)
    offset += len(data)
  header.update(extra_header or {})
  encoded = json.dumps(header).encode()
  path.write_bytes(struct.pack('<Q', len(encoded)) + encoded + b''.join(chunks))
  return path


def _hf_name(name, version):
  """detectron2 -> `transformers` MaskFormer name (docs/semantics.md, 13)."""
  encoder = 'model.pixel_level_module.encoder.'
  fpn = 'model.pixel_level_module.decoder.fpn.'
  decoder = 'model.transformer_module.decoder.'
  rules = [
      (r'backbone\.stem\.conv1\.weight',
       encoder + 'embedder.embedder.convolution.weight'),
      (r'backbone\.stem\.conv1\.norm\.(\w+)',
       encoder + r'embedder.embedder.normalization.\1'),
      (r'backbone\.res(\d)\.(\d+)\.shortcut\.weight',
       lambda m: f'{encoder}encoder.stages.{int(m[1]) - 2}.layers.{m[2]}.'
       'shortcut.convolution.weight'),
      (r'backbone\.res(\d)\.(\d+)\.shortcut\.norm\.(\w+)',
       lambda m: f'{encoder}encoder.stages.{int(m[1]) - 2}.layers.{m[2]}.'
       f'shortcut.normalization.{m[3]}'),
      (r'backbone\.res(\d)\.(\d+)\.conv(\d)\.weight',
       lambda m: f'{encoder}encoder.stages.{int(m[1]) - 2}.layers.{m[2]}.'
       f'layer.{int(m[3]) - 1}.convolution.weight'),
      (r'backbone\.res(\d)\.(\d+)\.conv(\d)\.norm\.(\w+)',
       lambda m: f'{encoder}encoder.stages.{int(m[1]) - 2}.layers.{m[2]}.'
       f'layer.{int(m[3]) - 1}.normalization.{m[4]}'),
      (r'sem_seg_head\.pixel_decoder\.layer_4\.weight', fpn + 'stem.0.weight'),
      (r'sem_seg_head\.pixel_decoder\.layer_4\.norm\.(\w+)',
       fpn + r'stem.1.\1'),
      (r'sem_seg_head\.pixel_decoder\.adapter_(\d)\.weight',
       lambda m: f'{fpn}layers.{3 - int(m[1])}.proj.0.weight'),
      (r'sem_seg_head\.pixel_decoder\.adapter_(\d)\.norm\.(\w+)',
       lambda m: f'{fpn}layers.{3 - int(m[1])}.proj.1.{m[2]}'),
      (r'sem_seg_head\.pixel_decoder\.layer_(\d)\.weight',
       lambda m: f'{fpn}layers.{3 - int(m[1])}.block.0.weight'),
      (r'sem_seg_head\.pixel_decoder\.layer_(\d)\.norm\.(\w+)',
       lambda m: f'{fpn}layers.{3 - int(m[1])}.block.1.{m[2]}'),
      (r'sem_seg_head\.pixel_decoder\.mask_features\.(\w+)',
       r'model.pixel_level_module.decoder.mask_projection.\1'),
      (r'sem_seg_head\.predictor\.query_embed\.weight',
       'model.transformer_module.queries_embedder.weight'),
      (r'sem_seg_head\.predictor\.input_proj\.(\w+)',
       r'model.transformer_module.input_projection.\1'),
      (r'sem_seg_head\.predictor\.transformer\.decoder\.layers\.(\d+)\.'
       r'(self_attn|multihead_attn)\.out_proj\.(\w+)',
       lambda m: (f'{decoder}layers.{m[1]}.'
                  f'{"self_attn" if m[2] == "self_attn" else "encoder_attn"}.'
                  f'{"out_proj" if version == 4 else "o_proj"}.{m[3]}')),
      (r'sem_seg_head\.predictor\.transformer\.decoder\.layers\.(\d+)\.'
       r'linear(\d)\.(\w+)',
       lambda m: (f'{decoder}layers.{m[1]}.{"" if version == 4 else "mlp."}'
                  f'fc{m[2]}.{m[3]}')),
      (r'sem_seg_head\.predictor\.transformer\.decoder\.layers\.(\d+)\.'
       r'norm(\d)\.(\w+)',
       lambda m: (f'{decoder}layers.{m[1]}.' + {
           '1': 'self_attn_layer_norm', '2': 'encoder_attn_layer_norm',
           '3': 'final_layer_norm'}[m[2]] + f'.{m[3]}')),
      (r'sem_seg_head\.predictor\.transformer\.decoder\.norm\.(\w+)',
       decoder + r'layernorm.\1'),
      (r'sem_seg_head\.predictor\.class_embed\.(\w+)',
       r'class_predictor.\1'),
      (r'sem_seg_head\.predictor\.mask_embed\.layers\.(\d)\.(\w+)',
       r'mask_embedder.\1.0.\2'),
  ]
  for pattern, replacement in rules:
    match = re.fullmatch(pattern, name)
    if match:
      return (match.expand(replacement) if isinstance(replacement, str)
              else replacement(match))
  raise AssertionError(f'no transformers name for {name}')


def _hf_state(d2_state, version):
  """A `transformers` MaskFormer state dict with the same weights."""
  hf = {}
  for name, value in d2_state.items():
    match = re.fullmatch(
        r'sem_seg_head\.predictor\.transformer\.decoder\.layers\.(\d+)\.'
        r'(self_attn|multihead_attn)\.in_proj_(weight|bias)', name)
    if match:
      module = 'self_attn' if match[2] == 'self_attn' else 'encoder_attn'
      for part, chunk in zip('qkv', np.split(value, 3)):
        hf[f'model.transformer_module.decoder.layers.{match[1]}.{module}.'
           f'{part}_proj.{match[3]}'] = chunk
    else:
      hf[_hf_name(name, version)] = value
    if name.endswith('norm.running_var'):
      hf[_hf_name(name, version).replace('running_var',
                                         'num_batches_tracked')] = np.array(
                                             0, np.int64)
  hf['criterion.empty_weight'] = np.ones(134, np.float32)
  return hf


@pytest.fixture(scope='module')
def fpn_run(reference_dir):
  return model_fixture_runs.model_run(str(reference_dir / 'r50w16_fpn'))


@pytest.fixture(scope='module')
def enc_run(reference_dir):
  return model_fixture_runs.model_run(str(reference_dir / 'r50w16_enc'))


@pytest.mark.parametrize('prefix', ['sem_seg_head.',
                                    'sem_seg_head.pixel_decoder.pixel_decoder.'])
def test_legacy_pixel_decoder_names_give_same_weights(reference_dir, tmp_path,
                                                      enc_run, prefix):
  model = enc_run.model
  expected = _weights(model)
  current = _d2_state(reference_dir, 'r50w16_enc')
  state = {re.sub(r'^sem_seg_head\.pixel_decoder\.', prefix, name): value
           for name, value in current.items()}
  renamed = set(state) - set(current)
  assert len(renamed) == sum(n.startswith('sem_seg_head.pixel_decoder.')
                             for n in current) > 0
  try:
    _zero(model)
    summary = converter.convert_model(
        model, _write_pickle(tmp_path / 'legacy.pkl', state))
    assert summary.naming == 'detectron2'
    _assert_same_weights(model, expected)
  finally:
    converter.convert_model(model, enc_run.fixture.weights_path)


@pytest.mark.parametrize('version', [4, 5])
def test_transformers_names_give_same_weights(reference_dir, tmp_path, fpn_run,
                                              version):
  model = fpn_run.model
  expected = _weights(model)
  hf = _hf_state(_d2_state(reference_dir, 'r50w16_fpn'), version)
  path = _write_safetensors(tmp_path / 'model.safetensors', hf,
                            {'__metadata__': {'format': 'pt'}})
  try:
    _zero(model)
    summary = converter.convert_model(model, path)
    assert summary.naming == 'transformers'
    assert sorted(summary.ignored) == sorted(
        ['criterion.empty_weight'] +
        [n for n in hf if n.endswith('num_batches_tracked')])
    _assert_same_weights(model, expected)
  finally:
    converter.convert_model(model, fpn_run.fixture.weights_path)


def test_mismatches_are_listed_and_nothing_is_assigned(reference_dir,
                                                       tmp_path, fpn_run):
  model = fpn_run.model
  state = dict(_d2_state(reference_dir, 'r50w16_fpn'))
  del state['sem_seg_head.predictor.class_embed.bias']
  state['sem_seg_head.predictor.extra.weight'] = np.zeros(3, np.float32)
  state['sem_seg_head.pixel_decoder.layer_1.weight'] = np.zeros(
      (64, 64, 1, 1), np.float32)
  state['sem_seg_head.predictor.transformer.decoder.layers.0.self_attn.'
        'in_proj_weight'] = np.zeros((190, 64), np.float32)
  path = _write_pickle(tmp_path / 'bad.pkl', state)
  try:
    _zero(model)
    with pytest.raises(converter.CheckpointMismatchError) as error:
      converter.convert_model(model, path)
    assert error.value.missing == ['sem_seg_head.predictor.class_embed.bias']
    assert error.value.unexpected == ['sem_seg_head.predictor.extra.weight']
    assert sorted(error.value.mis_shaped) == [
        ('sem_seg_head.pixel_decoder.layer_1.weight', (64, 64, 1, 1),
         (64, 64, 3, 3)),
        ('sem_seg_head.predictor.transformer.decoder.layers.0.self_attn.'
         'in_proj_weight', (190, 64), (192, 64)),
    ]
    message = str(error.value)
    assert 'class_embed.bias' in message and 'extra.weight' in message
    assert all(not v.numpy().any() for v in model.variables)
  finally:
    converter.convert_model(model, fpn_run.fixture.weights_path)


def test_written_checkpoint_restores_with_model_garden_semantics(tmp_path,
                                                                 fpn_run):
  path = converter.write_model_checkpoint(fpn_run.model, tmp_path / 'ckpt')
  assert tf.train.latest_checkpoint(tmp_path) == path
  fresh = maskformer_model.build_maskformer_model(
      fixture_formats.model_config(fpn_run.fixture.config))
  status = tf.train.Checkpoint(model=fresh).read(path)
  status.expect_partial().assert_existing_objects_matched()
  _assert_same_weights(fresh, _weights(fpn_run.model))


def _torchvision_name(name):
  """detectron2 backbone name -> torchvision ResNet name."""
  name = name[len('backbone.'):]
  name = re.sub(r'^stem\.conv1\.norm\.', 'bn1.', name)
  name = re.sub(r'^stem\.conv1\.', 'conv1.', name)
  name = re.sub(r'^res(\d)\.', lambda m: f'layer{int(m[1]) - 1}.', name)
  name = re.sub(r'\.shortcut\.norm\.', '.downsample.1.', name)
  name = re.sub(r'\.shortcut\.', '.downsample.0.', name)
  return re.sub(r'\.conv(\d)\.norm\.', r'.bn\1.', name)


def test_backbone_only_torchvision_and_detectron2_names(reference_dir,
                                                        tmp_path, fpn_run):
  backbone = fpn_run.model.backbone
  expected = _weights(backbone)
  d2 = {n: v for n, v in _d2_state(reference_dir, 'r50w16_fpn').items()
        if n.startswith('backbone.')}
  torchvision = {_torchvision_name(n): v for n, v in d2.items()}
  torchvision.update({'fc.weight': np.zeros((10, 512), np.float32),
                      'fc.bias': np.zeros(10, np.float32),
                      'bn1.num_batches_tracked': np.array(5, np.int64)})
  imagenet_d2 = {n[len('backbone.'):]: v for n, v in d2.items()}
  sources = [
      (_write_safetensors(tmp_path / 'tv.safetensors', torchvision),
       'torchvision'),
      (_write_pickle(tmp_path / 'R-50.pkl', imagenet_d2), 'detectron2'),
  ]
  try:
    for path, naming in sources:
      _zero(backbone)
      summary = converter.convert_backbone(backbone, path)
      assert summary.naming == naming
      _assert_same_weights(backbone, expected)
    checkpoint = converter.write_backbone_checkpoint(backbone,
                                                     tmp_path / 'bb')
    _zero(backbone)
    tf.train.Checkpoint(backbone=backbone).read(
        checkpoint).assert_existing_objects_matched()
    _assert_same_weights(backbone, expected)
  finally:
    converter.convert_model(fpn_run.model, fpn_run.fixture.weights_path)


def test_full_model_conversion_refuses_backbone_only_weights(reference_dir,
                                                             tmp_path,
                                                             fpn_run):
  d2 = {n: v for n, v in _d2_state(reference_dir, 'r50w16_fpn').items()
        if n.startswith('backbone.')}
  with pytest.raises(converter.CheckpointMismatchError, match='backbone-only'):
    converter.convert_model(fpn_run.model,
                            _write_pickle(tmp_path / 'bb.pkl', d2))


def test_safetensors_reader_dtypes_and_errors(tmp_path):
  values = np.array([1.0, -2.5, 3.140625], np.float32)
  bits = (values.view(np.uint32) >> 16).astype('<u2')
  header = {'x': {'dtype': 'BF16', 'shape': [3], 'data_offsets': [0, 6]},
            'y': {'dtype': 'I64', 'shape': [], 'data_offsets': [6, 14]}}
  encoded = json.dumps(header).encode()
  path = tmp_path / 'a.safetensors'
  path.write_bytes(struct.pack('<Q', len(encoded)) + encoded + bits.tobytes() +
                   np.array(7, '<i8').tobytes())
  tensors = safetensors.load(path)
  np.testing.assert_array_equal(tensors['x'], values)
  assert tensors['x'].dtype == np.float32
  assert tensors['y'] == 7

  header['x']['data_offsets'] = [0, 8]
  encoded = json.dumps(header).encode()
  path.write_bytes(struct.pack('<Q', len(encoded)) + encoded + bytes(14))
  with pytest.raises(safetensors.SafetensorsError, match="'x'"):
    safetensors.load(path)
  path.write_bytes(struct.pack('<Q', 1000) + b'{}')
  with pytest.raises(safetensors.SafetensorsError, match='exceeds'):
    safetensors.load(path)


def _run_tool(*args):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
  return subprocess.run(
      [sys.executable, str(REPO_ROOT / 'tools' / 'convert_pytorch_checkpoint.py'),
       *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
      check=False, timeout=600)


def test_tool_converts_with_params_override(reference_dir, tmp_path, fpn_run):
  config = fpn_run.fixture.config
  override = ','.join([
      'task.model.backbone.torch_resnet.base_width=16',
      'task.model.pixel_decoder.type=fpn',
      f'task.model.pixel_decoder.conv_dim={config["conv_dim"]}',
      f'task.model.pixel_decoder.mask_dim={config["mask_dim"]}',
      f'task.model.transformer_predictor.hidden_dim={config["hidden_dim"]}',
      f'task.model.transformer_predictor.num_heads={config["nheads"]}',
      'task.model.transformer_predictor.dim_feedforward='
      f'{config["dim_feedforward"]}',
  ])
  result = _run_tool(f'--source={fpn_run.fixture.weights_path}',
                     f'--output={tmp_path / "out" / "ckpt"}',
                     '--experiment=maskformer_coco_panoptic_r50',
                     f'--params_override={override}')
  assert result.returncode == 0, result.stderr
  assert 'converted 409 tensors (detectron2 names)' in result.stdout
  fresh = maskformer_model.build_maskformer_model(
      fixture_formats.model_config(config))
  tf.train.Checkpoint(model=fresh).read(
      str(tmp_path / 'out' / 'ckpt')).assert_existing_objects_matched()
  images = fixture_formats.nchw_to_nhwc(
      fpn_run.fixture.arrays['padded_normalized_images'])
  logits = fresh(tf.constant(images), training=False)['pred_logits']
  reference = fpn_run.fixture.arrays['pred_logits']
  assert checks_lib.compare_scaled('pred_logits', logits, reference).passed


def test_tool_fails_on_architecture_mismatch(tmp_path, fpn_run):
  # The width-16 fixture's weights against the default ResNet-50 backbone.
  result = _run_tool(f'--source={fpn_run.fixture.weights_path}',
                     f'--output={tmp_path / "ckpt"}', '--backbone_only')
  assert result.returncode == 1
  assert 'does not match the model' in result.stderr
  assert 'unexpected' in result.stderr and 'mis-shaped' in result.stderr
  assert ('backbone.stem.conv1.weight: checkpoint [16, 3, 7, 7], model '
          '[64, 3, 7, 7]') in result.stderr
  assert not (tmp_path / 'ckpt.index').exists()
