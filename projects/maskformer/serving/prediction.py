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

"""Prediction on image files with an exported SavedModel or a checkpoint.

Both sources run the same serving function (`export_module.MaskFormerModule`'s
'serving_default' signature): a SavedModel is loaded as exported; a checkpoint
is restored into a freshly built serving module. For each image this module
produces the panoptic map at the original size with its segment list (or,
for a semantic-only model, one segment per class present) and writes a
readable overlay, the segment JSON and the panoptic PNG.
"""
import json
import os
import re
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Mapping
from typing import Sequence
from typing import Tuple

import numpy as np
import tensorflow as tf

from projects.maskformer import inference_setup
from projects.maskformer.dataloaders import augmentation
from projects.maskformer.dataloaders import decoders
from projects.maskformer.evaluation import panoptic_io
from projects.maskformer.evaluation import visualization
from projects.maskformer.serving import export_module

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
_SIGNATURE = export_module.SIGNATURES['image_tensor']


def find_images(inputs: Sequence[str]) -> List[str]:
  """Image files named by `inputs`: files as given, folders' JPEG/PNG files.

  Args:
    inputs: Image files and folders (a folder contributes its files ending
      in .jpg, .jpeg or .png, any case, sorted by name, not recursively).

  Returns:
    The image paths, in input order.

  Raises:
    ValueError: if an input does not exist, a folder holds no image, or two
      images share a file name stem (their outputs would collide).
  """
  paths = []
  for item in inputs:
    if os.path.isdir(item):
      found = sorted(
          os.path.join(item, name) for name in os.listdir(item)
          if name.lower().endswith(IMAGE_EXTENSIONS) and
          os.path.isfile(os.path.join(item, name)))
      if not found:
        raise ValueError(f'folder {item} holds no .jpg, .jpeg or .png file')
      paths.extend(found)
    elif os.path.isfile(item):
      paths.append(item)
    else:
      raise ValueError(f'input {item} does not exist')
  stems = {}
  for path in paths:
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem in stems:
      raise ValueError(f'{stems[stem]} and {path} have the same name stem '
                       f'{stem!r}; their outputs would overwrite each other')
    stems[stem] = path
  return paths


class ImageReadError(ValueError):
  """An image file that cannot be read or decoded.

  Attributes:
    path: the file.
    reason: what is wrong, in plain words.
  """

  def __init__(self, path: str, reason: str):
    super().__init__(f'cannot decode {path} as a JPEG or PNG image: {reason}')
    self.path = path
    self.reason = reason


def _plain_op_message(error: tf.errors.OpError) -> str:
  """An op error's message without TensorFlow's function and op names."""
  text = re.sub(r'\{\{[^}]*\}\}', '', error.message)
  text = re.sub(r'\s*\[Op:[^\]]*\]', '', text)
  text = re.sub(r'\s*name:\s*$', '', text.strip())
  if text.startswith('Unknown image file format'):
    return 'the file is neither a JPEG nor a PNG'
  return ' '.join(text.split()) or type(error).__name__


def read_image(path: str) -> np.ndarray:
  """Decodes a JPEG or PNG file as the input pipeline does.

  Raises:
    ImageReadError: naming the file, if it cannot be read or decoded.
  """
  try:
    return decoders.decode_image(tf.io.read_file(path)).numpy()
  except tf.errors.OpError as e:
    raise ImageReadError(path, _plain_op_message(e)) from e


def image_segments(outputs: Mapping[str, np.ndarray],
                   categories: Sequence[Mapping[str, Any]]
                   ) -> Tuple[np.ndarray, List[Dict[str, Any]]]:
  """One image's segment map at its original size and its segment list.

  Args:
    outputs: The serving signature's outputs (numpy, batch of 1).
    categories: The serving metadata's categories, by contiguous id.

  Returns:
    (ids, segments): an int32 [H, W] map of segment ids (0 = void) at the
    original size, and per segment a dict with 'id', 'category_id', 'class'
    (contiguous id), 'name', 'isthing', 'area' (pixels at the original size)
    and, for panoptic results, 'score'. Panoptic results give the panoptic
    segments; semantic-only results give one stuff segment per class
    present, with id = class + 1. Results computed at a reduced size (an
    image larger than the output canvas) are upsampled by nearest neighbour
    (PIL's rule).
  """
  height, width = (int(s) for s in outputs['output_size'][0])
  original_size = [int(s) for s in outputs['original_size'][0]]
  if 'panoptic' in outputs:
    ids = outputs['panoptic'][0, :height, :width]
    valid = outputs['segment_valid'][0]
    segments = [{
        'id': int(segment_id), 'class': int(k), 'isthing': bool(isthing),
        'score': float(score)
    } for segment_id, k, isthing, score in zip(
        outputs['segment_id'][0][valid], outputs['segment_category'][0][valid],
        outputs['segment_isthing'][0][valid],
        outputs['segment_score'][0][valid])]
  else:
    classes = outputs['semantic_map'][0, :height, :width]
    ids = classes + 1
    segments = [{'id': int(k) + 1, 'class': int(k), 'isthing': False}
                for k in np.unique(classes)]
  if [height, width] != original_size:
    ids = augmentation.resize_segment_map(
        tf.constant(ids), tf.constant(original_size),
        augmentation.LABEL_RESIZE_PIL).numpy()
  areas = np.bincount(ids.ravel(), minlength=max(
      [0] + [s['id'] + 1 for s in segments]))
  for segment in segments:
    category = categories[segment['class']]
    segment.update(category_id=category['category_id'], name=category['name'],
                   area=int(areas[segment['id']]))
  return ids.astype(np.int32), segments


class Predictor:
  """Runs a serving function (either architecture) on images, writes results."""

  def __init__(self, serve: Callable[..., Mapping[str, tf.Tensor]],
               metadata: Mapping[str, Any]):
    """Initializes the predictor.

    Args:
      serve: The 'serving_default' function: `serve(inputs=uint8 [1, H, W,
        3])` returns the outputs of `export_module.MaskFormerModule.serve`.
      metadata: The serving metadata (`MaskFormerModule.metadata`).
    """
    self._serve = serve
    self._metadata = dict(metadata)
    self._by_category_id = {
        c['category_id']: {'name': c['name'], 'isthing': c['isthing'],
                           'color': c['color']}
        for c in metadata['categories']}

  @classmethod
  def from_saved_model(cls, path: str) -> 'Predictor':
    """Loads a SavedModel written by `export_module.export_saved_model`.

    Raises:
      ValueError: if `path` holds no MaskFormer SavedModel.
    """
    if not tf.saved_model.contains_saved_model(path):
      raise ValueError(f'{path} is not a SavedModel folder')
    loaded = tf.saved_model.load(path)
    metadata = export_module.read_metadata(loaded)
    if _SIGNATURE not in loaded.signatures:
      raise ValueError(f'the SavedModel {path} has no {_SIGNATURE!r} '
                       'signature')
    return cls(loaded.signatures[_SIGNATURE], metadata)

  @classmethod
  def from_checkpoint(cls, params, checkpoint: str) -> 'Predictor':
    """Builds the serving module of `params` and restores `checkpoint`.

    Args:
      params: The experiment config (as for `MaskFormerModule`).
      checkpoint: A checkpoint path or a folder holding checkpoints.

    Returns:
      The predictor.

    Raises:
      ValueError: for a missing checkpoint or an unusable configuration.
    """
    path = inference_setup.resolve_checkpoint(checkpoint)
    module = export_module.MaskFormerModule(params)
    tf.train.Checkpoint(model=module.model).read(
        path).expect_partial().assert_existing_objects_matched()
    serve = module.get_inference_signatures(
        {'image_tensor': _SIGNATURE})[_SIGNATURE]
    return cls(serve, module.metadata)

  @property
  def metadata(self) -> Dict[str, Any]:
    return dict(self._metadata)

  def predict(self, image: np.ndarray) -> Dict[str, np.ndarray]:
    """The serving outputs of one uint8 [H, W, 3] image, as numpy arrays."""
    outputs = self._serve(inputs=tf.constant(image[np.newaxis]))
    return {key: value.numpy() for key, value in outputs.items()}

  def write(self, image_path: str, output_dir: str) -> Dict[str, Any]:
    """Predicts one image file and writes its results into `output_dir`.

    Writes `<stem>_overlay.png` (segment colours, outlines, class names and
    scores over the image), `<stem>_panoptic.png` (segment ids as R + 256 G
    + 256^2 B) and `<stem>.json` (the returned record).

    Args:
      image_path: A JPEG or PNG file.
      output_dir: An existing folder.

    Returns:
      The JSON record: 'image', 'height', 'width', 'results_size' (the size
      the results were computed at), 'panoptic_png', 'overlay_png' and
      'segments' (see `image_segments`).

    Raises:
      ImageReadError: if the image cannot be read or decoded; nothing is
        written then.
    """
    image = read_image(image_path)
    outputs = self.predict(image)
    ids, segments = image_segments(outputs, self._metadata['categories'])
    stem = os.path.splitext(os.path.basename(image_path))[0]
    overlay_name, panoptic_name = f'{stem}_overlay.png', f'{stem}_panoptic.png'
    overlay = visualization.panoptic_overlay(image, ids, segments,
                                             self._by_category_id)
    tf.io.write_file(os.path.join(output_dir, overlay_name),
                     tf.io.encode_png(overlay))
    panoptic_io.write_panoptic_png(os.path.join(output_dir, panoptic_name), ids)
    record = {
        'image': image_path,
        'height': int(image.shape[0]),
        'width': int(image.shape[1]),
        'results_size': [int(s) for s in outputs['output_size'][0]],
        'panoptic_png': panoptic_name,
        'overlay_png': overlay_name,
        'segments': segments,
    }
    with open(os.path.join(output_dir, f'{stem}.json'), 'w',
              encoding='utf-8') as f:
      json.dump(record, f, indent=1)
    return record
