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

"""MaskFormer architecture configs; defaults: COCO panoptic R50 "+6 Enc"."""
import dataclasses
from typing import List
from typing import Optional

from official.modeling import hyperparams
from official.vision.configs import backbones
from official.vision.configs import common


@dataclasses.dataclass
class TorchResNet(hyperparams.Config):
  """detectron2/torchvision ResNet (stride on the 3x3 conv, FrozenBN eps 1e-5).

  Attributes:
    model_id: 50 or 101; selects the blocks per stage unless `depths` is set.
    depths: blocks per stage (res2..res5); overrides `model_id` when given.
    base_width: stem width and res2 bottleneck width (64 for the real model;
      the reference fixtures use 16 and 8).
  """
  model_id: int = 50
  depths: Optional[List[int]] = None
  base_width: int = 64


@dataclasses.dataclass
class Backbone(backbones.Backbone):
  """Model Garden's backbone choice, extended with `torch_resnet`.

  Any backbone registered with Model Garden's factory can be chosen if it
  returns the endpoints '2'..'5' (strides 4..32), e.g. type 'resnet'.
  """
  type: Optional[str] = 'torch_resnet'
  torch_resnet: TorchResNet = dataclasses.field(default_factory=TorchResNet)


@dataclasses.dataclass
class TransformerEncoder(hyperparams.Config):
  """Post-norm transformer encoder on res5 (the "+6 Enc" pixel decoder).

  Attributes:
    num_layers: encoder layers (TRANSFORMER_ENC_LAYERS).
    num_heads: attention heads.
    dim_feedforward: FFN width.
    dropout_rate: rate of every dropout in the encoder.
  """
  num_layers: int = 6
  num_heads: int = 8
  dim_feedforward: int = 2048
  dropout_rate: float = 0.1


@dataclasses.dataclass
class PixelDecoder(hyperparams.Config):
  """Per-pixel decoder.

  Attributes:
    type: 'fpn' (BasePixelDecoder) or 'transformer_encoder' ("+6 Enc").
    conv_dim: channels of the FPN layers.
    mask_dim: channels of the per-pixel embeddings.
    num_groups: GroupNorm groups.
    transformer_encoder: encoder settings, used by 'transformer_encoder'.
  """
  type: str = 'transformer_encoder'
  conv_dim: int = 256
  mask_dim: int = 256
  num_groups: int = 32
  transformer_encoder: TransformerEncoder = dataclasses.field(
      default_factory=TransformerEncoder)


@dataclasses.dataclass
class TransformerPredictor(hyperparams.Config):
  """DETR decoder with class and mask heads.

  Attributes:
    hidden_dim: transformer width.
    num_queries: number of learned queries.
    num_heads: attention heads.
    dim_feedforward: FFN width.
    dropout_rate: rate of every dropout in the decoder.
    num_decoder_layers: decoder layers; all but the last give aux outputs.
    enforce_input_projection: use the 1x1 input projection even when the
      predictor input already has `hidden_dim` channels.
    deep_supervision: return the earlier layers' predictions ('aux_outputs').
  """
  hidden_dim: int = 256
  num_queries: int = 100
  num_heads: int = 8
  dim_feedforward: int = 2048
  dropout_rate: float = 0.1
  num_decoder_layers: int = 6
  enforce_input_projection: bool = False
  deep_supervision: bool = True


@dataclasses.dataclass
class MaskFormer(hyperparams.Config):
  """The whole model.

  Attributes:
    num_classes: number of classes K, without the "no object" class (the
      classifier has K + 1 outputs, "no object" last).
    input_size: [height, width, channels]; height and width may be None.
    backbone: the backbone (default: detectron2's ResNet-50).
    norm_activation: norm/activation settings of Model Garden backbones
      (unused by 'torch_resnet', whose norm is always FrozenBN).
    pixel_decoder: the per-pixel decoder.
    transformer_predictor: the transformer predictor.
  """
  num_classes: int = 133
  input_size: List[Optional[int]] = dataclasses.field(
      default_factory=lambda: [None, None, 3])
  backbone: Backbone = dataclasses.field(default_factory=Backbone)
  norm_activation: common.NormActivation = dataclasses.field(
      default_factory=lambda: common.NormActivation(use_sync_bn=False))
  pixel_decoder: PixelDecoder = dataclasses.field(default_factory=PixelDecoder)
  transformer_predictor: TransformerPredictor = dataclasses.field(
      default_factory=TransformerPredictor)
