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

"""Tests of the whole MaskFormer: PyTorch parity (float32 accuracy and the
float64 identity against the exact answers), XLA, sizes. bfloat16 is judged
on a trained model (tests/test_task_overfit.py)."""
import re

import model_fixture_runs
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.configs import variable_names
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.modeling.maskformer import maskformer_model
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import model_checks


def _run(reference_dir, name):
  return model_fixture_runs.model_run(str(reference_dir / name))


@pytest.mark.parametrize('name', model_fixture_runs.MODEL_FIXTURES)
def test_end_to_end_matches_the_exact_answers(reference_dir, name):
  """float32 outputs within the bounds of docs/semantics.md, section 11."""
  run = _run(reference_dir, name)
  results = model_checks.model_output_checks(run)
  checks = [c for c in results if isinstance(c, checks_lib.Check)]
  names = [c.name for c in checks]
  assert names[:7] == ['num_params', 'backbone_res2', 'backbone_res3',
                       'backbone_res4', 'backbone_res5', 'mask_features',
                       'transformer_encoder_output' if name.endswith('enc')
                       else 'pred_logits']
  assert {f'aux{j}_pred_logits' for j in range(5)} <= set(names)
  exact = run.fixture.exact
  for check in checks:
    assert check.passed, check
    if check.name != 'num_params':
      assert check.pytorch_err is not None
      assert check.tolerance >= checks_lib.scaled_tolerance(exact[check.name])
  notes = [n.name for n in results if isinstance(n, checks_lib.Note)]
  assert notes == [f'{n}.vs_float32_reference' for n in names[1:]]


@pytest.mark.parametrize('name', model_fixture_runs.MODEL_FIXTURES)
def test_float64_model_is_the_original_function(reference_dir, name):
  """The float64 identity: every forward output within 2e-7 (relative)."""
  run = model_fixture_runs.model_run(str(reference_dir / name), 'float64')
  assert {v.dtype for v in run.model.variables} == {tf.float64}
  assert run.outputs['pred_masks'].dtype == tf.float64
  assert run.outputs['backbone_features']['2'].dtype == tf.float64
  checks = model_checks.float64_output_checks(run)
  expected = [k for k in run.fixture.exact
              if not k.startswith('sem_sample_scores')]
  assert sorted(c.name for c in checks) == sorted(
      f'float64.{k}' for k in expected)
  for check in checks:
    assert check.passed, check
    assert check.tolerance == pytest.approx(checks_lib.scaled_tolerance(
        run.fixture.exact[check.name[len('float64.'):]], 2e-7))


def test_float64_computing_path_has_no_narrow_float(reference_dir):
  """No float32 or bfloat16 value enters the float64 forward pass.

  float32 arithmetic is allowed only where it ends in integers: PyTorch's
  legacy nearest resize computes its source indices in float32 too.
  """
  run = model_fixture_runs.model_run(str(reference_dir / 'r50w16_enc'),
                                     'float64')
  images = model_checks.model_inputs(run.fixture, 'float64')
  graph = tf.function(lambda x: run.model(x, training=False)
                      ).get_concrete_function(tf.constant(images)).graph
  narrow_dtypes = (tf.float32, tf.bfloat16, tf.float16)
  into_float64 = sorted({
      op.name for op in graph.get_operations()
      if any(t.dtype == tf.float64 for t in op.outputs) and
      any(t.dtype in narrow_dtypes for t in op.inputs)})
  assert not into_float64, into_float64
  floats = {t.dtype for op in graph.get_operations() for t in op.outputs
            if t.dtype.is_floating}
  assert tf.float64 in floats


def test_xla_compiled_forward_matches_eager_and_reference(reference_dir):
  run = _run(reference_dir, 'r50w16_enc')
  images = tf.constant(fixture_formats.nchw_to_nhwc(
      run.fixture.arrays['padded_normalized_images']))
  forward = tf.function(lambda x: run.model(x, training=False),
                        jit_compile=True)
  compiled = forward(images)
  exact = run.fixture.exact

  def within_bound(name, ours):
    return checks_lib.compare(name, ours, exact[name], model_checks
                              .float32_bound(run.fixture, name)).passed

  for key in ('pred_logits', 'pred_masks'):
    assert checks_lib.compare_scaled(key, compiled[key], run.outputs[key]).passed
    assert within_bound(key, compiled[key])
  for j, aux in enumerate(compiled['aux_outputs']):
    assert within_bound(f'aux{j}_pred_logits', aux['pred_logits'])


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
  assert _classify(model, variable_names.BACKBONE_VARIABLE_REGEX) == backbone
  assert _classify(model,
                   variable_names.HEAD_VARIABLE_REGEX) == everything - backbone
  assert all(n.startswith('backbone/') for n in backbone)
  norms = _classify(model, variable_names.NORM_VARIABLE_REGEX)
  # GroupNorms: 3 adapters + 4 layers; LayerNorms: 2 per encoder layer, 3 per
  # decoder layer and the decoder's final one; gamma and beta each.
  assert len(norms) == 2 * (7 + 2 * 6 + 3 * 6 + 1)
  assert not norms & backbone
  assert _classify(model, variable_names.QUERY_EMBED_VARIABLE_REGEX) == {
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
  assert _classify(model, variable_names.BACKBONE_VARIABLE_REGEX) == backbone
  with pytest.raises(model_mapping.UnsupportedModelError, match='torch_resnet'):
    model_mapping.maskformer_targets(model)


def test_input_normalization_uses_reference_mean_and_std(reference_dir):
  arrays = np.load(reference_dir / 'r50w16_enc' / 'reference.npz')
  image = arrays['image_0']
  height, width = arrays['image_sizes'][0]
  normalized = maskformer_input.normalize_image(
      tf.cast(image, tf.float32)).numpy()
  expected = fixture_formats.nchw_to_nhwc(
      arrays['padded_normalized_images'])[0, :height, :width]
  np.testing.assert_allclose(normalized, expected, atol=1e-5)
