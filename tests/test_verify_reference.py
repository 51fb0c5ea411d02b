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

"""Tests of tools/verify_reference.py and the `reference` package.

Besides the shipped fixtures, the tool must handle any folder in their
format. A synthetic fixture (other sizes, width, depths, decoder depth,
query and class counts, legacy checkpoint names) is written from a random TF
model: its numbers only exercise the tool, parity itself is tested against
the PyTorch fixtures.
"""
import json
import os
import pathlib
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tf_keras

from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.modeling import maskformer_model
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import verification

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

_SYNTHETIC_CONFIG = {
    'width': 8, 'depths': [1, 1, 2, 1], 'pixel_decoder': 'transformer_encoder',
    'conv_dim': 32, 'mask_dim': 24, 'hidden_dim': 32, 'nheads': 2,
    'dim_feedforward': 48, 'enc_layers': 2, 'dec_layers': 3, 'dropout': 0.0,
    'num_queries': 7, 'num_classes': 5,
}


def _torch_state(model):
  """The model's weights under detectron2's legacy names, torch layouts."""
  state = {}
  for name, target in model_mapping.maskformer_targets(model).items():
    values = [v.numpy() for v in target.variables]
    if len(values) == 3:  # in_proj: q; k; v rows.
      value = np.concatenate([v.T if v.ndim == 2 else v for v in values])
    elif values[0].ndim == 4:
      value = values[0].transpose(3, 2, 0, 1)
    elif values[0].ndim == 2 and not name.endswith('query_embed.weight'):
      value = values[0].T
    else:
      value = values[0]
    state[name.replace('sem_seg_head.pixel_decoder.', 'sem_seg_head.')] = value
  return state


def _nchw(tensor):
  return np.asarray(tensor).transpose(0, 3, 1, 2)


@pytest.fixture(scope='module')
def synthetic_fixture(tmp_path_factory):
  """A model fixture folder written from a random model, legacy names."""
  path = tmp_path_factory.mktemp('synthetic_fixture')
  tf_keras.utils.set_random_seed(3)
  model = maskformer_model.build_maskformer_model(
      fixture_lib.model_config(_SYNTHETIC_CONFIG))
  images = np.random.default_rng(3).normal(size=(2, 70, 90, 3)).astype(
      np.float32)
  outputs = model(images, training=False)
  arrays = {'padded_normalized_images': _nchw(images),
            'mask_features': _nchw(outputs['mask_features']),
            'transformer_encoder_output': _nchw(
                outputs['transformer_encoder_features']),
            'pred_logits': outputs['pred_logits'].numpy(),
            'pred_masks': outputs['pred_masks'].numpy()}
  for level in '2345':
    arrays[f'backbone_res{level}'] = _nchw(outputs['backbone_features'][level])
  for j, aux in enumerate(outputs['aux_outputs']):
    arrays[f'aux{j}_pred_logits'] = aux['pred_logits'].numpy()
  arrays['aux1_pred_masks'] = outputs['aux_outputs'][1]['pred_masks'].numpy()
  np.savez(path / 'reference.npz', **arrays)
  (path / 'weights.pkl').write_bytes(
      pickle.dumps({'model': _torch_state(model)}))
  num_params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
  (path / 'manifest.json').write_text(json.dumps({
      'config': _SYNTHETIC_CONFIG, 'legacy_pixel_decoder_names': True,
      'num_params': num_params}))
  return path


def test_model_config_follows_the_manifest():
  config = fixture_lib.model_config(_SYNTHETIC_CONFIG)
  assert config.backbone.type == 'torch_resnet'
  assert config.backbone.torch_resnet.depths == [1, 1, 2, 1]
  assert config.backbone.torch_resnet.base_width == 8
  assert config.pixel_decoder.type == 'transformer_encoder'
  assert config.pixel_decoder.transformer_encoder.num_layers == 2
  assert config.pixel_decoder.mask_dim == 24
  predictor = config.transformer_predictor
  assert (predictor.num_queries, predictor.num_decoder_layers,
          predictor.num_heads, predictor.dropout_rate) == (7, 3, 2, 0.0)
  assert config.num_classes == 5
  with pytest.raises(fixture_lib.FixtureError, match='enc_layers'):
    fixture_lib.model_config({k: v for k, v in _SYNTHETIC_CONFIG.items()
                              if k != 'enc_layers'})


def test_any_fixture_folder_in_the_format_is_verified(synthetic_fixture):
  report = verification.verify_fixture(synthetic_fixture)
  names = [c.name for c in report.checks]
  assert names[:9] == [
      'num_params', 'backbone_res2', 'backbone_res3', 'backbone_res4',
      'backbone_res5', 'mask_features', 'transformer_encoder_output',
      'pred_logits', 'pred_masks']
  assert {'aux0_pred_logits', 'aux1_pred_logits', 'aux1_pred_masks',
          'isolated.predictor.aux1_pred_masks',
          'isolated.pixel_decoder.transformer_encoder_output'} <= set(names)
  assert report.passed, report.to_text()


def test_a_wrong_output_fails_only_its_check(synthetic_fixture, tmp_path):
  broken = tmp_path / 'broken'
  shutil.copytree(synthetic_fixture, broken)
  with np.load(broken / 'reference.npz') as npz:
    arrays = dict(npz)
  arrays['aux0_pred_logits'][1, 3, 2] += 0.5
  np.savez(broken / 'reference.npz', **arrays)
  report = verification.verify_fixture(broken)
  assert not report.passed
  assert {c.name for c in report.failures()} == {
      'aux0_pred_logits', 'isolated.predictor.aux0_pred_logits'}
  failure = report.failures()[0]
  assert failure.max_abs_err == pytest.approx(0.5, abs=1e-5)


def test_report_formats():
  report = checks_lib.Report('somewhere', [
      checks_lib.compare_scaled('a', [1.0, 2.0], [1.0, 2.0001]),
      checks_lib.compare_scaled('b', [[0.0]], [0.0, 1.0]),
  ])
  payload = json.loads(report.to_json_string())
  assert payload == {
      'fixture': 'somewhere', 'passed': False,
      'checks': [
          {'name': 'a', 'max_abs_err': pytest.approx(1e-4),
           'tolerance': pytest.approx(2.0001e-4), 'passed': True},
          {'name': 'b', 'max_abs_err': float('inf'),
           'tolerance': pytest.approx(1e-4), 'passed': False}]}
  text = report.to_text()
  assert 'shape [1, 1] != reference [2]' in text
  assert text.splitlines()[-1] == '2 checks, 1 failed: FAIL'


def _run_tool(*args):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
  return subprocess.run(
      [sys.executable, str(REPO_ROOT / 'tools' / 'verify_reference.py'),
       *map(str, args)], cwd=REPO_ROOT, env=env, capture_output=True,
      text=True, check=False, timeout=600)


def test_tool_json_on_the_enc_fixture(reference_dir):
  result = _run_tool(reference_dir / 'r50w16_enc', '--json')
  assert result.returncode == 0, result.stderr
  payload = json.loads(result.stdout)
  assert payload['passed'] is True
  assert payload['fixture'].endswith('r50w16_enc')
  names = [c['name'] for c in payload['checks']]
  assert names[:8] == [
      'num_params', 'backbone_res2', 'backbone_res3', 'backbone_res4',
      'backbone_res5', 'mask_features', 'transformer_encoder_output',
      'pred_logits']
  assert {'pred_masks', 'aux4_pred_logits', 'aux4_pred_masks'} <= set(names)
  for check in payload['checks']:
    assert set(check) == {'name', 'max_abs_err', 'tolerance', 'passed'}
    assert check['max_abs_err'] <= check['tolerance']


def test_tool_exit_status_on_failure(synthetic_fixture, tmp_path):
  broken = tmp_path / 'broken'
  shutil.copytree(synthetic_fixture, broken)
  with np.load(broken / 'reference.npz') as npz:
    arrays = dict(npz)
  arrays['pred_masks'] *= 1.01
  np.savez(broken / 'reference.npz', **arrays)
  result = _run_tool(broken)
  assert result.returncode == 1
  lines = {line.split()[0]: line for line in result.stdout.splitlines()[2:-1]}
  assert lines['pred_masks'].endswith('FAIL')
  assert lines['pred_logits'].endswith('PASS')
  assert result.stdout.splitlines()[-1].endswith('FAIL')


@pytest.mark.parametrize('folder,message', [
    ('training', 'training fixture'),
    ('standalone', 'not implemented yet'),
])
def test_tool_refuses_other_fixture_kinds_clearly(reference_dir, folder,
                                                  message):
  result = _run_tool(reference_dir / folder)
  assert result.returncode == 2
  assert message in result.stderr
  assert 'Traceback' not in result.stderr


def test_tool_rejects_a_folder_without_fixture_files(tmp_path):
  result = _run_tool(tmp_path)
  assert result.returncode == 2
  assert 'missing manifest.json, weights.pkl, reference.npz' in result.stderr
