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

"""tools/verify_reference.py's checks on the Mask2Former fixture folders.

Each folder is verified once per module (the model folder's model is built
and run once) and every check must pass, with the README's criteria
(`fixtures/mask2former_reference/README.md`, "What parity should mean").
Deliberate corruptions must fail exactly the checks they concern: a
transposed weight of the last decoder layer (only the final head's logits
and masks), a transposed projection of the deformable-attention module, and
a wrong "no object" weight (only the class terms).
"""
import json
import pathlib
import shutil

import numpy as np
import pytest

from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_checks
from projects.maskformer.reference import m2f_model_checks
from projects.maskformer.reference import m2f_standalone_checks

MODEL = 'm2f_r50w16_panoptic'
STANDALONE = 'm2f_standalone'
NUM_HEADS = 10
NUM_IMAGES = 2

@pytest.fixture(scope='module')
def model_run(m2f_reference_dir):
  fixture = fixture_lib.load_fixture(m2f_reference_dir / MODEL)
  return m2f_model_checks.run_model(fixture)


@pytest.fixture(scope='module')
def model_report(model_run):
  return fixture_checks.verify_mask2former_run(model_run)


@pytest.fixture(scope='module')
def standalone_report(m2f_reference_dir):
  return fixture_checks.verify_fixture(m2f_reference_dir / STANDALONE)


def test_folders_are_recognised_by_their_manifest(m2f_reference_dir):
  assert fixture_lib.fixture_kind(m2f_reference_dir / MODEL) == (
      fixture_lib.MASK2FORMER_MODEL)
  assert fixture_lib.fixture_kind(m2f_reference_dir / STANDALONE) == (
      fixture_lib.MASK2FORMER_STANDALONE)


def test_model_folder_checks_cover_the_readme(model_report):
  names = [c.name for c in model_report.checks]
  assert len(names) == len(set(names))
  expected = {'num_params', 'attn_mask_layer0', 'attn_mask_layer1',
              'encoder_layer0_output', 'enc0_sampling_locations',
              'enc0_attention_weights', 'mask_features', 'pred_logits',
              'pred_masks', 'aux0_pred_masks', 'aux1_pred_masks'}
  expected |= {f'backbone_res{level}' for level in '2345'}
  expected |= {f'{key}_l{level}' for level in range(3)
               for key in ('encoder_input', 'pos_embed', 'multi_scale')}
  expected |= {f'aux{j}_pred_logits' for j in range(NUM_HEADS - 1)}
  heads = ['final'] + [f'aux{j}' for j in range(NUM_HEADS - 1)]
  for head in heads:
    for b in range(NUM_IMAGES):
      expected |= {f'cost.{head}.img{b}'} | {
          f'matching.{head}.img{b}.{kind}' for kind in (
              'optimal_assignment_cost', 'ours_optimal', 'reference_optimal')}
  for b in range(NUM_IMAGES):
    expected |= {f'inference.img{b}.{kind}' for kind in (
        'panoptic_segments', 'panoptic_map', 'semantic_scores',
        'semantic_argmax', 'late_semantic_scores', 'late_semantic_argmax',
        'instance_set', 'instance_scores', 'instance_masks')}
  losses = [c.name for c in model_report.checks if c.name.startswith('loss.')]
  assert len(losses) == 2 * (3 * NUM_HEADS + 1)
  assert set(names) - set(losses) == expected
  assert not model_report.skipped


def test_model_folder_checks_pass(model_report):
  assert model_report.passed, [(c.name, c.detail)
                               for c in model_report.failures()]


def test_standalone_folder_checks_pass(standalone_report):
  names = {c.name for c in standalone_report.checks}
  assert {f'msdeformattn.case{c}' for c in range(6)} <= names
  assert {'msdeformattn.module', 'points.uncertain1.importance_set'} <= names
  assert {f'points.point_sample{c}' for c in range(3)} <= names
  assert {f'cost.aux1.img{b}' for b in range(5)} <= names
  assert sum(n.startswith('loss.') for n in names) == 2 * (3 * 3 + 1)
  assert {f'postprocess.case{c}.instance_masks' for c in range(8)} <= names
  assert {f'postprocess.case{c}.semantic_scores' for c in range(4)} <= names
  assert {f'postprocess.case{c}.panoptic_{kind}' for c in range(8)
          for kind in ('map', 'segments')} <= names
  assert standalone_report.passed, [(c.name, c.detail)
                                    for c in standalone_report.failures()]
  assert [s.name for s in standalone_report.skipped] == [
      f'postprocess.case{c}.semantic_scores' for c in range(4, 8)] + [
          'float64']


def test_transposed_last_layer_weight_fails_only_the_final_head(model_run):
  """The last decoder layer feeds the final head alone."""
  square = [v for v in model_run.model.transformer_decoder.decoder_layers[-1]
            .trainable_variables
            if v.shape.rank == 2 and v.shape[0] == v.shape[1]]
  kernel = square[0]
  original = kernel.numpy()
  kernel.assign(original.T)
  try:
    corrupted = m2f_model_checks.run_loaded_model(model_run.fixture,
                                                  model_run.model)
    failed = {c.name for c in m2f_model_checks.forward_checks(corrupted)
              if not c.passed}
  finally:
    kernel.assign(original)
  assert failed == {'pred_logits', 'pred_masks'}


def _standalone_part(m2f_reference_dir, folder, part, edit_arrays=None,
                     edit_section=None):
  """A standalone folder with one part, its arrays or section edited."""
  source = m2f_reference_dir / STANDALONE
  manifest = json.loads((source / fixture_lib.MANIFEST).read_text())
  if edit_section:
    edit_section(manifest[part])
  (folder / fixture_lib.MANIFEST).write_text(json.dumps(
      {part: manifest[part]}))
  if edit_arrays:
    arrays = dict(np.load(source / f'{part}.npz'))
    edit_arrays(arrays)
    np.savez(folder / f'{part}.npz', **arrays)
  else:
    shutil.copy(source / f'{part}.npz', folder)
  return fixture_lib.load_fixture(folder)


def test_transposed_module_projection_fails_the_module_check(
    m2f_reference_dir, tmp_path):
  def transpose(arrays):
    key = 'module_param/value_proj.weight'
    arrays[key] = np.ascontiguousarray(arrays[key].T)

  fixture = _standalone_part(m2f_reference_dir, tmp_path, 'msdeformattn',
                             transpose)
  results = m2f_standalone_checks.all_checks(fixture)
  failed = [r.name for r in results
            if hasattr(r, 'passed') and not r.passed]
  assert failed == ['msdeformattn.module']
  assert {r.name for r in results if not hasattr(r, 'passed')} == {
      'points', 'matcher_criterion', 'postprocess'}


def test_wrong_no_object_weight_fails_only_the_class_terms(
    m2f_reference_dir, tmp_path):
  def wrong_constant(section):
    section['eos_coef'] = 0.2

  fixture = _standalone_part(m2f_reference_dir, tmp_path,
                             fixture_lib.MATCHER_CRITERION,
                             edit_section=wrong_constant)
  failed = {r.name for r in m2f_standalone_checks.all_checks(fixture)
            if hasattr(r, 'passed') and not r.passed}
  class_terms = {f'loss.{matching}.{term}'
                 for matching in ('reference_matching', 'own_matching')
                 for term in ('loss_ce', 'loss_ce_0', 'loss_ce_1', 'total')}
  assert failed == class_terms


def test_mask2former_folders_have_no_float64_checks(m2f_reference_dir):
  report = fixture_checks.verify_fixture(m2f_reference_dir / STANDALONE,
                                         precisions=['float64'])
  assert not report.checks
  assert [s.name for s in report.skipped] == ['float64']
  assert pathlib.Path(report.fixture).name == STANDALONE


@pytest.mark.parametrize('reference_pick,far_swaps', [(1, 0), (2, 1)],
                         ids=['near_tie', 'far'])
def test_uncertain_points_may_differ_at_near_ties_only(reference_pick,
                                                       far_swaps):
  """One importance-sampled point of 6 candidates at pixel centres.

  Candidates 0 and 1 have logits 0.5 and -0.5 (an exact tie of -|logit|,
  which we break towards candidate 0); a reference that picks candidate 1
  passes, one that picks candidate 2 (logit 2) fails.
  """
  logits = np.zeros((1, 1, 4, 4), np.float32)
  pixels = [(0, 0), (1, 2), (2, 1), (3, 3), (0, 3), (3, 0)]
  for (row, col), value in zip(pixels, [0.5, -0.5, 2.0, 3.0, -4.0, 5.0]):
    logits[0, 0, row, col] = value
  candidates = np.array([[[(col + 0.5) / 4, (row + 0.5) / 4]
                          for row, col in pixels]], np.float32)
  random_rest = np.array([[[0.3, 0.7]]], np.float32)
  part = fixture_lib.StandalonePart(
      meta={'point_sample': [], 'uncertain': [{
          'case': 0, 'num_points': 2, 'oversample_ratio': 3.0,
          'importance_sample_ratio': 0.5, 'num_uncertain': 1,
          'identical_in_float64': False}]},
      arrays={'uncertain0_coarse_logits': logits,
              'uncertain0_draw_candidates': candidates,
              'uncertain0_draw_random': random_rest,
              'uncertain0_point_coords': np.concatenate(
                  [candidates[:, reference_pick:reference_pick + 1],
                   random_rest], axis=1)})
  results = {r.name: r for r in m2f_standalone_checks.points_checks(part)}
  assert results['points.uncertain0.random'].passed
  assert results['points.uncertain0.importance_set'].max_abs_err == far_swaps
  assert results['points.uncertain0.near_tie_swaps'].value == '1 points'
