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

"""Reading and checking ADE20K-150 semantic data (images and label PNGs).

The layout is that of ADEChallengeData2016: `images/<split>/<name>.jpg` and
`annotations/<split>/<name>.png`, the label an 8-bit grayscale PNG with 0 =
ignore and 1..150 = the classes (contiguous classes 0..149). Every pair is
checked before it is converted; a violation raises
`loading.ConversionError` naming the file.
"""
import dataclasses
import json
import os
import re
from typing import List

import numpy as np

from projects.maskformer.conversion import loading

_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
_TRAILING_DIGITS = re.compile(r'(\d+)$')


@dataclasses.dataclass(frozen=True)
class SemanticTask:
  """One image and its label file.

  Attributes:
    image_id: the number at the end of the file name (ADE_train_00000001 -> 1),
      or the 1-based position in the sorted listing if there is none.
    file_name: the image file name.
    image_path: path of the image.
    label_path: path of the label PNG.
  """
  image_id: int
  file_name: str
  image_path: str
  label_path: str


@dataclasses.dataclass(frozen=True)
class SemanticRecord:
  """A checked image and label, ready to serialize.

  Attributes:
    classes_present: contiguous classes that have at least one pixel.
  """
  image_bytes: bytes
  image_format: str
  height: int
  width: int
  file_name: str
  image_id: int
  label_png: bytes
  classes_present: List[int]


def read_tasks(image_dir: str, label_dir: str) -> List[SemanticTask]:
  """Pairs every image of `image_dir` with `label_dir/<stem>.png`.

  Args:
    image_dir: folder of the images.
    label_dir: folder of the label PNGs.

  Returns:
    The tasks, sorted by file name.

  Raises:
    ConversionError: if the folder holds no image or two images get the same
      id.
  """
  if not os.path.isdir(image_dir):
    raise loading.ConversionError('missing_image', image_dir,
                                     'image folder not found')
  names = sorted(n for n in os.listdir(image_dir)
                 if n.lower().endswith(_IMAGE_EXTENSIONS))
  if not names:
    raise loading.ConversionError('missing_image', image_dir,
                                     'no .jpg/.jpeg/.png image in the folder')
  tasks, seen = [], {}
  for position, name in enumerate(names, start=1):
    stem = os.path.splitext(name)[0]
    match = _TRAILING_DIGITS.search(stem)
    image_id = int(match.group(1)) if match else position
    if image_id in seen:
      raise loading.ConversionError(
          'duplicate_image_id', os.path.join(image_dir, name),
          f'image id {image_id} is also that of {seen[image_id]}')
    seen[image_id] = name
    tasks.append(
        SemanticTask(image_id=image_id, file_name=name,
                     image_path=os.path.join(image_dir, name),
                     label_path=os.path.join(label_dir, stem + '.png')))
  return tasks


def category_map_json(num_classes: int) -> str:
  """The category map written next to the shards, as JSON text."""
  return json.dumps({
      'num_classes': num_classes,
      'ignore_label_value': 0,
      'categories': [{'contiguous_id': c, 'label_value': c + 1}
                     for c in range(num_classes)],
  }, indent=1)


def load_record(task: SemanticTask, num_classes: int) -> SemanticRecord:
  """Reads and checks one image and its label.

  Args:
    task: the image and label paths.
    num_classes: the largest valid label value.

  Returns:
    The checked record.

  Raises:
    ConversionError: naming the offending file.
  """
  image_bytes, image_format, height, width = loading.read_image_file(
      task.image_path)
  label_bytes, label = loading.read_label_png(task.label_path, 'L', height,
                                                 width, 'missing_label')
  values = np.unique(label)
  if values[-1] > num_classes:
    raise loading.ConversionError(
        'label_out_of_range', task.label_path,
        f'label values {values[values > num_classes].tolist()} exceed the '
        f'{num_classes} classes (0 = ignore, 1..{num_classes})')
  return SemanticRecord(
      image_bytes=image_bytes, image_format=image_format, height=height,
      width=width, file_name=task.file_name, image_id=task.image_id,
      label_png=label_bytes,
      classes_present=[int(v) - 1 for v in values if v != 0])
