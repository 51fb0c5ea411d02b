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

"""Which TF variables each canonical PyTorch tensor name fills, and how.

For a built model this gives `{canonical name: Target}` (canonical names as
in `name_mapping`): the variables, the PyTorch shape expected for the source
tensor, and the layout change (conv OIHW -> HWIO, Linear [out, in] ->
kernel [in, out], `in_proj_*` rows q; k; v -> three projections).
"""
import dataclasses
from typing import Callable
from typing import Dict
from typing import List
from typing import Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import layers
from projects.maskformer.modeling import resnet
from projects.maskformer.modeling import transformer
from projects.maskformer.modeling.maskformer import maskformer_model
from projects.maskformer.modeling.maskformer import pixel_decoder as pixel_decoder_lib


class UnsupportedModelError(TypeError):
  """The model has parts that have no PyTorch counterpart names."""


@dataclasses.dataclass(frozen=True)
class Target:
  """Where one PyTorch tensor goes.

  Attributes:
    variables: the TF variables it fills.
    torch_shape: the shape the source tensor must have.
    to_tf: maps the source array to one array per variable.
  """
  variables: Tuple[tf.Variable, ...]
  torch_shape: Tuple[int, ...]
  to_tf: Callable[[np.ndarray], List[np.ndarray]]


Targets = Dict[str, Target]


def _shape(variable: tf.Variable) -> Tuple[int, ...]:
  return tuple(int(d) for d in variable.shape)


def _same(variable: tf.Variable) -> Target:
  return Target((variable,), _shape(variable), lambda a: [a])


def _conv(targets: Targets, layer: tf_keras.layers.Conv2D, name: str):
  h, w, i, o = _shape(layer.kernel)
  targets[f'{name}.weight'] = Target(
      (layer.kernel,), (o, i, h, w), lambda a: [a.transpose(2, 3, 1, 0)])
  if layer.use_bias:
    targets[f'{name}.bias'] = _same(layer.bias)


def _dense(targets: Targets, layer: tf_keras.layers.Dense, name: str):
  fan_in, fan_out = _shape(layer.kernel)
  targets[f'{name}.weight'] = Target(
      (layer.kernel,), (fan_out, fan_in), lambda a: [a.T])
  targets[f'{name}.bias'] = _same(layer.bias)


def _norm(targets: Targets, layer: tf_keras.layers.Layer, name: str):
  targets[f'{name}.weight'] = _same(layer.gamma)
  targets[f'{name}.bias'] = _same(layer.beta)
  if isinstance(layer, layers.FrozenBatchNorm):
    targets[f'{name}.running_mean'] = _same(layer.moving_mean)
    targets[f'{name}.running_var'] = _same(layer.moving_variance)


def _conv_group_norm(targets: Targets,
                     layer: layers.ConvGroupNorm, name: str):
  _conv(targets, layer.conv, name)
  _norm(targets, layer.group_norm, f'{name}.norm')


def _attention(targets: Targets, layer: layers.MultiHeadAttention, name: str):
  projections = (layer.query, layer.key, layer.value)
  channels, _ = _shape(layer.query.kernel)
  targets[f'{name}.in_proj_weight'] = Target(
      tuple(p.kernel for p in projections), (3 * channels, channels),
      lambda a: [part.T for part in np.split(a, 3)])
  targets[f'{name}.in_proj_bias'] = Target(
      tuple(p.bias for p in projections), (3 * channels,),
      lambda a: np.split(a, 3))
  _dense(targets, layer.output_projection, f'{name}.out_proj')


def _feed_forward(targets: Targets, layer, name: str):
  _dense(targets, layer.feed_forward.linear1, f'{name}.linear1')
  _dense(targets, layer.feed_forward.linear2, f'{name}.linear2')


def torch_resnet_targets(backbone: tf_keras.Model) -> Targets:
  """Targets of a 'torch_resnet' backbone (`backbone.stem.conv1.weight`, ...).

  Args:
    backbone: a built `TorchResNet`.

  Returns:
    {canonical name: Target}.

  Raises:
    UnsupportedModelError: `backbone` is not a `TorchResNet`.
  """
  if not isinstance(backbone, resnet.TorchResNet):
    raise UnsupportedModelError(
        f'backbone {type(backbone).__name__} ({backbone.name}) has no PyTorch '
        "name mapping; only the 'torch_resnet' backbone can be converted")
  targets: Targets = {}
  for layer in backbone.layers:
    torch_name = layer.name.replace('/', '.')
    if isinstance(layer, tf_keras.layers.Conv2D):
      _conv(targets, layer, torch_name)
    elif isinstance(layer, layers.FrozenBatchNorm):
      _norm(targets, layer, torch_name)
  return targets


def _pixel_decoder_targets(targets: Targets,
                           decoder: pixel_decoder_lib.FPNPixelDecoder):
  prefix = 'sem_seg_head.pixel_decoder.'
  for i, (adapter, output_conv) in enumerate(
      zip(decoder.adapters, decoder.output_convs), start=1):
    _conv_group_norm(targets, adapter, f'{prefix}adapter_{i}')
    _conv_group_norm(targets, output_conv, f'{prefix}layer_{i}')
  _conv_group_norm(targets, decoder.layer_4, f'{prefix}layer_4')
  _conv(targets, decoder.mask_features, f'{prefix}mask_features')
  if isinstance(decoder, pixel_decoder_lib.TransformerEncoderPixelDecoder):
    _conv(targets, decoder.input_proj, f'{prefix}input_proj')
    encoder: transformer.TransformerEncoder = decoder.transformer_encoder
    for i, layer in enumerate(encoder.encoder_layers):
      name = f'{prefix}transformer.encoder.layers.{i}'
      _attention(targets, layer.self_attention, f'{name}.self_attn')
      _feed_forward(targets, layer, name)
      _norm(targets, layer.layer_norm1, f'{name}.norm1')
      _norm(targets, layer.layer_norm2, f'{name}.norm2')


def _predictor_targets(targets: Targets, predictor):
  prefix = 'sem_seg_head.predictor.'
  targets[f'{prefix}query_embed.weight'] = _same(predictor.query_embed)
  if predictor.input_proj is not None:
    _conv(targets, predictor.input_proj, f'{prefix}input_proj')
  decoder: transformer.TransformerDecoder = predictor.transformer_decoder
  for i, layer in enumerate(decoder.decoder_layers):
    name = f'{prefix}transformer.decoder.layers.{i}'
    _attention(targets, layer.self_attention, f'{name}.self_attn')
    _attention(targets, layer.cross_attention, f'{name}.multihead_attn')
    _feed_forward(targets, layer, name)
    _norm(targets, layer.layer_norm1, f'{name}.norm1')
    _norm(targets, layer.layer_norm2, f'{name}.norm2')
    _norm(targets, layer.layer_norm3, f'{name}.norm3')
  _norm(targets, decoder.layer_norm, f'{prefix}transformer.decoder.norm')
  _dense(targets, predictor.class_embed, f'{prefix}class_embed')
  for j, dense in enumerate(predictor.mask_embed):
    _dense(targets, dense, f'{prefix}mask_embed.layers.{j}')


def maskformer_targets(model: maskformer_model.MaskFormer) -> Targets:
  """Targets of every variable of a built MaskFormer.

  Args:
    model: a built model with a 'torch_resnet' backbone.

  Returns:
    {canonical name: Target}.

  Raises:
    UnsupportedModelError: the backbone is not a `TorchResNet`.
  """
  targets = torch_resnet_targets(model.backbone)
  _pixel_decoder_targets(targets, model.pixel_decoder)
  _predictor_targets(targets, model.transformer_predictor)
  return targets
