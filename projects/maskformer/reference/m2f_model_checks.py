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

"""Checks of the TF Mask2Former against a Mask2Former model fixture.

`run_model` builds the manifest's architecture in float32, converts
`weights.pkl` strictly and runs the stored `padded_normalized_images` once
(eval mode), keeping the intermediates the fixture stores. The suites of
`SUITES` (each `Mask2FormerRun -> List[Check | Note]`) compare the run with
the reference as the fixture's README ("What parity should mean") defines
it:

  * `forward_checks`: the trainable parameter count; every stored forward
    output within `max(10 * float32_error[key], 1e-6 * max(1,
    reference_max_abs[key]))` (manifest): backbone res2..res5, the encoder
    inputs and sine encodings of the 3 levels, encoder layer 0's output,
    sampling locations and attention weights (first image), the
    multi-scale features, the mask features, every head's class logits and
    the stored mask logits; the attention masks fed to decoder layers 0 and
    1 identical;
  * `criterion_checks`: costs, matchings and the 30 loss terms with the
    recorded points (`m2f_criterion_checks`);
  * `inference_checks`: panoptic, semantic (also the ADE20K-style
    `sem_late_*`: scores at the padded size, then cropped and resized) and
    instance results at the original size (`m2f_inference_checks`).
"""
import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Optional

import numpy as np
import tensorflow as tf

from projects.maskformer.checkpoints import converter
from projects.maskformer.modeling import inference
from projects.maskformer.modeling import postprocessing
from projects.maskformer.modeling.mask2former import mask2former_model
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import precision
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import inference_checks as mf_inference
from projects.maskformer.reference import loss_checks
from projects.maskformer.reference import m2f_criterion_checks
from projects.maskformer.reference import m2f_inference_checks

_LEVELS = (0, 1, 2)


@dataclasses.dataclass
class Mask2FormerRun:
  """A Mask2Former built, loaded and run on a fixture's images.

  Attributes:
    fixture: the fixture.
    model: the model, holding the fixture's weights.
    outputs: the model's outputs (eval mode).
    intermediates: our value of every stored forward key, in the
      reference's layout (NCHW maps).
  """
  fixture: fixture_lib.Mask2FormerModelFixture
  model: mask2former_model.Mask2Former
  outputs: Dict[str, Any]
  intermediates: Dict[str, np.ndarray]


def _nchw(tensor: Any) -> np.ndarray:
  return np.transpose(np.asarray(tensor), (0, 3, 1, 2))


def intermediates(model: mask2former_model.Mask2Former,
                  outputs: Dict[str, Any],
                  valid_sizes: Optional[tf.Tensor] = None
                  ) -> Dict[str, np.ndarray]:
  """Our values of the fixture's forward keys (reference layouts).

  Args:
    model: the model.
    outputs: its outputs on a batch.
    valid_sizes: the `valid_sizes` the batch was run with, or None.

  Returns:
    Reference key -> our array for the whole batch: NCHW maps, [B, Q, H, W]
    masks, [B, S, ...] encoder tokens of the levels 1/32, 1/16, 1/8
    concatenated (their spatial shapes are the 'multi_scale_l*' maps').
  """
  ours = {f'backbone_res{level}': _nchw(outputs['backbone_features'][level])
          for level in '2345'}
  decoder = model.pixel_decoder
  inputs = decoder.encoder_inputs(outputs['backbone_features'], valid_sizes)
  batch = outputs['mask_features'].shape[0]
  for level in _LEVELS:
    ours[f'encoder_input_l{level}'] = _nchw(inputs.maps[level])
    sine = inputs.sine_encodings[level]
    ours[f'pos_embed_l{level}'] = _nchw(np.broadcast_to(
        sine, (batch,) + tuple(sine.shape[-3:])))
    ours[f'multi_scale_l{level}'] = _nchw(
        outputs['multi_scale_features'][level])
  layer = decoder.encoder_layers[0]
  encoder_args = (inputs.reference_points, inputs.spatial_shapes,
                  inputs.valid_sizes)
  locations, weights = layer.self_attention.sampling(
      inputs.tokens + inputs.pos, *encoder_args)
  ours['enc0_sampling_locations'] = np.asarray(locations)
  ours['enc0_attention_weights'] = np.asarray(weights)
  ours['encoder_layer0_output'] = np.asarray(layer(
      inputs.tokens, inputs.pos, *encoder_args))
  ours['mask_features'] = _nchw(outputs['mask_features'])
  heads = outputs['aux_outputs'] + [outputs]
  for j, head in enumerate(heads):
    prefix = '' if j == len(heads) - 1 else f'aux{j}_'
    ours[prefix + 'pred_logits'] = np.asarray(head['pred_logits'])
    ours[prefix + 'pred_masks'] = np.asarray(head['pred_masks'])
  attention = model.transformer_decoder(
      outputs['multi_scale_features'], outputs['mask_features'],
      return_attention_masks=True,
      valid_sizes=valid_sizes)['attention_masks']
  for layer_index, mask in enumerate(attention):
    ours[f'attn_mask_layer{layer_index}'] = mask.numpy()
  return ours


def run_model(fixture: fixture_lib.Mask2FormerModelFixture
              ) -> Mask2FormerRun:
  """Builds the fixture's model, loads its weights and runs its images.

  Raises:
    converter.CheckpointMismatchError: weights.pkl does not fit the
      manifest's architecture.
  """
  with precision.keras_policy('float32'):
    model = mask2former_model.build_mask2former_model(
        fixture_formats.mask2former_model_config(fixture.config))
  converter.convert_model(model, fixture.weights_path)
  return run_loaded_model(fixture, model)


def run_loaded_model(fixture: fixture_lib.Mask2FormerModelFixture,
                     model: mask2former_model.Mask2Former) -> Mask2FormerRun:
  """Runs a built model (with its current weights) on the fixture's images."""
  images = fixture_formats.nchw_to_nhwc(
      fixture.arrays['padded_normalized_images']).astype(np.float32)
  outputs = model(tf.constant(images), training=False)
  return Mask2FormerRun(fixture=fixture, model=model, outputs=outputs,
                        intermediates=intermediates(model, outputs))


def bound(fixture: fixture_lib.Mask2FormerModelFixture, key: str) -> float:
  """The README's float32 bound of a stored key (manifest figures)."""
  manifest = fixture.manifest
  for table in ('float32_error', 'reference_max_abs'):
    fixture_lib.require(manifest[table], [key],
                        fixture.path / f'{fixture_lib.MANIFEST} "{table}"')
  return checks_lib.pytorch_error_bound(manifest['float32_error'][key],
                                        manifest['reference_max_abs'][key])


def forward_checks(run: Mask2FormerRun) -> List[checks_lib.Result]:
  """The parameter count and every stored forward key (module docstring)."""
  fixture = run.fixture
  arrays = fixture.arrays
  results: List[checks_lib.Result] = [checks_lib.compare_exact(
      'num_params', sum(int(np.prod(v.shape))
                        for v in run.model.trainable_variables),
      fixture.manifest['num_params'])]
  for key, ours in run.intermediates.items():
    if key not in arrays:
      continue
    if key.startswith('attn_mask_'):
      reference = arrays[key]
      mismatches = (int(np.sum(ours != reference))
                    if ours.shape == reference.shape else reference.size)
      results.append(checks_lib.compare_count(key, mismatches,
                                              reference.size))
    else:
      # The fixture may store a key for its first images only.
      results.append(checks_lib.compare(key, ours[:len(arrays[key])],
                                        arrays[key], bound(fixture, key)))
  return results


def criterion_checks(run: Mask2FormerRun) -> List[checks_lib.Result]:
  """Costs, matchings and losses with the recorded points."""
  fixture = run.fixture
  manifest = fixture.manifest
  targets = loss_checks.model_targets(fixture)
  if targets is None:
    return [checks_lib.Skipped(
        'matching, loss', f'{fixture_lib.REFERENCE} has no ground truth '
        '(gt_masks_i, gt_classes_i)')]
  fixture_lib.require(manifest, ['prediction_heads', 'losses_unweighted',
                                 'loss_total', 'optimal_assignment_cost'],
                      fixture.path / fixture_lib.MANIFEST)
  return m2f_criterion_checks.criterion_checks(
      fixture_formats.point_sampled_losses_config(fixture.config),
      run.outputs, targets, fixture.arrays, manifest['prediction_heads'],
      lambda key, _: bound(fixture, key),
      manifest['optimal_assignment_cost'], manifest['losses_unweighted'],
      manifest['loss_total'])


def inference_checks(run: Mask2FormerRun) -> List[checks_lib.Result]:
  """Panoptic, semantic and instance results at the original size."""
  fixture = run.fixture
  arrays, manifest, config = fixture.arrays, fixture.manifest, fixture.config
  image_sizes = np.asarray(arrays['image_sizes'], np.int32)
  original_sizes = np.asarray(arrays['original_sizes'], np.int32)
  canvas = tuple(int(s) for s in original_sizes.max(axis=0))
  pred_logits = run.outputs['pred_logits']
  upsampled = interpolation.resize_bilinear(
      run.outputs['pred_masks'], arrays['padded_normalized_images'].shape[2:])
  results = m2f_inference_checks.OutputSizeInference(
      pred_logits,
      interpolation.resize_bilinear_per_image(upsampled, image_sizes,
                                              original_sizes, canvas),
      postprocessing.canvas_valid_mask(original_sizes, canvas),
      manifest['thing_classes'], float(config['object_mask_threshold']),
      float(config['overlap_threshold']), int(config['test_topk_per_image']))
  late = interpolation.resize_bilinear_per_image(
      inference.semantic_inference(pred_logits, upsampled), image_sizes,
      original_sizes, canvas, height_axis=1).numpy()
  errors = manifest['float32_error']
  checks: List[checks_lib.Result] = []
  for b, (height, width) in enumerate(original_sizes):
    name = f'inference.img{b}.'
    checks += m2f_inference_checks.panoptic_checks(
        name, results, b, (height, width),
        manifest['panoptic_segments_info'][b], arrays[f'panoptic_seg_{b}'],
        (arrays[f'panoptic_margin_{b}'].astype(np.float32) >
         mf_inference.MARGIN) &
        (arrays[f'panoptic_mask_margin_{b}'].astype(np.float32) >
         mf_inference.MARGIN))
    sample_yx = arrays[f'sem_sample_yx_{b}']
    checks += m2f_inference_checks.semantic_checks(
        name, results.semantic[b, :height, :width], sample_yx,
        arrays[f'sem_sample_scores_{b}'], errors[f'sem_sample_scores_{b}'],
        arrays[f'sem_argmax_{b}'], arrays[f'sem_margin_{b}'])
    late_scores = arrays[f'sem_late_sample_scores_{b}']
    checks += m2f_inference_checks.semantic_checks(
        name + 'late_', late[b, :height, :width],
        sample_yx[:len(late_scores)], late_scores,
        errors[f'sem_late_sample_scores_{b}'], arrays[f'sem_late_argmax_{b}'],
        arrays[f'sem_late_margin_{b}'])
    masks = np.unpackbits(arrays[f'inst_masks_{b}'], axis=1)
    checks += m2f_inference_checks.instance_checks(
        name, results, b, (height, width), arrays[f'inst_query_{b}'],
        arrays[f'inst_class_{b}'], arrays[f'inst_score_{b}'],
        masks[:, :height * width].reshape(-1, height, width).astype(bool))
  return checks


SUITES = (forward_checks, criterion_checks, inference_checks)
