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

"""A small reader of `.safetensors` files into numpy arrays.

The format: an unsigned 64-bit little-endian header length N, then N bytes of
JSON `{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
"__metadata__": {...}}`, then the raw little-endian tensor bytes, offsets
relative to the end of the header. Nothing in the file is executed.
"""
import json
import os
import struct
from typing import Dict
from typing import Union

import numpy as np

# safetensors dtype names -> numpy dtypes (BF16 is widened to float32).
_DTYPES = {
    'F64': np.dtype('<f8'),
    'F32': np.dtype('<f4'),
    'F16': np.dtype('<f2'),
    'BF16': np.dtype('<u2'),
    'I64': np.dtype('<i8'),
    'I32': np.dtype('<i4'),
    'I16': np.dtype('<i2'),
    'I8': np.dtype('i1'),
    'U8': np.dtype('u1'),
    'BOOL': np.dtype('?'),
}

_HEADER_LENGTH_BYTES = 8


class SafetensorsError(ValueError):
  """The file is not a well-formed safetensors file this reader supports."""


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
  return (bits.astype(np.uint32) << 16).view(np.float32)


def load(path: Union[str, os.PathLike]) -> Dict[str, np.ndarray]:
  """Reads every tensor of a safetensors file.

  Args:
    path: the file.

  Returns:
    {name: array} in file order; BF16 tensors are returned as float32.

  Raises:
    SafetensorsError: truncated file, bad header, unknown dtype, or a tensor
      whose byte range does not match its dtype and shape.
  """
  with open(path, 'rb') as f:
    data = f.read()
  if len(data) < _HEADER_LENGTH_BYTES:
    raise SafetensorsError(f'{path}: too short to be a safetensors file')
  (header_length,) = struct.unpack('<Q', data[:_HEADER_LENGTH_BYTES])
  buffer_start = _HEADER_LENGTH_BYTES + header_length
  if buffer_start > len(data):
    raise SafetensorsError(
        f'{path}: header length {header_length} exceeds the file size')
  try:
    header = json.loads(data[_HEADER_LENGTH_BYTES:buffer_start])
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise SafetensorsError(f'{path}: header is not JSON ({e})') from e
  if not isinstance(header, dict):
    raise SafetensorsError(f'{path}: header is not a JSON object')
  buffer = memoryview(data)[buffer_start:]

  tensors = {}
  for name, info in header.items():
    if name == '__metadata__':
      continue
    try:
      dtype = _DTYPES[info['dtype']]
      shape = tuple(int(d) for d in info['shape'])
      begin, end = (int(o) for o in info['data_offsets'])
    except (KeyError, TypeError, ValueError) as e:
      raise SafetensorsError(
          f'{path}: bad or unsupported header entry for {name!r}: {info!r}'
      ) from e
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if not 0 <= begin <= end <= len(buffer) or end - begin != expected_bytes:
      raise SafetensorsError(
          f'{path}: tensor {name!r} has byte range [{begin}, {end}) but '
          f'{info["dtype"]}{list(shape)} needs {expected_bytes} bytes within '
          f'a {len(buffer)}-byte buffer')
    array = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape)
    if info['dtype'] == 'BF16':
      array = _bfloat16_to_float32(array)
    tensors[name] = array
  return tensors
