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

"""Padding-exact MaskFormer: an image on a larger canvas, computed on its own
region, gives what the image alone gives (and what the original gave)."""
import model_fixture_runs
import numpy as np
from official.core import exp_factory
from official.core import task_factory
import pytest
import synthetic_data
import tensorflow as tf
import tf_keras

from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.configs import losses as losses_cfg
from projects.maskformer.dataloaders import input_pipeline
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.losses import criterion as criterion_lib
from projects.maskformer.modeling import layers
from projects.maskformer.modeling import postprocessing
from projects.maskformer.modeling import resnet
from projects.maskformer.ops import valid_region
from projects.maskformer.reference import canvas_checks
from projects.maskformer.reference import model_checks
from projects.maskformer.tasks import maskformer_segmentation

# Larger than the fixtures' 192 x 288 input; the second is odd on both axes.
_CANVASES = ((256, 352), (203, 301))


def _pytorch_output_size(size, kernel, stride, pad):
  return (size + 2 * pad - kernel) // stride + 1


@pytest.mark.parametrize('size', range(1, 70))
def test_valid_sizes_follow_pytorch_output_sizes(size):
  """ceil(n / stride) is what the original's stride-2 layers give n pixels."""
  stem = _pytorch_output_size(size, 7, 2, 3)
  pooled = _pytorch_output_size(stem, 3, 2, 1)
  by_3x3 = [pooled]
  by_1x1 = [pooled]
  for _ in range(3):
    by_3x3.append(_pytorch_output_size(by_3x3[-1], 3, 2, 1))
    by_1x1.append(_pytorch_output_size(by_1x1[-1], 1, 2, 0))
  strides = (2, 4, 8, 16, 32)
  computed = [int(valid_region.sizes_at_stride(tf.constant([[size, size]]),
                                               s)[0, 0]) for s in strides]
  assert computed == [stem] + by_3x3
  assert by_1x1 == by_3x3


def test_group_norm_of_the_valid_region_is_group_norm_of_the_crop():
  """Hand-written GroupNorm (biased variance, eps 1e-5) of the crop alone."""
  rng = np.random.default_rng(0)
  canvas = rng.normal(size=(2, 9, 11, 8)).astype(np.float32) * 3.0 + 1.0
  sizes = np.array([[5, 7], [9, 4]], np.int32)
  norm = layers.GroupNorm(4)
  norm.build(canvas.shape)
  norm.gamma.assign(rng.uniform(0.5, 1.5, 8))
  norm.beta.assign(rng.normal(size=8))
  ours = norm(tf.constant(canvas), valid_sizes=tf.constant(sizes)).numpy()
  for b, (h, w) in enumerate(sizes):
    crop = canvas[b, :h, :w].astype(np.float64).reshape(h, w, 4, 2)
    mean = crop.mean(axis=(0, 1, 3), keepdims=True)
    variance = crop.var(axis=(0, 1, 3), keepdims=True)
    expected = ((crop - mean) / np.sqrt(variance + 1e-5)).reshape(h, w, 8)
    expected = expected * norm.gamma.numpy() + norm.beta.numpy()
    np.testing.assert_allclose(ours[b, :h, :w], expected, atol=1e-5)


def _randomized_backbone():
  """A small TorchResNet whose FrozenBN offsets are far from zero."""
  tf_keras.utils.set_random_seed(1)
  backbone = resnet.TorchResNet(depths=(1, 1, 1, 1), base_width=8)
  rng = np.random.default_rng(1)
  for variable in backbone.weights:
    if 'norm' not in variable.name:
      continue
    positive = 'variance' in variable.name or 'gamma' in variable.name
    variable.assign(rng.uniform(0.5, 1.5, variable.shape) if positive else
                    rng.normal(size=variable.shape))
  return backbone


def test_backbone_on_a_canvas_equals_the_image_alone():
  backbone = _randomized_backbone()
  image = tf.random.stateless_normal([1, 75, 101, 3], seed=[0, 1])
  canvas = tf.pad(image, [[0, 0], [0, 53], [0, 27], [0, 0]])
  alone = backbone(image)
  exact = backbone(canvas, valid_sizes=tf.constant([[75, 101]]))
  plain = backbone(canvas)
  for level in ('2', '3', '4', '5'):
    expected = alone[level].numpy()
    height, width = expected.shape[1:3]
    tolerance = 1e-5 * max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(exact[level][:, :height, :width], expected,
                               rtol=0, atol=tolerance)
    # Without valid sizes the padding reaches the image's border pixels.
    assert np.abs(plain[level][:, :height, :width] - expected).max() > 0.1


def test_only_torch_resnet_computes_padding_exactly():
  other = tf_keras.Sequential([tf_keras.layers.Conv2D(4, 3)])
  with pytest.raises(ValueError, match='needs the torch_resnet backbone'):
    resnet.backbone_features(other, tf.zeros([1, 32, 32, 3]), False,
                             tf.constant([[16, 16]]))


@pytest.fixture(scope='module', params=model_fixture_runs.MODEL_FIXTURES)
def fixture_run(request, reference_dir):
  return model_fixture_runs.model_run(str(reference_dir / request.param))


@pytest.mark.parametrize('canvas', _CANVASES)
def test_fixture_images_on_a_canvas(fixture_run, canvas):
  """Each image alone and both together on the canvas, cropped, equal the
  image run at its own size; image 0, which the original computed unpadded,
  also equals the reference by the folder's criteria.

  Margins measured 2026-12-05 (Intel Xeon, oneDNN on, 256 x 352): own size
  0.022 (+6 Enc) and 0.14 (FPN) of 1e-4 * max(1, max|own|); the reference
  0.057 and 0.41 of the folder's bound; the batch 0.044 and 0.16. FPN with
  oneDNN off (2 threads or 1): 0.086, 0.23 and 0.086; 1 thread with oneDNN
  on changes nothing (test_verify_reference runs these settings).
  """
  results = canvas_checks.maskformer_canvas_checks(fixture_run, canvas)
  names = {r.name for r in results}
  images = model_checks.model_inputs(fixture_run.fixture)
  outputs = canvas_checks.maskformer_outputs(fixture_run.model)(images, None)
  stored = fixture_run.fixture.arrays
  assert {'backbone_res2', 'mask_features', 'pred_masks',
          'aux4_pred_logits'} <= set(outputs) & set(stored)
  for name in outputs:
    assert {f'canvas.image0.{name}', f'canvas.image1.{name}',
            f'canvas.batch.image0.{name}'} <= names
    assert (f'canvas.image0.{name}.vs_reference' in names) == (
        name in stored)
    # Image 1 (162 x 288) was padded in the reference batch.
    assert f'canvas.image1.{name}.vs_reference' not in names
  failing = [r for r in results if not r.passed]
  assert not failing, failing


def test_canvas_smaller_than_the_input_is_refused(fixture_run):
  with pytest.raises(ValueError, match='at least the folder'):
    canvas_checks.maskformer_canvas_checks(fixture_run, (128, 352))


def _canvas_inputs(run, canvas):
  images = model_checks.model_inputs(run.fixture)
  batch = np.zeros((len(images),) + canvas + (3,), np.float32)
  batch[:, :images.shape[1], :images.shape[2]] = images
  return tf.constant(batch), tf.constant(
      run.fixture.arrays['image_sizes'].astype(np.int32))


def test_padding_exact_forward_compiles_with_xla(reference_dir):
  run = model_fixture_runs.model_run(str(reference_dir / 'r50w16_enc'))
  images, sizes = _canvas_inputs(run, (224, 320))
  model = run.model
  compiled = tf.function(
      lambda x, s: model(x, training=False, valid_sizes=s)['pred_masks'],
      jit_compile=True)
  eager = model(images, training=False, valid_sizes=sizes)['pred_masks']
  np.testing.assert_allclose(
      compiled(images, sizes), eager, rtol=0,
      atol=1e-4 * max(1.0, float(tf.reduce_max(tf.abs(eager)))))


def test_whole_canvas_as_the_valid_region_is_the_plain_model(fixture_run):
  images = model_checks.model_inputs(fixture_run.fixture)
  full = np.array([images.shape[1:3]] * len(images), np.int32)
  run = canvas_checks.maskformer_outputs(fixture_run.model)
  exact = run(images, full)
  for name, (expected, _) in run(images, None).items():
    np.testing.assert_allclose(
        exact[name][0], expected, rtol=0,
        atol=1e-5 * max(1.0, np.abs(expected).max()), err_msg=name)


def test_post_processor_upsamples_each_image_from_its_own_region(
    reference_dir):
  """Semantic scores at the original size: batched on the canvas with each
  image's computed size equal the image alone at its own size."""
  run = model_fixture_runs.model_run(str(reference_dir / 'r50w16_enc'))
  fixture = run.fixture
  canvas = (256, 352)
  images, sizes = _canvas_inputs(run, canvas)
  original_sizes = tf.constant(fixture.arrays['original_sizes'], tf.int32)
  output_canvas = [int(s) for s in np.max(fixture.arrays['original_sizes'],
                                          axis=0)]
  post_processor = postprocessing.MaskFormerPostProcessor(
      thing_classes=[], canvas_size=output_canvas, outputs=('semantic',),
      semantic_postprocess_before_inference=True)
  batched = post_processor(
      run.model(images, training=False, valid_sizes=sizes), canvas, sizes,
      original_sizes, computed_sizes=sizes)['semantic'].numpy()
  for i, (height, width) in enumerate(sizes.numpy()):
    image = images[i:i + 1, :height, :width]
    alone = post_processor(run.model(image, training=False), (height, width),
                           sizes[i:i + 1], original_sizes[i:i + 1]
                           )['semantic'].numpy()
    np.testing.assert_allclose(batched[i:i + 1], alone, rtol=0, atol=1e-5)


def _validation_data(padding_exact, size_divisibility=0,
                     output_size=(64, 96)):
  data = data_cfg.synthetic_cpu_data('', False, 2)
  data.parser.output_size = list(output_size)
  data.parser.padding_exact = padding_exact
  data.parser.size_divisibility = size_divisibility
  return data


def test_computed_sizes_round_the_image_up_to_size_divisibility():
  labels = {maskformer_input.IMAGE_INFO: tf.constant(
      [[[480, 640], [43, 64], [1, 1], [0, 0]],
       [[427, 640], [64, 96], [1, 1], [0, 0]]], tf.float32)}
  assert maskformer_input.computed_sizes(labels, _validation_data(False)) is None
  np.testing.assert_array_equal(
      maskformer_input.computed_sizes(labels, _validation_data(True)),
      [[43, 64], [64, 96]])
  np.testing.assert_array_equal(
      maskformer_input.computed_sizes(labels, _validation_data(True, 32)),
      [[64, 64], [64, 96]])


def test_padding_exact_settings_are_checked():
  input_pipeline.check_padding_exact(_validation_data(True, 32))
  with pytest.raises(ValueError, match='must be a multiple of it'):
    input_pipeline.check_padding_exact(
        _validation_data(True, 32, output_size=(64, 100)))



def _image_and_canvas_losses(image_sizes, canvas, seed):
  """The criterion on each image alone, and on all of them on a canvas.

  Random mask logits and segment maps (6 segments, some pixels void); on the
  canvas the predictions outside each image's region are large random values
  and the segment map is void there.

  Returns:
    (alone, on_canvas): lists (one per image) of (terms, matchings, gradient
    of the weighted total with respect to the final mask logits, cropped).
  """
  criterion = criterion_lib.MaskFormerCriterion(losses_cfg.Losses(),
                                                jit_compile=True)
  rng = np.random.default_rng(seed)
  queries, classes, slots = 8, 5, 6
  stride = 4
  prediction_canvas = (canvas[0] // stride, canvas[1] // stride)
  layers_logits = rng.normal(size=(2, len(image_sizes), queries, classes + 1))
  masks = rng.normal(size=(2, len(image_sizes), queries) + prediction_canvas
                     ) * 3.0
  segment_map = np.full((len(image_sizes),) + tuple(canvas), -1, np.int32)
  valid = np.zeros((len(image_sizes), slots), bool)
  for b, (height, width) in enumerate(image_sizes):
    segment_map[b, :height, :width] = rng.integers(-1, slots,
                                                   size=(height, width))
    valid[b] = [np.any(segment_map[b] == t) for t in range(slots)]
  target_classes = rng.integers(0, classes, size=(len(image_sizes), slots))

  def run(logits, mask_logits, segments, valid_slots, target_cls, sizes):
    targets = {maskformer_input.SEGMENT_MAP: tf.constant(segments),
               'classes': tf.constant(target_cls, tf.int32),
               'valid': tf.constant(valid_slots)}
    if sizes is not None:
      targets[maskformer_input.VALID_SIZES] = tf.constant(sizes, tf.int32)
    mask_logits = tf.constant(mask_logits, tf.float32)
    with tf.GradientTape() as tape:
      tape.watch(mask_logits)
      outputs = {'pred_logits': tf.constant(logits[0], tf.float32),
                 'pred_masks': mask_logits[0],
                 'aux_outputs': [{'pred_logits': tf.constant(logits[1],
                                                             tf.float32),
                                  'pred_masks': mask_logits[1]}]}
      matchings = criterion.match(outputs, targets)
      total, terms = criterion(outputs, targets, matchings)
    return (terms, matchings.numpy(),
            tape.gradient(total, mask_logits).numpy())

  alone = []
  for b, (height, width) in enumerate(image_sizes):
    region = (-(-height // stride), -(-width // stride))
    alone.append(run(layers_logits[:, b:b + 1],
                     masks[:, b:b + 1, :, :region[0], :region[1]],
                     segment_map[b:b + 1, :height, :width],
                     valid[b:b + 1], target_classes[b:b + 1], None))
  on_canvas = []
  for b in range(len(image_sizes)):
    on_canvas.append(run(layers_logits[:, b:b + 1], masks[:, b:b + 1],
                         segment_map[b:b + 1], valid[b:b + 1],
                         target_classes[b:b + 1], image_sizes[b:b + 1]))
  return alone, on_canvas


@pytest.mark.parametrize('seed', [0, 1])
def test_criterion_on_a_canvas_equals_the_image_alone(seed):
  """Matching, every loss term and the gradient of the mask logits, with
  per-image valid sizes (odd sizes: the target downsampling and the
  upsampling of the predictions follow each image's own sizes)."""
  image_sizes = np.array([[37, 50], [45, 29]])
  alone, on_canvas = _image_and_canvas_losses(image_sizes, (48, 64), seed)
  for (terms, matchings, gradient), (canvas_terms, canvas_matchings,
                                     canvas_gradient) in zip(alone, on_canvas):
    np.testing.assert_array_equal(canvas_matchings, matchings)
    for name, value in terms.items():
      np.testing.assert_allclose(canvas_terms[name], value, rtol=1e-5,
                                 err_msg=name)
    region = gradient.shape[-2:]
    np.testing.assert_allclose(
        canvas_gradient[..., :region[0], :region[1]], gradient, rtol=0,
        atol=1e-5 * np.abs(gradient).max())
    outside = np.ones(canvas_gradient.shape[-2:], bool)
    outside[:region[0], :region[1]] = False
    assert not np.any(canvas_gradient[..., outside])


def _tiny_task(train_padding_exact, canvas):
  params = exp_factory.get_exp_config(synthetic_data.EXPERIMENT)
  params.task.model.override(dict(synthetic_data.TINY_MODEL,
                                  input_size=[None, None, 3]))
  params.task.train_data.parser.output_size = list(canvas)
  params.task.train_data.parser.max_segments = 4
  params.task.train_data.parser.padding_exact = train_padding_exact
  return maskformer_segmentation.MaskFormerSegmentationTask(params.task)


def _tiny_batch(image_size, canvas, seed):
  """One uint8 image with a 4-slot segment map at the top-left of a canvas."""
  rng = np.random.default_rng(seed)
  height, width = image_size
  images = np.zeros((1,) + tuple(canvas) + (3,), np.uint8)
  images[0, :height, :width] = rng.integers(0, 256, size=(height, width, 3))
  segment_map = np.full((1,) + tuple(canvas), -1, np.int32)
  segment_map[0, :height, :width] = rng.integers(-1, 4, size=(height, width))
  pixel_mask = np.zeros((1,) + tuple(canvas), bool)
  pixel_mask[0, :height, :width] = True
  labels = {
      maskformer_input.SEGMENT_MAP: segment_map,
      maskformer_input.PIXEL_MASK: pixel_mask,
      maskformer_input.SEGMENT_CLASSES: np.array([[0, 3, 1, 5]], np.int32),
      maskformer_input.SEGMENT_VALID: np.ones((1, 4), bool),
      maskformer_input.SEGMENT_IS_CROWD: np.zeros((1, 4), bool),
      maskformer_input.IMAGE_INFO: np.array(
          [[[height, width], [height, width], [1, 1], [0, 0]]], np.float32),
  }
  return tf.constant(images), {k: tf.constant(v) for k, v in labels.items()}


def test_train_losses_on_a_canvas_equal_the_image_alone():
  """The task's losses and gradients with padding-exact training data (the
  MaskFormer COCO recipe's setting), compiled with XLA, equal the image
  alone's (eager)."""
  image_size, canvas = (45, 53), (64, 96)
  exact_task = _tiny_task(True, canvas)
  alone_task = _tiny_task(False, image_size)
  tf_keras.utils.set_random_seed(0)
  model = exact_task.build_model()
  results = []

  def losses_of(task):
    params = task.task_config.train_data

    def losses(images, labels):
      with tf.GradientTape() as tape:
        _, total, terms = task._losses(  # pylint: disable=protected-access
            images, labels, model, training=False,
            step=tf.constant(0, tf.int64), params=params)
      return total, terms, tape.gradient(total, model.trainable_variables)

    return losses

  for task, size, compiled in ((alone_task, image_size, False),
                               (exact_task, canvas, True)):
    params = task.task_config.train_data
    losses = losses_of(task)
    if compiled:
      losses = tf.function(losses, jit_compile=True)
    total, terms, gradients = losses(*maskformer_input.prepare_model_inputs(
        *_tiny_batch(image_size, size, seed=3), params))
    results.append((float(total), {k: float(v) for k, v in terms.items()},
                    gradients))
  (total, terms, gradients), (canvas_total, canvas_terms,
                              canvas_gradients) = results
  assert canvas_total == pytest.approx(total, rel=1e-5)
  assert canvas_terms == pytest.approx(terms, rel=1e-5)
  for variable, expected, ours in zip(model.trainable_variables, gradients,
                                      canvas_gradients):
    expected = tf.convert_to_tensor(expected).numpy()
    np.testing.assert_allclose(
        tf.convert_to_tensor(ours), expected, rtol=0, err_msg=variable.name,
        atol=1e-4 * max(1e-3, np.abs(expected).max()))


def test_mask2former_refuses_padding_exact_training():
  params = exp_factory.get_exp_config(synthetic_data.MASK2FORMER_EXPERIMENT)
  params.task.train_data.parser.padding_exact = True
  task = task_factory.get_task(params.task)
  with pytest.raises(ValueError, match='point-sampled losses'):
    task.build_inputs(params.task.train_data)
