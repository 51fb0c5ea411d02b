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

"""MaskFormer's transformer predictor: DETR decoder, then the shared heads.

The original `TransformerPredictor` with `ENC_LAYERS = 0` and post-norm:
learned queries (`query_embed`, Q x C, the decoder's query positions; the
decoder input is all zeros) attend to the projected image features plus
their sine positional encoding; after every decoder layer the shared final
LayerNorm gives the hidden states, from which the `heads` give K + 1 class
logits ("no object" last) and mask embeddings, whose dot product with the
per-pixel embeddings gives the mask logits at stride 4.

Under mixed precision the input projection and the decoder's matmuls run in
the compute dtype; the heads (tiny: Q tokens) and the mask dot product run in
float32 (float64 under the 'float64' policy), so that the mask logits do not inherit bfloat16 cancellation error.
"""
from typing import Any
from typing import Dict
from typing import Optional

import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import heads
from projects.maskformer.modeling import layers
from projects.maskformer.modeling import position_encoding
from projects.maskformer.modeling import transformer
from projects.maskformer.ops import valid_region


class TransformerPredictor(tf_keras.layers.Layer):
  """Predicts per-query class logits and mask logits for every layer."""

  def __init__(self,
               num_classes: int,
               hidden_dim: int = 256,
               num_queries: int = 100,
               num_heads: int = 8,
               dim_feedforward: int = 2048,
               dropout_rate: float = 0.1,
               num_decoder_layers: int = 6,
               mask_dim: int = 256,
               enforce_input_projection: bool = False,
               deep_supervision: bool = True,
               **kwargs):
    """Initializes the layer.

    Args:
      num_classes: K, the number of classes without "no object".
      hidden_dim: transformer width C.
      num_queries: Q.
      num_heads: attention heads.
      dim_feedforward: FFN width.
      dropout_rate: dropout rate of every dropout in the decoder.
      num_decoder_layers: L.
      mask_dim: width of the mask embeddings; must equal the pixel
        decoder's per-pixel embedding width.
      enforce_input_projection: add the 1x1 input projection even when the
        input already has `hidden_dim` channels (Swin configs).
      deep_supervision: also return every earlier layer's predictions.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    kwargs.setdefault('name', 'transformer_predictor')
    kwargs.setdefault('autocast', False)
    super().__init__(**kwargs)
    self._num_classes = num_classes
    self._hidden_dim = hidden_dim
    self._num_queries = num_queries
    self._num_heads = num_heads
    self._dim_feedforward = dim_feedforward
    self._dropout_rate = dropout_rate
    self._num_decoder_layers = num_decoder_layers
    self._mask_dim = mask_dim
    self._enforce_input_projection = enforce_input_projection
    self._deep_supervision = deep_supervision

  def build(self, input_shape):
    in_channels = int(input_shape[-1])
    if in_channels != self._hidden_dim or self._enforce_input_projection:
      self.input_proj = tf_keras.layers.Conv2D(
          self._hidden_dim, 1,
          kernel_initializer=layers.c2_xavier_initializer(),
          bias_initializer='zeros', name='input_proj')
    else:
      self.input_proj = None
    self.query_embed = self.add_weight(
        'query_embed', shape=[self._num_queries, self._hidden_dim],
        initializer=tf_keras.initializers.RandomNormal(stddev=1.0),
        experimental_autocast=False)
    self.transformer_decoder = transformer.TransformerDecoder(
        self._num_decoder_layers, self._num_heads, self._dim_feedforward,
        self._dropout_rate, name='transformer_decoder')
    self.class_embed = heads.class_head(self._num_classes, self._hidden_dim)
    self.mask_embed = heads.mask_embedding_head(self._hidden_dim,
                                                self._mask_dim)
    super().build(input_shape)

  def call(self, features: tf.Tensor, mask_features: tf.Tensor,
           training: Optional[bool] = None,
           valid_sizes: Optional[tf.Tensor] = None) -> Dict[str, Any]:
    """Predicts.

    Args:
      features: A float [B, h, w, C_in] tensor: res5, or the "+6 Enc"
        encoder output.
      mask_features: A float [B, H, W, mask_dim] tensor, the per-pixel
        embeddings (stride 4).
      training: whether dropout is active.
      valid_sizes: None, or an int [B, 2] tensor of each image's valid
        (height, width) in `features` (`valid_region`): the queries then
        attend only those tokens, with the positional encoding normalised
        over them, as the image alone gives. Mask logits outside each
        image's region (at stride 4) mean nothing.

    Returns:
      A dict with wide (float32; float64 under 'float64') 'pred_logits'
      [B, Q, K + 1] and 'pred_masks'
      [B, Q, H, W] of the last decoder layer, and 'aux_outputs', a list (one
      per earlier layer, in order; empty without deep supervision) of dicts
      with the same two keys.
    """
    memory = features
    if self.input_proj is not None:
      memory = self.input_proj(memory)
    pos = position_encoding.sine_position_encoding(
        memory, self._hidden_dim, self.dtype, valid_sizes)
    shape = tf.shape(memory)
    padded_keys = (None if valid_sizes is None else
                   valid_region.padded_keys(valid_sizes, (shape[1], shape[2])))
    memory = tf.reshape(memory, tf.stack([shape[0], -1, self._hidden_dim]))
    pos = tf.reshape(pos, tf.stack([tf.shape(pos)[0], -1, self._hidden_dim]))
    target = tf.zeros(tf.stack([shape[0], self._num_queries,
                                self._hidden_dim]), self.dtype)
    query_pos = self.query_embed[tf.newaxis]
    hidden_states = self.transformer_decoder(
        target, memory, pos, query_pos, padded_keys, training=training)
    if not self._deep_supervision:
      hidden_states = hidden_states[-1:]

    mask_features = tf.cast(mask_features, self.dtype)
    predictions = [
        heads.predict(hidden, self.class_embed, self.mask_embed, mask_features)
        for hidden in hidden_states
    ]
    outputs = dict(predictions[-1])
    outputs['aux_outputs'] = predictions[:-1]
    return outputs

  def get_config(self):
    return dict(
        super().get_config(),
        num_classes=self._num_classes,
        hidden_dim=self._hidden_dim,
        num_queries=self._num_queries,
        num_heads=self._num_heads,
        dim_feedforward=self._dim_feedforward,
        dropout_rate=self._dropout_rate,
        num_decoder_layers=self._num_decoder_layers,
        mask_dim=self._mask_dim,
        enforce_input_projection=self._enforce_input_projection,
        deep_supervision=self._deep_supervision)
