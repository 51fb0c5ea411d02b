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

"""Mask2Former's masked-attention transformer decoder.

The original `MultiScaleMaskedTransformerDecoder` (post-norm, dropout 0),
batch first. Its memory is the pixel decoder's three levels (1/32, 1/16,
1/8), each optionally projected to the hidden width E, flattened row-major
and shifted by its row of `level_embed` (keys and values both see it); the
sine encoding of the level is added to the keys only. The Q queries start
from the learnable `query_feat`, with `query_embed` as their positional
encoding. With L = `dec_layers` - 1 layers:

  head 0 on query_feat -> attention mask for level 0
  layer i (level i % 3, round robin):
    t = norm_c(t + cross_attn(t + query_embed, memory + pos, memory, mask))
    t = norm_s(t + self_attn(t + query_embed, t + query_embed, t))
    t = norm_f(t + linear2(relu(linear1(t))))
    head i + 1 on t -> attention mask for level (i + 1) % 3

Every head applies the shared `decoder_norm`, then the class and mask heads
(`heads`). The attention mask of a head is `attention_mask`: its mask logits
resized to the next level, blocked where sigmoid < 0.5, rows blocked
everywhere opened. The last head's predictions are the output, heads 0 .. L-1
the auxiliary outputs (L + 1 = `dec_layers` supervised heads).

Padding-exact computation (`valid_sizes`, `ops/valid_region`): with
each image at the top-left of a static canvas, the memory tokens outside
its region (ceil(h / stride), ceil(w / stride)) are no keys, the sine
encodings are normalised by the region's extent, and each image's mask
logits region (stride 4) is resized to its region of the level, so that the
attention masks, and the rows opened everywhere (opened on the region only),
are the image alone's.

Under mixed precision this layer does not autocast: the residual stream,
the memory, the encodings, the LayerNorms, the heads and the attention masks
stay in the accumulation dtype (float32, or float64 under 'float64'); only
the attention and FFN matmuls and the input projections run in the compute
dtype, as in MaskFormer's predictor.
"""
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import heads
from projects.maskformer.modeling import layers
from projects.maskformer.modeling import position_encoding
from projects.maskformer.modeling import transformer
from projects.maskformer.modeling.mask2former import pixel_decoder
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import valid_region

# The original's number of memory levels (1/32, 1/16, 1/8) and level_embed
# rows.
NUM_FEATURE_LEVELS = 3


def attention_mask(mask_logits: tf.Tensor, size: Sequence[Any],
                   mask_sizes: Optional[tf.Tensor] = None,
                   level_sizes: Optional[tf.Tensor] = None) -> tf.Tensor:
  """The masked-attention mask of one head for the next layer's level.

  `sigmoid(resize(mask_logits)) < 0.5`, resized with
  `F.interpolate(mode='bilinear', align_corners=False)`, without gradient.
  The sigmoid matters: in float32 it rounds tiny negative logits (e.g.
  -1e-8) to exactly 0.5, which are then not blocked, where `logit < 0` would
  block them. A (batch, query) row blocked everywhere is then opened
  entirely (the original's "attend everywhere" rule).

  Args:
    mask_logits: A float [B, Q, H, W] tensor of mask logits.
    size: The level's (height, width), Python ints or int32 scalar tensors
      (Python ints with valid sizes).
    mask_sizes: None, or an int [B, 2] tensor of each image's valid
      (height, width) in `mask_logits` (padding-exact computation).
    level_sizes: None (with `mask_sizes`), or an int [B, 2] tensor of each
      image's valid (height, width) at the level: each image's region of
      the mask logits is then resized to its region of the level, the keys
      outside are blocked, and a row blocked on the whole region is opened
      on the region only (the image alone's mask).

  Returns:
    A bool [B, Q, height, width] tensor, True where the query may not attend.
  """
  mask_logits = tf.stop_gradient(mask_logits)
  if level_sizes is None:
    resized = interpolation.resize_bilinear(mask_logits, size)
    outside = tf.constant(False)
  else:
    resized = interpolation.resize_bilinear_per_image(
        mask_logits, mask_sizes, level_sizes, size)
    outside = tf.logical_not(
        valid_region.valid_mask(level_sizes, size))[:, tf.newaxis]
  blocked = (tf.sigmoid(resized) < 0.5) | outside
  blocked_everywhere = tf.reduce_all(blocked, axis=[2, 3], keepdims=True)
  return blocked & (tf.logical_not(blocked_everywhere) | outside)


class MaskedAttentionDecoderLayer(tf_keras.layers.Layer):
  """One post-norm layer: masked cross-attention, self-attention, FFN.

  It does not autocast: the residual stream stays in the layer's variable
  dtype (the accumulation dtype); the attention and FFN sublayers follow the
  policy.
  """

  def __init__(self, num_heads: int, dim_feedforward: int, **kwargs):
    """Initializes the layer.

    Args:
      num_heads: attention heads.
      dim_feedforward: FFN inner width.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    kwargs.setdefault('autocast', False)
    super().__init__(**kwargs)
    self._num_heads = num_heads
    self._dim_feedforward = dim_feedforward

  def build(self, input_shape):
    self.cross_attention = layers.MultiHeadAttention(
        self._num_heads, name='cross_attention')
    self.cross_attention_layer_norm = layers.layer_norm(
        'cross_attention_layer_norm')
    self.self_attention = layers.MultiHeadAttention(
        self._num_heads, name='self_attention')
    self.self_attention_layer_norm = layers.layer_norm(
        'self_attention_layer_norm')
    # DETR's FFN, shared with MaskFormer's transformer; the original
    # hard-codes dropout 0.0 in this decoder.
    # pylint: disable-next=protected-access
    self.feed_forward = transformer._FeedForward(
        self._dim_feedforward, 0.0, name='feed_forward')
    self.feed_forward_layer_norm = layers.layer_norm('feed_forward_layer_norm')
    super().build(input_shape)

  def call(self, queries: tf.Tensor, memory: tf.Tensor, pos: tf.Tensor,
           query_pos: tf.Tensor, blocked: tf.Tensor) -> tf.Tensor:
    """Runs the layer.

    Args:
      queries: A wide [B, Q, E] tensor, the queries' state.
      memory: A wide [B, S, E] tensor, one level's flattened features.
      pos: A wide [B or 1, S, E] positional encoding of `memory`.
      query_pos: A wide [1, Q, E] query positional encoding.
      blocked: A bool [B, Q, S] tensor, True where a query may not attend.

    Returns:
      The new wide [B, Q, E] state.
    """
    t = tf.cast(queries, self.dtype)
    attended = self.cross_attention(t + query_pos, memory + pos, memory,
                                    blocked=blocked)
    t = self.cross_attention_layer_norm(t + tf.cast(attended, self.dtype))
    q_k = t + query_pos
    attended = self.self_attention(q_k, q_k, t)
    t = self.self_attention_layer_norm(t + tf.cast(attended, self.dtype))
    transformed = self.feed_forward(t)
    return self.feed_forward_layer_norm(t + tf.cast(transformed, self.dtype))

  def get_config(self):
    return dict(super().get_config(), num_heads=self._num_heads,
                dim_feedforward=self._dim_feedforward)


class MultiScaleMaskedTransformerDecoder(tf_keras.layers.Layer):
  """Predicts class and mask logits of every query after every layer.

  Named 'transformer_predictor' by default (the original's
  `sem_seg_head.predictor`), so that the optimizer's variable-name regexes
  treat it as part of the head.
  """

  def __init__(self,
               num_classes: int,
               hidden_dim: int = 256,
               num_queries: int = 100,
               num_heads: int = 8,
               dim_feedforward: int = 2048,
               dec_layers: int = 10,
               mask_dim: int = 256,
               enforce_input_projection: bool = False,
               deep_supervision: bool = True,
               **kwargs):
    """Initializes the layer.

    Args:
      num_classes: K, the number of classes without "no object".
      hidden_dim: transformer width E.
      num_queries: Q.
      num_heads: attention heads.
      dim_feedforward: FFN inner width.
      dec_layers: the config's `DEC_LAYERS`: the number of supervised
        prediction heads; the decoder has `dec_layers - 1` layers.
      mask_dim: width of the mask embeddings; must equal the pixel
        decoder's per-pixel embedding width.
      enforce_input_projection: add the 1x1 input projections even when the
        levels already have `hidden_dim` channels.
      deep_supervision: also return the earlier heads' predictions.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    if dec_layers < 1:
      raise ValueError(f'dec_layers must be at least 1, got {dec_layers}')
    kwargs.setdefault('name', 'transformer_predictor')
    kwargs.setdefault('autocast', False)
    super().__init__(**kwargs)
    self._num_classes = num_classes
    self._hidden_dim = hidden_dim
    self._num_queries = num_queries
    self._num_heads = num_heads
    self._dim_feedforward = dim_feedforward
    self._dec_layers = dec_layers
    self._mask_dim = mask_dim
    self._enforce_input_projection = enforce_input_projection
    self._deep_supervision = deep_supervision

  def build(self, input_shape):
    if len(input_shape) != NUM_FEATURE_LEVELS:
      raise ValueError(f'{self.name}: expected {NUM_FEATURE_LEVELS} feature '
                       f'levels, got {len(input_shape)}')
    self.input_proj: List[Optional[tf_keras.layers.Conv2D]] = []
    for level, shape in enumerate(input_shape):
      in_channels = int(shape[-1])
      if in_channels != self._hidden_dim or self._enforce_input_projection:
        self.input_proj.append(tf_keras.layers.Conv2D(
            self._hidden_dim, 1,
            kernel_initializer=layers.c2_xavier_initializer(),
            bias_initializer='zeros', name=f'input_proj_{level}'))
      else:
        self.input_proj.append(None)

    def embedding(name, rows):
      return self.add_weight(
          name, shape=[rows, self._hidden_dim],
          initializer=tf_keras.initializers.RandomNormal(stddev=1.0),
          experimental_autocast=False)

    self.query_feat = embedding('query_feat', self._num_queries)
    self.query_embed = embedding('query_embed', self._num_queries)
    self.level_embed = embedding('level_embed', NUM_FEATURE_LEVELS)
    self.decoder_layers = [
        MaskedAttentionDecoderLayer(self._num_heads, self._dim_feedforward,
                                    name=f'layer_{i}')
        for i in range(self._dec_layers - 1)
    ]
    self.decoder_norm = layers.layer_norm('decoder_layer_norm')
    self.class_embed = heads.class_head(self._num_classes, self._hidden_dim)
    self.mask_embed = heads.mask_embedding_head(self._hidden_dim,
                                                self._mask_dim)
    super().build(input_shape)

  def _memory(self, features: tf.Tensor, level: int,
              valid_sizes: Optional[tf.Tensor]
              ) -> Tuple[tf.Tensor, tf.Tensor, Tuple[Any, Any]]:
    """One level's memory [B, S, E], encoding and (height, width).

    The encoding is [1, S, E], or [B, S, E] normalised by each image's
    region when the level's `valid_sizes` ([B, 2]) are given.
    """
    if self.input_proj[level] is not None:
      features = self.input_proj[level](features)
    size = layers.spatial_size(features)
    length = size[0] * size[1]
    memory = tf.reshape(tf.cast(features, self.dtype),
                        [-1, length, self._hidden_dim])
    memory += self.level_embed[level]
    pos = position_encoding.sine_position_encoding(features, self._hidden_dim,
                                                   self.dtype, valid_sizes)
    return memory, tf.reshape(pos, [-1, length, self._hidden_dim]), size

  def _predict(self, queries: tf.Tensor,
               mask_features: tf.Tensor) -> Dict[str, tf.Tensor]:
    """A prediction head: `decoder_norm`, then the class and mask heads."""
    return heads.predict(self.decoder_norm(queries), self.class_embed,
                         self.mask_embed, mask_features)

  def call(self, multi_scale_features: Sequence[tf.Tensor],
           mask_features: tf.Tensor,
           return_attention_masks: bool = False,
           valid_sizes: Optional[tf.Tensor] = None) -> Dict[str, Any]:
    """Predicts.

    Args:
      multi_scale_features: A list of 3 float [B, H_l, W_l, C] tensors, the
        pixel decoder's levels at strides 32, 16 and 8.
      mask_features: A float [B, H, W, mask_dim] tensor, the per-pixel
        embeddings (stride 4).
      return_attention_masks: also return the attention masks fed to the
        layers.
      valid_sizes: None, or an int [B, 2] tensor of each image's (height,
        width) at the top-left of the input images (stride 1): inside each
        image's region, the predictions and attention masks are then the
        image alone's (padding-exact computation, module docstring); the
        attention masks block everything outside it.

    Returns:
      A dict with wide (float32; float64 under 'float64') 'pred_logits'
      [B, Q, K + 1] and 'pred_masks' [B, Q, H, W] of the last head, and
      'aux_outputs', a list of dicts with the same two keys for heads
      0 .. L-1 in order (head 0 is on the learnable queries; empty without
      deep supervision). With `return_attention_masks`, also
      'attention_masks': a list with, for each layer i, the bool
      [B, Q, H_l, W_l] mask of level l = i % 3 it used (True: not attended).
    """
    if valid_sizes is None:
      level_sizes = [None] * NUM_FEATURE_LEVELS
      mask_sizes = None
    else:
      level_sizes = [
          valid_region.sizes_at_stride(valid_sizes,
                                       pixel_decoder.STRIDES[level])
          for level in pixel_decoder.ENCODER_LEVELS
      ]
      mask_sizes = valid_region.sizes_at_stride(
          valid_sizes, pixel_decoder.STRIDES[pixel_decoder.FPN_LEVEL])
    memories = [
        self._memory(features, level, level_sizes[level])
        for level, features in enumerate(multi_scale_features)
    ]
    mask_features = tf.cast(mask_features, self.dtype)
    batch_size = tf.shape(mask_features)[0]
    queries = tf.broadcast_to(
        self.query_feat,
        tf.stack([batch_size, self._num_queries, self._hidden_dim]))
    query_pos = self.query_embed[tf.newaxis]
    predictions = [self._predict(queries, mask_features)]
    masks = []
    for i, layer in enumerate(self.decoder_layers):
      level = i % NUM_FEATURE_LEVELS
      memory, pos, size = memories[level]
      blocked = attention_mask(predictions[-1]['pred_masks'], size,
                               mask_sizes, level_sizes[level])
      masks.append(blocked)
      flat_blocked = tf.reshape(blocked,
                                [-1, self._num_queries, size[0] * size[1]])
      queries = layer(queries, memory, pos, query_pos, flat_blocked)
      predictions.append(self._predict(queries, mask_features))

    outputs = dict(predictions[-1])
    outputs['aux_outputs'] = predictions[:-1] if self._deep_supervision else []
    if return_attention_masks:
      outputs['attention_masks'] = masks
    return outputs

  def get_config(self):
    return dict(
        super().get_config(),
        num_classes=self._num_classes,
        hidden_dim=self._hidden_dim,
        num_queries=self._num_queries,
        num_heads=self._num_heads,
        dim_feedforward=self._dim_feedforward,
        dec_layers=self._dec_layers,
        mask_dim=self._mask_dim,
        enforce_input_projection=self._enforce_input_projection,
        deep_supervision=self._deep_supervision)
