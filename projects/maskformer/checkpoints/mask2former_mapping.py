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

"""Which TF variables each PyTorch Mask2Former tensor name fills, and how.

The names are those of the released Mask2Former checkpoints (the original's
state dict); layouts change as in `model_mapping` (Linear [out, in] ->
kernel [in, out], `in_proj_*` rows q; k; v -> three projections, conv OIHW
-> HWIO).
"""
# model_mapping's layout helpers (_attention, _dense, ...) are shared here.
# pylint: disable=protected-access
from projects.maskformer.checkpoints import model_mapping
from projects.maskformer.modeling.mask2former import transformer_decoder as transformer_decoder_lib


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
