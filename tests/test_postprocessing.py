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

"""Inference and post-processing against the PyTorch reference and by hand."""
import json

import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.modeling import inference
from projects.maskformer.modeling import postprocessing

SEMANTIC_TOLERANCE = 1e-5
MARGIN = 1e-4


def _segments(outputs, index):
  """The reference's segments_info (id, isthing, category_id) of one image."""
  count = int(outputs['num_segments'][index])
  return [{'id': int(outputs['segment_id'][index, s]),
           'isthing': bool(outputs['segment_isthing'][index, s]),
           'category_id': int(outputs['segment_category'][index, s])}
          for s in range(count)]


def _coco_thing_classes(coco_sample_dir):
  with open(coco_sample_dir / 'panoptic_coco_categories.json') as f:
    categories = sorted(json.load(f), key=lambda c: c['id'])
  return [i for i, c in enumerate(categories) if c['isthing'] == 1]


@pytest.mark.parametrize('jit_compile', [False, True])
def test_standalone_fixture(reference_dir, jit_compile):
  folder = reference_dir / 'standalone'
  arrays = np.load(folder / 'postprocess.npz')
  with open(folder / 'postprocess.json') as f:
    meta = json.load(f)
  things = meta['thing_classes']
  height, width = meta['mask_hw']

  @tf.function(jit_compile=jit_compile)
  def infer(logits, masks, object_mask_threshold, overlap_threshold):
    valid = tf.ones([1, height, width], tf.bool)
    return (inference.panoptic_inference(
        logits, masks, valid, things, object_mask_threshold,
        overlap_threshold), inference.semantic_inference(logits, masks))

  assert len(meta['cases']) == 12
  for c, case in enumerate(meta['cases']):
    panoptic, semantic = infer(arrays[f'logits_{c}'][None],
                               arrays[f'masks_{c}'][None],
                               case['object_mask_threshold'],
                               case['overlap_threshold'])
    panoptic = {k: v.numpy() for k, v in panoptic.items()}
    np.testing.assert_array_equal(panoptic['panoptic'][0],
                                  arrays[f'panoptic_{c}'], err_msg=f'case {c}')
    assert _segments(panoptic, 0) == case['segments_info'], f'case {c}'
    if c in meta['semantic_stored_for_cases']:
      error = np.abs(semantic[0].numpy().transpose(2, 0, 1) -
                     arrays[f'semantic_{c}']).max()
      assert error <= SEMANTIC_TOLERANCE, f'case {c}: {error}'


@pytest.mark.parametrize('model', ['r50w16_fpn', 'r50w16_enc'])
@pytest.mark.parametrize('jit_compile', [False, True])
def test_model_fixture_full_path(reference_dir, coco_sample_dir, model,
                                 jit_compile):
  """Stride-4 logits -> padded size -> crop -> original size, per image."""
  folder = reference_dir / model
  ref = np.load(folder / 'reference.npz')
  with open(folder / 'manifest.json') as f:
    manifest = json.load(f)
  padded_size = ref['padded_normalized_images'].shape[2:]
  original_sizes = ref['original_sizes']
  canvas = tuple(int(s) for s in original_sizes.max(axis=0))
  layer = postprocessing.MaskFormerPostProcessor(
      _coco_thing_classes(coco_sample_dir), canvas,
      outputs=('semantic', 'panoptic'),
      object_mask_threshold=manifest['config']['object_mask_threshold'],
      overlap_threshold=manifest['config']['overlap_threshold'])
  run = tf.function(lambda o, s, t: layer(o, padded_size, s, t),
                    jit_compile=jit_compile)
  # The whole batch at once: the two images have different sizes.
  outputs = run({'pred_logits': ref['pred_logits'],
                 'pred_masks': ref['pred_masks']}, ref['image_sizes'],
                original_sizes)
  outputs = {k: v.numpy() for k, v in outputs.items()}
  for b in range(2):
    height, width = original_sizes[b]
    assert _segments(outputs, b) == manifest['panoptic_segments_info'][b]
    decided = ref[f'panoptic_margin_{b}'].astype(np.float32) > MARGIN
    assert decided.any()
    panoptic = outputs['panoptic'][b, :height, :width]
    np.testing.assert_array_equal(panoptic[decided],
                                  ref[f'panoptic_seg_{b}'][decided])
    assert not outputs['panoptic'][b, height:].any()
    assert not outputs['panoptic'][b, :, width:].any()
    semantic = outputs['semantic'][b, :height, :width]
    decided = ref[f'sem_margin_{b}'].astype(np.float32) > MARGIN
    np.testing.assert_array_equal(semantic.argmax(-1)[decided],
                                  ref[f'sem_argmax_{b}'][decided])
    rows, cols = ref[f'sem_sample_yx_{b}'].T
    error = np.abs(semantic[rows, cols] - ref[f'sem_sample_scores_{b}']).max()
    assert error <= SEMANTIC_TOLERANCE, error


def _one_hot_logits(classes, num_classes, confidence=12.0):
  """Class logits whose softmax puts almost all mass on `classes`."""
  logits = np.zeros([len(classes), num_classes + 1], np.float32)
  logits[np.arange(len(classes)), classes] = confidence
  return logits


def test_panoptic_rules_by_hand():
  """Thresholds, overlap ratio, stuff merging and ids on a worked example.

  K = 4 classes; things {0, 1}, stuff {2, 3}; "no object" = 4. Image 4 x 5.
    q0: stuff 2, mask = row 0 -> segment 1.
    q1: thing 0, mask = row 1 -> segment 2.
    q2: stuff 2 again, mask = row 2 -> painted into segment 1, no new entry.
    q3: "no object", mask = row 3 -> dropped, row 3 stays void...
    q4: thing 1, low score (below 0.8) -> dropped.
    q5: thing 1, confident, its sigmoid >= 0.5 on row 3 (5 px), but q6
        (more confident) wins 1 of those pixels: area/original = 4/5 = 0.8
        >= 0.8 -> kept as segment 3.
    q6: thing 0, wins row 3 col 0 only, original area 1: ratio 1 -> segment 4.
    q7: thing 0, confident, mask positive nowhere -> original area 0, dropped.
  """
  num_classes = 4
  classes = [2, 0, 2, 4, 1, 1, 0, 0]
  logits = _one_hot_logits(classes, num_classes)
  logits[4] = 0.0
  logits[4, 1] = 1.0  # score well below 0.8
  logits[6, 0] = 14.0  # more confident than q5
  masks = np.full([8, 4, 5], -20.0, np.float32)
  masks[0, 0] = 20.0
  masks[1, 1] = 20.0
  masks[2, 2] = 20.0
  masks[3, 3] = 20.0
  masks[4, 3] = 20.0
  masks[5, 3] = 20.0
  masks[6, 3, 0] = 20.0
  outputs = inference.panoptic_inference(
      logits[None], masks[None], tf.ones([1, 4, 5], tf.bool),
      thing_classes=[0, 1], object_mask_threshold=0.8, overlap_threshold=0.8)
  outputs = {k: v.numpy() for k, v in outputs.items()}
  expected = np.array([[1, 1, 1, 1, 1],
                       [2, 2, 2, 2, 2],
                       [1, 1, 1, 1, 1],
                       [4, 3, 3, 3, 3]])
  np.testing.assert_array_equal(outputs['panoptic'][0], expected)
  assert _segments(outputs, 0) == [
      {'id': 1, 'isthing': False, 'category_id': 2},
      {'id': 2, 'isthing': True, 'category_id': 0},
      {'id': 3, 'isthing': True, 'category_id': 1},
      {'id': 4, 'isthing': True, 'category_id': 0},
  ]
  np.testing.assert_array_equal(outputs['segment_query'][0, :5],
                                [0, 1, 5, 6, -1])
  assert not outputs['segment_valid'][0, 4:].any()

  # A ratio just below the threshold drops q5: 4/5 < 0.81.
  outputs = inference.panoptic_inference(
      logits[None], masks[None], tf.ones([1, 4, 5], tf.bool), [0, 1],
      object_mask_threshold=0.8, overlap_threshold=0.81)
  np.testing.assert_array_equal(outputs['panoptic'][0, 3].numpy(),
                                [3, 0, 0, 0, 0])

  # Nothing kept: all void, no segment.
  outputs = inference.panoptic_inference(
      logits[None], masks[None], tf.ones([1, 4, 5], tf.bool), [0, 1],
      object_mask_threshold=0.999999, overlap_threshold=0.8)
  assert not outputs['panoptic'].numpy().any()
  assert int(outputs['num_segments'][0]) == 0


def test_mask2former_paints_confident_pixels_only():
  """Mask2Former's rule against MaskFormer's on a worked example.

  K = 3 classes; thing {0}, stuff {1, 2}. Image 2 x 4.
    q0: thing 0, sigmoid ~1 on row 0, 0.27 on row 1 cols 0-1: it wins those
        6 pixels, original area 4, ratio 1.5.
    q1: stuff 1, sigmoid 0.62 at (0, 0) (won by q0) and 0.27 on row 1 cols
        2-3, which it wins: area 2, original area 1, ratio 2.
  MaskFormer paints every won pixel (q1 becomes segment 2). Mask2Former
  paints only won pixels with the winner's sigmoid >= 0.5 and drops q1,
  which has none; row 1 stays void.
  """
  logits = _one_hot_logits([0, 1], num_classes=3)
  masks = np.full([2, 2, 4], -20.0, np.float32)
  masks[0, 0] = 20.0
  masks[0, 1, :2] = -1.0
  masks[1, 0, 0] = 0.5
  masks[1, 1, 2:] = -1.0
  results = {}
  for rule in (False, True):
    outputs = inference.panoptic_inference(
        logits[None], masks[None], tf.ones([1, 2, 4], tf.bool), [0],
        object_mask_threshold=0.8, overlap_threshold=0.8,
        paint_confident_pixels_only=rule)
    results[rule] = {k: v.numpy() for k, v in outputs.items()}
  np.testing.assert_array_equal(results[False]['panoptic'][0],
                                [[1, 1, 1, 1], [1, 1, 2, 2]])
  assert _segments(results[False], 0) == [
      {'id': 1, 'isthing': True, 'category_id': 0},
      {'id': 2, 'isthing': False, 'category_id': 1},
  ]
  np.testing.assert_array_equal(results[True]['panoptic'][0],
                                [[1, 1, 1, 1], [0, 0, 0, 0]])
  assert _segments(results[True], 0) == [
      {'id': 1, 'isthing': True, 'category_id': 0},
  ]


def test_overlap_threshold_must_be_a_simple_fraction():
  with pytest.raises(ValueError, match='overlap_threshold'):
    postprocessing.MaskFormerPostProcessor([0], (4, 4),
                                           overlap_threshold=0.123456789)


def test_canvas_batch_equals_single_images():
  """A padded canvas and per-image sizes give each image's own result."""
  rng = np.random.default_rng(1)
  logits = rng.normal(size=[2, 6, 5], scale=3.0).astype(np.float32)
  masks = rng.normal(size=[2, 6, 6, 8], scale=4.0).astype(np.float32)
  image_sizes = np.array([[24, 32], [20, 27]])
  original_sizes = np.array([[30, 37], [19, 45]])
  layer = postprocessing.MaskFormerPostProcessor(
      [0, 1], (30, 45), outputs=('semantic', 'panoptic', 'instance'),
      object_mask_threshold=0.0, instance_top_k=7)
  batch = layer({'pred_logits': logits, 'pred_masks': masks}, (24, 32),
                image_sizes, original_sizes)
  for b in range(2):
    size = tuple(original_sizes[b])
    alone = postprocessing.MaskFormerPostProcessor(
        [0, 1], size, outputs=('semantic', 'panoptic', 'instance'),
        object_mask_threshold=0.0, instance_top_k=7)(
            {'pred_logits': logits[b:b + 1], 'pred_masks': masks[b:b + 1]},
            (24, 32), image_sizes[b:b + 1], original_sizes[b:b + 1])
    height, width = size
    for key, value in alone.items():
      value = value.numpy()[0]
      got = batch[key].numpy()[b]
      if value.ndim >= 2 and key != 'instance_masks':
        got = got[:height, :width]
      elif key == 'instance_masks':
        got = got[:, :height, :width]
      if np.issubdtype(value.dtype, np.floating):
        # Sums over a larger canvas may round differently.
        np.testing.assert_allclose(got, value, rtol=1e-6, atol=1e-7,
                                   err_msg=key)
      else:
        np.testing.assert_array_equal(got, value, err_msg=key)
    assert not batch['panoptic'].numpy()[b, height:].any()
    assert not batch['semantic'].numpy()[b, :, width:].any()
    assert not batch['instance_masks'].numpy()[b, :, :, width:].any()


def test_semantic_after_inference_path():
  """ADE20K setting: scores at the padded size, then crop and resize.

  The reference is built from independent pieces: tf.image.resize (half-pixel
  bilinear = PyTorch align_corners=False) and a numpy einsum.
  """
  rng = np.random.default_rng(2)
  logits = rng.normal(size=[2, 5, 4], scale=2.0).astype(np.float32)
  masks = rng.normal(size=[2, 5, 8, 8], scale=3.0).astype(np.float32)
  image_sizes = np.array([[32, 30], [25, 32]])
  original_sizes = np.array([[40, 37], [20, 26]])
  layer = postprocessing.MaskFormerPostProcessor(
      [], (40, 37), outputs=('semantic',))
  semantic = layer({'pred_logits': logits, 'pred_masks': masks}, (32, 32),
                   image_sizes, original_sizes)['semantic'].numpy()
  probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  for b in range(2):
    upsampled = tf.image.resize(masks[b].transpose(1, 2, 0), (32, 32),
                                antialias=False).numpy()
    scores = np.einsum('hwq,qk->hwk', 1 / (1 + np.exp(-upsampled)),
                       probs[b, :, :-1])
    (h, w), (oh, ow) = image_sizes[b], original_sizes[b]
    expected = tf.image.resize(scores[:h, :w], (oh, ow),
                               antialias=False).numpy()
    np.testing.assert_allclose(semantic[b, :oh, :ow], expected, atol=1e-5)
    assert not semantic[b, oh:].any() and not semantic[b, :, ow:].any()


def test_instance_inference_matches_mask2former_rule():
  """Against a numpy transcription of Mask2Former's instance_inference."""
  rng = np.random.default_rng(3)
  num_queries, num_classes, top_k = 6, 5, 8
  logits = rng.normal(size=[1, num_queries, num_classes + 1],
                      scale=2.0).astype(np.float32)
  masks = rng.normal(size=[1, num_queries, 7, 9], scale=3.0).astype(np.float32)
  things = [0, 2, 3]
  outputs = inference.instance_inference(
      logits, masks, tf.ones([1, 7, 9], tf.bool), things, top_k)
  outputs = {k: v.numpy()[0] for k, v in outputs.items()}

  probs = np.exp(logits[0]) / np.exp(logits[0]).sum(-1, keepdims=True)
  flat = probs[:, :-1].reshape(-1)
  order = np.argsort(-flat, kind='stable')[:top_k]
  queries, classes = order // num_classes, order % num_classes
  binary = masks[0][queries] > 0
  sigmoid = 1 / (1 + np.exp(-masks[0][queries]))
  mask_scores = (sigmoid * binary).sum((1, 2)) / (binary.sum((1, 2)) + 1e-6)
  np.testing.assert_array_equal(outputs['instance_classes'], classes)
  np.testing.assert_array_equal(outputs['instance_queries'], queries)
  np.testing.assert_array_equal(outputs['instance_masks'], binary)
  np.testing.assert_allclose(outputs['instance_scores'],
                             flat[order] * mask_scores, rtol=1e-5)
  np.testing.assert_array_equal(outputs['instance_valid'],
                                np.isin(classes, things))


def test_saved_model_round_trip(tmp_path):
  """The post-processor exports with dynamic per-image sizes."""
  layer = postprocessing.MaskFormerPostProcessor(
      [0], (20, 24), outputs=('semantic', 'panoptic', 'instance'),
      object_mask_threshold=0.0, instance_top_k=4)
  module = tf.Module()
  module.serve = tf.function(
      lambda logits, masks, sizes, originals: layer(
          {'pred_logits': logits, 'pred_masks': masks}, (16, 16), sizes,
          originals),
      input_signature=[tf.TensorSpec([1, 3, 3], tf.float32),
                       tf.TensorSpec([1, 3, 4, 4], tf.float32),
                       tf.TensorSpec([1, 2], tf.int32),
                       tf.TensorSpec([1, 2], tf.int32)],
      jit_compile=True)
  tf.saved_model.save(module, str(tmp_path / 'model'))
  loaded = tf.saved_model.load(str(tmp_path / 'model'))
  rng = np.random.default_rng(4)
  args = (rng.normal(size=[1, 3, 3]).astype(np.float32),
          rng.normal(size=[1, 3, 4, 4], scale=3.0).astype(np.float32),
          np.array([[16, 13]], np.int32), np.array([[20, 17]], np.int32))
  expected = module.serve(*args)
  got = loaded.serve(*args)
  for key, value in expected.items():
    np.testing.assert_array_equal(got[key].numpy(), value.numpy(), err_msg=key)


def test_bfloat16_inputs_are_computed_in_float32():
  layer = postprocessing.MaskFormerPostProcessor(
      [0], (8, 8), outputs=('semantic', 'panoptic'),
      object_mask_threshold=0.0)
  rng = np.random.default_rng(5)
  outputs = layer(
      {'pred_logits': tf.cast(rng.normal(size=[1, 3, 3]), tf.bfloat16),
       'pred_masks': tf.cast(rng.normal(size=[1, 3, 2, 2]), tf.bfloat16)},
      (8, 8), [[8, 8]], [[8, 8]])
  assert outputs['semantic'].dtype == tf.float32
  assert outputs['panoptic'].dtype == tf.int32
