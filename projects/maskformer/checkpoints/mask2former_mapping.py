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

"""Which TF variables each Mask2Former PyTorch tensor name fills, and how.

The names are those of the released Mask2Former checkpoints (semantics doc,
section 8), in PyTorch layouts. The layout changes are `model_mapping`'s
helpers (`_conv`: OIHW -> HWIO, `_dense`: Linear [out, in] -> kernel
[in, out], `_attention`: `in_proj_*` rows q; k; v -> three projections,
`_norm`, `_same`), used here so that those rules live in one place.
"""
# model_mapping's layout helpers (_attention, _dense, ...) are shared here.
# pylint: disable=protected-access
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.modeling.mask2former import mask2former_model
from projects.maskformer.modeling.mask2former import pixel_decoder as pixel_decoder_lib
from projects.maskformer.modeling.mask2former import transformer_decoder as transformer_decoder_lib

# The four projections of `MSDeformAttn`, named as in the original.
_DEFORMABLE_ATTENTION_PROJECTIONS = ('sampling_offsets', 'attention_weights',
                                     'value_proj', 'output_proj')


def pixel_decoder_targets(
    targets: model_mapping.Targets,
    pixel_decoder: pixel_decoder_lib.MSDeformAttnPixelDecoder,
    prefix: str = 'sem_seg_head.pixel_decoder') -> None:
  """Adds a Target for every tensor of `MSDeformAttnPixelDecoder`.

  `input_proj.{l}.0` / `.1` (conv with bias / GroupNorm of level l: res5,
  res4, res3), `transformer.level_embed`, the encoder layers'
  `self_attn.{sampling_offsets,attention_weights,value_proj,output_proj}`,
  `linear1`, `linear2`, `norm1`, `norm2`, then `adapter_1`, `layer_1` (conv
  without bias + `norm`) and `mask_features`.

  Args:
    targets: {canonical name: Target}, filled in place.
    pixel_decoder: a built decoder.
    prefix: the decoder's module path in the state dict.
  """
  for index, (conv, norm) in enumerate(zip(pixel_decoder.input_proj_convs,
                                           pixel_decoder.input_proj_norms)):
    model_mapping._conv(targets, conv, f'{prefix}.input_proj.{index}.0')
    model_mapping._norm(targets, norm, f'{prefix}.input_proj.{index}.1')
  targets[f'{prefix}.transformer.level_embed'] = model_mapping._same(
      pixel_decoder.level_embed)
  for i, layer in enumerate(pixel_decoder.encoder_layers):
    name = f'{prefix}.transformer.encoder.layers.{i}'
    for projection in _DEFORMABLE_ATTENTION_PROJECTIONS:
      model_mapping._dense(targets, getattr(layer.self_attention, projection),
                           f'{name}.self_attn.{projection}')
    model_mapping._dense(targets, layer.linear1, f'{name}.linear1')
    model_mapping._dense(targets, layer.linear2, f'{name}.linear2')
    model_mapping._norm(targets, layer.layer_norm1, f'{name}.norm1')
    model_mapping._norm(targets, layer.layer_norm2, f'{name}.norm2')
  model_mapping._conv_group_norm(targets, pixel_decoder.adapter_1,
                                 f'{prefix}.adapter_1')
  model_mapping._conv_group_norm(targets, pixel_decoder.layer_1,
                                 f'{prefix}.layer_1')
  model_mapping._conv(targets, pixel_decoder.mask_features,
                      f'{prefix}.mask_features')


def transformer_decoder_targets(
    targets: model_mapping.Targets,
    decoder: transformer_decoder_lib.MultiScaleMaskedTransformerDecoder,
    prefix: str = 'sem_seg_head.predictor'):
  """Adds the Targets of a built masked-attention transformer decoder.

  Args:
    targets: {PyTorch name: Target}, filled in place.
    decoder: a built `MultiScaleMaskedTransformerDecoder`.
    prefix: the decoder's PyTorch module path.
  """
  for i, layer in enumerate(decoder.decoder_layers):
    cross = f'{prefix}.transformer_cross_attention_layers.{i}'
    model_mapping._attention(targets, layer.cross_attention,
                             f'{cross}.multihead_attn')
    model_mapping._norm(targets, layer.cross_attention_layer_norm,
                        f'{cross}.norm')
    self_ = f'{prefix}.transformer_self_attention_layers.{i}'
    model_mapping._attention(targets, layer.self_attention,
                             f'{self_}.self_attn')
    model_mapping._norm(targets, layer.self_attention_layer_norm,
                        f'{self_}.norm')
    ffn = f'{prefix}.transformer_ffn_layers.{i}'
    model_mapping._feed_forward(targets, layer, ffn)
    model_mapping._norm(targets, layer.feed_forward_layer_norm, f'{ffn}.norm')
  model_mapping._norm(targets, decoder.decoder_norm, f'{prefix}.decoder_norm')
  for name in ('query_feat', 'query_embed', 'level_embed'):
    targets[f'{prefix}.{name}.weight'] = model_mapping._same(
        getattr(decoder, name))
  for level, projection in enumerate(decoder.input_proj):
    if projection is not None:
      model_mapping._conv(targets, projection, f'{prefix}.input_proj.{level}')
  model_mapping._dense(targets, decoder.class_embed, f'{prefix}.class_embed')
  for j, dense in enumerate(decoder.mask_embed):
    model_mapping._dense(targets, dense, f'{prefix}.mask_embed.layers.{j}')


def mask2former_targets(model: mask2former_model.Mask2Former
                        ) -> model_mapping.Targets:
  """Targets of every variable of a built Mask2Former.

  Args:
    model: a built model with a 'torch_resnet' backbone.

  Returns:
    {canonical name: Target}.

  Raises:
    UnsupportedModelError: the backbone is not a `TorchResNet`.
  """
  targets = model_mapping.torch_resnet_targets(model.backbone)
  pixel_decoder_targets(targets, model.pixel_decoder)
  transformer_decoder_targets(targets, model.transformer_decoder)
  return targets
