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

"""The class and mask heads of a mask-classification model.

From the decoder's hidden states of the Q queries, a Linear gives K + 1 class
logits ("no object" last) and a 3-layer MLP (ReLU between layers) gives mask
embeddings, whose dot product with the per-pixel embeddings gives the mask
logits: MaskFormer's and Mask2Former's `class_embed`, `mask_embed` and
`einsum("bqc,bchw->bqhw")`.

The heads are PyTorch-initialized Dense layers whose policy is the global
policy's accumulation dtype (float32, or float64 under 'float64'): they are
tiny (Q tokens), and the mask dot product runs in that dtype too, so that the
mask logits do not inherit bfloat16 cancellation error. The predictor that
owns them keeps them as its own attributes, so the variable names are the
predictor's ('.../class_embed/...', '.../mask_embed/layer_<i>/...').
"""
from typing import Dict
from typing import Optional
from typing import Sequence

import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import layers
from projects.maskformer.ops import precision

MASK_EMBED_LAYERS = 3


def _torch_linear(units: int, fan_in: int, name: str,
                  activation: Optional[str] = None) -> tf_keras.layers.Dense:
  """A Dense layer with PyTorch's default Linear init, in the wide dtype."""
  return tf_keras.layers.Dense(
      units, activation=activation,
      kernel_initializer=layers.torch_linear_kernel_initializer(),
      bias_initializer=layers.torch_linear_bias_initializer(fan_in), name=name,
      dtype=precision.policy_accumulation_dtype())


def class_head(num_classes: int, hidden_dim: int) -> tf_keras.layers.Dense:
  """`class_embed`: hidden states [B, Q, C] -> logits [B, Q, num_classes + 1].

  Args:
    num_classes: K, the number of classes without "no object".
    hidden_dim: C, the width of the hidden states.

  Returns:
    The Dense layer, named 'class_embed'.
  """
  return _torch_linear(num_classes + 1, hidden_dim, 'class_embed')


def mask_embedding_head(hidden_dim: int,
                        mask_dim: int) -> Sequence[tf_keras.layers.Dense]:
  """`mask_embed`: the MLP from hidden states [B, Q, C] to [B, Q, mask_dim].

  Args:
    hidden_dim: C, the width of the hidden states and of the hidden layers.
    mask_dim: the width of the per-pixel embeddings.

  Returns:
    The MLP's Dense layers in order, named 'mask_embed/layer_<i>', ReLU after
    all but the last.
  """
  last = MASK_EMBED_LAYERS - 1
  return [
      _torch_linear(mask_dim if i == last else hidden_dim, hidden_dim,
                    f'mask_embed/layer_{i}', None if i == last else 'relu')
      for i in range(MASK_EMBED_LAYERS)
  ]


def predict(hidden: tf.Tensor, class_embed: tf_keras.layers.Dense,
            mask_embed: Sequence[tf_keras.layers.Dense],
            mask_features: tf.Tensor) -> Dict[str, tf.Tensor]:
  """Class logits and mask logits of one decoder layer's hidden states.

  Args:
    hidden: A float [B, Q, C] tensor of hidden states.
    class_embed: The `class_head` layer.
    mask_embed: The `mask_embedding_head` layers.
    mask_features: A [B, H, W, mask_dim] tensor of per-pixel embeddings, of
      the heads' dtype.

  Returns:
    {'pred_logits': [B, Q, K + 1], 'pred_masks': [B, Q, H, W]}, of the heads'
    dtype (float32; float64 under 'float64').
  """
  mask_embedding = hidden
  for dense in mask_embed:
    mask_embedding = dense(mask_embedding)
  return {
      'pred_logits': class_embed(hidden),
      'pred_masks': tf.einsum('bqc,bhwc->bqhw', mask_embedding, mask_features),
  }
