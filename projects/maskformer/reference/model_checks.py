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

"""Forward-pass checks of the TF model against a model fixture.

`run_model` builds the fixture's architecture under a Keras dtype policy
('float32', or 'float64' for the exact mode), converts its `weights.pkl`
strictly and runs the fixture's images (eval mode). The float32 run reads the
stored `padded_normalized_images`; the float64 run normalizes the stored
uint8 images in float64 and pads them alike, as the exact answers were made.

Check suites (`docs/semantics.md`, section 11):

  * `model_output_checks` (float32): the trainable parameter count and the
    end-to-end outputs (backbone res2..res5, mask features, "+6 Enc" encoder
    output, final and every auxiliary layer's logits and masks). With exact
    answers, each output is compared with the exact answer within
    `max(1e-4 * max(1, max|exact|), 5 * e)`, `e` the largest PyTorch float32
    error (`float32_error.json`) among outputs of the same kind
    (`OUTPUT_KINDS`); the comparison with the float32 reference becomes a
    note in tolerance units. Without them (users' own folders), each output
    is compared with `reference.npz` at `1e-4 * max(1, max|reference|)`.
  * `isolated_module_checks` (float32): the pixel decoder fed the reference
    backbone features, and the predictor fed the reference predictor input
    and mask features, which separates a module's own error from the
    rounding it inherits. Float32 against float32, they decide nothing where
    exact answers exist, and are then notes.
  * `float64_output_checks` (float64 run): every exact forward output within
    `2e-7 * max(1, max|exact|)`: the port computes the original's function.
"""
import dataclasses
import re
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

import numpy as np
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.modeling.maskformer import maskformer_model
from projects.maskformer.ops import precision
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats

_AUX_KEY = re.compile(r'aux(\d+)_(pred_logits|pred_masks)$')
_ISOLATED = 'isolated'
FLOAT64 = 'float64'
# How much of PyTorch's own float32 error a float32 output may have.
PYTORCH_ERROR_FACTOR = 5.0

# The outputs whose PyTorch float32 errors set one shared bound
# (docs/semantics.md, section 11).
OUTPUT_KINDS = (
    ('backbone maps', re.compile(r'backbone_res\d$')),
    ('pixel-decoder outputs',
     re.compile(r'(mask_features|transformer_encoder_output)$')),
    ('class logits', re.compile(r'(aux\d+_)?pred_logits$')),
    ('mask logits', re.compile(r'(aux\d+_)?pred_masks$')),
)

_FEATURE_MAP_KINDS = ('backbone maps', 'pixel-decoder outputs')


@dataclasses.dataclass
class ModelRun:
  """A model built, loaded and run on a fixture's inputs.

  Attributes:
    fixture: the fixture.
    model: the model, holding the fixture's weights.
    conversion: what the weight conversion did.
    outputs: the model's outputs on the fixture's images (eval mode).
    dtype: 'float32' or 'float64', the policy the model was built under.
  """
  fixture: fixture_lib.ModelFixture
  model: maskformer_model.MaskFormer
  conversion: converter.ConversionSummary
  outputs: Dict[str, Any]
  dtype: str = 'float32'


def model_inputs(fixture: fixture_lib.ModelFixture,
                 dtype: str = 'float32') -> np.ndarray:
  """The fixture's [B, H, W, 3] model input in `dtype`.

  float32: the stored `padded_normalized_images`. float64: the stored uint8
  images normalized in float64 and zero-padded to the same size.

  Raises:
    FixtureError: float64 without the stored images `image_i`.
  """
  padded = fixture.arrays['padded_normalized_images']
  if dtype != FLOAT64:
    return fixture_formats.nchw_to_nhwc(padded).astype(np.float32)
  images = fixture_formats.per_image(fixture.arrays, 'image')
  if len(images) != padded.shape[0]:
    raise fixture_lib.FixtureError(
        f'{fixture.path / fixture_lib.REFERENCE}: the float64 run needs '
        f'image_0..image_{padded.shape[0] - 1}; found {len(images)}')
  normalized = fixture_formats.normalized_padded_images(images,
                                                        dtype=np.float64)
  batch = np.zeros(padded.shape[:1] + padded.shape[2:] + padded.shape[1:2])
  batch[:, :normalized.shape[1], :normalized.shape[2]] = normalized
  return batch


def run_model(fixture: fixture_lib.ModelFixture,
              dtype: str = 'float32') -> ModelRun:
  """Builds the fixture's model, loads its weights and runs its images.

  Args:
    fixture: a model fixture.
    dtype: the Keras policy: 'float32', or 'float64' (the exact mode).

  Returns:
    The run.

  Raises:
    converter.CheckpointMismatchError: weights.pkl does not match the
      manifest's architecture.
  """
  with precision.keras_policy(dtype):
    model = maskformer_model.build_maskformer_model(
        fixture_formats.model_config(fixture.config))
  conversion = converter.convert_model(model, fixture.weights_path)
  outputs = model(tf.constant(model_inputs(fixture, dtype)), training=False)
  return ModelRun(fixture=fixture, model=model, conversion=conversion,
                  outputs=outputs, dtype=dtype)


def output_kind(name: str) -> Optional[str]:
  """The kind (`OUTPUT_KINDS`) of a forward output name, or None."""
  for kind, pattern in OUTPUT_KINDS:
    if pattern.match(name):
      return kind
  return None


def pytorch_error(fixture: fixture_lib.ModelFixture, name: str) -> float:
  """PyTorch's float32 max |f32 - f64| of an output (float32_error.json)."""
  return float(fixture.float32_error['keys'][name]['max_abs_f32_minus_f64'])


def float32_bound(fixture: fixture_lib.ModelFixture, name: str) -> float:
  """`max(1e-4 * max(1, max|exact|), 5 * e)` for an exact forward output.

  `e` is the largest PyTorch float32 error among the fixture's exact outputs
  of the same kind; outputs of no kind use the 1e-4 term alone.
  """
  kind = output_kind(name)
  same_kind = [k for k in fixture.exact if kind and output_kind(k) == kind]
  largest = max([pytorch_error(fixture, k) for k in same_kind], default=0.0)
  return max(checks_lib.scaled_tolerance(fixture.exact[name]),
             PYTORCH_ERROR_FACTOR * largest)


def _exact_or_reference_check(fixture: fixture_lib.ModelFixture, name: str,
                              ours: Any, layout=lambda a: a
                              ) -> List[checks_lib.Result]:
  """One float32 output against its exact answer (plus a note), or the
  reference where the fixture has no exact answers.

  Args:
    fixture: the fixture.
    name: the output's reference key.
    ours: our output.
    layout: maps a stored array to our layout (e.g. NCHW to NHWC).

  Returns:
    [check] without exact answers; with them [check, note], the note giving
    the comparison with the float32 reference in its tolerance units and
    PyTorch's distance from the exact answer in the check's.
  """
  reference = layout(fixture.arrays[name])
  if fixture.exact is None:
    return [checks_lib.compare_scaled(name, ours, reference)]
  if name not in fixture.exact:
    raise fixture_lib.FixtureError(
        f'{fixture.path / fixture_lib.REFERENCE_EXACT} lacks {name!r}, which '
        f'{fixture_lib.REFERENCE} has')
  bound = float32_bound(fixture, name)
  check = dataclasses.replace(
      checks_lib.compare(name, ours, layout(fixture.exact[name]), bound),
      pytorch_err=pytorch_error(fixture, name))
  old = checks_lib.compare_scaled(name, ours, reference)
  note = checks_lib.Note(
      f'{name}.vs_float32_reference',
      f'ours {old.max_abs_err / old.tolerance:.2f} tolerance units from '
      f'{fixture_lib.REFERENCE} (tolerance {old.tolerance:.3g}); from the '
      f'exact answer ours {check.max_abs_err / bound:.2f}, PyTorch '
      f'{check.pytorch_err / bound:.2f} bound units (bound {bound:.3g})')
  return [check, note]


def _prediction_checks(prefix: str, outputs: Dict[str, Any],
                       fixture: fixture_lib.ModelFixture,
                       exact: bool) -> List[checks_lib.Result]:
  """Final and auxiliary logits/masks against every such reference array.

  With `exact`, through `_exact_or_reference_check`; else against the
  float32 reference, as notes where the fixture has exact answers.
  """
  reference = fixture.arrays
  results = []

  def compare(name, ours):
    if exact:
      return _exact_or_reference_check(fixture, name, ours)
    check = checks_lib.compare_scaled(prefix + name, ours, reference[name])
    return [_as_note(check) if fixture.exact is not None else check]

  for key in ('pred_logits', 'pred_masks'):
    if key in reference:
      results.extend(compare(key, outputs[key]))
  aux_outputs = outputs['aux_outputs']
  aux_keys = sorted((int(m[1]), m[2], name) for name in reference
                    for m in [_AUX_KEY.match(name)] if m)
  for layer, key, name in aux_keys:
    if layer < len(aux_outputs):
      results.extend(compare(name, aux_outputs[layer][key]))
    else:
      results.append(checks_lib.Check(
          prefix + name, float('inf'), checks_lib.scaled_tolerance(
              reference[name]), False,
          f'the model has only {len(aux_outputs)} auxiliary outputs'))
  return results


def _as_note(check: checks_lib.Check) -> checks_lib.Note:
  """A float32-vs-float32 comparison reported for information."""
  return checks_lib.Note(
      check.name, f'{check.max_abs_err / check.tolerance:.2f} tolerance '
      f'units from the float32 reference (tolerance {check.tolerance:.3g})')


def _trainable_parameter_count(model) -> int:
  return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def model_output_checks(run: ModelRun) -> List[checks_lib.Result]:
  """End-to-end comparisons of the float32 model outputs (module docstring).

  Args:
    run: the float32 model run.

  Returns:
    The checks (and, with exact answers, notes), in a fixed order.
  """
  fixture = run.fixture
  reference = fixture.arrays
  outputs = run.outputs
  results = []
  if 'num_params' in fixture.manifest:
    results.append(checks_lib.compare_exact(
        'num_params', _trainable_parameter_count(run.model),
        fixture.manifest['num_params']))
  else:
    results.append(checks_lib.Skipped(
        'num_params', f'{fixture_lib.MANIFEST} has no "num_params"'))
  for level in ('2', '3', '4', '5'):
    name = f'backbone_res{level}'
    if name in reference:
      results.extend(_exact_or_reference_check(
          fixture, name, outputs['backbone_features'][level],
          fixture_formats.nchw_to_nhwc))
  for ours, name in (('mask_features', 'mask_features'),
                     ('transformer_encoder_features',
                      'transformer_encoder_output')):
    if name in reference:
      results.extend(_exact_or_reference_check(
          fixture, name, outputs.get(ours, np.zeros((0,))),
          fixture_formats.nchw_to_nhwc))
  results.extend(_prediction_checks('', outputs, fixture, exact=True))
  return results


def isolated_module_checks(run: ModelRun) -> List[checks_lib.Result]:
  """Each head module run on the reference's own inputs.

  Args:
    run: the float32 model run.

  Returns:
    Results named 'isolated.pixel_decoder.*' and 'isolated.predictor.*':
    checks, or notes where the fixture has exact answers; empty if the
    fixture lacks the needed intermediate arrays.
  """
  fixture = run.fixture
  reference = fixture.arrays
  model = run.model
  results = []

  def compare(name, ours, stored):
    check = checks_lib.compare_scaled(name, ours,
                                      fixture_formats.nchw_to_nhwc(stored))
    return _as_note(check) if fixture.exact is not None else check

  levels = ('2', '3', '4', '5')
  if all(f'backbone_res{level}' in reference for level in levels):
    features = {
        level: tf.constant(fixture_formats.nchw_to_nhwc(
            reference[f'backbone_res{level}']))
        for level in levels
    }
    decoded = model.pixel_decoder(features, training=False)
    prefix = f'{_ISOLATED}.pixel_decoder.'
    if 'mask_features' in reference:
      results.append(compare(prefix + 'mask_features',
                             decoded['mask_features'],
                             reference['mask_features']))
    if 'transformer_encoder_output' in reference:
      results.append(compare(
          prefix + 'transformer_encoder_output',
          decoded.get('transformer_encoder_features', np.zeros((0,))),
          reference['transformer_encoder_output']))
  is_encoder = 'transformer_encoder_features' in run.outputs
  input_name = 'transformer_encoder_output' if is_encoder else 'backbone_res5'
  if input_name in reference and 'mask_features' in reference:
    predictions = model.transformer_predictor(
        tf.constant(fixture_formats.nchw_to_nhwc(reference[input_name])),
        tf.constant(fixture_formats.nchw_to_nhwc(reference['mask_features'])),
        training=False)
    results.extend(_prediction_checks(f'{_ISOLATED}.predictor.', predictions,
                                      fixture, exact=False))
  return results


def float64_output_checks(run: ModelRun) -> List[checks_lib.Check]:
  """Every exact forward output of the float64 run within 2e-7 (relative).

  Args:
    run: the float64 model run (`run_model(fixture, 'float64')`) of a
      fixture with exact answers.

  Returns:
    Checks named 'float64.<output>', for every exact answer of a forward
    output kind (`OUTPUT_KINDS`), with PyTorch's float32 error as
    `pytorch_err` for comparison.

  Raises:
    FixtureError: the fixture has no exact answers.
  """
  fixture = run.fixture
  if fixture.exact is None:
    raise fixture_lib.FixtureError(
        f'{fixture.path} has no {fixture_lib.REFERENCE_EXACT}')
  outputs = run.outputs
  ours = {f'backbone_res{level}': outputs['backbone_features'][level]
          for level in ('2', '3', '4', '5')}
  ours['mask_features'] = outputs['mask_features']
  if 'transformer_encoder_features' in outputs:
    ours['transformer_encoder_output'] = outputs['transformer_encoder_features']
  for prefix, layer in [('', outputs)] + [
      (f'aux{j}_', aux) for j, aux in enumerate(outputs['aux_outputs'])]:
    for key in ('pred_logits', 'pred_masks'):
      ours[prefix + key] = layer[key]
  results = []
  for name, exact in fixture.exact.items():
    if output_kind(name) is None:
      continue
    if name not in ours:
      results.append(checks_lib.Check(
          f'{FLOAT64}.{name}', float('inf'), 0.0, False,
          'the model has no such output'))
      continue
    value = np.asarray(ours[name])
    if output_kind(name) in _FEATURE_MAP_KINDS:
      value = value.transpose(0, 3, 1, 2)  # NHWC feature maps -> NCHW.
    check = checks_lib.compare_scaled(f'{FLOAT64}.{name}', value, exact,
                                      checks_lib.FLOAT64_RELATIVE_TOLERANCE)
    results.append(dataclasses.replace(
        check, pytorch_err=pytorch_error(fixture, name)))
  return results
