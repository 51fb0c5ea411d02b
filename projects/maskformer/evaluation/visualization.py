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

"""Readable pictures of panoptic predictions: colours, outlines, class names."""
import colorsys
from typing import Any
from typing import Mapping
from typing import Optional
from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw


def _segment_color(category: Mapping[str, Any], segment_id: int
                   ) -> np.ndarray:
  """The category's colour (or a hashed one); thing instances vary slightly."""
  color = category.get('color')
  if color is None:
    hue = (int(category['category_id']) * 0.618033988749895) % 1.0
    color = [int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.65, 0.95)]
  color = np.asarray(color, np.float32)
  if category.get('isthing'):
    shift = ((segment_id * 2654435761) % 61) - 30
    color = np.clip(color + shift, 0, 255)
  return color


def segment_boundaries(panoptic: np.ndarray) -> np.ndarray:
  """A bool [H, W] map of pixels whose right or lower neighbour differs."""
  edges = np.zeros(panoptic.shape, bool)
  edges[:, :-1] |= panoptic[:, :-1] != panoptic[:, 1:]
  edges[:-1, :] |= panoptic[:-1, :] != panoptic[1:, :]
  return edges


def panoptic_overlay(image: np.ndarray,
                     panoptic: np.ndarray,
                     segments_info: Sequence[Mapping[str, Any]],
                     categories: Mapping[int, Mapping[str, Any]],
                     alpha: float = 0.55,
                     scale: Optional[int] = None) -> np.ndarray:
  """Blends segment colours over the image, outlines them and names them.

  Args:
    image: A uint8 [H, W, 3] RGB image.
    panoptic: An integer [H, W] array of segment ids, 0 = void.
    segments_info: The segments ('id', 'category_id', optional 'score').
    categories: Category id -> dict with 'name', 'isthing', optional 'color'.
    alpha: Opacity of the segment colours.
    scale: Integer upscaling of the picture (default: so that the short side
      is at least 384 pixels), which keeps small images' labels readable.

  Returns:
    A uint8 [H * scale, W * scale, 3] RGB picture.
  """
  if image.shape[:2] != panoptic.shape:
    raise ValueError(f'image {image.shape[:2]} and panoptic map '
                     f'{panoptic.shape} differ in size')
  if scale is None:
    scale = max(1, int(np.ceil(384 / min(panoptic.shape))))
  image = np.repeat(np.repeat(image, scale, 0), scale, 1).astype(np.float32)
  panoptic = np.repeat(np.repeat(panoptic, scale, 0), scale, 1)
  picture = image.copy()
  for segment in segments_info:
    mask = panoptic == segment['id']
    category = dict(categories[segment['category_id']],
                    category_id=segment['category_id'])
    picture[mask] = ((1 - alpha) * image[mask] +
                     alpha * _segment_color(category, segment['id']))
  picture[segment_boundaries(panoptic)] = 255.0
  canvas = Image.fromarray(picture.astype(np.uint8))
  draw = ImageDraw.Draw(canvas)
  for segment in segments_info:
    rows, cols = np.nonzero(panoptic == segment['id'])
    if rows.size == 0:
      continue
    # Label at the segment pixel nearest to its centroid (inside the segment).
    nearest = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
    text = categories[segment['category_id']]['name']
    if 'score' in segment:
      text += f' {segment["score"]:.2f}'
    left, top, right, bottom = draw.textbbox((0, 0), text)
    x = int(np.clip(cols[nearest] - (right - left) / 2, 0,
                    canvas.width - (right - left)))
    y = int(np.clip(rows[nearest] - (bottom - top) / 2, 0,
                    canvas.height - (bottom - top)))
    draw.rectangle((x - 1, y - 1, x + right - left + 1, y + bottom - top + 1),
                   fill=(0, 0, 0))
    draw.text((x - left, y - top), text, fill=(255, 255, 255))
  return np.asarray(canvas)
