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

"""Tests of the SavedModel export (tools/export_saved_model.py)."""
import json
import os
import subprocess
import sys
import types

import conftest
import numpy as np
from official.core import exp_factory
import pytest
import tensorflow as tf
import tf_keras
import yaml

from projects.maskformer import inference_setup
from projects.maskformer import registry_imports  # noqa: F401
from projects.maskformer.checkpoints import converter
from projects.maskformer.conversion import coco_panoptic
from projects.maskformer.dataloaders import decoders
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.dataloaders import segmentation_parser
from projects.maskformer.modeling import postprocessing
from projects.maskformer.serving import export_module

TOOL = conftest.REPO_ROOT / 'tools' / 'export_saved_model.py'
SAMPLE_IMAGES = ('000000142238.jpg', '000000439180.jpg')
MODEL_CANVAS = [64, 64]
OUTPUT_CANVAS = [640, 640]
# Fewer instance pairs than the default 100 keep the outputs small.
INSTANCE_TOP_K = 10
MASKFORMER = 'maskformer_synthetic_cpu'
MASK2FORMER = 'mask2former_synthetic_cpu'
# By experiment: its architecture's name and its panoptic painting rule
# (docs/mask2former_semantics.md: Mask2Former paints only the pixels where
# the winning mask is confident, MaskFormer every pixel a query wins).
ARCHITECTURE = {MASKFORMER: 'maskformer', MASK2FORMER: 'mask2former'}
PAINTS_CONFIDENT_PIXELS_ONLY = {MASKFORMER: False, MASK2FORMER: True}
# Tiny decoders of each architecture, 16 queries, 2 heads of width 16.
_TINY_MODELS = {
    MASKFORMER: {
        'pixel_decoder': {'conv_dim': 32, 'mask_dim': 32,
                          'transformer_encoder': {'num_layers': 1}},
        'transformer_predictor': {'hidden_dim': 32, 'num_heads': 2,
                                  'dim_feedforward': 64, 'num_queries': 16,
                                  'num_decoder_layers': 2},
    },
    MASK2FORMER: {
        'pixel_decoder': {'conv_dim': 32, 'mask_dim': 32, 'num_layers': 1,
                          'num_heads': 2, 'dim_feedforward': 64},
        'transformer_decoder': {'hidden_dim': 32, 'num_heads': 2,
                                'dim_feedforward': 64, 'num_queries': 16,
                                'dec_layers': 2},
    },
}
# The exports of export_with_the_tool and export_in_process, by sample
# folder, experiment and helper.
_EXPORTS = {}

# Loads the SavedModel in a fresh process with nothing but TensorFlow, PIL
# and numpy, runs both signatures on the images and saves every output.
_RELOAD_SCRIPT = """
import sys
import numpy as np
from PIL import Image
import tensorflow as tf

saved_model, output, *images = sys.argv[1:]
loaded = tf.saved_model.load(saved_model)
arrays = {}
for index, path in enumerate(images):
  pixels = np.array(Image.open(path).convert('RGB'))[np.newaxis]
  with open(path, 'rb') as f:
    encoded = f.read()
  for name, inputs in (('serving_default', tf.constant(pixels)),
                       ('serve_image_bytes', tf.constant([encoded]))):
    for key, value in loaded.signatures[name](inputs=inputs).items():
      arrays[f'{name}/{index}/{key}'] = value.numpy()
arrays['metadata_path'] = np.array(
    loaded.serving_metadata.asset_path.numpy().decode())
np.savez(output, **arrays)
"""


def run_tool(tool, *args, timeout=300):
  """Runs a tool of this checkout in a fresh process."""
  env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT))
  return subprocess.run([sys.executable, str(tool), *map(str, args)], env=env,
                        capture_output=True, text=True, timeout=timeout,
                        check=False)


def write_category_map(coco_sample_dir, folder):
  """The converter's category map of the 133 COCO panoptic categories."""
  path = folder / 'categories.json'
  with open(coco_sample_dir / 'panoptic_coco_categories.json') as f:
    categories = coco_panoptic.parse_categories(json.load(f),
                                                           str(path))
  path.write_text(coco_panoptic.category_map_json(categories))
  return path


def tiny_overrides(category_map_file, experiment=MASKFORMER):
  """A tiny 133-class model on a 64 x 64 canvas, results up to 640 x 640.

  Its random weights need the object threshold 0 (as the PyTorch fixtures)
  and the overlap threshold 0, so that the overlapping random masks still
  make several segments.
  """
  return {'task': {
      'model': {
          'num_classes': 133,
          'input_size': MODEL_CANVAS + [3],
          'backbone': {'torch_resnet': {'base_width': 8}},
          **_TINY_MODELS[experiment],
      },
      'validation_data': {'parser': {
          'output_size': MODEL_CANVAS, 'eval_short_edge': MODEL_CANVAS[0],
          'eval_max_size': MODEL_CANVAS[1],
          'groundtruth_padded_size': OUTPUT_CANVAS}},
      'evaluation': {'category_map_file': str(category_map_file),
                     'object_mask_threshold': 0.0, 'overlap_threshold': 0.0},
  }}


def tiny_experiment(category_map_file, experiment=MASKFORMER):
  params = exp_factory.get_exp_config(experiment)
  params.override(tiny_overrides(category_map_file, experiment),
                  is_strict=True)
  return params


def random_model(params):
  """Seeded random weights, mask embedding scaled so that masks differ."""
  tf_keras.utils.set_random_seed(0)
  model = inference_setup.build_model(params.task)
  for variable in model.variables:
    if 'mask_embed' in variable.name and 'kernel' in variable.name:
      variable.assign(variable * 8.0)
  return model


def write_experiment(folder, coco_sample_dir, experiment=MASKFORMER):
  """Category map, tiny experiment YAML, random model and its checkpoint."""
  category_map = write_category_map(coco_sample_dir, folder)
  config_file = folder / 'tiny.yaml'
  config_file.write_text(yaml.safe_dump(tiny_overrides(category_map,
                                                       experiment)))
  params = tiny_experiment(category_map, experiment)
  model = random_model(params)
  checkpoint = converter.write_model_checkpoint(
      model, folder / 'checkpoint' / 'ckpt')
  return types.SimpleNamespace(experiment=experiment, params=params,
                               model=model, config_file=config_file,
                               checkpoint=checkpoint)


def read_images(coco_sample_dir):
  return [decoders.decode_image(tf.io.read_file(
      str(coco_sample_dir / 'images' / name))).numpy()
          for name in SAMPLE_IMAGES]


def export_with_the_tool(tmp_path_factory, coco_sample_dir,
                         experiment=MASKFORMER):
  """A random tiny model, its checkpoint and the tool's SavedModel of it.

  Cached: this file and test_predict.py share one export per experiment and
  session.
  """
  key = (coco_sample_dir, experiment, 'tool')
  if key not in _EXPORTS:
    _EXPORTS[key] = _export(tmp_path_factory.mktemp('export'),
                            coco_sample_dir, experiment)
  return _EXPORTS[key]


def export_in_process(tmp_path_factory, coco_sample_dir, experiment_name):
  """The tool's export steps run in this process, the SavedModel loaded back.

  The steps of tools/export_saved_model.py without its TensorFlow start:
  `MaskFormerModule(params)` builds the experiment's model and
  `export_saved_model` restores the checkpoint into it and writes the
  SavedModel. Cached as `export_with_the_tool`.

  Returns:
    `write_experiment`'s namespace plus 'folder', 'saved_model', 'module'
    (the exported module), 'loaded' (the SavedModel loaded in this process)
    and 'serve' (its 'serving_default' signature).
  """
  key = (coco_sample_dir, experiment_name, 'in_process')
  if key not in _EXPORTS:
    folder = tmp_path_factory.mktemp('export')
    experiment = write_experiment(folder, coco_sample_dir, experiment_name)
    module = export_module.MaskFormerModule(experiment.params,
                                            instance_top_k=INSTANCE_TOP_K)
    saved_model = folder / 'saved_model'
    export_module.export_saved_model(
        module, str(saved_model),
        checkpoint_path=os.path.dirname(experiment.checkpoint))
    loaded = tf.saved_model.load(str(saved_model))
    _EXPORTS[key] = types.SimpleNamespace(
        folder=folder, saved_model=saved_model, module=module, loaded=loaded,
        serve=loaded.signatures['serving_default'], **vars(experiment))
  return _EXPORTS[key]


def _export(folder, coco_sample_dir, experiment_name):
  experiment = write_experiment(folder, coco_sample_dir, experiment_name)
  saved_model = folder / 'saved_model'
  result = run_tool(TOOL, f'--experiment={experiment_name}',
                    f'--config_file={experiment.config_file}',
                    f'--checkpoint={os.path.dirname(experiment.checkpoint)}',
                    f'--export_dir={saved_model}',
                    f'--instance_top_k={INSTANCE_TOP_K}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'wrote the SavedModel to {saved_model}' in result.stdout
  return types.SimpleNamespace(folder=folder, saved_model=saved_model,
                               **vars(experiment))


def in_process_module(experiment, **kwargs):
  """The serving module of the exported model, and its serving function."""
  module = export_module.MaskFormerModule(
      experiment.params, model=experiment.model,
      instance_top_k=INSTANCE_TOP_K, **kwargs)
  serve = module.get_inference_signatures(
      {'image_tensor': 'serving_default'})['serving_default']
  return module, serve


@pytest.fixture(scope='module')
def exported(tmp_path_factory, coco_sample_dir):
  """The tool's SavedModel and the same model in process."""
  experiment = export_with_the_tool(tmp_path_factory, coco_sample_dir)
  module, serve = in_process_module(experiment)
  return types.SimpleNamespace(module=module, serve=serve,
                               images=read_images(coco_sample_dir),
                               **vars(experiment))


def _numpy(outputs):
  return {k: v.numpy() for k, v in outputs.items()}


@pytest.fixture(scope='module')
def exported_mask2former(tmp_path_factory, coco_sample_dir):
  """A tiny Mask2Former's SavedModel; `serve` is the SavedModel's signature.

  One image keeps the test time small.
  """
  experiment = export_in_process(tmp_path_factory, coco_sample_dir,
                                 MASK2FORMER)
  return types.SimpleNamespace(images=read_images(coco_sample_dir)[:1],
                               **vars(experiment))


def test_reloaded_saved_model_equals_the_in_process_model(exported,
                                                          coco_sample_dir):
  """Both signatures, in a fresh process, on the two real COCO images."""
  output = exported.folder / 'reloaded.npz'
  paths = [coco_sample_dir / 'images' / name for name in SAMPLE_IMAGES]
  result = subprocess.run(
      [sys.executable, '-c', _RELOAD_SCRIPT, exported.saved_model, output,
       *paths], capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  reloaded = np.load(output)
  for index, image in enumerate(exported.images):
    expected = _numpy(exported.serve(inputs=image[np.newaxis]))
    # The random model's results are not trivial: several segments.
    assert expected['num_segments'][0] >= 2
    height, width = image.shape[:2]
    np.testing.assert_array_equal(expected['original_size'],
                                  [[height, width]])
    np.testing.assert_array_equal(expected['output_size'], [[height, width]])
    for signature in ('serving_default', 'serve_image_bytes'):
      prefix = f'{signature}/{index}/'
      keys = {k[len(prefix):] for k in reloaded.files if k.startswith(prefix)}
      assert keys == set(expected)
      for key, value in expected.items():
        np.testing.assert_array_equal(reloaded[prefix + key], value,
                                      err_msg=f'{prefix}{key}')
  with open(str(reloaded['metadata_path'])) as f:
    metadata = json.load(f)
  assert metadata == exported.module.metadata
  assert metadata['architecture'] == ARCHITECTURE[exported.experiment]


def test_outputs_of_the_sample_images_hold_together(exported):
  """Segment table, maps and category metadata agree with each other."""
  with open(exported.params.task.evaluation.category_map_file) as f:
    categories = json.load(f)['categories']
  metadata = exported.module.metadata
  assert [c['name'] for c in metadata['categories']] == [
      c['name'] for c in categories]
  kinds = set()
  for image in exported.images:
    outputs = _numpy(exported.serve(inputs=image[np.newaxis]))
    height, width = image.shape[:2]
    count = outputs['num_segments'][0]
    valid = outputs['segment_valid'][0]
    assert valid.tolist() == [True] * count + [False] * (len(valid) - count)
    ids = outputs['segment_id'][0][valid]
    assert ids.tolist() == list(range(1, count + 1))
    panoptic = outputs['panoptic'][0]
    assert set(np.unique(panoptic[:height, :width])) <= {0, *ids}
    assert not panoptic[height:].any() and not panoptic[:, width:].any()
    for slot in range(count):
      category = categories[outputs['segment_category'][0, slot]]
      assert outputs['segment_category_id'][0, slot] == category['category_id']
      assert outputs['segment_isthing'][0, slot] == bool(category['isthing'])
      kinds.add(bool(category['isthing']))
    assert (outputs['segment_category_id'][0][~valid] == -1).all()
    semantic = outputs['semantic_map'][0]
    assert (semantic[:height, :width] >= 0).all()
    assert (semantic[height:] == -1).all() and (semantic[:, width:] == -1).all()
    np.testing.assert_array_equal(
        outputs['instance_category_ids'][0],
        [categories[k]['category_id'] for k in outputs['instance_classes'][0]])
    np.testing.assert_array_equal(
        outputs['instance_valid'][0],
        [bool(categories[k]['isthing']) for k in outputs['instance_classes'][0]])
    assert not outputs['instance_masks'][0, :, height:].any()
  assert kinds == {True, False}


def _post_processor(exported, outputs, paint_confident_pixels_only):
  """The evaluation's inference of the exported model, built by hand."""
  evaluation = exported.params.task.evaluation
  return postprocessing.MaskFormerPostProcessor(
      thing_classes=[c['contiguous_id'] for c in exported.module.metadata[
          'categories'] if c['isthing']],
      canvas_size=OUTPUT_CANVAS, outputs=outputs,
      object_mask_threshold=evaluation.object_mask_threshold,
      overlap_threshold=evaluation.overlap_threshold,
      instance_top_k=INSTANCE_TOP_K,
      paint_confident_pixels_only=paint_confident_pixels_only)


@pytest.mark.parametrize('export', ['exported', 'exported_mask2former'])
def test_serving_equals_the_evaluation_path(export, request):
  """The input pipeline's evaluation parsing + the model + the inference.

  The inference uses the architecture's panoptic rule; the other rule gives
  a different panoptic map on some image, so the check tells them apart.
  The model runs padding-exact on each image's region, as the evaluation
  does (the experiments' validation data; tests/test_padding_exact.py
  checks that this equals the image alone). For Mask2Former the served
  results are the loaded SavedModel's (for MaskFormer the in-process
  module's, which the reload test compares with its SavedModel).
  """
  exported = request.getfixturevalue(export)
  data = exported.params.task.validation_data
  assert data.parser.padding_exact
  assert exported.module.metadata['padding_exact']
  parser_config = data.parser
  parser = segmentation_parser.Parser(
      output_size=parser_config.output_size,
      eval_short_edge=parser_config.eval_short_edge,
      eval_max_size=parser_config.eval_max_size,
      groundtruth_padded_size=parser_config.groundtruth_padded_size)
  rule = PAINTS_CONFIDENT_PIXELS_ONLY[exported.experiment]
  post_processor = _post_processor(exported, postprocessing.OUTPUT_KINDS, rule)
  other_rule = _post_processor(exported, ['panoptic'], not rule)

  @tf.function
  def evaluate(canvas_images, info):
    computed_sizes = maskformer_input.computed_sizes(
        {maskformer_input.IMAGE_INFO: info[tf.newaxis]}, data)
    outputs = exported.model(canvas_images, training=False,
                             valid_sizes=computed_sizes)
    arguments = (outputs, MODEL_CANVAS,
                 tf.cast(tf.round(info[1:2]), tf.int32),
                 tf.cast(tf.round(info[0:1]), tf.int32), computed_sizes)
    return post_processor(*arguments), other_rule(*arguments)['panoptic']

  rules_differ = False
  for image in exported.images:
    height, width = image.shape[:2]
    canvas_image, labels = parser.parse_fn(is_training=False)({
        'image': tf.constant(image),
        'segment_map': tf.fill([height, width], -1),
        'segment_classes': tf.zeros([0], tf.int32),
        'segment_is_crowd': tf.zeros([0], tf.bool),
        'image_id': tf.constant(0, tf.int64)})
    served_image, image_sizes, output_sizes = exported.module.preprocess(
        image[np.newaxis])
    np.testing.assert_array_equal(served_image[0], canvas_image)
    info = labels[maskformer_input.IMAGE_INFO].numpy()
    np.testing.assert_array_equal(image_sizes[0], info[1])
    np.testing.assert_array_equal(output_sizes[0], info[0])
    expected, other_panoptic = evaluate(canvas_image[tf.newaxis],
                                        labels[maskformer_input.IMAGE_INFO])
    expected = _numpy(expected)
    rules_differ |= not np.array_equal(other_panoptic, expected['panoptic'])
    served = _numpy(exported.serve(inputs=image[np.newaxis]))
    semantic = expected.pop('semantic')
    np.testing.assert_array_equal(
        served['semantic_map'],
        np.where(expected['valid_mask'], semantic.argmax(-1), -1))
    for key, value in expected.items():
      np.testing.assert_array_equal(served[key], value, err_msg=key)
  assert rules_differ


def test_mask2former_metadata_and_query_count(exported_mask2former):
  """The SavedModel records the architecture; Q is the decoder's."""
  metadata = export_module.read_metadata(exported_mask2former.loaded)
  assert metadata == exported_mask2former.module.metadata
  assert metadata['architecture'] == 'mask2former'
  params = exported_mask2former.params.replace()
  params.task.model.transformer_decoder.num_queries = 3
  with pytest.raises(ValueError, match=r'instance_top_k must be in \[1, 399\]'):
    export_module.MaskFormerModule(params, model=exported_mask2former.model,
                                   instance_top_k=400)  # 133 x 3 pairs.


def test_preprocessing_matches_the_pytorch_reference(exported, reference_dir):
  """The resize and padding of the reference fixtures (short 192, max 288)."""
  reference = np.load(reference_dir / 'r50w16_fpn' / 'reference.npz')
  params = exported.params.replace()
  params.task.validation_data.parser.override({
      'output_size': [192, 288], 'eval_short_edge': 192,
      'eval_max_size': 288})
  module = export_module.MaskFormerModule(params, model=exported.model)
  mean = np.array(maskformer_input.MEAN_RGB)
  std = np.array(maskformer_input.STDDEV_RGB)
  for index, image in enumerate(exported.images):
    canvas, image_sizes, output_sizes = (
        t.numpy() for t in module.preprocess(image[np.newaxis]))
    np.testing.assert_array_equal(image_sizes[0],
                                  reference['image_sizes'][index])
    np.testing.assert_array_equal(output_sizes[0],
                                  reference['original_sizes'][index])
    height, width = image_sizes[0]
    pixels = canvas[0, :height, :width] * std + mean
    expected = reference[f'image_{index}'].astype(np.float64)
    # The PIL-like bilinear resize matches PIL to one level.
    assert np.abs(pixels - expected).max() <= 1.0 + 1e-3
    reference_canvas = reference['padded_normalized_images'][index].transpose(
        1, 2, 0)
    same = np.abs(pixels - expected) < 1e-3
    assert np.abs(canvas[0][:height, :width][same] -
                  reference_canvas[:height, :width][same]).max() <= 1e-5
    assert not canvas[0, height:].any() and not canvas[0, :, width:].any()
    assert not reference_canvas[height:].any()


def test_output_size_rule_by_hand(exported):
  """Larger images than the output canvas keep their aspect ratio."""
  for (height, width), resized, output_size in (
      ((1000, 1500), [43, 64], [427, 640]),  # 64 / 1500 and 640 / 1500
      ((3, 5), [38, 64], [3, 5]),  # short 3 -> 64 is too wide: 64 / 5
      ((700, 300), [64, 27], [640, 274])):
    image = np.random.default_rng(height).integers(
        0, 256, size=(1, height, width, 3), dtype=np.uint8)
    _, image_sizes, _ = exported.module.preprocess(image)
    np.testing.assert_array_equal(image_sizes[0], resized)
    outputs = _numpy(exported.serve(inputs=image))
    np.testing.assert_array_equal(outputs['original_size'][0], [height, width])
    np.testing.assert_array_equal(outputs['output_size'][0], output_size)
    assert outputs['valid_mask'].sum() == np.prod(output_size)
    assert outputs['valid_mask'][0, :output_size[0], :output_size[1]].all()
    assert not outputs['panoptic'][0][~outputs['valid_mask'][0]].any()


def test_export_refuses_an_existing_saved_model(exported):
  with pytest.raises(ValueError, match='already holds a SavedModel'):
    export_module.export_saved_model(exported.module,
                                     str(exported.saved_model))


def test_unusable_configurations_fail_clearly(exported):
  params = exported.params.replace()
  params.task.evaluation.category_map_file = ''
  with pytest.raises(ValueError, match='category_map_file'):
    export_module.MaskFormerModule(params, model=exported.model)
  module = export_module.MaskFormerModule(params, model=exported.model,
                                          outputs=['semantic'])
  assert module.metadata['categories'][5] == {
      'contiguous_id': 5, 'category_id': 5, 'name': 'class 5',
      'isthing': False, 'color': None}
  params.task.validation_data.parser.groundtruth_padded_size = None
  with pytest.raises(ValueError, match='groundtruth_padded_size'):
    export_module.MaskFormerModule(params, model=exported.model)
  with pytest.raises(ValueError, match=r'instance_top_k must be in \[1, 2128\]'):
    export_module.MaskFormerModule(exported.params, model=exported.model,
                                   instance_top_k=5000)
  params = exported.params.replace()
  params.task.validation_data.parser.size_divisibility = 48
  with pytest.raises(ValueError, match='must be a multiple of it'):
    export_module.MaskFormerModule(params, model=exported.model)


def test_checkpoint_resolution(exported, tmp_path):
  folder = os.path.dirname(exported.checkpoint)
  assert inference_setup.resolve_checkpoint(folder) == exported.checkpoint
  assert inference_setup.resolve_checkpoint(
      exported.checkpoint) == exported.checkpoint
  with pytest.raises(ValueError, match=f'no checkpoint in the folder {tmp_path}'):
    inference_setup.resolve_checkpoint(str(tmp_path))
  absent = str(tmp_path / 'ckpt-7')
  with pytest.raises(ValueError, match=f'checkpoint {absent} does not exist'):
    inference_setup.resolve_checkpoint(absent)


def test_tool_help_names_every_flag():
  result = run_tool(TOOL, '--help')
  for flag in ('experiment', 'config_file', 'params_override', 'checkpoint',
               'export_dir', 'outputs', 'instance_top_k'):
    assert f'--{flag}' in result.stdout
