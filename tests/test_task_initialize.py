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

"""`MaskFormerSegmentationTask.initialize` from converted PyTorch weights.

The checkpoints are written as `tools/convert_pytorch_checkpoint.py` writes
them (`converter.convert_model` + `write_model_checkpoint`, or the backbone
only) from the `r50w16_enc` fixture's PyTorch weights, with the task's model
config built from the fixture's manifest.
"""
import json

import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.configs import maskformer as exp_cfg
from projects.maskformer.modeling.maskformer import maskformer_model
from projects.maskformer.reference import fixture_formats
from projects.maskformer.tasks import maskformer_segmentation


@pytest.fixture(scope='module')
def converted(reference_dir, tmp_path_factory):
  """The fixture's weights in a model and in two TF checkpoints."""
  fixture_dir = reference_dir / 'r50w16_enc'
  manifest = json.loads((fixture_dir / 'manifest.json').read_text())
  model_config = fixture_formats.model_config(manifest['config'])
  model = maskformer_model.build_maskformer_model(model_config)
  converter.convert_model(model, fixture_dir / 'weights.pkl')
  out = tmp_path_factory.mktemp('converted')
  return {
      'model_config': model_config,
      'names': [v.name for v in model.variables],
      'values': [v.numpy() for v in model.variables],
      'is_backbone': [any(v is b for b in model.backbone.variables)
                      for v in model.variables],
      'state': converter.read_state_dict(fixture_dir / 'weights.pkl'),
      'model_dir': out / 'model',
      'model': converter.write_model_checkpoint(model, out / 'model' / 'ckpt'),
      'backbone': converter.write_backbone_checkpoint(
          model.backbone, out / 'backbone' / 'ckpt'),
  }


def _task(converted, init_checkpoint, modules):
  return maskformer_segmentation.MaskFormerSegmentationTask(
      exp_cfg.MaskFormerTask(model=converted['model_config'],
                             init_checkpoint=str(init_checkpoint),
                             init_checkpoint_modules=modules))


@pytest.fixture(scope='module')
def fresh_model(converted):
  """A randomly initialized model of the same config, and its weights."""
  model = _task(converted, '', 'all').build_model()
  assert [v.name for v in model.variables] == converted['names']
  return model, model.get_weights()


def _initialized(converted, fresh_model, init_checkpoint, modules):
  """The fresh model's weights before and after `initialize`."""
  model, before = fresh_model
  model.set_weights(before)
  _task(converted, init_checkpoint, modules).initialize(model)
  return model, before, [v.numpy() for v in model.variables]


def test_all_restores_every_variable(converted, fresh_model):
  # The checkpoint's folder works as well as its prefix.
  model, before, after = _initialized(converted, fresh_model,
                                      converted['model_dir'], 'all')
  changed = 0
  for name, old, new, want in zip(converted['names'], before, after,
                                  converted['values']):
    np.testing.assert_array_equal(new, want, err_msg=name)
    changed += not np.array_equal(old, want)
  assert changed > 0.9 * len(before)
  # Against the PyTorch tensors themselves (OIHW conv, [out, in] linear).
  state = converted['state']
  np.testing.assert_array_equal(
      model.backbone.variables[0].numpy(),
      state['backbone.stem.conv1.weight'].transpose(2, 3, 1, 0))
  by_name = {v.name: v.numpy() for v in model.variables}
  predictor = 'maskformer/transformer_predictor/'
  np.testing.assert_array_equal(
      by_name[predictor + 'class_embed/kernel:0'],
      state['sem_seg_head.predictor.class_embed.weight'].T)
  np.testing.assert_array_equal(
      by_name[predictor + 'query_embed:0'],
      state['sem_seg_head.predictor.query_embed.weight'])


@pytest.mark.parametrize('checkpoint', ['model', 'backbone'])
def test_backbone_restores_the_backbone_only(converted, fresh_model,
                                             checkpoint):
  _, before, after = _initialized(converted, fresh_model,
                                  converted[checkpoint], 'backbone')
  num_backbone = 0
  for name, in_backbone, old, new, want in zip(
      converted['names'], converted['is_backbone'], before, after,
      converted['values']):
    if in_backbone:
      num_backbone += 1
      np.testing.assert_array_equal(new, want, err_msg=name)
    else:
      np.testing.assert_array_equal(new, old, err_msg=name)
  assert 0 < num_backbone < len(before)
  # The untouched head weights are not the checkpoint's.
  assert all(not np.array_equal(old, want) for old, want, in_backbone in zip(
      before, converted['values'], converted['is_backbone'])
             if not in_backbone)


def test_bad_init_checkpoint_is_a_clear_error(converted, fresh_model,
                                              tmp_path):
  model, _ = fresh_model
  for path in (tmp_path / 'missing' / 'ckpt', tmp_path):
    with pytest.raises(ValueError, match='not a TF checkpoint') as error:
      _task(converted, path, 'all').initialize(model)
    assert str(path) in str(error.value)
  with pytest.raises(ValueError,
                     match="backbone only.*init_checkpoint_modules='backbone'"):
    _task(converted, converted['backbone'], 'all').initialize(model)
  other = tf.train.Checkpoint(step=tf.Variable(1)).write(str(tmp_path / 'x'))
  for modules in ('all', 'backbone'):
    with pytest.raises(ValueError, match='neither a model nor a backbone'):
      _task(converted, other, modules).initialize(model)
  with pytest.raises(ValueError, match="'all' or 'backbone'"):
    _task(converted, converted['model'], 'heads')
