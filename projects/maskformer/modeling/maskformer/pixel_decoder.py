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

"""MaskFormer's per-pixel decoders: the FPN and the "+6 Enc" variant.

`FPNPixelDecoder` is the original `BasePixelDecoder`: top-down FPN over the
backbone's '2'..'5' features with GroupNorm(32) convs (no bias), PyTorch's
legacy nearest upsampling, and a 3x3 conv (with bias) to the per-pixel
embeddings at stride 4. `TransformerEncoderPixelDecoder` is
`TransformerEncoderPixelDecoder`: the res5 branch is a 1x1 projection, a
post-norm transformer encoder with sine positional encoding, then the 3x3
`layer_4`; the encoder output is also returned, as the predictor's input.

Sublayers are named after the original modules (`adapter_1`, `layer_1`, ...,
`mask_features`, `input_proj`, `transformer_encoder`); GroupNorms are named
`group_norm`.
"""
from typing import Dict
from typing import Optional
from typing import Tuple

import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import layers
from projects.maskformer.modeling import position_encoding
from projects.maskformer.modeling import transformer
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import valid_region

# Backbone endpoints, finest first; adapter_i/layer_i act on _LEVELS[i - 1].
_LEVELS = ('2', '3', '4', '5')
# The stride of each endpoint.
_STRIDES = {'2': 4, '3': 8, '4': 16, '5': 32}


def _level_sizes(valid_sizes: Optional[tf.Tensor]
                 ) -> Dict[str, Optional[tf.Tensor]]:
  """Each level's valid sizes (`valid_region`), or None for every level."""
  return {
      level: None if valid_sizes is None else
      valid_region.sizes_at_stride(valid_sizes, stride)
      for level, stride in _STRIDES.items()
  }


class FPNPixelDecoder(tf_keras.layers.Layer):
  """The per-pixel FPN decoder (`BasePixelDecoder`)."""

  def __init__(self, conv_dim: int = 256, mask_dim: int = 256,
               num_groups: int = 32, **kwargs):
    """Initializes the layer.

    Args:
      conv_dim: channels of the FPN layers.
      mask_dim: channels of the per-pixel embeddings.
      num_groups: GroupNorm groups.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    kwargs.setdefault('name', 'pixel_decoder')
    super().__init__(**kwargs)
    self._conv_dim = conv_dim
    self._mask_dim = mask_dim
    self._num_groups = num_groups

  def build(self, input_shape):
    missing = [level for level in _LEVELS if level not in input_shape]
    if missing:
      raise ValueError(f'{self.name} needs backbone endpoints {_LEVELS}; '
                       f'missing {missing}')
    self.layer_4 = layers.ConvGroupNorm(self._conv_dim, 3, self._num_groups,
                                        True, name='layer_4')
    self.adapters = [
        layers.ConvGroupNorm(self._conv_dim, 1, self._num_groups, False,
                             name=f'adapter_{i}') for i in (1, 2, 3)
    ]
    self.output_convs = [
        layers.ConvGroupNorm(self._conv_dim, 3, self._num_groups, True,
                             name=f'layer_{i}') for i in (1, 2, 3)
    ]
    self.mask_features = tf_keras.layers.Conv2D(
        self._mask_dim, 3, padding='same',
        kernel_initializer=layers.c2_xavier_initializer(),
        bias_initializer='zeros', name='mask_features')
    super().build(input_shape)

  def _top_level(self, res5: tf.Tensor, training: Optional[bool],
                 valid_sizes: Optional[tf.Tensor]
                 ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """The coarsest FPN map and extra outputs; here `layer_4(res5)`.

    `valid_sizes` are the res5 valid sizes, or None.
    """
    del training  # No dropout in the plain FPN.
    return self.layer_4(res5, valid_sizes), {}

  def call(self, features: Dict[str, tf.Tensor],
           training: Optional[bool] = None,
           valid_sizes: Optional[tf.Tensor] = None) -> Dict[str, tf.Tensor]:
    """Decodes backbone features.

    Args:
      features: the backbone's {'2': [B, H/4, W/4, C2], ..., '5':
        [B, H/32, W/32, C5]} float tensors (other keys are ignored).
      training: whether dropout is active.
      valid_sizes: None, or an int [B, 2] tensor of each image's (height,
        width) in the input images: the outputs are then, inside each
        image's valid region, what the image alone gives (padding-exact
        computation, `valid_region`).

    Returns:
      A dict with 'mask_features', a [B, H/4, W/4, mask_dim] tensor in the
      compute dtype, and for the "+6 Enc" decoder also
      'transformer_encoder_features', a wide (float32; float64 under the
      'float64' policy) [B, H/32, W/32, conv_dim]
      tensor.
    """
    sizes = _level_sizes(valid_sizes)
    y, outputs = self._top_level(features['5'], training, sizes['5'])
    for i in (3, 2, 1):
      level = _LEVELS[i - 1]
      lateral = self.adapters[i - 1](features[level], sizes[level])
      # On a canvas, legacy nearest 2x from ceil(n / 2) valid rows to n
      # picks rows floor(i / 2), as the image alone does (i < n).
      y = lateral + interpolation.resize_nearest_legacy(
          y, layers.spatial_size(lateral), height_axis=1)
      y = self.output_convs[i - 1](y, sizes[level])
    if valid_sizes is not None:
      y = valid_region.zero_outside(y, sizes['2'])
    outputs['mask_features'] = self.mask_features(y)
    return outputs

  def get_config(self):
    return dict(super().get_config(), conv_dim=self._conv_dim,
                mask_dim=self._mask_dim, num_groups=self._num_groups)


class TransformerEncoderPixelDecoder(FPNPixelDecoder):
  """The "+6 Enc" pixel decoder: a transformer encoder on res5, then FPN."""

  def __init__(self, conv_dim: int = 256, mask_dim: int = 256,
               num_groups: int = 32, num_layers: int = 6, num_heads: int = 8,
               dim_feedforward: int = 2048, dropout_rate: float = 0.1,
               **kwargs):
    """Initializes the layer.

    Args:
      conv_dim: channels of the FPN layers and width of the encoder.
      mask_dim: channels of the per-pixel embeddings.
      num_groups: GroupNorm groups.
      num_layers: encoder layers.
      num_heads: encoder attention heads.
      dim_feedforward: encoder FFN width.
      dropout_rate: encoder dropout rate.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(conv_dim, mask_dim, num_groups, **kwargs)
    self._num_layers = num_layers
    self._num_heads = num_heads
    self._dim_feedforward = dim_feedforward
    self._dropout_rate = dropout_rate

  def build(self, input_shape):
    self.input_proj = tf_keras.layers.Conv2D(
        self._conv_dim, 1, kernel_initializer=layers.c2_xavier_initializer(),
        bias_initializer='zeros', name='input_proj')
    self.transformer_encoder = transformer.TransformerEncoder(
        self._num_layers, self._num_heads, self._dim_feedforward,
        self._dropout_rate, name='transformer_encoder')
    super().build(input_shape)

  def _top_level(self, res5: tf.Tensor, training: Optional[bool],
                 valid_sizes: Optional[tf.Tensor]
                 ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """`layer_4(encoder(input_proj(res5)))`, and the encoder output.

    With res5 `valid_sizes`, the encoder's tokens outside the image are no
    keys and the positional encoding is normalised over the valid extent.
    """
    x = self.input_proj(res5)
    pos = position_encoding.sine_position_encoding(x, self._conv_dim,
                                                   self.dtype, valid_sizes)
    shape = tf.shape(x)
    tokens = tf.reshape(x, tf.stack([shape[0], -1, self._conv_dim]))
    padded_keys = (None if valid_sizes is None else
                   valid_region.padded_keys(valid_sizes, (shape[1], shape[2])))
    encoded = self.transformer_encoder(
        tokens, tf.reshape(pos, tf.stack([tf.shape(pos)[0], -1,
                                          self._conv_dim])),
        padded_keys, training=training)
    encoded = tf.reshape(encoded, shape)
    return (self.layer_4(encoded, valid_sizes),
            {'transformer_encoder_features': encoded})

  def get_config(self):
    return dict(super().get_config(), num_layers=self._num_layers,
                num_heads=self._num_heads,
                dim_feedforward=self._dim_feedforward,
                dropout_rate=self._dropout_rate)
