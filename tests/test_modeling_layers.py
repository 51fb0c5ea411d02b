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

"""Tests of the PyTorch-semantics layers against numpy and hand computation."""
import numpy as np
import pytest
import tensorflow as tf
import torch_semantics_numpy as ops

from projects.maskformer.modeling import layers


def test_group_norm_matches_numpy():
  rng = np.random.default_rng(0)
  x = rng.normal(3.0, 2.0, size=(2, 5, 7, 12)).astype(np.float32)
  gamma = rng.normal(size=12).astype(np.float32)
  beta = rng.normal(size=12).astype(np.float32)
  norm = layers.GroupNorm(groups=4)
  norm.build(x.shape)
  norm.gamma.assign(gamma)
  norm.beta.assign(beta)
  expected = ops.group_norm(x.astype(np.float64), 4, gamma, beta)
  np.testing.assert_allclose(norm(x).numpy(), expected, atol=1e-5)


def test_group_norm_rejects_indivisible_channels():
  with pytest.raises(ValueError, match='not divisible'):
    layers.GroupNorm(groups=32)(tf.zeros([1, 2, 2, 48]))


def test_frozen_batch_norm_matches_detectron2_and_never_trains():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 3, 4, 6)).astype(np.float32)
  stats = [rng.normal(size=6).astype(np.float32) for _ in range(3)]
  variance = rng.uniform(0.1, 2.0, size=6).astype(np.float32)
  norm = layers.FrozenBatchNorm()
  norm.build(x.shape)
  norm.trainable = True
  for variable, value in zip(
      (norm.gamma, norm.beta, norm.moving_mean, norm.moving_variance),
      stats + [variance]):
    variable.assign(value)
  weight, bias, mean = stats
  scale = weight / np.sqrt(variance.astype(np.float64) + 1e-5)
  expected = x * scale + (bias - mean * scale)
  np.testing.assert_allclose(norm(x).numpy(), expected, atol=1e-5)
  assert not norm.trainable_variables
  assert len(norm.non_trainable_variables) == 4


def _torch_multi_head_attention(query, key, value, in_proj_weight,
                                in_proj_bias, out_weight, out_bias, num_heads):
  """nn.MultiheadAttention's forward (batch first, no masks) in numpy."""
  channels = query.shape[-1]
  head_dim = channels // num_heads
  w_q, w_k, w_v = np.split(in_proj_weight, 3)
  b_q, b_k, b_v = np.split(in_proj_bias, 3)
  q = (query @ w_q.T + b_q) * head_dim**-0.5
  k = key @ w_k.T + b_k
  v = value @ w_v.T + b_v

  def heads(t):
    return t.reshape(t.shape[0], t.shape[1], num_heads, head_dim)

  logits = np.einsum('bqhd,bkhd->bhqk', heads(q), heads(k))
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  attended = np.einsum('bhqk,bkhd->bqhd', weights, heads(v))
  return attended.reshape(query.shape) @ out_weight.T + out_bias


def test_multi_head_attention_matches_pytorch_semantics():
  rng = np.random.default_rng(2)
  channels, num_heads = 8, 2
  query = rng.normal(size=(2, 5, channels))
  key = rng.normal(size=(2, 7, channels))
  value = rng.normal(size=(2, 7, channels))
  in_proj_weight = rng.normal(size=(3 * channels, channels)) * 0.5
  in_proj_bias = rng.normal(size=3 * channels)
  out_weight = rng.normal(size=(channels, channels)) * 0.5
  out_bias = rng.normal(size=channels)
  attention = layers.MultiHeadAttention(num_heads)
  attention(query.astype(np.float32), key.astype(np.float32),
            value.astype(np.float32))
  for dense, w, b in zip(
      (attention.query, attention.key, attention.value),
      np.split(in_proj_weight, 3), np.split(in_proj_bias, 3)):
    dense.kernel.assign(w.T)
    dense.bias.assign(b)
  attention.output_projection.kernel.assign(out_weight.T)
  attention.output_projection.bias.assign(out_bias)
  ours = attention(query.astype(np.float32), key.astype(np.float32),
                   value.astype(np.float32)).numpy()
  expected = _torch_multi_head_attention(query, key, value, in_proj_weight,
                                         in_proj_bias, out_weight, out_bias,
                                         num_heads)
  np.testing.assert_allclose(ours, expected, atol=2e-5)
