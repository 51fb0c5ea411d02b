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

"""The MaskFormer model (Cheng et al., 2021) and its builder.

"Per-Pixel Classification is Not All You Need for Semantic Segmentation":
a backbone, a per-pixel decoder and a transformer predictor, numerically
identical to the original PyTorch model. The model takes normalized NHWC
images (see `dataloaders.maskformer_input.normalize_image`) and returns the shared output contract:

  'pred_logits': float32 (float64 under the 'float64' policy) [B, Q, K + 1],
    "no object" last;
  'pred_masks': float32 (float64 likewise) [B, Q, H/4, W/4] mask logits;
  'aux_outputs': list over decoder layers 0..L-2 of dicts with both keys;

plus intermediate endpoints for parity checks: 'backbone_features' (dict
'2'..'5' of NHWC maps), 'mask_features' [B, H/4, W/4, mask_dim] and, with the
"+6 Enc" pixel decoder, 'transformer_encoder_features' [B, H/32, W/32, C].

Variable names: the top-level layers are named 'pixel_decoder' and
'transformer_predictor' (the backbone keeps its own names), GroupNorm /
LayerNorm layers 'group_norm*' / 'layer_norm*' and the query embedding
'query_embed'; `configs/variable_names.py` holds the regexes that select these
groups for the optimizer. The backbone's FrozenBN variables are never
trainable.
"""
from typing import Any
from typing import Dict
from typing import Optional

from official.vision.modeling.backbones import factory
import tensorflow as tf
import tf_keras

from projects.maskformer.configs import model as model_cfg
from projects.maskformer.modeling import resnet
from projects.maskformer.modeling.maskformer import pixel_decoder as pixel_decoder_lib
from projects.maskformer.modeling.maskformer import transformer_predictor as predictor_lib
from projects.maskformer.ops import precision
from projects.maskformer.ops import valid_region

_PIXEL_DECODER_TYPES = ('fpn', 'transformer_encoder')


class MaskFormer(tf_keras.Model):
  """Backbone + pixel decoder + transformer predictor."""

  def __init__(self, backbone: tf_keras.Model,
               pixel_decoder: pixel_decoder_lib.FPNPixelDecoder,
               transformer_predictor: predictor_lib.TransformerPredictor,
               **kwargs):
    """Initializes the model.

    Args:
      backbone: a Model Garden backbone returning {'2'..'5': NHWC features}.
      pixel_decoder: the per-pixel decoder.
      transformer_predictor: the predictor.
      **kwargs: passed to `tf_keras.Model`.
    """
    kwargs.setdefault('name', 'maskformer')
    super().__init__(**kwargs)
    self._backbone = backbone
    self._pixel_decoder = pixel_decoder
    self._transformer_predictor = transformer_predictor

  @property
  def backbone(self) -> tf_keras.Model:
    return self._backbone

  @property
  def pixel_decoder(self) -> pixel_decoder_lib.FPNPixelDecoder:
    return self._pixel_decoder

  @property
  def transformer_predictor(self) -> predictor_lib.TransformerPredictor:
    return self._transformer_predictor

  def call(self, images: tf.Tensor,
           training: Optional[bool] = None,
           valid_sizes: Optional[tf.Tensor] = None) -> Dict[str, Any]:
    """Runs the model.

    Args:
      images: A float [B, H, W, 3] tensor of normalized images.
      training: whether dropout is active (the backbone's norms stay
        frozen either way for 'torch_resnet').
      valid_sizes: None (compute on the whole input, padding included), or
        an int [B, 2] tensor of each image's (height, width) at the top-left
        of `images`: padding-exact computation (`valid_region`), where every
        output, inside the image's region at its stride, equals the output
        for the image alone. Needs the 'torch_resnet' backbone.

    Returns:
      The output dict described in the module docstring.
    """
    features = resnet.backbone_features(self._backbone, images, training,
                                        valid_sizes)
    decoded = self._pixel_decoder(features, training=training,
                                  valid_sizes=valid_sizes)
    encoded = decoded.get('transformer_encoder_features')
    outputs = self._transformer_predictor(
        features['5'] if encoded is None else encoded,
        decoded['mask_features'], training=training,
        valid_sizes=(None if valid_sizes is None else
                     valid_region.sizes_at_stride(valid_sizes, 32)))
    outputs['backbone_features'] = {
        level: features[level] for level in ('2', '3', '4', '5')
    }
    outputs.update(decoded)
    return outputs

  def get_config(self) -> Dict[str, Any]:
    return {
        'backbone': self._backbone,
        'pixel_decoder': self._pixel_decoder,
        'transformer_predictor': self._transformer_predictor,
    }

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def _build_pixel_decoder(
    config: model_cfg.PixelDecoder) -> pixel_decoder_lib.FPNPixelDecoder:
  if config.type == 'fpn':
    return pixel_decoder_lib.FPNPixelDecoder(
        config.conv_dim, config.mask_dim, config.num_groups)
  if config.type == 'transformer_encoder':
    encoder = config.transformer_encoder
    return pixel_decoder_lib.TransformerEncoderPixelDecoder(
        config.conv_dim, config.mask_dim, config.num_groups,
        num_layers=encoder.num_layers, num_heads=encoder.num_heads,
        dim_feedforward=encoder.dim_feedforward,
        dropout_rate=encoder.dropout_rate)
  raise ValueError(f'pixel_decoder.type {config.type!r} is not one of '
                   f'{_PIXEL_DECODER_TYPES}')


def build_maskformer_model(
    config: model_cfg.MaskFormer,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
) -> MaskFormer:
  """Builds a MaskFormer from its config and creates all its variables.

  The backbone comes from Model Garden's backbone factory (type
  'torch_resnet' for the original's ResNet, or any registered Model Garden
  backbone that returns '2'..'5'). The variables are created by calling the
  model on a symbolic input of `config.input_size` (no computation).

  Args:
    config: the architecture.
    l2_regularizer: regularizer passed to the backbone factory.

  Returns:
    The model, with its variables created (randomly initialized).

  Raises:
    ValueError: unknown pixel decoder type.
  """
  input_specs = tf_keras.layers.InputSpec(shape=[None] +
                                          list(config.input_size))
  backbone = factory.build_backbone(
      input_specs=input_specs,
      backbone_config=config.backbone,
      norm_activation_config=config.norm_activation,
      l2_regularizer=l2_regularizer)
  pixel_decoder = _build_pixel_decoder(config.pixel_decoder)
  predictor_config = config.transformer_predictor
  transformer_predictor = predictor_lib.TransformerPredictor(
      num_classes=config.num_classes,
      hidden_dim=predictor_config.hidden_dim,
      num_queries=predictor_config.num_queries,
      num_heads=predictor_config.num_heads,
      dim_feedforward=predictor_config.dim_feedforward,
      dropout_rate=predictor_config.dropout_rate,
      num_decoder_layers=predictor_config.num_decoder_layers,
      mask_dim=config.pixel_decoder.mask_dim,
      enforce_input_projection=predictor_config.enforce_input_projection,
      deep_supervision=predictor_config.deep_supervision)
  model = MaskFormer(backbone, pixel_decoder, transformer_predictor)
  model(tf_keras.Input(shape=config.input_size,
                       dtype=precision.policy_accumulation_dtype()),
        training=False)
  return model
