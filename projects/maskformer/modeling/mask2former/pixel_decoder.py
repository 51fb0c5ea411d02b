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

"""Mask2Former's pixel decoder: `MSDeformAttnPixelDecoder`.

The original's `forward_features` (semantics doc, section 2), NHWC:

  1. Level l of the deformable encoder is res5, res4, res3 (l = 0, 1, 2: low
     to high resolution). `input_proj_{l}`: conv 1x1 with bias, then
     GroupNorm(32), no activation. The positional encoding of a level is the
     sine encoding of its map plus `level_embed[l]` (the level embedding
     goes to the positions, not to the features).
  2. The levels are flattened row-major and concatenated: S tokens. Every
     token's reference point is its pixel centre ((j + 0.5) / W_l,
     (i + 0.5) / H_l), the same normalised point on every level (valid ratios
     are 1: no padding mask).
  3. `num_layers` post-norm encoder layers:
       x = layer_norm1(x + MSDeformAttn(x + pos, reference points, x))
       x = layer_norm2(x + linear2(relu(linear1(x))))
  4. The encoder output, split back into maps, is `multi_scale_features`
     (1/32, 1/16, 1/8). One FPN level for res2: `adapter_1` (conv 1x1 without
     bias + GroupNorm) of res2, plus the 1/8 map resized bilinearly
     (align_corners=False) to res2's size, then `layer_1` (conv 3x3 without
     bias + GroupNorm + ReLU); `mask_features` is a conv 1x1 with bias of it.

Padding-exact computation (`valid_sizes`, `ops/valid_region`): each
image sits at the top-left of a static canvas, and inside its region
(ceil(h / stride), ceil(w / stride) at every level) the outputs are what
the image alone gives:

  * the GroupNorm statistics cover the region only;
  * the sine encodings are normalised by the region's extent;
  * every token's reference point is its pixel centre in the normalised
    frame of its own level's region, the offsets are divided by the sampled
    level's region size, and the sampling reads the region only (zero
    outside, `ops.deformable_attention`): the valid ratios of Deformable
    DETR, with the image alone's float operations;
  * the 1/8 map's region is resized bilinearly to the res2 region (the
    canvas' 2x is not the image's in / out scale when a size is odd), and
    `layer_1`'s 3x3 convolution reads zeros beyond the region.

Tokens and pixels outside a region hold finite values that mean nothing.

Precision: the original runs this module in float32 with autocast disabled
(`features[f].float()`), also when training in AMP. Likewise the decoder's
dtype policy defaults to the global policy's accumulation dtype (float32
under 'float32' and 'mixed_bfloat16', float64 under 'float64'); it casts its
inputs to it and every sublayer takes that policy, so under mixed_bfloat16
the whole pixel decoder computes in float32 and returns float32 features.
"""
import dataclasses
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import layers
from projects.maskformer.modeling import position_encoding
from projects.maskformer.modeling.mask2former import deformable_attention
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import precision
from projects.maskformer.ops import valid_region

# Backbone endpoints of the deformable encoder's levels, in level order
# (low to high resolution), and of the one FPN level below them.
ENCODER_LEVELS = ('5', '4', '3')
FPN_LEVEL = '2'
# The stride of each of those backbone endpoints.
STRIDES = {'2': 4, '3': 8, '4': 16, '5': 32}

SpatialShapes = Tuple[Tuple[int, int], ...]


@dataclasses.dataclass(frozen=True)
class EncoderInputs:
  """What the deformable encoder reads (semantics doc, 2.1 to 2.3).

  Attributes:
    maps: the input projections, one [B, H_l, W_l, D] tensor per level
      (res5, res4, res3).
    sine_encodings: the sine positional encodings, one [1, H_l, W_l, D]
      tensor per level ([B, H_l, W_l, D] with valid sizes), before the level
      embedding.
    tokens: [B, S, D], the maps flattened row-major and concatenated.
    pos: [1, S, D] ([B, S, D] with valid sizes), the sine encodings plus
      each level's embedding, flattened the same way.
    reference_points: [1, S, L, 2] ([B, S, L, 2] with valid sizes), each
      token's (x, y) pixel centre in the normalised frame, repeated for the
      L levels.
    spatial_shapes: the static (H_l, W_l) of the levels.
    valid_sizes: None, or an int32 [B, L, 2] tensor of each image's valid
      (h_l, w_l) on every level (padding-exact computation).
  """
  maps: List[tf.Tensor]
  sine_encodings: List[tf.Tensor]
  tokens: tf.Tensor
  pos: tf.Tensor
  reference_points: tf.Tensor
  spatial_shapes: SpatialShapes
  valid_sizes: Optional[tf.Tensor] = None


def encoder_reference_points(spatial_shapes: SpatialShapes,
                             dtype: precision.DTypeLike,
                             valid_sizes: Optional[tf.Tensor] = None
                             ) -> tf.Tensor:
  """The encoder's reference points: every token's pixel centre.

  Args:
    spatial_shapes: the (H_l, W_l) of the L levels.
    dtype: float dtype of the result.
    valid_sizes: None, or an int [B, L, 2] tensor of each image's valid
      (h_l, w_l) per level: the frame of a level is then the image's region
      (the token (i, j) of level l gets ((j + 0.5) / w_l, (i + 0.5) / h_l),
      beyond 1 outside the region).

  Returns:
    A [1, S, L, 2] ([B, S, L, 2] with `valid_sizes`) tensor: for the token
    (i, j) of level l, ((j + 0.5) / W_l, (i + 0.5) / H_l) on every one of
    the L levels.
  """
  frames = (tf.constant([spatial_shapes]) if valid_sizes is None else
            valid_sizes)
  frames = tf.cast(frames, dtype)  # [1 or B, L, 2]
  points = []
  for level, (height, width) in enumerate(spatial_shapes):
    ys = (tf.range(height, dtype=dtype) + 0.5) / frames[:, level, 0:1]
    xs = (tf.range(width, dtype=dtype) + 0.5) / frames[:, level, 1:2]
    grid = tf.stack([tf.shape(frames)[0], height, width])
    grid_x = tf.broadcast_to(xs[:, tf.newaxis, :], grid)
    grid_y = tf.broadcast_to(ys[:, :, tf.newaxis], grid)
    points.append(tf.reshape(tf.stack([grid_x, grid_y], axis=-1),
                             [-1, height * width, 2]))
  points = tf.concat(points, axis=1)
  return tf.tile(points[:, :, tf.newaxis, :], [1, 1, len(spatial_shapes), 1])


class DeformableEncoderLayer(tf_keras.layers.Layer):
  """One post-norm deformable encoder layer (attention, then FFN).

  `MSDeformAttnTransformerEncoderLayer`; the FFN's kernels are xavier-uniform
  (the original's encoder `_reset_parameters`), its biases PyTorch's default.
  """

  def __init__(self, num_heads: int, num_levels: int, num_points: int,
               dim_feedforward: int, dropout_rate: float, **kwargs):
    """Initializes the layer.

    Args:
      num_heads: attention heads M.
      num_levels: levels L.
      num_points: sampling points P per head and level.
      dim_feedforward: FFN inner width.
      dropout_rate: dropout on the attention output, the FFN's inner
        activations and the FFN output.
      **kwargs: passed to `tf_keras.layers.Layer`.
    """
    super().__init__(**kwargs)
    self._num_heads = num_heads
    self._num_levels = num_levels
    self._num_points = num_points
    self._dim_feedforward = dim_feedforward
    self._dropout_rate = dropout_rate

  def build(self, input_shape):
    channels = int(input_shape[-1])
    policy = self.dtype_policy
    self.self_attention = deformable_attention.MSDeformAttn(
        self._num_heads, self._num_levels, self._num_points, dtype=policy,
        name='self_attention')
    self.linear1 = tf_keras.layers.Dense(
        self._dim_feedforward, activation='relu',
        kernel_initializer='glorot_uniform',
        bias_initializer=layers.torch_linear_bias_initializer(channels),
        dtype=policy, name='linear1')
    self.linear2 = tf_keras.layers.Dense(
        channels, kernel_initializer='glorot_uniform',
        bias_initializer=layers.torch_linear_bias_initializer(
            self._dim_feedforward),
        dtype=policy, name='linear2')
    self.layer_norm1, self.layer_norm2 = (
        tf_keras.layers.LayerNormalization(
            epsilon=layers.TORCH_NORM_EPSILON, dtype=policy, name=name)
        for name in ('layer_norm1', 'layer_norm2'))
    self._dropouts = [
        tf_keras.layers.Dropout(self._dropout_rate, dtype=policy)
        for _ in range(3)
    ]
    super().build(input_shape)

  def call(self, inputs: tf.Tensor, pos: tf.Tensor,
           reference_points: tf.Tensor, spatial_shapes: SpatialShapes,
           valid_sizes: Optional[tf.Tensor] = None,
           training: Optional[bool] = None) -> tf.Tensor:
    """Runs the layer.

    Args:
      inputs: A float [B, S, D] tensor, the flattened levels.
      pos: A [B or 1, S, D] positional encoding, added to the queries.
      reference_points: A [B or 1, S, L, 2] tensor.
      spatial_shapes: the static (H_l, W_l) of the levels.
      valid_sizes: None, or an int [B, L, 2] tensor of each image's valid
        (h_l, w_l) per level (`EncoderInputs.valid_sizes`): only those
        regions are sampled, in their own frames.
      training: whether dropout is active.

    Returns:
      A [B, S, D] tensor.
    """
    attended = self.self_attention(inputs + pos, reference_points, inputs,
                                   spatial_shapes, valid_sizes)
    x = self.layer_norm1(
        inputs + self._dropouts[0](attended, training=training))
    hidden = self._dropouts[1](self.linear1(x), training=training)
    return self.layer_norm2(
        x + self._dropouts[2](self.linear2(hidden), training=training))

  def get_config(self):
    return dict(super().get_config(), num_heads=self._num_heads,
                num_levels=self._num_levels, num_points=self._num_points,
                dim_feedforward=self._dim_feedforward,
                dropout_rate=self._dropout_rate)


class MSDeformAttnPixelDecoder(tf_keras.layers.Layer):
  """Deformable encoder over res3..res5, FPN to res2, mask features.

  Sublayers are named after the original modules: `input_proj_{l}_conv` /
  `input_proj_{l}_group_norm` (`input_proj.{l}.0` / `.1`), `level_embed`,
  `encoder_layer_{i}` (`transformer.encoder.layers.{i}`), `adapter_1`,
  `layer_1`, `mask_features`.
  """

  def __init__(self, conv_dim: int = 256, mask_dim: int = 256,
               num_groups: int = 32, num_layers: int = 6, num_heads: int = 8,
               num_points: int = 4, dim_feedforward: int = 1024,
               dropout_rate: float = 0.0, **kwargs):
    """Initializes the layer.

    Args:
      conv_dim: D, the width of the projections, the encoder and the FPN.
      mask_dim: channels of the mask features.
      num_groups: GroupNorm groups.
      num_layers: encoder layers.
      num_heads: encoder attention heads.
      num_points: sampling points per head and level.
      dim_feedforward: encoder FFN width (1024 in the original, whatever
        `DIM_FEEDFORWARD` says).
      dropout_rate: encoder dropout rate (0.0 in the released configs).
      **kwargs: passed to `tf_keras.layers.Layer`; `dtype` defaults to the
        global policy's accumulation dtype (see the module docstring).
    """
    kwargs.setdefault('name', 'pixel_decoder')
    kwargs.setdefault('dtype', precision.policy_accumulation_dtype())
    super().__init__(**kwargs)
    self._conv_dim = conv_dim
    self._mask_dim = mask_dim
    self._num_groups = num_groups
    self._num_layers = num_layers
    self._num_heads = num_heads
    self._num_points = num_points
    self._dim_feedforward = dim_feedforward
    self._dropout_rate = dropout_rate

  def build(self, input_shape):
    needed = ENCODER_LEVELS + (FPN_LEVEL,)
    missing = [level for level in needed if level not in input_shape]
    if missing:
      raise ValueError(f'{self.name} needs backbone endpoints {needed}; '
                       f'missing {missing}')
    policy = self.dtype_policy
    num_levels = len(ENCODER_LEVELS)
    self.input_proj_convs = [
        tf_keras.layers.Conv2D(
            self._conv_dim, 1, kernel_initializer='glorot_uniform',
            bias_initializer='zeros', dtype=policy,
            name=f'input_proj_{index}_conv') for index in range(num_levels)
    ]
    self.input_proj_norms = [
        layers.GroupNorm(self._num_groups, dtype=policy,
                         name=f'input_proj_{index}_group_norm')
        for index in range(num_levels)
    ]
    self.level_embed = self.add_weight(
        'level_embed', shape=[num_levels, self._conv_dim],
        initializer=tf_keras.initializers.RandomNormal(stddev=1.0))
    self.encoder_layers = [
        DeformableEncoderLayer(
            self._num_heads, num_levels, self._num_points,
            self._dim_feedforward, self._dropout_rate, dtype=policy,
            name=f'encoder_layer_{i}') for i in range(self._num_layers)
    ]
    self.adapter_1 = layers.ConvGroupNorm(
        self._conv_dim, 1, self._num_groups, False, dtype=policy,
        name='adapter_1')
    self.layer_1 = layers.ConvGroupNorm(
        self._conv_dim, 3, self._num_groups, True, dtype=policy,
        name='layer_1')
    self.mask_features = tf_keras.layers.Conv2D(
        self._mask_dim, 1, kernel_initializer=layers.c2_xavier_initializer(),
        bias_initializer='zeros', dtype=policy, name='mask_features')
    super().build(input_shape)

  def encoder_inputs(self, features: Dict[str, tf.Tensor],
                     valid_sizes: Optional[tf.Tensor] = None
                     ) -> EncoderInputs:
    """Projects and flattens res5, res4, res3 for the encoder.

    Args:
      features: the backbone's {'3': [B, H/8, W/8, C3], '4': ..., '5':
        [B, H/32, W/32, C5]} in the layer's dtype; the spatial sizes must be
        static.
      valid_sizes: None, or an int [B, 2] tensor of each image's (height,
        width) in the input images (padding-exact computation, module
        docstring).

    Returns:
      The `EncoderInputs`, in the layer's dtype.

    Raises:
      ValueError: a level's spatial size is not static.
    """
    maps, encodings, tokens, pos, spatial_shapes = [], [], [], [], []
    level_sizes = [
        None if valid_sizes is None else
        valid_region.sizes_at_stride(valid_sizes, STRIDES[level])
        for level in ENCODER_LEVELS
    ]
    for index, (level, sizes) in enumerate(zip(ENCODER_LEVELS, level_sizes)):
      x = self.input_proj_norms[index](
          self.input_proj_convs[index](features[level]), valid_sizes=sizes)
      height, width = x.shape[1], x.shape[2]
      if height is None or width is None:
        raise ValueError(f'{self.name}: res{level} needs a static spatial '
                         f'size, got {x.shape}')
      encoding = position_encoding.sine_position_encoding(
          x, self._conv_dim, self.compute_dtype, sizes)
      level_pos = encoding + tf.cast(self.level_embed[index],
                                     self.compute_dtype)
      maps.append(x)
      encodings.append(encoding)
      tokens.append(tf.reshape(x, [-1, height * width, self._conv_dim]))
      pos.append(tf.reshape(level_pos, [-1, height * width, self._conv_dim]))
      spatial_shapes.append((int(height), int(width)))
    level_sizes = (None if valid_sizes is None else
                   tf.stack(level_sizes, axis=1))
    return EncoderInputs(
        maps=maps, sine_encodings=encodings,
        tokens=tf.concat(tokens, axis=1), pos=tf.concat(pos, axis=1),
        reference_points=encoder_reference_points(
            spatial_shapes, self.compute_dtype, level_sizes),
        spatial_shapes=tuple(spatial_shapes), valid_sizes=level_sizes)

  def _upsampled_to_fpn_level(self, encoded: tf.Tensor, size: Tuple[int, int],
                              level_sizes: Optional[tf.Tensor],
                              fpn_sizes: Optional[tf.Tensor]) -> tf.Tensor:
    """The 1/8 encoder map resized bilinearly to the res2 map's size.

    Args:
      encoded: the [B, H/8, W/8, D] encoder output.
      size: the res2 map's static (height, width).
      level_sizes: None, or the encoder levels' valid sizes
        (`EncoderInputs.valid_sizes`, [B, L, 2], 1/8 last).
      fpn_sizes: None (with `level_sizes`), or an int32 [B, 2] tensor of
        each image's valid (height, width) at res2: each image's 1/8 region
        is then resized to its res2 region, as `F.interpolate(size=...)` of
        the image alone.

    Returns:
      A [B, height, width, D] tensor in the accumulation dtype.
    """
    if fpn_sizes is None:
      # NHWC -> [B, D, H, W] for F.interpolate's trailing axes, and back.
      upsampled = interpolation.resize_bilinear(
          tf.transpose(encoded, [0, 3, 1, 2]), size)
      return tf.transpose(upsampled, [0, 2, 3, 1])
    return interpolation.resize_bilinear_per_image(
        encoded, level_sizes[:, -1], fpn_sizes, size, height_axis=1)

  def call(self, features: Dict[str, tf.Tensor],
           training: Optional[bool] = None,
           valid_sizes: Optional[tf.Tensor] = None) -> Dict[str, object]:
    """Decodes backbone features.

    Args:
      features: the backbone's {'2': [B, H/4, W/4, C2], '3': [B, H/8, W/8,
        C3], '4': [B, H/16, W/16, C4], '5': [B, H/32, W/32, C5]} float
        tensors with static spatial sizes (other keys are ignored); cast to
        the layer's dtype.
      training: whether dropout is active.
      valid_sizes: None, or an int [B, 2] tensor of each image's (height,
        width) at the top-left of the input images: the outputs are then,
        inside each image's region at their stride, what the image alone
        gives (padding-exact computation, module docstring).

    Returns:
      A dict, tensors in the layer's dtype (float32 under 'float32' and
      'mixed_bfloat16'):
        'mask_features': [B, H/4, W/4, mask_dim];
        'multi_scale_features': the encoder output as maps, a list
          [[B, H/32, W/32, D], [B, H/16, W/16, D], [B, H/8, W/8, D]].
    """
    inputs = self.encoder_inputs(features, valid_sizes)
    x = inputs.tokens
    for layer in self.encoder_layers:
      x = layer(x, inputs.pos, inputs.reference_points,
                inputs.spatial_shapes, inputs.valid_sizes, training=training)
    sizes = [h * w for h, w in inputs.spatial_shapes]
    multi_scale = [
        tf.reshape(tokens, [-1, h, w, self._conv_dim]) for tokens, (h, w) in
        zip(tf.split(x, sizes, axis=1), inputs.spatial_shapes)
    ]
    fpn_sizes = (None if valid_sizes is None else
                 valid_region.sizes_at_stride(valid_sizes, STRIDES[FPN_LEVEL]))
    lateral = self.adapter_1(features[FPN_LEVEL], fpn_sizes)
    upsampled = self._upsampled_to_fpn_level(
        multi_scale[-1], layers.spatial_size(lateral), inputs.valid_sizes,
        fpn_sizes)
    y = self.layer_1(lateral + tf.cast(upsampled, lateral.dtype), fpn_sizes)
    if fpn_sizes is not None:
      # Mask features of a zero pixel outside: finite and input-independent.
      y = valid_region.zero_outside(y, fpn_sizes)
    return {'mask_features': self.mask_features(y),
            'multi_scale_features': multi_scale}

  def get_config(self):
    return dict(super().get_config(), conv_dim=self._conv_dim,
                mask_dim=self._mask_dim, num_groups=self._num_groups,
                num_layers=self._num_layers, num_heads=self._num_heads,
                num_points=self._num_points,
                dim_feedforward=self._dim_feedforward,
                dropout_rate=self._dropout_rate)
