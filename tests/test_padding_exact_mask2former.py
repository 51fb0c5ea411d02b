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

"""Padding-exact Mask2Former (`valid_sizes`) on the PyTorch model fixture.

The fixture's model (`m2f_r50w16_panoptic`, its weights converted strictly)
runs each of the two COCO images alone at its own size (192 x 288 and
162 x 288, eagerly, batch 1), and on larger static canvases (zero padded
bottom/right) with `valid_sizes`. Inside the image's region at every stride
(ceil(size / stride)), every output must equal the own-size run within
1e-4 * max(1, max |own|) in float32: backbone res2..res5, the encoder inputs
and sine encodings, encoder layer 0's output, sampling locations and
attention weights, the multi-scale features, the mask features, every
head's class and mask logits; the attention masks fed to the 9 layers are
identical there. Image 0 (which the reference computed without padding) on
a canvas also matches the reference arrays with the README's criteria. Both
images in one batch give what each gives alone; valid sizes equal to the
whole canvas give what no valid sizes give; the padding-exact forward of a
small Mask2Former compiles with XLA and equals its own-size run.
"""
import dataclasses
import re
from typing import Any
from typing import Dict
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
import pytest
import synthetic_data
import tensorflow as tf
import tf_keras

from projects.maskformer.checkpoints import converter
from projects.maskformer.configs import mask2former as mask2former_cfg
from projects.maskformer.modeling.mask2former import mask2former_model
from projects.maskformer.ops import deformable_attention
from projects.maskformer.ops import precision
from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture as fixture_lib
from projects.maskformer.reference import fixture_formats

MODEL = 'm2f_r50w16_panoptic'
# A canvas of multiples of 32, and one whose size is odd at most strides.
CANVASES = ((256, 352), (203, 301))
RELATIVE_TOLERANCE = 1e-4
NUM_HEADS = 10
NUM_LEVELS = 3

# An output: the array and the axis of its height (None: not spatial; the
# width axis follows the height axis).
Output = Tuple[np.ndarray, Optional[int]]


def _level_maps(tokens: np.ndarray, shapes: Sequence[Tuple[int, int]]
                ) -> Sequence[np.ndarray]:
  """[B, S, ...] tokens of the concatenated levels -> [B, H_l, W_l, ...]."""
  sizes = np.cumsum([h * w for h, w in shapes])[:-1]
  return [np.reshape(level, (level.shape[0], h, w) + level.shape[2:])
          for level, (h, w) in zip(np.split(tokens, sizes, axis=1), shapes)]


def _model_outputs(model: mask2former_model.Mask2Former, images: np.ndarray,
                   valid_sizes: Optional[np.ndarray] = None
                   ) -> Dict[str, Output]:
  """Every compared output, named after the reference's keys.

  Token sequences (encoder layer 0) are split into per-level maps
  (`{key}_l{level}`); maps are NHWC, mask logits and attention masks
  [B, Q, H, W].
  """
  if valid_sizes is not None:
    valid_sizes = tf.constant(valid_sizes, tf.int32)
  outputs = model(tf.constant(images), training=False,
                  valid_sizes=valid_sizes)
  batch = images.shape[0]
  ours = {f'backbone_res{level}': (outputs['backbone_features'][level], 1)
          for level in '2345'}
  decoder = model.pixel_decoder
  inputs = decoder.encoder_inputs(outputs['backbone_features'], valid_sizes)
  for level in range(NUM_LEVELS):
    sine = inputs.sine_encodings[level]
    ours[f'encoder_input_l{level}'] = (inputs.maps[level], 1)
    ours[f'pos_embed_l{level}'] = (
        np.broadcast_to(sine, (batch,) + tuple(sine.shape[1:])), 1)
    ours[f'multi_scale_l{level}'] = (outputs['multi_scale_features'][level],
                                     1)
  layer = decoder.encoder_layers[0]
  encoder_args = (inputs.reference_points, inputs.spatial_shapes,
                  inputs.valid_sizes)
  tokens = {
      'encoder_layer0_output': layer(inputs.tokens, inputs.pos,
                                     *encoder_args),
  }
  tokens['enc0_sampling_locations'], tokens['enc0_attention_weights'] = (
      layer.self_attention.sampling(inputs.tokens + inputs.pos,
                                    *encoder_args))
  for key, value in tokens.items():
    for level, level_map in enumerate(
        _level_maps(np.asarray(value), inputs.spatial_shapes)):
      ours[f'{key}_l{level}'] = (level_map, 1)
  ours['mask_features'] = (outputs['mask_features'], 1)
  heads = outputs['aux_outputs'] + [outputs]
  assert len(heads) == NUM_HEADS
  for j, head in enumerate(heads):
    prefix = '' if j == NUM_HEADS - 1 else f'aux{j}_'
    ours[prefix + 'pred_logits'] = (head['pred_logits'], None)
    ours[prefix + 'pred_masks'] = (head['pred_masks'], 2)
  attention = model.transformer_decoder(
      outputs['multi_scale_features'], outputs['mask_features'],
      return_attention_masks=True, valid_sizes=valid_sizes)['attention_masks']
  assert len(attention) == NUM_HEADS - 1
  for layer_index, mask in enumerate(attention):
    ours[f'attn_mask_layer{layer_index}'] = (mask, 2)
  return {key: (np.asarray(value), axis)
          for key, (value, axis) in ours.items()}


def _region(array: np.ndarray, height_axis: Optional[int],
            size: Sequence[int]) -> np.ndarray:
  """The top-left `size` of the spatial axes (all of a non-spatial array)."""
  if height_axis is None:
    return array
  index = [slice(None)] * array.ndim
  index[height_axis] = slice(0, size[0])
  index[height_axis + 1] = slice(0, size[1])
  return array[tuple(index)]


def _ratio(ours: np.ndarray, reference: np.ndarray,
           tolerance: Optional[float]) -> float:
  """Max |ours - reference| / tolerance; booleans: 0 if identical, else inf."""
  if reference.dtype == bool:
    return 0.0 if np.array_equal(ours, reference) else np.inf
  error = np.abs(ours.astype(np.float64) - reference)
  return float(np.max(np.where(np.isnan(error), np.inf, error))) / tolerance


def _worst_ratios(ours: Dict[str, Output], expected: Dict[str, Output],
                  image: Optional[int] = None) -> Dict[str, float]:
  """Per key, `_ratio` inside `expected`'s region.

  Args:
    ours: the outputs to check (on a canvas: cropped to `expected`'s size).
    expected: the outputs they must equal, floats within
      1e-4 * max(1, max |expected|), booleans identical.
    image: the batch index of `ours` to compare, or None for all.

  Returns:
    key -> the ratio.
  """
  ratios = {}
  for key, (reference, axis) in expected.items():
    array, _ = ours[key]
    if image is not None:
      array = array[image:image + 1]
    size = None if axis is None else reference.shape[axis:axis + 2]
    ratios[key] = _ratio(_region(array, axis, size), reference,
                         checks_lib.scaled_tolerance(reference,
                                                     RELATIVE_TOLERANCE))
  return ratios


def _assert_within(ratios: Dict[str, float], label: str) -> None:
  """All ratios at most 1; prints the worst of each output group."""
  groups = {}
  for key, ratio in ratios.items():
    group = re.sub(r'^aux\d+_|_l\d$|_(res|layer)\d$', '', key)
    groups[group] = max(groups.get(group, 0.0), ratio)
  print(f'{label}: worst error / tolerance: '
        + ', '.join(f'{g} {r:.3g}' for g, r in sorted(groups.items())))
  failed = {key: ratio for key, ratio in ratios.items() if not ratio <= 1.0}
  assert not failed, failed


def _on_canvas(images: Sequence[np.ndarray], canvas: Sequence[int]
               ) -> np.ndarray:
  """Normalized NHWC images at the top-left of a zero canvas."""
  batch = np.zeros((len(images),) + tuple(canvas) + (3,), np.float32)
  for b, image in enumerate(images):
    batch[b, :image.shape[0], :image.shape[1]] = image
  return batch


@dataclasses.dataclass
class _Fixture:
  """The fixture's model with its weights, its images and memoised runs."""
  fixture: fixture_lib.Mask2FormerModelFixture
  model: mask2former_model.Mask2Former
  images: Sequence[np.ndarray]  # normalized, each at its own size
  runs: Dict[Any, Dict[str, Output]]

  def own_size(self, image: int) -> Dict[str, Output]:
    """The image alone at its own size (batch 1, no valid sizes)."""
    key = ('own', image)
    if key not in self.runs:
      self.runs[key] = _model_outputs(self.model, self.images[image][None])
    return self.runs[key]

  def on_canvas(self, images: Sequence[int], canvas: Sequence[int]
                ) -> Dict[str, Output]:
    """`images` (indices) in one batch on `canvas`, padding-exact."""
    key = ('canvas', tuple(images), tuple(canvas))
    if key not in self.runs:
      self.runs[key] = _model_outputs(
          self.model, _on_canvas([self.images[i] for i in images], canvas),
          np.array([self.images[i].shape[:2] for i in images]))
    return self.runs[key]


@pytest.fixture(scope='module')
def m2f(m2f_reference_dir) -> _Fixture:
  fixture = fixture_lib.load_fixture(m2f_reference_dir / MODEL)
  with precision.keras_policy('float32'):
    model = mask2former_model.build_mask2former_model(
        fixture_formats.mask2former_model_config(fixture.config))
  converter.convert_model(model, fixture.weights_path)
  padded = fixture_formats.nchw_to_nhwc(
      fixture.arrays['padded_normalized_images']).astype(np.float32)
  images = [padded[b, :h, :w]
            for b, (h, w) in enumerate(fixture.arrays['image_sizes'])]
  return _Fixture(fixture=fixture, model=model, images=images, runs={})


@pytest.mark.parametrize('canvas', CANVASES)
@pytest.mark.parametrize('image', [0, 1])
def test_canvas_equals_own_size(m2f, image, canvas):
  own = m2f.own_size(image)
  ours = m2f.on_canvas([image], canvas)
  for key, (array, axis) in ours.items():
    if array.dtype != bool:
      assert np.all(np.isfinite(array)), key
      continue
    # The attention masks block every key outside the image.
    outside = np.ones(array.shape, bool)
    _region(outside, axis, own[key][0].shape[axis:axis + 2])[...] = False
    assert np.all(array[outside]), key
  _assert_within(_worst_ratios(ours, own),
                 f'image {image} on {canvas[0]}x{canvas[1]} vs own size')


def test_image0_on_canvas_matches_reference(m2f):
  """Image 0 (192 x 288, unpadded in the reference) on the larger canvas.

  Every stored forward key of image 0, within the README's bound
  max(10 * float32_error, 1e-6 * max(1, reference_max_abs)); the attention
  masks of layers 0 and 1 identical.
  """
  arrays = m2f.fixture.arrays
  manifest = m2f.fixture.manifest
  ours = m2f.on_canvas([0], CANVASES[0])
  spatial_shapes = [arrays[f'multi_scale_l{level}'].shape[2:]
                    for level in range(NUM_LEVELS)]
  references = {}  # our key -> (stored key, reference in our layout)
  token_keys = ('encoder_layer0_output', 'enc0_sampling_locations',
                'enc0_attention_weights')
  for key in token_keys:
    for level, level_map in enumerate(
        _level_maps(arrays[key][:1], spatial_shapes)):
      references[f'{key}_l{level}'] = (key, level_map)
  for key, (_, axis) in ours.items():
    if key in arrays:
      reference = arrays[key][:1]
      references[key] = (key, fixture_formats.nchw_to_nhwc(reference)
                         if axis == 1 else reference)
  expected_keys = {f'backbone_res{level}' for level in '2345'}
  expected_keys |= {
      f'{key}_l{level}' for level in range(NUM_LEVELS)
      for key in ('encoder_input', 'pos_embed', 'multi_scale') + token_keys}
  expected_keys |= {f'aux{j}_pred_logits' for j in range(NUM_HEADS - 1)}
  expected_keys |= {'mask_features', 'pred_logits', 'pred_masks',
                    'aux0_pred_masks', 'aux1_pred_masks', 'attn_mask_layer0',
                    'attn_mask_layer1'}
  assert set(references) == expected_keys
  ratios = {}
  for key, (stored_key, reference) in references.items():
    array, axis = ours[key]
    size = None if axis is None else reference.shape[axis:axis + 2]
    tolerance = None if reference.dtype == bool else (
        checks_lib.pytorch_error_bound(
            manifest['float32_error'][stored_key],
            manifest['reference_max_abs'][stored_key]))
    ratios[key] = _ratio(_region(array, axis, size), reference, tolerance)
  _assert_within(ratios, 'image 0 on the canvas vs the PyTorch reference '
                 '(README bound)')


def test_batch_of_both_images_equals_each_alone(m2f):
  ours = m2f.on_canvas([0, 1], CANVASES[0])
  for image in (0, 1):
    _assert_within(_worst_ratios(ours, m2f.own_size(image), image),
                   f'image {image} in a batch of 2 vs own size')


def test_valid_sizes_of_the_whole_canvas_change_nothing(m2f):
  images = _on_canvas(m2f.images, CANVASES[1])
  whole = np.array([CANVASES[1]] * len(m2f.images))
  _assert_within(
      _worst_ratios(_model_outputs(m2f.model, images, whole),
                    _model_outputs(m2f.model, images)),
      'valid sizes of the whole canvas vs none')


def test_padding_exact_forward_compiles_with_xla():
  """A small Mask2Former: XLA on a canvas equals eager at the own size."""
  config = mask2former_cfg.Mask2FormerModel(
      **dict(synthetic_data.TINY_MASK2FORMER, input_size=[None, None, 3]))
  tf_keras.utils.set_random_seed(0)
  model = mask2former_model.build_mask2former_model(config)
  sizes = np.array([[45, 61], [64, 35]])
  images = [np.random.default_rng(b).normal(size=(h, w, 3)).astype(np.float32)
            for b, (h, w) in enumerate(sizes)]
  forward = tf.function(
      lambda x, s: model(x, training=False, valid_sizes=s), jit_compile=True)
  outputs = forward(tf.constant(_on_canvas(images, (64, 96))),
                    tf.constant(sizes, tf.int32))
  for b, image in enumerate(images):
    own = model(tf.constant(image[None]), training=False)
    expected = {key: (np.asarray(own[key]), axis)
                for key, axis in (('pred_logits', None), ('pred_masks', 2),
                                  ('mask_features', 1))}
    ours = {key: (np.asarray(outputs[key]), axis)
            for key, (_, axis) in expected.items()}
    _assert_within(_worst_ratios(ours, expected, b),
                   f'XLA, image {b} on 64x96 vs own size')


def test_deformable_attention_in_frames_reads_only_the_frames():
  """Sampling each image's frames of a canvas = sampling its cropped levels.

  Values outside the frames are NaN: they must never be read.
  """
  rng = np.random.default_rng(0)
  canvas_shapes = [(5, 7), (3, 4)]
  valid_sizes = np.array([[[4, 5], [2, 3]], [[5, 7], [3, 4]]])
  heads, points, channels, queries = 2, 3, 4, 6
  locations = rng.uniform(-0.3, 1.3, size=(2, queries, heads, 2, points, 2))
  weights = rng.uniform(size=(2, queries, heads, 2, points))
  canvas_levels, outputs = [], []
  for b in range(2):
    crops = [rng.normal(size=(1, h, w, heads, channels))
             for h, w in valid_sizes[b]]
    canvas = []
    for crop, (height, width) in zip(crops, canvas_shapes):
      level = np.full((1, height, width, heads, channels), np.nan)
      level[:, :crop.shape[1], :crop.shape[2]] = crop
      canvas.append(level.reshape(1, -1, heads, channels))
    canvas_levels.append(np.concatenate(canvas, axis=1))
    outputs.append(deformable_attention.multi_scale_deformable_attention(
        tf.constant(np.concatenate(
            [c.reshape(1, -1, heads, channels) for c in crops], axis=1)),
        [tuple(s) for s in valid_sizes[b]], tf.constant(locations[b:b + 1]),
        tf.constant(weights[b:b + 1])))
  on_canvas = deformable_attention.multi_scale_deformable_attention(
      tf.constant(np.concatenate(canvas_levels)), canvas_shapes,
      tf.constant(locations), tf.constant(weights),
      tf.constant(valid_sizes, tf.int32))
  np.testing.assert_allclose(on_canvas.numpy(),
                             np.concatenate(outputs), rtol=0, atol=1e-12)
