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

"""Tests of the detectron2 ResNet backbone against a numpy implementation."""
import pickle

import numpy as np
from numpy.lib import stride_tricks
from official.vision.modeling.backbones import factory
import pytest
import tensorflow as tf
import tf_keras
import torch_semantics_numpy as ops

from projects.maskformer.checkpoints import converter
from projects.maskformer.configs import model as model_cfg
from projects.maskformer.modeling import resnet

_WIDTH = 4
_DEPTHS = (1, 2, 1, 1)


def _frozen_bn(x, state, name):
  scale = state[f'{name}.weight'] / np.sqrt(state[f'{name}.running_var'] +
                                             1e-5)
  return x * scale + (state[f'{name}.bias'] - state[f'{name}.running_mean'] *
                      scale)


def _conv_bn(x, state, name, stride, pad):
  return _frozen_bn(
      ops.conv2d(x, state[f'{name}.weight'], stride=stride, pad=pad), state,
      f'{name}.norm')


def _numpy_resnet(image, state):
  """detectron2's ResNet forward (stride on the 3x3 conv) in float64."""
  relu = ops.relu
  x = relu(_conv_bn(image, state, 'backbone.stem.conv1', 2, 3))
  x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  x = stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2]
  x = x.max(axis=(-2, -1))
  outputs = {}
  for stage, depth in enumerate(_DEPTHS):
    for block in range(depth):
      name = f'backbone.res{stage + 2}.{block}'
      stride = 2 if stage > 0 and block == 0 else 1
      if f'{name}.shortcut.weight' in state:
        shortcut = _conv_bn(x, state, f'{name}.shortcut', stride, 0)
      else:
        shortcut = x
      y = relu(_conv_bn(x, state, f'{name}.conv1', 1, 0))
      y = relu(_conv_bn(y, state, f'{name}.conv2', stride, 1))
      y = _conv_bn(y, state, f'{name}.conv3', 1, 0)
      x = relu(y + shortcut)
    outputs[str(stage + 2)] = x
  return outputs


def _random_state(rng):
  """A detectron2-named random ResNet state dict (numpy, PyTorch layouts)."""
  state = {}

  def conv_bn(name, out_channels, in_channels, kernel):
    fan_in = in_channels * kernel * kernel
    state[f'{name}.weight'] = rng.normal(
        0.0, np.sqrt(2.0 / fan_in),
        (out_channels, in_channels, kernel, kernel)).astype(np.float32)
    state[f'{name}.norm.weight'] = rng.uniform(0.5, 1.5, out_channels)
    state[f'{name}.norm.bias'] = rng.normal(0.0, 0.1, out_channels)
    state[f'{name}.norm.running_mean'] = rng.normal(0.0, 0.1, out_channels)
    state[f'{name}.norm.running_var'] = rng.uniform(0.5, 1.5, out_channels)

  conv_bn('backbone.stem.conv1', _WIDTH, 3, 7)
  in_channels = _WIDTH
  for stage, depth in enumerate(_DEPTHS):
    width = _WIDTH * 2**stage
    for block in range(depth):
      name = f'backbone.res{stage + 2}.{block}'
      if block == 0:
        conv_bn(f'{name}.shortcut', 4 * width, in_channels, 1)
      conv_bn(f'{name}.conv1', width, in_channels, 1)
      conv_bn(f'{name}.conv2', width, width, 3)
      conv_bn(f'{name}.conv3', 4 * width, width, 1)
      in_channels = 4 * width
  return {k: np.asarray(v, np.float32) for k, v in state.items()}


def _expected_size(size):
  """Output sizes of res2..res5 by PyTorch's floor((n + 2p - k) / s) + 1."""
  size = (size + 2 * 3 - 7) // 2 + 1  # stem conv
  size = (size + 2 * 1 - 3) // 2 + 1  # max-pool
  sizes = [size]
  for _ in range(3):
    size = (size + 2 * 1 - 3) // 2 + 1  # stride-2 3x3 conv
    sizes.append(size)
  return sizes


@pytest.mark.parametrize('height,width', [(37, 53), (64, 70)])
def test_matches_numpy_detectron2_resnet(tmp_path, height, width):
  rng = np.random.default_rng(height)
  state = _random_state(rng)
  path = tmp_path / 'resnet.pkl'
  path.write_bytes(pickle.dumps({'model': state}))
  backbone = resnet.TorchResNet(depths=_DEPTHS, base_width=_WIDTH)
  summary = converter.convert_backbone(backbone, path)
  assert summary.naming == 'detectron2'
  image = rng.normal(size=(2, height, width, 3)).astype(np.float32)
  ours = backbone(image)
  expected = _numpy_resnet(image.astype(np.float64),
                           {k: v.astype(np.float64) for k, v in state.items()})
  for level, h, w in zip('2345', _expected_size(height),
                         _expected_size(width)):
    assert ours[level].shape == (2, h, w, 4 * _WIDTH * 2**(int(level) - 2))
    peak = np.abs(expected[level]).max()
    np.testing.assert_allclose(ours[level].numpy(), expected[level],
                               atol=1e-5 * max(1.0, peak))


@pytest.mark.parametrize('height,width', [(33, 47), (65, 97), (1, 1)])
def test_output_sizes_follow_pytorch_padding(height, width):
  backbone = resnet.TorchResNet(depths=(1, 1, 1, 1), base_width=2)
  outputs = backbone(tf.zeros([1, height, width, 3]))
  for level, h, w in zip('2345', _expected_size(height),
                         _expected_size(width)):
    assert outputs[level].shape[1:3] == (h, w)


def test_factory_builds_registered_torch_resnet():
  config = model_cfg.Backbone(
      type='torch_resnet', torch_resnet=model_cfg.TorchResNet(model_id=101))
  backbone = factory.build_backbone(
      input_specs=tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
      backbone_config=config,
      norm_activation_config=model_cfg.MaskFormer().norm_activation)
  assert isinstance(backbone, resnet.TorchResNet)
  blocks = {layer.name.split('/')[1] + '/' + layer.name.split('/')[2]
            for layer in backbone.layers
            if layer.name.startswith('backbone/res') and
            layer.name.endswith('/conv1')}
  per_stage = [sum(1 for b in blocks if b.startswith(f'res{s}/'))
               for s in range(2, 6)]
  assert per_stage == [3, 4, 23, 3]
  assert {k: s.as_list() for k, s in backbone.output_specs.items()} == {
      '2': [None, None, None, 256], '3': [None, None, None, 512],
      '4': [None, None, None, 1024], '5': [None, None, None, 2048]}


def test_factory_rejects_unknown_model_id():
  config = model_cfg.Backbone(
      type='torch_resnet', torch_resnet=model_cfg.TorchResNet(model_id=34))
  with pytest.raises(ValueError, match='model_id 34'):
    factory.build_backbone(
        input_specs=tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
        backbone_config=config,
        norm_activation_config=model_cfg.MaskFormer().norm_activation)


def test_frozen_norms_never_train_and_names_follow_detectron2():
  backbone = resnet.TorchResNet(depths=_DEPTHS, base_width=_WIDTH)
  backbone.trainable = True
  trainable = backbone.trainable_variables
  assert all('/norm/' not in v.name for v in trainable)
  assert all(v.name.endswith('/kernel:0') for v in trainable)
  assert len(backbone.non_trainable_variables) == 4 * len(trainable)
  assert all(v.name.startswith('backbone/') for v in backbone.variables)
  names = {v.name for v in backbone.variables}
  assert 'backbone/stem/conv1/kernel:0' in names
  assert 'backbone/res3/0/shortcut/norm/moving_variance:0' in names
  assert 'backbone/res3/1/shortcut/kernel:0' not in names
