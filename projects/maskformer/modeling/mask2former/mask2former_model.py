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

"""The Mask2Former model (Cheng et al., CVPR 2022) and its builder.

"Masked-attention Mask Transformer for Universal Image Segmentation": a
backbone, the multi-scale deformable-attention pixel decoder and the
masked-attention transformer decoder, numerically identical to the original
PyTorch model (`docs/mask2former_semantics.md` in the shared material). The
model takes normalized NHWC images whose height and width are static
multiples of 32 and returns the output contract MaskFormer's model returns:

  'pred_logits': float32 (float64 under the 'float64' policy) [B, Q, K + 1],
    "no object" last, of the last head;
  'pred_masks': float32 (float64 likewise) [B, Q, H/4, W/4] mask logits;
  'aux_outputs': list over heads 0..L-2 of dicts with both keys (head 0 is
    the one on the learnable queries, before the first layer);

plus endpoints for parity checks: 'backbone_features' (dict '2'..'5' of NHWC
maps), 'mask_features' [B, H/4, W/4, mask_dim] and 'multi_scale_features'
(the encoder's maps at strides 32, 16 and 8).

With `valid_sizes` (padding-exact computation, `ops/valid_region`),
each image of the batch sits at the top-left of the static canvas and every
output, inside the image's region at its stride (ceil(h / s), ceil(w / s)),
is what the model gives for the image alone at its own size; outside it,
finite values that mean nothing.

Variable names: the top-level layers are 'pixel_decoder' and
'transformer_predictor' (as MaskFormer's, so `configs/variable_names.py`
selects the same optimizer groups); the backbone keeps its own names.
"""
from typing import Any
from typing import Dict
from typing import Optional

from official.vision.modeling.backbones import factory
import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import resnet
from projects.maskformer.modeling.mask2former import pixel_decoder as pixel_decoder_lib
from projects.maskformer.modeling.mask2former import transformer_decoder as decoder_lib
from projects.maskformer.ops import precision

# Height and width of the symbolic build input when the config leaves them
# None (the smallest size whose stride-32 level is 2 x 2).
BUILD_SIZE = 64


class Mask2Former(tf_keras.Model):
  """Backbone + deformable pixel decoder + masked-attention decoder."""

  def __init__(self, backbone: tf_keras.Model,
               pixel_decoder: pixel_decoder_lib.MSDeformAttnPixelDecoder,
               transformer_decoder: decoder_lib.MultiScaleMaskedTransformerDecoder,
               **kwargs):
    """Initializes the model.

    Args:
      backbone: a Model Garden backbone returning {'2'..'5': NHWC features}.
      pixel_decoder: the pixel decoder.
      transformer_decoder: the transformer decoder.
      **kwargs: passed to `tf_keras.Model`.
    """
    kwargs.setdefault('name', 'mask2former')
    super().__init__(**kwargs)
    self._backbone = backbone
    self._pixel_decoder = pixel_decoder
    self._transformer_decoder = transformer_decoder

  @property
  def backbone(self) -> tf_keras.Model:
    return self._backbone

  @property
  def pixel_decoder(self) -> pixel_decoder_lib.MSDeformAttnPixelDecoder:
    return self._pixel_decoder

  @property
  def transformer_decoder(self) -> decoder_lib.MultiScaleMaskedTransformerDecoder:
    return self._transformer_decoder

  def call(self, images: tf.Tensor,
           training: Optional[bool] = None,
           valid_sizes: Optional[tf.Tensor] = None) -> Dict[str, Any]:
    """Runs the model.

    Args:
      images: A float [B, H, W, 3] tensor of normalized images, H and W
        static multiples of 32.
      training: whether dropout is active (the released configs have none).
      valid_sizes: None (compute on the whole input, padding included), or
        an int [B, 2] tensor of each image's (height, width) at the top-left
        of `images`, each at least 1: padding-exact computation (module
        docstring). Needs the 'torch_resnet' backbone.

    Returns:
      The output dict described in the module docstring.
    """
    features = resnet.backbone_features(self._backbone, images, training,
                                        valid_sizes)
    decoded = self._pixel_decoder(features, training=training,
                                  valid_sizes=valid_sizes)
    outputs = self._transformer_decoder(decoded['multi_scale_features'],
                                        decoded['mask_features'],
                                        valid_sizes=valid_sizes)
    outputs['backbone_features'] = {
        level: features[level] for level in ('2', '3', '4', '5')
    }
    outputs.update(decoded)
    return outputs

  def get_config(self) -> Dict[str, Any]:
    return {
        'backbone': self._backbone,
        'pixel_decoder': self._pixel_decoder,
        'transformer_decoder': self._transformer_decoder,
    }

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def build_mask2former_model(
    config: Any,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
) -> Mask2Former:
  """Builds a Mask2Former from its config and creates all its variables.

  Args:
    config: the architecture (`configs.mask2former.Mask2FormerModel`).
    l2_regularizer: regularizer passed to the backbone factory.

  Returns:
    The model, with its variables created (randomly initialized) by a call
    on a symbolic input of `config.input_size` (its height and width, when
    None, taken as `BUILD_SIZE`: the variables do not depend on them, and the
    model runs at any static size that is a multiple of 32).

  Raises:
    ValueError: `config.input_size` has a height or width that is not a
      multiple of 32.
  """
  build_shape = [BUILD_SIZE if s is None else s
                 for s in config.input_size[:2]] + [config.input_size[2]]
  if any(s % 32 for s in build_shape[:2]):
    raise ValueError('Mask2Former needs input sizes that are multiples of 32 '
                     f'(its decoders need static level sizes), got '
                     f'input_size {config.input_size}')
  input_specs = tf_keras.layers.InputSpec(shape=[None] +
                                          list(config.input_size))
  backbone = factory.build_backbone(
      input_specs=input_specs,
      backbone_config=config.backbone,
      norm_activation_config=config.norm_activation,
      l2_regularizer=l2_regularizer)
  decoder_config = config.pixel_decoder
  pixel_decoder = pixel_decoder_lib.MSDeformAttnPixelDecoder(
      conv_dim=decoder_config.conv_dim, mask_dim=decoder_config.mask_dim,
      num_groups=decoder_config.num_groups,
      num_layers=decoder_config.num_layers,
      num_heads=decoder_config.num_heads,
      num_points=decoder_config.num_points,
      dim_feedforward=decoder_config.dim_feedforward,
      dropout_rate=decoder_config.dropout_rate, name='pixel_decoder')
  predictor_config = config.transformer_decoder
  transformer_decoder = decoder_lib.MultiScaleMaskedTransformerDecoder(
      num_classes=config.num_classes,
      hidden_dim=predictor_config.hidden_dim,
      num_queries=predictor_config.num_queries,
      num_heads=predictor_config.num_heads,
      dim_feedforward=predictor_config.dim_feedforward,
      dec_layers=predictor_config.dec_layers,
      mask_dim=decoder_config.mask_dim,
      enforce_input_projection=predictor_config.enforce_input_projection,
      deep_supervision=predictor_config.deep_supervision)
  model = Mask2Former(backbone, pixel_decoder, transformer_decoder)
  model(tf_keras.Input(shape=build_shape,
                       dtype=precision.policy_accumulation_dtype()),
        training=False)
  return model
