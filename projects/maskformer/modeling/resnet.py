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
from projects.maskformer.ops import valid_region

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
    def image_input():
      return tf_keras.Input(shape=input_specs.shape[1:],
                            dtype=precision.policy_accumulation_dtype())

    # Layers by name, shared by the two graphs below (Keras forbids
    # attributes before `super().__init__`).
    shared_layers = {}
    inputs = image_input()
    endpoints = self._graph(inputs, None, depths, base_width, shared_layers)
    self._output_specs = {k: v.get_shape() for k, v in endpoints.items()}
    kwargs.setdefault('name', 'torch_resnet')
    super().__init__(inputs=inputs, outputs=endpoints, **kwargs)
    # The padding-exact graph (`valid_region`): the same layers, with the
    # region outside each image's valid size zeroed before every layer that
    # reads neighbours (convolutions wider than 1x1, the max pool).
    exact_inputs = [image_input(), tf_keras.Input(shape=[2], dtype=tf.int32)]
    self._padding_exact_graph = tf_keras.Model(
        exact_inputs,
        self._graph(*exact_inputs, depths, base_width, shared_layers),
        name=f'{self.name}_padding_exact')

  def _graph(self, inputs: tf.Tensor, valid_sizes: Optional[tf.Tensor],
             depths: Sequence[int], base_width: int,
             shared_layers: Dict[str, tf_keras.layers.Layer]
             ) -> Dict[str, tf.Tensor]:
    """The network on symbolic inputs: the '2'..'5' endpoints."""
    def layer(name, make):
      if name not in shared_layers:
        shared_layers[name] = make(name)
      return shared_layers[name]

    def zero_outside(x, stride, path):
      if valid_sizes is None:
        return x
      zero = layer(f'{NAME_PREFIX}/{path}/zero_outside',
                   lambda name: valid_region.ZeroOutside(stride, name=name))
      return zero([x, valid_sizes])

    def conv_norm(x, filters, kernel_size, stride, in_stride, path):
      """Conv (no bias, symmetric pad (k-1)/2) followed by FrozenBN."""
      padding = (kernel_size - 1) // 2
      if padding:
        x = zero_outside(x, in_stride, path)
        x = layer(f'{NAME_PREFIX}/{path}/pad',
                  lambda name: tf_keras.layers.ZeroPadding2D(padding,
                                                             name=name))(x)
      x = layer(f'{NAME_PREFIX}/{path}', lambda name: tf_keras.layers.Conv2D(
          filters, kernel_size, stride, padding='valid', use_bias=False,
          kernel_initializer=_msra_initializer(),
          kernel_regularizer=self._kernel_regularizer, name=name))(x)
      return layer(f'{NAME_PREFIX}/{path}/norm',
                   lambda name: layers.FrozenBatchNorm(name=name))(x)

    def relu(x, path):
      return layer(f'{NAME_PREFIX}/{path}',
                   lambda name: tf_keras.layers.ReLU(name=name))(x)

    def bottleneck(x, bottleneck_width, out_channels, stride, in_stride,
                   path):
      """detectron2 BottleneckBlock with the stride on the 3x3 conv."""
      if x.shape[-1] != out_channels:
        shortcut = conv_norm(x, out_channels, 1, stride, in_stride,
                             f'{path}/shortcut')
      else:
        shortcut = x
      y = conv_norm(x, bottleneck_width, 1, 1, in_stride, f'{path}/conv1')
      y = relu(y, f'{path}/relu1')
      y = conv_norm(y, bottleneck_width, 3, stride, in_stride,
                    f'{path}/conv2')
      y = relu(y, f'{path}/relu2')
      y = conv_norm(y, out_channels, 1, 1, in_stride * stride,
                    f'{path}/conv3')
      y = layer(f'{NAME_PREFIX}/{path}/add',
                lambda name: tf_keras.layers.Add(name=name))([y, shortcut])
      return relu(y, f'{path}/relu3')

    x = conv_norm(inputs, base_width, 7, 2, 1, 'stem/conv1')
    x = relu(x, 'stem/relu')
    # Zero padding after the ReLU equals PyTorch's -inf padding here.
    x = zero_outside(x, 2, 'stem/pool')
    x = layer(f'{NAME_PREFIX}/stem/pool_pad',
              lambda name: tf_keras.layers.ZeroPadding2D(1, name=name))(x)
    x = layer(f'{NAME_PREFIX}/stem/pool',
              lambda name: tf_keras.layers.MaxPool2D(3, 2, name=name))(x)

    endpoints = {}
    in_stride = 4
    for stage, num_blocks in enumerate(depths):
      bottleneck_width = base_width * 2**stage
      for block in range(num_blocks):
        stride = 2 if stage > 0 and block == 0 else 1
        x = bottleneck(x, bottleneck_width, 4 * bottleneck_width, stride,
                       in_stride, f'res{stage + 2}/{block}')
        in_stride *= stride
      endpoints[str(stage + 2)] = x
    return endpoints

  def call(self, inputs: tf.Tensor, training: Optional[bool] = None,
           mask: Optional[tf.Tensor] = None,
           valid_sizes: Optional[tf.Tensor] = None) -> Dict[str, tf.Tensor]:
    """Computes res2..res5.

    Args:
      inputs: A float [B, H, W, 3] tensor of normalized images.
      training: unused by the layers (FrozenBN), passed on.
      mask: Keras' mask argument, passed on.
      valid_sizes: None, or an int [B, 2] tensor of each image's (height,
        width) inside `inputs` (top-left): every endpoint is then, inside
        its valid region (`valid_region.sizes_at_stride`), what the image
        alone gives (padding-exact computation).

    Returns:
      {'2': [B, H/4, W/4, C2], ..., '5': [B, H/32, W/32, C5]}.
    """
    if valid_sizes is None:
      return super().call(inputs, training=training, mask=mask)
    return self._padding_exact_graph([inputs, valid_sizes], training=training)

  @property
  def output_specs(self) -> Dict[str, tf.TensorShape]:
    """The shapes of the '2'..'5' endpoints."""
    return self._output_specs

  def get_config(self) -> Dict[str, Any]:
    return self._config_dict

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return cls(**config)


def backbone_features(backbone: tf_keras.Model, images: tf.Tensor,
                      training: Optional[bool],
                      valid_sizes: Optional[tf.Tensor]) -> Dict[str, tf.Tensor]:
  """The backbone's '2'..'5' features, padding-exact where sizes are given.

  Args:
    backbone: the model's backbone.
    images: A float [B, H, W, 3] tensor of normalized images.
    training: passed to the backbone.
    valid_sizes: None, or an int [B, 2] tensor of each image's (height,
      width) in `images` (`valid_region`).

  Returns:
    The backbone's endpoint dict.

  Raises:
    ValueError: `valid_sizes` with a backbone that cannot compute
      padding-exactly (only 'torch_resnet' can).
  """
  if valid_sizes is None:
    return backbone(images, training=training)
  if not isinstance(backbone, TorchResNet):
    raise ValueError(
        'padding-exact computation (valid_sizes) needs the torch_resnet '
        f'backbone; this model has {type(backbone).__name__}')
  return backbone(images, training=training, valid_sizes=valid_sizes)


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
