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

"""Reading and checking COCO panoptic data (images, panoptic PNGs, JSON).

The contiguous class of a category is its index in the id-sorted category list
(0..132 for the 133 COCO panoptic categories). Every image is checked before
it is converted: the image and its PNG exist, decode, and have the size the
JSON states; the segment ids of the PNG and of the JSON are the same sets (a
JSON segment may be absent from the PNG only if its area is 0); every category
is known. Any violation raises `loading.ConversionError` naming the file.
"""
import dataclasses
import io
import json
import os
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
from PIL import Image

from projects.maskformer.conversion import loading

# Segments per image the 16-bit index map can hold.
_MAX_SEGMENTS = 2**16 - 1


@dataclasses.dataclass(frozen=True)
class Category:
  """One panoptic category.

  Attributes:
    contiguous_id: index in the id-sorted category list.
    category_id: the dataset's (sparse) category id.
    name: category name.
    isthing: 1 for a thing (countable) category, 0 for stuff.
    color: RGB display color, if the source has one.
  """
  contiguous_id: int
  category_id: int
  name: str
  isthing: int
  color: Optional[Tuple[int, int, int]] = None


@dataclasses.dataclass(frozen=True)
class PanopticTask:
  """One image to convert, as described by the annotation file.

  Attributes:
    image_id: the image id.
    file_name: the image file name.
    height: height stated by the JSON.
    width: width stated by the JSON.
    image_path: path of the image file.
    png_path: path of the panoptic PNG, None if the image has no annotation.
    annotation_path: path of the JSON (named in errors about its content).
    segments_info: the annotation's `segments_info` list.
  """
  image_id: int
  file_name: str
  height: int
  width: int
  image_path: str
  png_path: Optional[str]
  annotation_path: str
  segments_info: Tuple[Dict[str, Any], ...]


@dataclasses.dataclass(frozen=True)
class PanopticRecord:
  """A checked image with its panoptic annotation, ready to serialize.

  Segment lists follow the order of `segments_info` in the JSON;
  `segment_index_png` is the 16-bit PNG of 1 + each pixel's segment position
  (0 = void), see `example_schema`.
  """
  image_bytes: bytes
  image_format: str
  height: int
  width: int
  file_name: str
  image_id: int
  segment_index_png: bytes
  segment_ids: List[int]
  segment_classes: List[int]
  segment_category_ids: List[int]
  segment_is_crowd: List[int]
  segment_areas: List[int]


def _read_json(path: str) -> Any:
  if not os.path.isfile(path):
    raise loading.ConversionError('missing_annotations', path,
                                     'annotation file not found')
  try:
    with open(path, 'rb') as f:
      return json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise loading.ConversionError('corrupt_annotations', path,
                                     f'not valid JSON: {e}') from e


def parse_categories(categories: Sequence[Dict[str, Any]],
                     path: str) -> List[Category]:
  """Sorts categories by id and numbers them 0, 1, ...

  Args:
    categories: COCO category dicts (`id`, `name`, `isthing`, optional
      `color`).
    path: the file they come from, named in errors.

  Returns:
    The categories, id-sorted, with their contiguous ids.

  Raises:
    ConversionError: on a missing field or a duplicated id.
  """
  try:
    ordered = sorted(categories, key=lambda c: int(c['id']))
    ids = [int(c['id']) for c in ordered]
    if len(set(ids)) != len(ids):
      raise loading.ConversionError('corrupt_annotations', path,
                                       'duplicated category ids')
    return [
        Category(contiguous_id=i, category_id=int(c['id']), name=str(c['name']),
                 isthing=int(c.get('isthing', 1)),
                 color=tuple(c['color']) if 'color' in c else None)
        for i, c in enumerate(ordered)
    ]
  except loading.ConversionError:
    raise
  except (KeyError, TypeError, ValueError) as e:
    raise loading.ConversionError(
        'corrupt_annotations', path, f'malformed category list: {e!r}') from e


def category_map_json(categories: Sequence[Category]) -> str:
  """The category map written next to the shards, as JSON text."""
  return json.dumps({
      'num_classes': len(categories),
      'categories': [dataclasses.asdict(c) for c in categories],
  }, indent=1)


def read_tasks(annotation_file: str, image_dir: str, panoptic_dir: str,
               categories_file: Optional[str] = None
               ) -> Tuple[List[PanopticTask], List[Category]]:
  """Reads a COCO panoptic annotation file into per-image tasks.

  Args:
    annotation_file: `panoptic_*.json` with `images`, `annotations` and (unless
      `categories_file` is given) `categories`.
    image_dir: folder of the images (`images[].file_name`).
    panoptic_dir: folder of the panoptic PNGs (`annotations[].file_name`).
    categories_file: optional JSON list of categories (e.g.
      `panoptic_coco_categories.json`) that replaces the file's `categories`.

  Returns:
    (tasks sorted by image id, id-sorted categories).

  Raises:
    ConversionError: on an unreadable or inconsistent annotation file.
  """
  data = _read_json(annotation_file)
  if not isinstance(data, dict) or 'images' not in data or (
      'annotations' not in data):
    raise loading.ConversionError(
        'corrupt_annotations', annotation_file,
        "expected a JSON object with 'images' and 'annotations'")
  if categories_file:
    categories = parse_categories(_read_json(categories_file), categories_file)
  elif 'categories' in data:
    categories = parse_categories(data['categories'], annotation_file)
  else:
    raise loading.ConversionError(
        'corrupt_annotations', annotation_file,
        "no 'categories' (pass a categories file)")

  try:
    images = {}
    for image in data['images']:
      image_id = int(image['id'])
      if image_id in images:
        raise loading.ConversionError(
            'corrupt_annotations', annotation_file,
            f'image id {image_id} is listed twice')
      images[image_id] = image
    annotations = {}
    for annotation in data['annotations']:
      image_id = int(annotation['image_id'])
      if image_id not in images:
        raise loading.ConversionError(
            'corrupt_annotations', annotation_file,
            f"annotation {annotation['file_name']} refers to unknown image id "
            f'{image_id}')
      if image_id in annotations:
        raise loading.ConversionError(
            'corrupt_annotations', annotation_file,
            f'image id {image_id} has two annotations')
      annotations[image_id] = annotation
    tasks = []
    for image_id in sorted(images):
      image = images[image_id]
      annotation = annotations.get(image_id)
      tasks.append(
          PanopticTask(
              image_id=image_id,
              file_name=str(image['file_name']),
              height=int(image['height']),
              width=int(image['width']),
              image_path=os.path.join(image_dir, image['file_name']),
              png_path=(os.path.join(panoptic_dir, annotation['file_name'])
                        if annotation else None),
              annotation_path=annotation_file,
              segments_info=tuple(annotation['segments_info'])
              if annotation else ()))
  except loading.ConversionError:
    raise
  except (KeyError, TypeError, ValueError) as e:
    raise loading.ConversionError(
        'corrupt_annotations', annotation_file,
        f'malformed images/annotations: {e!r}') from e
  return tasks, categories


def _encode_png16(index_map: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(index_map.astype(np.uint16)).save(buffer, format='PNG')
  return buffer.getvalue()


def rgb_to_id(pixels: np.ndarray) -> np.ndarray:
  """Panoptic ids of an RGB PNG: R + 256 G + 256^2 B, as int64 [H, W]."""
  pixels = pixels.astype(np.int64)
  return pixels[..., 0] + 256 * pixels[..., 1] + 256 * 256 * pixels[..., 2]


def load_record(task: PanopticTask,
                categories: Dict[int, int]) -> PanopticRecord:
  """Reads and checks one image and its panoptic annotation.

  Args:
    task: the image and its annotation.
    categories: contiguous class per dataset category id.

  Returns:
    The checked record.

  Raises:
    ConversionError: naming the offending file.
  """
  if task.png_path is None:
    raise loading.ConversionError(
        'no_annotation', task.image_path,
        f'image id {task.image_id} has no entry in {task.annotation_path}')
  image_bytes, image_format, height, width = loading.read_image_file(
      task.image_path, task.height, task.width)
  _, pixels = loading.read_label_png(task.png_path, 'RGB', height, width,
                                        'missing_png')
  png_ids, pixel_ids, png_counts = np.unique(
      rgb_to_id(pixels), return_inverse=True, return_counts=True)
  area_by_id = {int(i): int(c) for i, c in zip(png_ids, png_counts) if i != 0}

  segment_ids, classes, category_ids, is_crowd, areas = [], [], [], [], []
  for segment in task.segments_info:
    try:
      segment_id = int(segment['id'])
      category_id = int(segment['category_id'])
      crowd = int(segment.get('iscrowd', 0))
      json_area = segment.get('area')
    except (KeyError, TypeError, ValueError) as e:
      raise loading.ConversionError(
          'corrupt_annotations', task.annotation_path,
          f'malformed segment of {task.png_path}: {e!r}') from e
    if segment_id <= 0 or segment_id in segment_ids:
      raise loading.ConversionError(
          'corrupt_annotations', task.annotation_path,
          f'segment id {segment_id} of {task.png_path} is void or repeated')
    if category_id not in categories:
      raise loading.ConversionError(
          'unknown_category', task.annotation_path,
          f'segment {segment_id} of {task.png_path} has unknown category_id '
          f'{category_id}')
    area = area_by_id.get(segment_id, 0)
    if area == 0 and json_area != 0:
      raise loading.ConversionError(
          'segment_not_in_png', task.png_path,
          f'segment {segment_id} of {task.annotation_path} (area '
          f'{json_area}) has no pixel in the PNG')
    segment_ids.append(segment_id)
    classes.append(categories[category_id])
    category_ids.append(category_id)
    is_crowd.append(crowd)
    areas.append(area)
  unlisted = sorted(set(area_by_id) - set(segment_ids))
  if unlisted:
    raise loading.ConversionError(
        'segment_not_in_json', task.png_path,
        f'segment ids {unlisted[:10]} of the PNG are not in '
        f'{task.annotation_path}')
  if len(segment_ids) > _MAX_SEGMENTS:
    raise loading.ConversionError(
        'too_many_segments', task.png_path,
        f'{len(segment_ids)} segments; the index map holds {_MAX_SEGMENTS}')
  position = {segment_id: k + 1 for k, segment_id in enumerate(segment_ids)}
  lookup = np.array([position.get(int(i), 0) for i in png_ids], np.uint16)
  return PanopticRecord(
      image_bytes=image_bytes, image_format=image_format, height=height,
      width=width, file_name=task.file_name, image_id=task.image_id,
      segment_index_png=_encode_png16(
          lookup[pixel_ids].reshape(pixels.shape[:2])),
      segment_ids=segment_ids, segment_classes=classes,
      segment_category_ids=category_ids, segment_is_crowd=is_crowd,
      segment_areas=areas)
