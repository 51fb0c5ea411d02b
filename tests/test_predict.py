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

"""Tests of tools/predict.py and the prediction library behind it."""
import json
import os
import types

import conftest
import numpy as np
from PIL import Image
import pytest
import test_export_saved_model as export_test

from projects.maskformer.evaluation import panoptic_io
from projects.maskformer.serving import prediction

TOOL = conftest.REPO_ROOT / 'tools' / 'predict.py'
STEMS = [os.path.splitext(name)[0] for name in export_test.SAMPLE_IMAGES]


@pytest.fixture(scope='module')
def model_files(tmp_path_factory, coco_sample_dir):
  """A random tiny model as a checkpoint and as the export tool's SavedModel."""
  return export_test.export_with_the_tool(tmp_path_factory, coco_sample_dir)


@pytest.fixture(scope='module')
def saved_model_run(model_files, coco_sample_dir):
  """tools/predict.py with the SavedModel on the sample images.

  An undecodable file between the two images is reported at the end; both
  images are predicted.
  """
  output_dir = model_files.folder / 'from_saved_model'
  broken = model_files.folder / 'broken.jpg'
  broken.write_text('not an image')
  first, second = (coco_sample_dir / 'images' / name
                   for name in export_test.SAMPLE_IMAGES)
  result = export_test.run_tool(
      TOOL, f'--saved_model={model_files.saved_model}', f'--input={first}',
      f'--input={broken}', f'--input={second}', f'--output_dir={output_dir}')
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  assert result.returncode == 1, result.stderr[-3000:]
  assert result.stderr.strip().splitlines() == [
      f'{broken}: skipped, the file is neither a JPEG nor a PNG',
      f'error: 1 of the input images could not be predicted: {broken} (the '
      'file is neither a JPEG nor a PNG)']
  assert not list(output_dir.glob('broken*'))
  return types.SimpleNamespace(output_dir=output_dir, stdout=result.stdout)


def _record(output_dir, stem):
  with open(output_dir / f'{stem}.json') as f:
    return json.load(f)


def _category_names(coco_sample_dir):
  with open(coco_sample_dir / 'panoptic_coco_categories.json') as f:
    return {c['id']: c['name'] for c in json.load(f)}


def _check_written_files(output_dir, stem, image, outputs, names):
  """The files written for one image agree with the model and the image.

  Args:
    output_dir: the tool's --output_dir.
    stem: the image file's name stem.
    image: the uint8 [H, W, 3] image.
    outputs: the serving outputs of the image (numpy).
    names: category id -> name (the COCO categories).
  """
  record = _record(output_dir, stem)
  height, width = image.shape[:2]
  assert (record['height'], record['width']) == (height, width)
  assert record['results_size'] == [height, width]
  count = outputs['num_segments'][0]
  expected = [(int(outputs['segment_id'][0, s]),
               int(outputs['segment_category'][0, s]),
               int(outputs['segment_category_id'][0, s]),
               bool(outputs['segment_isthing'][0, s]),
               float(outputs['segment_score'][0, s])) for s in range(count)]
  segments = record['segments']
  assert [(s['id'], s['class'], s['category_id'], s['isthing'], s['score'])
          for s in segments] == expected
  assert [s['name'] for s in segments] == [
      names[s['category_id']] for s in segments]
  ids = panoptic_io.read_panoptic_png(str(output_dir / record['panoptic_png']))
  np.testing.assert_array_equal(ids, outputs['panoptic'][0, :height, :width])
  counts = np.bincount(ids.ravel(), minlength=count + 1)
  assert [s['area'] for s in segments] == counts[1:count + 1].tolist()
  overlay = np.array(Image.open(output_dir / record['overlay_png']))
  scale = max(1, int(np.ceil(384 / min(height, width))))
  assert overlay.shape == (height * scale, width * scale, 3)
  big_ids = np.repeat(np.repeat(ids, scale, 0), scale, 1)
  big_image = np.repeat(np.repeat(image, scale, 0), scale, 1)
  # Segment colours cover the segments; void stays the image (its outlines
  # and labels aside).
  inside = big_ids > 0
  changed = np.any(overlay != big_image, axis=-1)
  assert changed[inside].mean() > 0.9
  if not inside.all():
    assert changed[~inside].mean() < 0.2


def _numpy(outputs):
  return {k: v.numpy() for k, v in outputs.items()}


def test_saved_model_predictions_of_the_sample_images(
    model_files, saved_model_run, coco_sample_dir):
  """Files written per image agree with the model, the map and the image."""
  names = _category_names(coco_sample_dir)
  images = export_test.read_images(coco_sample_dir)
  _, serve = export_test.in_process_module(model_files)
  output_dir = saved_model_run.output_dir
  for stem, image in zip(STEMS, images):
    _check_written_files(output_dir, stem, image,
                         _numpy(serve(inputs=image[np.newaxis])), names)
  assert f'{coco_sample_dir / "images" / export_test.SAMPLE_IMAGES[0]}: ' in (
      saved_model_run.stdout)
  assert f'wrote predictions of 2 images to {output_dir}' in (
      saved_model_run.stdout)


def test_mask2former_saved_model_predictions(tmp_path_factory,
                                             coco_sample_dir, tmp_path):
  """tools/predict.py with a tiny Mask2Former's SavedModel on one image."""
  model_files = export_test.export_in_process(
      tmp_path_factory, coco_sample_dir, export_test.MASK2FORMER)
  path = coco_sample_dir / 'images' / export_test.SAMPLE_IMAGES[0]
  result = export_test.run_tool(
      TOOL, f'--saved_model={model_files.saved_model}', f'--input={path}',
      f'--output_dir={tmp_path}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'wrote predictions of 1 images to {tmp_path}' in result.stdout
  image = export_test.read_images(coco_sample_dir)[0]
  outputs = _numpy(model_files.serve(inputs=image[np.newaxis]))
  # The random model's results are not trivial: several segments.
  assert outputs['num_segments'][0] >= 2
  _check_written_files(tmp_path, STEMS[0], image, outputs,
                       _category_names(coco_sample_dir))


def test_checkpoint_predictions_equal_saved_model_predictions(
    model_files, saved_model_run, coco_sample_dir, tmp_path):
  predictor = prediction.Predictor.from_checkpoint(
      model_files.params, os.path.dirname(model_files.checkpoint))
  image = coco_sample_dir / 'images' / export_test.SAMPLE_IMAGES[1]
  record = predictor.write(str(image), str(tmp_path))
  expected = _record(saved_model_run.output_dir, STEMS[1])
  assert record == expected
  np.testing.assert_array_equal(
      panoptic_io.read_panoptic_png(str(tmp_path / record['panoptic_png'])),
      panoptic_io.read_panoptic_png(
          str(saved_model_run.output_dir / expected['panoptic_png'])))


def test_semantic_only_model_on_an_image_larger_than_the_canvas(
    model_files, coco_sample_dir, tmp_path):
  """One stuff segment per class; reduced-size results are upsampled."""
  module, serve = export_test.in_process_module(model_files,
                                                outputs=['semantic'])
  predictor = prediction.Predictor(serve, module.metadata)
  sample = export_test.read_images(coco_sample_dir)[0]
  large = np.array(Image.fromarray(sample).resize((1000, 700)))
  path = tmp_path / 'large.png'
  Image.fromarray(large).save(path)
  record = predictor.write(str(path), str(tmp_path))
  assert (record['height'], record['width']) == (700, 1000)
  assert record['results_size'] == [448, 640]  # 640 / 1000 = 0.64
  outputs = predictor.predict(large)
  classes = outputs['semantic_map'][0, :448, :640]
  # Upsampled with PIL's nearest-neighbour rule (ids < 256 here).
  expected_ids = np.array(Image.fromarray((classes + 1).astype(np.uint8)).resize(
      (1000, 700), Image.NEAREST)).astype(np.int64)
  ids = panoptic_io.read_panoptic_png(str(tmp_path / record['panoptic_png']))
  np.testing.assert_array_equal(ids, expected_ids)
  categories = module.metadata['categories']
  assert [(s['id'], s['class'], s['isthing'], s['name'], s['area'])
          for s in record['segments']] == [
              (k + 1, k, False, categories[k]['name'],
               int((expected_ids == k + 1).sum()))
              for k in np.unique(classes)]
  assert all('score' not in s for s in record['segments'])
  assert np.array(Image.open(tmp_path / record['overlay_png'])).shape == (
      700, 1000, 3)


def test_find_images(tmp_path):
  first, second = tmp_path / 'a', tmp_path / 'b'
  first.mkdir()
  second.mkdir()
  for path in (first / 'x.JPG', first / 'y.png', first / 'notes.txt',
               second / 'x.png'):
    path.write_bytes(b'')
  assert prediction.find_images([str(first)]) == [
      str(first / 'x.JPG'), str(first / 'y.png')]
  with pytest.raises(ValueError, match='have the same name stem'):
    prediction.find_images([str(first), str(second / 'x.png')])
  with pytest.raises(ValueError, match=f'folder {tmp_path} holds no'):
    prediction.find_images([str(tmp_path)])
  with pytest.raises(ValueError, match=f'input {tmp_path / "z.jpg"} does not'):
    prediction.find_images([str(first), str(tmp_path / 'z.jpg')])


def test_bad_inputs_fail_clearly(model_files, tmp_path):
  broken = tmp_path / 'broken.jpg'
  broken.write_text('not an image')
  with pytest.raises(ValueError,
                     match=f'cannot decode {broken} as a JPEG or PNG image'):
    prediction.read_image(str(broken))
  with pytest.raises(ValueError, match=f'{tmp_path} is not a SavedModel'):
    prediction.Predictor.from_saved_model(str(tmp_path))
  missing = tmp_path / 'ckpt-3'
  result = export_test.run_tool(
      TOOL, '--experiment=maskformer_synthetic_cpu',
      f'--config_file={model_files.config_file}', f'--checkpoint={missing}',
      f'--input={broken}', f'--output_dir={tmp_path / "out"}')
  conftest.assert_one_line_error(
      result, f'error: checkpoint {missing} does not exist')
  assert not (tmp_path / 'out').exists()


def test_tool_help_names_every_flag():
  result = export_test.run_tool(TOOL, '--help')
  for flag in ('input', 'output_dir', 'saved_model', 'checkpoint',
               'experiment', 'config_file', 'params_override'):
    assert f'--{flag}' in result.stdout
