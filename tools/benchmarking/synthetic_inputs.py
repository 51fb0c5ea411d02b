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

"""Framework-neutral random inputs of the model benchmark."""
import dataclasses
from typing import Optional

import numpy as np

from projects.maskformer.dataloaders import maskformer_input


@dataclasses.dataclass
class Workload:
  """Framework-neutral inputs of one measurement.

  Attributes:
    pixels: a uint8 [B, H, W, 3] array of RGB pixels.
    segment_map: an int32 [B, H, W] array, per pixel the index of its target
      (-1 for none), or None for forward workloads.
    classes: an int32 [B, k] array, the class of every target.
  """
  pixels: np.ndarray
  segment_map: Optional[np.ndarray] = None
  classes: Optional[np.ndarray] = None


def make_workload(seed: int, batch: int, size: int,
                  num_targets: Optional[int] = None,
                  num_classes: int = 150) -> Workload:
  """Random pixels and, for training, `num_targets` segments per image.

  The segments are the Voronoi cells of `num_targets` random seed pixels
  (every one non-empty, covering the image); their classes are distinct.
  """
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
  if num_targets is None:
    return Workload(pixels)
  segment_map = np.full((batch, size, size), -1, np.int32)
  classes = np.zeros((batch, num_targets), np.int32)
  if num_targets:
    yy, xx = np.mgrid[:size, :size]
    for b in range(batch):
      seeds = rng.choice(size * size, num_targets, replace=False)
      distance = np.full((size, size), np.inf)
      for k, flat in enumerate(seeds):
        d = (yy - flat // size)**2 + (xx - flat % size)**2
        closer = d < distance
        segment_map[b][closer] = k
        distance = np.where(closer, d, distance)
      classes[b] = rng.choice(num_classes, num_targets, replace=False)
  return Workload(pixels, segment_map, classes)


def normalized_nhwc(pixels: np.ndarray) -> np.ndarray:
  """The original's input normalization of uint8 pixels (float32 NHWC)."""
  mean = np.asarray(maskformer_input.MEAN_RGB, np.float32)
  std = np.asarray(maskformer_input.STDDEV_RGB, np.float32)
  return (pixels.astype(np.float32) - mean) / std

