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

"""Runs a trained MaskFormer over a dataset and writes panopticapi files.

Used by `tools/evaluate_coco_panoptic.py` (model mode) and the demo: every
image of the task's validation data gets a PNG (segment id = R + 256 G +
256^2 B, at the original size) and a `segments_info` entry with the dataset's
category ids and scores; optionally a readable overlay picture, and the
model's instance predictions (Mask2Former's instance inference on the thing
classes) in COCO's results format, for mask AP (`instance_ap`).
"""
import json
import os
from typing import Any
from typing import Dict
from typing import Optional

import numpy as np
import tensorflow as tf
import tf_keras
import tqdm

from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.evaluation import instance_ap
from projects.maskformer.evaluation import panoptic_io
from projects.maskformer.evaluation import visualization


def image_file_names(gt_json: str) -> Dict[int, str]:
  """Image id -> image file name, from a COCO panoptic JSON's 'images'."""
  with open(gt_json, encoding='utf-8') as f:
    return {int(image['id']): image['file_name']
            for image in json.load(f)['images']}


def write_panoptic_predictions(task, model: tf_keras.Model, pred_folder: str,
                               pred_json: str,
                               overlay_dir: Optional[str] = None,
                               image_dir: Optional[str] = None,
                               image_names: Optional[Dict[int, str]] = None,
                               max_images: Optional[int] = None,
                               show_progress: bool = True,
                               instance_json: Optional[str] = None
                               ) -> Dict[str, Any]:
  """Predicts every validation image of `task` and writes panopticapi files.

  Args:
    task: a `MaskFormerSegmentationTask` with panoptic validation data.
    model: the model, with its weights.
    pred_folder: folder for the prediction PNGs (`<image id:012d>.png`).
    pred_json: the prediction JSON to write.
    overlay_dir: if set, a readable overlay per image is written there.
    image_dir: folder of the original images (needed for overlays).
    image_names: image id -> file name in `image_dir` (needed for overlays).
    max_images: stop after this many images (None: the whole dataset once).
    show_progress: draw a progress bar on stderr.
    instance_json: if set, the instance predictions of every image written
      (COCO's results format: a JSON list of 'image_id', 'category_id',
      'segmentation' as the RLE of the full-image mask at the original size,
      'score') go to this file.

  Returns:
    A summary dict: 'images' written, 'segments' predicted and, with
    `instance_json`, 'instances' predicted.

  Raises:
    ValueError: overlays requested without the original images.
  """
  if overlay_dir and not (image_dir and image_names is not None):
    raise ValueError('overlays need the original images: pass image_dir and '
                     'image_names (from the ground-truth JSON)')
  categories = task.categories
  category_ids = [c['category_id'] for c in categories]
  by_id = {c['category_id']: c for c in categories}
  params = task.task_config.validation_data
  dataset = task.build_inputs(params)

  # With 'size_divisibility' padding every image has its own shape: one
  # generalized trace serves them all.
  @tf.function(reduce_retracing=True)
  def predict(images, labels):
    images, labels = maskformer_input.prepare_model_inputs(images, labels,
                                                           params)
    outputs = task.run_model(model, images, labels, params, training=False)
    outputs = {'pred_logits': tf.cast(outputs['pred_logits'], tf.float32),
               'pred_masks': tf.cast(outputs['pred_masks'], tf.float32)}
    return task.post_process(outputs, images, labels,
                             instances=bool(instance_json))

  writer = panoptic_io.PanopticPredictionWriter(pred_folder)
  if overlay_dir:
    os.makedirs(overlay_dir, exist_ok=True)
  written = segments = 0
  instances = []
  progress = tqdm.tqdm(total=max_images, unit='image', disable=not show_progress)
  for images, labels in dataset:
    results = {k: v.numpy() for k, v in predict(images, labels).items()}
    image_ids = labels[maskformer_input.IMAGE_ID].numpy()
    original_sizes = np.round(
        labels[maskformer_input.IMAGE_INFO][:, 0].numpy()).astype(int)
    for b, image_id in enumerate(image_ids):
      if max_images is not None and written >= max_images:
        break
      height, width = original_sizes[b]
      panoptic = results['panoptic'][b, :height, :width]
      segments_info = panoptic_io.segments_from_table(results, b, category_ids)
      file_name = f'{int(image_id):012d}.png'
      writer.add(int(image_id), file_name, panoptic, segments_info)
      if instance_json:
        instances.extend(instance_ap.image_results(
            int(image_id), results, b, (height, width), category_ids))
      if overlay_dir:
        image = tf.io.decode_image(tf.io.read_file(os.path.join(
            image_dir, image_names[int(image_id)])), channels=3).numpy()
        picture = visualization.panoptic_overlay(image, panoptic,
                                                 segments_info, by_id)
        tf.io.write_file(os.path.join(overlay_dir, file_name),
                         tf.io.encode_png(picture))
      written += 1
      segments += len(segments_info)
      progress.update(1)
    if max_images is not None and written >= max_images:
      break
  progress.close()
  writer.write_json(pred_json, categories=[
      {'id': c['category_id'], 'name': c['name'], 'isthing': c['isthing']}
      for c in categories])
  summary = {'images': written, 'segments': segments}
  if instance_json:
    with open(instance_json, 'w', encoding='utf-8') as f:
      json.dump(instances, f)
    summary['instances'] = len(instances)
  return summary
