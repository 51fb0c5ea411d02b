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

"""DETR's post-norm transformer encoder and decoder, as MaskFormer uses them.

Model Garden's `projects/detr/modeling/transformer.py` is not reused: its
encoder always ends with a LayerNorm (the original post-norm encoder has
none) and its blocks round the residual stream to the compute dtype. These
layers follow DETR's `TransformerEncoderLayer` /
`TransformerDecoderLayer.forward_post` line by line, batch first:

  encoder layer: x = norm1(x + drop(attn(x + pos, x + pos, x)))
                 x = norm2(x + drop(linear2(drop(relu(linear1(x))))))
  decoder layer: t = norm1(t + drop(self_attn(t + qpos, t + qpos, t)))
                 t = norm2(t + drop(cross_attn(t + qpos, m + pos, m)))
                 t = norm3(t + drop(linear2(drop(relu(linear1(t))))))

The decoder returns `decoder_layer_norm(t)` after every layer (DETR's
`return_intermediate`); the un-normalized `t` feeds the next layer.
LayerNorms are named `layer_norm*` so that optimizers can find them.

Under mixed precision the residual stream, the positional encodings and the
LayerNorms stay in the accumulation dtype, the layers' variable dtype
(these layers do not autocast their inputs): float32, or float64 under the
'float64' policy. Only the attention and FFN matmuls run in the compute
dtype. "wide" below means that accumulation dtype.
"""
from typing import List
from typing import Optional

import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import layers


class _FeedForward(tf_keras.layers.Layer):
  """linear2(dropout(relu(linear1(x)))), DETR's FFN with xavier kernels."""

  def __init__(self, dim_feedforward: int, dropout_rate: float, **kwargs):
    super().__init__(**kwargs)
    self._dim_feedforward = dim_feedforward
    self._dropout_rate = dropout_rate

  def build(self, input_shape):
    channels = int(input_shape[-1])
    self.linear1 = tf_keras.layers.Dense(
        self._dim_feedforward, activation='relu',
        kernel_initializer='glorot_uniform',
        bias_initializer=layers.torch_linear_bias_initializer(channels),
        name='linear1')
    self.linear2 = tf_keras.layers.Dense(
        channels, kernel_initializer='glorot_uniform',
        bias_initializer=layers.torch_linear_bias_initializer(
            self._dim_feedforward),
        name='linear2')
    self._dropout = tf_keras.layers.Dropout(self._dropout_rate)
    super().build(input_shape)

  def call(self, inputs, training=None):
    return self.linear2(
        self._dropout(self.linear1(inputs), training=training))


class _TransformerBlock(tf_keras.layers.Layer):
  """Hyper-parameters shared by the layers and stacks below.

  These layers do not autocast: they take float inputs of any dtype and keep
  the residual stream in the wide dtype (see the module docstring).
  """

  def __init__(self, num_heads: int, dim_feedforward: int,
               dropout_rate: float, **kwargs):
    """Initializes the block.

    Args:
      num_heads: attention heads.
      dim_feedforward: FFN inner width.
      dropout_rate: dropout on attention weights, FFN inner activations and
        every residual branch.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    kwargs.setdefault('autocast', False)
    super().__init__(**kwargs)
    self._num_heads = num_heads
    self._dim_feedforward = dim_feedforward
    self._dropout_rate = dropout_rate


class _TransformerStack(_TransformerBlock):
  """A block made of `num_layers` identical layers named `layer_{i}`."""

  def __init__(self, num_layers: int, num_heads: int, dim_feedforward: int,
               dropout_rate: float, **kwargs):
    """Initializes the stack.

    Args:
      num_layers: number of layers.
      num_heads: attention heads.
      dim_feedforward: FFN inner width.
      dropout_rate: dropout rate of every dropout.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(num_heads, dim_feedforward, dropout_rate, **kwargs)
    self._num_layers = num_layers

  def _make_layers(self, layer_class) -> List[_TransformerBlock]:
    return [
        layer_class(self._num_heads, self._dim_feedforward,
                    self._dropout_rate, name=f'layer_{i}')
        for i in range(self._num_layers)
    ]


class TransformerEncoderLayer(_TransformerBlock):
  """One post-norm encoder layer (self-attention + FFN)."""

  def build(self, input_shape):
    self.self_attention = layers.MultiHeadAttention(
        self._num_heads, self._dropout_rate, name='self_attention')
    self.layer_norm1 = layers.layer_norm('layer_norm1')
    self.feed_forward = _FeedForward(
        self._dim_feedforward, self._dropout_rate, name='feed_forward')
    self.layer_norm2 = layers.layer_norm('layer_norm2')
    self._dropout1 = tf_keras.layers.Dropout(self._dropout_rate)
    self._dropout2 = tf_keras.layers.Dropout(self._dropout_rate)
    super().build(input_shape)

  def call(self, inputs: tf.Tensor, pos: tf.Tensor,
           padded_keys: Optional[tf.Tensor] = None,
           training: Optional[bool] = None) -> tf.Tensor:
    """Runs the layer.

    Args:
      inputs: A float [B, L, C] tensor.
      pos: A wide [B or 1, L, C] positional encoding added to queries and
        keys.
      padded_keys: None, or a bool [B, 1, L] tensor, True for tokens outside
        the image (`valid_region.padded_keys`), which no token attends.
      training: whether dropout is active.

    Returns:
      A wide [B, L, C] tensor.
    """
    x = tf.cast(inputs, self.dtype)
    q_k = x + pos
    attended = self.self_attention(q_k, q_k, x, blocked=padded_keys,
                                   training=training)
    x = self.layer_norm1(
        x + tf.cast(self._dropout1(attended, training=training), self.dtype))
    transformed = self.feed_forward(x, training=training)
    return self.layer_norm2(
        x + tf.cast(self._dropout2(transformed, training=training),
                    self.dtype))


class TransformerEncoder(_TransformerStack):
  """A stack of post-norm encoder layers with no final norm."""

  def build(self, input_shape):
    self.encoder_layers = self._make_layers(TransformerEncoderLayer)
    super().build(input_shape)

  def call(self, inputs: tf.Tensor, pos: tf.Tensor,
           padded_keys: Optional[tf.Tensor] = None,
           training: Optional[bool] = None) -> tf.Tensor:
    """Encodes float `inputs` [B, L, C] with wide encoding `pos`.

    `padded_keys` is `TransformerEncoderLayer.call`'s.

    Returns:
      A wide [B, L, C] tensor.
    """
    x = tf.cast(inputs, self.dtype)
    for layer in self.encoder_layers:
      x = layer(x, pos, padded_keys, training=training)
    return x


class TransformerDecoderLayer(_TransformerBlock):
  """One post-norm decoder layer (self-attention, cross-attention, FFN)."""

  def build(self, input_shape):
    self.self_attention = layers.MultiHeadAttention(
        self._num_heads, self._dropout_rate, name='self_attention')
    self.layer_norm1 = layers.layer_norm('layer_norm1')
    self.cross_attention = layers.MultiHeadAttention(
        self._num_heads, self._dropout_rate, name='cross_attention')
    self.layer_norm2 = layers.layer_norm('layer_norm2')
    self.feed_forward = _FeedForward(
        self._dim_feedforward, self._dropout_rate, name='feed_forward')
    self.layer_norm3 = layers.layer_norm('layer_norm3')
    self._dropouts = [tf_keras.layers.Dropout(self._dropout_rate)
                      for _ in range(3)]
    super().build(input_shape)

  def call(self, target: tf.Tensor, memory: tf.Tensor, pos: tf.Tensor,
           query_pos: tf.Tensor, padded_keys: Optional[tf.Tensor] = None,
           training: Optional[bool] = None) -> tf.Tensor:
    """Runs the layer.

    Args:
      target: A float [B, Q, C] tensor (the queries' state).
      memory: A wide [B, L, C] tensor (the image features).
      pos: A wide [B or 1, L, C] positional encoding of `memory`.
      query_pos: A float [B or 1, Q, C] query embedding.
      padded_keys: None, or a bool [B, 1, L] tensor, True for memory tokens
        outside the image (`valid_region.padded_keys`), which the
        cross-attention does not attend.
      training: whether dropout is active.

    Returns:
      The new wide [B, Q, C] state.
    """
    t = tf.cast(target, self.dtype)
    query_pos = tf.cast(query_pos, self.dtype)
    q_k = t + query_pos
    attended = self.self_attention(q_k, q_k, t, training=training)
    t = self.layer_norm1(
        t + tf.cast(self._dropouts[0](attended, training=training), self.dtype))
    attended = self.cross_attention(t + query_pos, memory + pos, memory,
                                    blocked=padded_keys, training=training)
    t = self.layer_norm2(
        t + tf.cast(self._dropouts[1](attended, training=training), self.dtype))
    transformed = self.feed_forward(t, training=training)
    return self.layer_norm3(
        t + tf.cast(self._dropouts[2](transformed, training=training),
                    self.dtype))


class TransformerDecoder(_TransformerStack):
  """Post-norm decoder layers plus the shared final LayerNorm."""

  def build(self, input_shape):
    self.decoder_layers = self._make_layers(TransformerDecoderLayer)
    self.layer_norm = layers.layer_norm('decoder_layer_norm')
    super().build(input_shape)

  def call(self, target: tf.Tensor, memory: tf.Tensor, pos: tf.Tensor,
           query_pos: tf.Tensor, padded_keys: Optional[tf.Tensor] = None,
           training: Optional[bool] = None) -> List[tf.Tensor]:
    """Decodes; see `TransformerDecoderLayer.call` for the arguments.

    `memory` may be in any float dtype here (it is cast to the wide dtype).

    Returns:
      A list with one wide [B, Q, C] tensor per layer: that layer's output
      after the final LayerNorm.
    """
    outputs = []
    t = target
    memory = tf.cast(memory, self.dtype)
    for layer in self.decoder_layers:
      t = layer(t, memory, pos, query_pos, padded_keys, training=training)
      outputs.append(self.layer_norm(t))
    return outputs
