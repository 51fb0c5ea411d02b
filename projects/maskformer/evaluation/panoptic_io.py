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

"""COCO panoptic (panopticapi) files: PNG segment maps and the JSON index.

A panoptic PNG is an RGB image whose pixel's segment id is
R + 256 G + 256^2 B (0 = void); the JSON holds `annotations`, one per image
(`image_id`, `file_name` of the PNG, `segments_info`: `id`, `category_id`,
`iscrowd`, `area`, ...) and `categories` (`id`, `isthing`, ...).
"""
import json
import os
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence

import numpy as np
from PIL import Image

VOID_ID = 0
MAX_SEGMENT_ID = 256**3 - 1


class PanopticFormatError(ValueError):
  """Missing, unreadable or mutually inconsistent panoptic files."""


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
  """Segment ids of a panoptic PNG's pixels.

  Args:
    rgb: A uint8 [H, W, C] array, C >= 3 (an alpha channel is ignored, as
      panopticapi does).

  Returns:
    An int64 [H, W] array, R + 256 G + 256^2 B.
  """
  rgb = np.asarray(rgb).astype(np.int64)
  return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
  """The panoptic PNG colours of segment ids.

  Args:
    ids: An integer [H, W] array of segment ids in [0, 256^3).

  Returns:
    A uint8 [H, W, 3] array.

  Raises:
    ValueError: if an id is out of range.
  """
  ids = np.asarray(ids).astype(np.int64)
  if ids.size and (ids.min() < 0 or ids.max() > MAX_SEGMENT_ID):
    raise ValueError(f'segment ids must lie in [0, {MAX_SEGMENT_ID}], got '
                     f'[{ids.min()}, {ids.max()}].')
  return np.stack([ids % 256, ids // 256 % 256, ids // 65536],
                  axis=-1).astype(np.uint8)


def read_panoptic_png(path: str) -> np.ndarray:
  """Reads a panoptic PNG as segment ids.

  Args:
    path: The PNG file.

  Returns:
    An int64 [H, W] array of segment ids.

  Raises:
    PanopticFormatError: if the file is missing, unreadable or not RGB(A).
  """
  if not os.path.isfile(path):
    raise PanopticFormatError(f'panoptic PNG {path} does not exist.')
  try:
    with Image.open(path) as image:
      pixels = np.array(image)
  except (OSError, ValueError) as e:
    raise PanopticFormatError(f'cannot read panoptic PNG {path}: {e}') from e
  if pixels.ndim != 3 or pixels.shape[2] < 3:
    raise PanopticFormatError(
        f'panoptic PNG {path} has shape {pixels.shape}; expected an RGB image '
        'whose colour encodes the segment id R + 256 G + 256^2 B.')
  return rgb_to_id(pixels)


def write_panoptic_png(path: str, ids: np.ndarray) -> None:
  """Writes segment ids as a panoptic PNG.

  Args:
    path: The PNG file to write.
    ids: An integer [H, W] array of segment ids in [0, 256^3).
  """
  Image.fromarray(id_to_rgb(ids)).save(path, format='PNG')


def load_json(path: str, description: str) -> Dict[str, Any]:
  """Loads a JSON file, naming it in errors.

  Args:
    path: The file.
    description: What the file is, for error messages (e.g. 'ground-truth
      JSON').

  Returns:
    The parsed JSON object.

  Raises:
    PanopticFormatError: if the file is missing or not valid JSON.
  """
  if not os.path.isfile(path):
    raise PanopticFormatError(f'{description} {path} does not exist.')
  with open(path, 'r', encoding='utf-8') as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise PanopticFormatError(f'{description} {path} is not valid JSON: '
                                f'{e}') from e


def segments_from_table(table: Mapping[str, Any],
                        index: int,
                        category_ids: Optional[Sequence[int]] = None
                       ) -> List[Dict[str, Any]]:
  """One image's `segments_info` from the post-processor's segment table.

  Args:
    table: A mapping with the `panoptic_inference` arrays 'segment_valid',
      'segment_id', 'segment_category' and 'segment_score' ([B, Q] arrays or
      tensors).
    index: The image's index in the batch.
    category_ids: The dataset category id of each contiguous class id (e.g.
      the id-sorted COCO panoptic category ids); None keeps contiguous ids.

  Returns:
    A list of dicts with 'id', 'category_id' and 'score', in id order.
  """
  valid = np.asarray(table['segment_valid'])[index]
  segment_ids = np.asarray(table['segment_id'])[index][valid]
  categories = np.asarray(table['segment_category'])[index][valid]
  scores = np.asarray(table['segment_score'])[index][valid]
  segments = []
  for segment_id, category, score in zip(segment_ids, categories, scores):
    category = int(category)
    segments.append({
        'id': int(segment_id),
        'category_id': (category if category_ids is None else
                        int(category_ids[category])),
        'score': float(score),
    })
  return segments


class PanopticPredictionWriter:
  """Writes predictions in panopticapi's format: one PNG per image + a JSON."""

  def __init__(self, pred_folder: str):
    """Creates the prediction folder if needed.

    Args:
      pred_folder: Where the PNGs go.
    """
    self._pred_folder = pred_folder
    self._annotations = []
    os.makedirs(pred_folder, exist_ok=True)

  def add(self, image_id: Any, file_name: str, panoptic: np.ndarray,
          segments_info: Sequence[Mapping[str, Any]]) -> None:
    """Writes one image's PNG and records its annotation.

    Args:
      image_id: The image id, as in the ground-truth JSON.
      file_name: The PNG's name inside the prediction folder.
      panoptic: An integer [H, W] array of segment ids at the original size.
      segments_info: The image's segments ('id', 'category_id', ...).
    """
    write_panoptic_png(os.path.join(self._pred_folder, file_name), panoptic)
    self._annotations.append({
        'image_id': image_id,
        'file_name': file_name,
        'segments_info': [dict(s) for s in segments_info],
    })

  def write_json(self, path: str,
                 categories: Optional[Sequence[Mapping[str, Any]]] = None
                ) -> None:
    """Writes the JSON index of everything added so far.

    Args:
      path: The JSON file.
      categories: Optional category list to include.
    """
    content = {'annotations': self._annotations}
    if categories is not None:
      content['categories'] = [dict(c) for c in categories]
    with open(path, 'w', encoding='utf-8') as f:
      json.dump(content, f)
