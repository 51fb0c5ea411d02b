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

"""detectron2's ResNet (torchvision layout, FrozenBN), a Model Garden backbone.

"Deep Residual Learning for Image Recognition" (He et al., 2016), as
detectron2's `build_resnet_backbone` computes it for MaskFormer: the stride
is on the 3x3 conv (ResNet v1.5, `STRIDE_IN_1X1=False`), every norm is a
FrozenBatchNorm with eps 1e-5, and every padding is PyTorch's symmetric
zero padding (explicit `ZeroPadding2D` + 'valid'), so any input size gives
PyTorch's output sizes floor((n + 2p - k) / s) + 1.

Registered with Model Garden's backbone factory as 'torch_resnet'. The
endpoints are Model Garden's dict {'2': res2, ..., '5': res5}.

Layer names are detectron2's module paths with '/' for '.', so variables are
named after the PyTorch parameters: `backbone/res2/0/conv1/kernel` holds
`backbone.res2.0.conv1.weight`, `backbone/res2/0/conv1/norm/gamma` holds
`backbone.res2.0.conv1.norm.weight`. Every backbone variable therefore starts
with `backbone/` (regex `^backbone/`).
"""
from typing import Any
from typing import Dict
from typing import Optional
from typing import Sequence

from official.modeling import hyperparams
from official.vision.modeling.backbones import factory
import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import layers
from projects.maskformer.ops import precision

# Blocks per stage (res2..res5).
RESNET_DEPTHS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
}

# Prefix of every layer (and so variable) name of the backbone.
NAME_PREFIX = 'backbone'


def _msra_initializer() -> tf_keras.initializers.Initializer:
  """detectron2's `c2_msra_fill`: kaiming_normal(fan_out, relu)."""
  return tf_keras.initializers.VarianceScaling(
      scale=2.0, mode='fan_out', distribution='untruncated_normal')


class TorchResNet(tf_keras.Model):
  """Bottleneck ResNet with detectron2's semantics; outputs res2..res5."""

  def __init__(self,
               depths: Sequence[int] = RESNET_DEPTHS[50],
               base_width: int = 64,
               input_specs: Optional[tf_keras.layers.InputSpec] = None,
               kernel_regularizer: Optional[
                   tf_keras.regularizers.Regularizer] = None,
               **kwargs):
    """Builds the network.

    Args:
      depths: bottleneck blocks in res2, res3, res4, res5.
      base_width: stem width and res2 bottleneck width (64 for ResNet-50);
        stage i (0 = res2) has bottleneck width base_width * 2^i and output
        width 4 * base_width * 2^i.
      input_specs: the input spec (default [None, None, None, 3]); height
        and width may be None.
      kernel_regularizer: regularizer of the conv kernels.
      **kwargs: passed to `tf_keras.Model`.
    """
    self._config_dict = {
        'depths': list(depths),
        'base_width': base_width,
        'input_specs': input_specs,
        'kernel_regularizer': kernel_regularizer,
    }
    self._kernel_regularizer = kernel_regularizer
    if input_specs is None:
      input_specs = tf_keras.layers.InputSpec(shape=[None, None, None, 3])
    # The input takes the policy's variable dtype: float32 under 'float32'
    # and 'mixed_bfloat16' (the stem casts to bfloat16), float64 under
    # 'float64' (a float32 input would round the exact mode's images).
    inputs = tf_keras.Input(shape=input_specs.shape[1:],
                            dtype=precision.policy_accumulation_dtype())

    x = self._conv_norm(inputs, base_width, 7, 2, 'stem/conv1')
    x = tf_keras.layers.ReLU(name=f'{NAME_PREFIX}/stem/relu')(x)
    # Zero padding after the ReLU equals PyTorch's -inf padding here.
    x = tf_keras.layers.ZeroPadding2D(1, name=f'{NAME_PREFIX}/stem/pool_pad')(x)
    x = tf_keras.layers.MaxPool2D(3, 2, name=f'{NAME_PREFIX}/stem/pool')(x)

    endpoints = {}
    for stage, num_blocks in enumerate(depths):
      bottleneck_width = base_width * 2**stage
      for block in range(num_blocks):
        stride = 2 if stage > 0 and block == 0 else 1
        x = self._bottleneck(x, bottleneck_width, 4 * bottleneck_width,
                             stride, f'res{stage + 2}/{block}')
      endpoints[str(stage + 2)] = x
    self._output_specs = {k: v.get_shape() for k, v in endpoints.items()}
    kwargs.setdefault('name', 'torch_resnet')
    super().__init__(inputs=inputs, outputs=endpoints, **kwargs)

  def _conv_norm(self, x: tf.Tensor, filters: int, kernel_size: int,
                 stride: int, path: str) -> tf.Tensor:
    """Conv (no bias, symmetric pad (k-1)/2) followed by FrozenBN."""
    padding = (kernel_size - 1) // 2
    if padding:
      x = tf_keras.layers.ZeroPadding2D(
          padding, name=f'{NAME_PREFIX}/{path}/pad')(x)
    x = tf_keras.layers.Conv2D(
        filters, kernel_size, stride, padding='valid', use_bias=False,
        kernel_initializer=_msra_initializer(),
        kernel_regularizer=self._kernel_regularizer,
        name=f'{NAME_PREFIX}/{path}')(x)
    return layers.FrozenBatchNorm(name=f'{NAME_PREFIX}/{path}/norm')(x)

  def _bottleneck(self, x: tf.Tensor, bottleneck_width: int,
                  out_channels: int, stride: int, path: str) -> tf.Tensor:
    """detectron2 BottleneckBlock with the stride on the 3x3 conv."""
    if x.shape[-1] != out_channels:
      shortcut = self._conv_norm(x, out_channels, 1, stride,
                                 f'{path}/shortcut')
    else:
      shortcut = x
    y = self._conv_norm(x, bottleneck_width, 1, 1, f'{path}/conv1')
    y = tf_keras.layers.ReLU(name=f'{NAME_PREFIX}/{path}/relu1')(y)
    y = self._conv_norm(y, bottleneck_width, 3, stride, f'{path}/conv2')
    y = tf_keras.layers.ReLU(name=f'{NAME_PREFIX}/{path}/relu2')(y)
    y = self._conv_norm(y, out_channels, 1, 1, f'{path}/conv3')
    y = tf_keras.layers.Add(name=f'{NAME_PREFIX}/{path}/add')([y, shortcut])
    return tf_keras.layers.ReLU(name=f'{NAME_PREFIX}/{path}/relu3')(y)

  @property
  def output_specs(self) -> Dict[str, tf.TensorShape]:
    """The shapes of the '2'..'5' endpoints."""
    return self._output_specs

  def get_config(self) -> Dict[str, Any]:
    return self._config_dict

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


@factory.register_backbone_builder('torch_resnet')
def build_torch_resnet(
    input_specs: tf_keras.layers.InputSpec,
    backbone_config: hyperparams.Config,
    norm_activation_config: hyperparams.Config,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
) -> TorchResNet:
  """Builds `TorchResNet` from a `Backbone` config with type 'torch_resnet'.

  Args:
    input_specs: the input spec.
    backbone_config: a `Backbone` OneOfConfig whose `torch_resnet` field is a
      `TorchResNet` config (model_id 50/101 or explicit depths, base_width).
    norm_activation_config: unused: the norm is always FrozenBN (eps 1e-5)
      and the activation ReLU, as in the original.
    l2_regularizer: regularizer of the conv kernels.

  Returns:
    The backbone.

  Raises:
    ValueError: the type is not 'torch_resnet', or no depths are given for an
      unknown model_id.
  """
  del norm_activation_config  # FrozenBN and ReLU are fixed.
  if backbone_config.type != 'torch_resnet':
    raise ValueError(f'backbone type {backbone_config.type!r} is not '
                     "'torch_resnet'")
  config = backbone_config.get()
  depths = config.depths
  if not depths:
    if config.model_id not in RESNET_DEPTHS:
      raise ValueError(f'torch_resnet model_id {config.model_id} is not one of '
                       f'{sorted(RESNET_DEPTHS)}; set `depths` explicitly')
    depths = RESNET_DEPTHS[config.model_id]
  if len(depths) != 4:
    raise ValueError(f'torch_resnet needs 4 stage depths, got {list(depths)}')
  return TorchResNet(
      depths=depths, base_width=config.base_width, input_specs=input_specs,
      kernel_regularizer=l2_regularizer)
