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

"""Forward-pass parity of the TF model against a model fixture.

`run_model` builds the fixture's architecture, converts its `weights.pkl`
strictly and runs the fixture's padded, normalized images (float32, eval
mode). Two check suites compare the outputs with `reference.npz` at the
fixtures' tolerance `1e-4 * max(1, max|reference|)`:

  * `model_output_checks`: the end-to-end outputs (trainable parameter
    count, backbone res2..res5, mask features, "+6 Enc" encoder output, final
    and every auxiliary layer's logits and masks present in the fixture);
  * `isolated_module_checks`: the pixel decoder fed the reference backbone
    features, and the predictor fed the reference predictor input and mask
    features, which separates a module's own error from the float32
    rounding it inherits from upstream modules.
"""
import dataclasses
import re
from typing import Any
from typing import Dict
from typing import List

import numpy as np
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.modeling import maskformer_model
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib

_AUX_KEY = re.compile(r'aux(\d+)_(pred_logits|pred_masks)$')
_ISOLATED = 'isolated'


@dataclasses.dataclass
class ModelRun:
  """A model built, loaded and run on a fixture's inputs.

  Attributes:
    fixture: the fixture.
    model: the model, holding the fixture's weights.
    conversion: what the weight conversion did.
    outputs: the model's outputs on the fixture's images (eval mode).
  """
  fixture: fixture_lib.ModelFixture
  model: maskformer_model.MaskFormer
  conversion: converter.ConversionSummary
  outputs: Dict[str, Any]


def run_model(fixture: fixture_lib.ModelFixture) -> ModelRun:
  """Builds the fixture's model, loads its weights and runs its images.

  Args:
    fixture: a model fixture.

  Returns:
    The run.

  Raises:
    converter.CheckpointMismatchError: weights.pkl does not match the
      manifest's architecture.
  """
  model = maskformer_model.build_maskformer_model(
      fixture_lib.model_config(fixture.config))
  conversion = converter.convert_model(model, fixture.weights_path)
  images = fixture_lib.nchw_to_nhwc(
      fixture.arrays['padded_normalized_images']).astype(np.float32)
  outputs = model(tf.constant(images), training=False)
  return ModelRun(fixture=fixture, model=model, conversion=conversion,
                  outputs=outputs)


def _prediction_checks(prefix: str, outputs: Dict[str, Any],
                       reference: Dict[str, np.ndarray]) -> List[checks_lib.Check]:
  """Final and auxiliary logits/masks against every such reference array."""
  results = []
  for key in ('pred_logits', 'pred_masks'):
    if key in reference:
      results.append(checks_lib.compare_scaled(
          prefix + key, outputs[key], reference[key]))
  aux_outputs = outputs['aux_outputs']
  aux_keys = sorted((int(m[1]), m[2], name) for name in reference
                    for m in [_AUX_KEY.match(name)] if m)
  for layer, key, name in aux_keys:
    if layer < len(aux_outputs):
      results.append(checks_lib.compare_scaled(
          prefix + name, aux_outputs[layer][key], reference[name]))
    else:
      results.append(checks_lib.Check(
          prefix + name, float('inf'), checks_lib.scaled_tolerance(
              reference[name]), False,
          f'the model has only {len(aux_outputs)} auxiliary outputs'))
  return results


def _trainable_parameter_count(model) -> int:
  return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def model_output_checks(run: ModelRun) -> List[checks_lib.Check]:
  """End-to-end comparisons of the model outputs with the fixture.

  Args:
    run: the model run.

  Returns:
    The checks, in a fixed order.
  """
  reference = run.fixture.arrays
  outputs = run.outputs
  results = []
  if 'num_params' in run.fixture.manifest:
    results.append(checks_lib.compare_exact(
        'num_params', _trainable_parameter_count(run.model),
        run.fixture.manifest['num_params']))
  for level in ('2', '3', '4', '5'):
    name = f'backbone_res{level}'
    if name in reference:
      results.append(checks_lib.compare_scaled(
          name, outputs['backbone_features'][level],
          fixture_lib.nchw_to_nhwc(reference[name])))
  for ours, name in (('mask_features', 'mask_features'),
                     ('transformer_encoder_features',
                      'transformer_encoder_output')):
    if name in reference:
      results.append(checks_lib.compare_scaled(
          name, outputs.get(ours, np.zeros((0,))),
          fixture_lib.nchw_to_nhwc(reference[name])))
  results.extend(_prediction_checks('', outputs, reference))
  return results


def isolated_module_checks(run: ModelRun) -> List[checks_lib.Check]:
  """Each head module run on the reference's own inputs.

  Args:
    run: the model run.

  Returns:
    Checks named 'isolated.pixel_decoder.*' and 'isolated.predictor.*';
    empty if the fixture lacks the needed intermediate arrays.
  """
  reference = run.fixture.arrays
  model = run.model
  results = []
  levels = ('2', '3', '4', '5')
  if all(f'backbone_res{level}' in reference for level in levels):
    features = {
        level: tf.constant(fixture_lib.nchw_to_nhwc(
            reference[f'backbone_res{level}']))
        for level in levels
    }
    decoded = model.pixel_decoder(features, training=False)
    prefix = f'{_ISOLATED}.pixel_decoder.'
    if 'mask_features' in reference:
      results.append(checks_lib.compare_scaled(
          prefix + 'mask_features', decoded['mask_features'],
          fixture_lib.nchw_to_nhwc(reference['mask_features'])))
    if 'transformer_encoder_output' in reference:
      results.append(checks_lib.compare_scaled(
          prefix + 'transformer_encoder_output',
          decoded.get('transformer_encoder_features', np.zeros((0,))),
          fixture_lib.nchw_to_nhwc(reference['transformer_encoder_output'])))
  is_encoder = 'transformer_encoder_features' in run.outputs
  input_name = 'transformer_encoder_output' if is_encoder else 'backbone_res5'
  if input_name in reference and 'mask_features' in reference:
    predictions = model.transformer_predictor(
        tf.constant(fixture_lib.nchw_to_nhwc(reference[input_name])),
        tf.constant(fixture_lib.nchw_to_nhwc(reference['mask_features'])),
        training=False)
    results.extend(_prediction_checks(f'{_ISOLATED}.predictor.', predictions,
                                      reference))
  return results
