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

"""tools/canvas_padding.py: hand-computed padding, the pipeline's sizes, errors.

Every run of the tool starts TensorFlow, so the module's runs start together,
two processes at a time, in one fixture. The hand-computed cases use the
deterministic 'none' augmentation (the evaluation resize: short edge 800,
long edge at most 1333), so every content size is known in advance.
"""
import concurrent.futures
import json
import subprocess
import sys

import conftest
from official.core import exp_factory
import pytest
import tensorflow as tf

from projects.maskformer import registry_imports  # noqa: F401
from projects.maskformer.dataloaders import augmentation

TOOL = conftest.REPO_ROOT / 'tools' / 'canvas_padding.py'
RECIPE = 'maskformer_coco_panoptic_r50'
NO_AUGMENTATION = (
    '--params_override=task.train_data.parser.augmentation.type=none')
# (height, width) of the originals, and their evaluation resizes by hand:
# short edge to 800; 200x1000 -> 800x4000, long edge over 1333, times
# 1333 / 4000 -> 266.67x1333 -> 267x1333.
ORIGINALS = [(400, 600), (600, 400), (500, 500), (200, 1000)]
CONTENT = [(800, 1200), (1200, 800), (800, 800), (267, 1333)]
# 800x800 fits both 1,118,208-pixel canvases: the first listed takes it;
# 267x1333 goes to the smallest canvas that holds it, 320x1344.
CANVASES = '832x1344,1344x832,320x1344'
ASSIGNED = [(832, 1344), (1344, 832), (832, 1344), (320, 1344)]
BASELINE = (1344, 1344)


def _run(*args):
  return subprocess.run([sys.executable, str(TOOL), '--noprogress', *args],
                        capture_output=True, text=True, timeout=300,
                        check=False)


def _area(size):
  return size[0] * size[1]


@pytest.fixture(scope='module')
def runs(tmp_path_factory, coco_sample_dir):
  """Every run of the module (two at a time): name -> (result, JSON path).

  Each run costs TensorFlow's start-up (~6 s here), so the runs are few.
  """
  directory = tmp_path_factory.mktemp('canvas_padding')
  annotations = directory / 'four_images.json'
  annotations.write_text(json.dumps({'images': [
      {'id': i, 'height': h, 'width': w}
      for i, (h, w) in enumerate(ORIGINALS)]}))
  four = (f'--annotation_file={annotations}', '--num_images=4',
          NO_AUGMENTATION)
  cases = {
      'help': ('--help',),
      'hand_computed': four + (f'--canvases={CANVASES}', '--batch=1,2,8'),
      'distribution': ('--image_sizes=400x600:3,600x400:1',
                       '--num_images=400', '--canvases=832x1344,1344x832',
                       '--batch=1', NO_AUGMENTATION),
      'sample': (f'--annotation_file={coco_sample_dir / "panoptic.json"}',
                 '--num_images=6', '--seed=5', '--batch=1'),
      'fits_none': four + ('--canvases=832x1344',),
      'bad_image_sizes': ('--image_sizes=480x640:0.5,640x480',),
  }
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    futures = {}
    for name, args in cases.items():
      output = directory / f'{name}.json'
      futures[name] = (pool.submit(_run, *args, f'--output_json={output}'),
                       output)
    return {name: (future.result(), output)
            for name, (future, output) in futures.items()}


def _report(runs, name):
  result, output = runs[name]
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(output.read_text())


def test_help_lists_every_flag(runs):
  result, _ = runs['help']
  assert result.returncode == 0, result.stderr
  for name in ('experiment', 'config_file', 'params_override', 'image_sizes',
               'annotation_file', 'num_images', 'seed', 'canvases',
               'baseline_canvas', 'batch', 'output_json'):
    assert f'--{name}' in result.stdout, name
  assert '--[no]progress' in result.stdout
  assert 'assumed distribution, not measured' in ' '.join(
      result.stdout.split())


def test_assignment_and_fractions_by_hand(runs):
  report = _report(runs, 'hand_computed')
  assert report['original_sizes'] == [list(s) for s in ORIGINALS]
  assert report['augmented_sizes'] == [list(s) for s in CONTENT]
  (result,) = report['sets']
  assert result['images_per_canvas'] == {
      '832x1344': 0.5, '1344x832': 0.25, '320x1344': 0.25}
  per_image = [1 - _area(c) / _area(a) for c, a in zip(CONTENT, ASSIGNED)]
  assert result['padded_fraction_per_image'] == pytest.approx(
      sum(per_image) / 4)
  batches = result['padded_fraction_per_batch']
  assert batches['1'] == {'mean': pytest.approx(sum(per_image) / 4),
                          'batches': 4}
  # Batches of 2: only 832x1344 has two images (the first and the third);
  # the other canvases' single images are dropped.
  assert batches['2'] == {
      'mean': pytest.approx(1 - (_area(CONTENT[0]) + _area(CONTENT[2])) /
                            (2 * _area(ASSIGNED[0]))),
      'batches': 1}
  assert batches['8'] == {'mean': None, 'batches': 0}
  assert result['canvas_pixels_per_image'] == pytest.approx(
      sum(map(_area, ASSIGNED)) / 4)
  baseline = report['baseline']
  assert baseline['canvases'] == [list(BASELINE)]
  assert baseline['padded_fraction_per_image'] == pytest.approx(
      sum(1 - _area(c) / _area(BASELINE) for c in CONTENT) / 4)
  assert baseline['canvas_pixels_per_image'] == _area(BASELINE)
  stdout = runs['hand_computed'][0].stdout
  assert '| {832x1344, 1344x832, 320x1344} |' in stdout
  assert f'| {sum(map(_area, ASSIGNED)) / 4 / _area(BASELINE):.3f} |' in stdout


def test_sizes_drawn_from_the_distribution(runs):
  report = _report(runs, 'distribution')
  assert {tuple(s) for s in report['original_sizes']} == {(400, 600),
                                                           (600, 400)}
  # 400x600 becomes 800x1200 (landscape canvas), 600x400 1200x800; weights
  # 3:1. The share's standard deviation is about 0.02 for 400 draws.
  shares = report['sets'][0]['images_per_canvas']
  assert shares['832x1344'] == pytest.approx(0.75, abs=0.1)
  assert shares['832x1344'] + shares['1344x832'] == 1


def test_sizes_are_the_recipe_augmentations_on_the_real_images(
    runs, coco_sample_dir):
  report = _report(runs, 'sample')
  assert report['augmentation'] == 'detr_panoptic'
  parser = exp_factory.get_exp_config(RECIPE).task.train_data.parser
  images = json.loads((coco_sample_dir / 'panoptic.json').read_text())[
      'images']
  for i, (original, augmented) in enumerate(zip(report['original_sizes'],
                                                report['augmented_sizes'])):
    image = tf.io.decode_jpeg(tf.io.read_file(str(
        coco_sample_dir / 'images' / images[i % len(images)]['file_name'])))
    assert list(image.shape[:2]) == original
    sample = augmentation.detr_panoptic(
        augmentation.new_sample(image, tf.zeros(image.shape[:2], tf.int32)),
        parser.augmentation.detr_panoptic, tf.constant([5, i], tf.int64),
        parser.label_resize)
    assert list(sample.image.shape[:2]) == augmented, i


@pytest.mark.parametrize('name,message', [
    ('fits_none', '1 of 4 augmented images fit no canvas of {832x1344} (the '
     'largest: 1200x800)'),
    ('bad_image_sizes', "bad --image_sizes item '640x480'"),
])
def test_user_mistakes_are_one_line_errors(runs, name, message):
  result, output = runs[name]
  conftest.assert_one_line_error(result, message)
  assert not output.exists()
