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

"""Which float dtype each part of the computation uses.

The model follows the Keras dtype policy:

  * 'float32': everything in float32;
  * 'mixed_bfloat16': convolutions and matmuls in bfloat16; normalizations,
    softmaxes, the transformer's residual stream, the heads and the losses in
    float32 (the "accumulation" dtype);
  * 'float64': everything in float64. This is the exact mode in which the
    port is compared with the original run in float64 (the parity checks'
    float64 identity); no part of the computing path is pinned to float32.

`accumulation_dtype` is that wide dtype: float64 for float64 inputs or
policies, float32 for every narrower float.
"""
import contextlib
from typing import Iterator
from typing import Union

import tensorflow as tf
import tf_keras

DTypeLike = Union[str, tf.DType]


def accumulation_dtype(dtype: DTypeLike) -> tf.DType:
  """float64 for float64, float32 for float32, bfloat16 and float16."""
  dtype = tf.as_dtype(dtype)
  if not dtype.is_floating:
    raise ValueError(f'expected a float dtype, got {dtype.name}')
  return tf.float64 if dtype == tf.float64 else tf.float32


def policy_accumulation_dtype() -> tf.DType:
  """The accumulation dtype of the global Keras policy (its variable dtype)."""
  return accumulation_dtype(
      tf_keras.mixed_precision.global_policy().variable_dtype)


@contextlib.contextmanager
def keras_policy(name: str) -> Iterator[None]:
  """Sets the global Keras dtype policy for the block, then restores it.

  Args:
    name: a policy name: 'float32', 'mixed_bfloat16', 'float64', ...

  Yields:
    None; models built inside the block take the policy.
  """
  previous = tf_keras.mixed_precision.global_policy()
  tf_keras.mixed_precision.set_global_policy(name)
  try:
    yield
  finally:
    tf_keras.mixed_precision.set_global_policy(previous)


def widen(values) -> tf.Tensor:
  """`values` cast to its accumulation dtype (bfloat16 -> float32, ...)."""
  values = tf.convert_to_tensor(values)
  return tf.cast(values, accumulation_dtype(values.dtype))
