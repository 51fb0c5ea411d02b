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

"""PyTorch operator semantics in plain numpy (NHWC), the tests' ground truth."""
import math

import numpy as np
from numpy.lib import stride_tricks


def conv2d(x, weight, bias=None, stride=1, pad=0):
  """`F.conv2d` with a torch OIHW weight and symmetric zero padding."""
  kernel = weight.shape[2]
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  windows = stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(1, 2))
  windows = windows[:, ::stride, ::stride]
  out = np.einsum('bhwcij,ocij->bhwo', windows, weight)
  return out if bias is None else out + bias


def group_norm(x, groups, weight, bias, eps=1e-5):
  """`F.group_norm`: contiguous channel groups, biased variance."""
  b, h, w, c = x.shape
  grouped = x.reshape(b, h, w, groups, c // groups)
  mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
  var = grouped.var(axis=(1, 2, 4), keepdims=True)
  normalized = ((grouped - mean) / np.sqrt(var + eps)).reshape(x.shape)
  return normalized * weight + bias


def interpolate_nearest(x, size):
  """`F.interpolate(mode='nearest')`: source index floor(i * in / out)."""
  rows = [min(math.floor(i * x.shape[1] / size[0]), x.shape[1] - 1)
          for i in range(size[0])]
  cols = [min(math.floor(j * x.shape[2] / size[1]), x.shape[2] - 1)
          for j in range(size[1])]
  return x[:, rows][:, :, cols]


def relu(x):
  return np.maximum(x, 0.0)
