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

"""The PyTorch side of the model benchmark: optional, outside the library.

`Frameworks` imports torch, `transformers` and safetensors if they are
installed (the optional `pytorch` extra); the rest builds the port's inputs,
its forward and train steps (the port's own matcher and loss, backward,
whole-model gradient clipping, AdamW with the TF experiment's settings and
groups) and counts its FLOPs. Each step function is a zero-argument callable
that runs one step and returns when its results are ready.
"""
import importlib
import os

from absl import logging
import numpy as np

from benchmarking import models
from benchmarking import synthetic_inputs


class Frameworks:
  """The optional PyTorch side: None attributes when not installed."""

  def __init__(self, omp_wait_policy: str):
    """Imports the PyTorch side, if installed.

    Args:
      omp_wait_policy: OMP_WAIT_POLICY set before torch is imported, unless
        the environment sets it; empty: the OpenMP default.
    """
    self.torch = self.transformers = self.safetensors_torch = None
    self.missing = ''
    if omp_wait_policy and 'OMP_WAIT_POLICY' not in os.environ:
      os.environ['OMP_WAIT_POLICY'] = omp_wait_policy
    try:
      # torch first: on a machine without the extra it is the one named.
      torch = importlib.import_module('torch')
      transformers = importlib.import_module('transformers')
      safetensors_torch = importlib.import_module('safetensors.torch')
    except ImportError as e:
      self.missing = (f'not measured: {e.name} is not installed (pip install '
                      '-e .[pytorch])')
      return
    self.torch, self.transformers = torch, transformers
    self.safetensors_torch = safetensors_torch

  @property
  def available(self) -> bool:
    return self.torch is not None



def torch_batch(torch, workload: synthetic_inputs.Workload, device):
  """`pixel_values` and, for training, `mask_labels` / `class_labels`."""
  pixels = torch.from_numpy(synthetic_inputs.normalized_nhwc(
      workload.pixels).transpose(0, 3, 1, 2).copy())
  pixels = pixels.to(device)
  if workload.segment_map is None:
    return pixels, None, None
  num_targets = workload.classes.shape[1]
  masks, classes = [], []
  for segment_map, image_classes in zip(workload.segment_map,
                                        workload.classes):
    one_hot = segment_map[None] == np.arange(num_targets)[:, None, None]
    masks.append(torch.from_numpy(one_hot.astype(np.float32)).to(device))
    classes.append(torch.from_numpy(image_classes.astype(np.int64)).to(device))
  return pixels, masks, classes



def _initial_learning_rate(optimization_config) -> float:
  """The schedule's initial learning rate as configured (no warm-up).

  Raises:
    ValueError: a schedule with neither `initial_learning_rate` (polynomial,
      cosine, ...), `learning_rate` (constant) nor `values` (stepwise).
  """
  schedule = optimization_config.learning_rate.get()
  for field in ('initial_learning_rate', 'learning_rate'):
    if getattr(schedule, field, None) is not None:
      return float(getattr(schedule, field))
  if getattr(schedule, 'values', None):
    return float(schedule.values[0])
  raise ValueError(f'no initial learning rate in {schedule}')


def torch_optimizer(torch, model, optimization_config):
  """`torch.optim.AdamW` with the TF experiment's settings and groups.

  The schedule's initial learning rate, betas, epsilon and weight decay of the
  experiment's `maskformer_adamw`; the backbone's learning rate x its
  `backbone_lr_multiplier`; no decay on norms and `nn.Embedding`s (the query
  embedding; Mask2Former's query features, query and level embeddings), as
  its `exclude_from_weight_decay`.

  Args:
    torch: the torch module.
    model: a `transformers` port (its backbone under
      `model.pixel_level_module.encoder.`).
    optimization_config: the experiment's `trainer.optimizer_config`.

  Returns:
    The optimizer.
  """
  adamw = optimization_config.optimizer.maskformer_adamw
  learning_rate = _initial_learning_rate(optimization_config)
  no_decay_types = (torch.nn.modules.batchnorm._BatchNorm,  # pylint: disable=protected-access
                    torch.nn.GroupNorm, torch.nn.LayerNorm, torch.nn.Embedding)
  groups = {}
  for module_name, module in model.named_modules():
    for name, parameter in module.named_parameters(recurse=False):
      if not parameter.requires_grad:
        continue
      backbone = f'{module_name}.{name}'.startswith(
          'model.pixel_level_module.encoder.')
      no_decay = isinstance(module, no_decay_types)
      groups.setdefault((backbone, no_decay), []).append(parameter)
  return torch.optim.AdamW(
      [{'params': params,
        'lr': learning_rate * (adamw.backbone_lr_multiplier if backbone
                               else 1.0),
        'weight_decay': 0.0 if no_decay else adamw.weight_decay_rate}
       for (backbone, no_decay), params in groups.items()],
      lr=learning_rate, betas=(adamw.beta_1, adamw.beta_2),
      eps=adamw.epsilon)


def torch_forward_fn(env, pair: models.ModelPair, pixels):
  torch, model = env.fw.torch, pair.torch_model

  def run():
    model.eval()
    with torch.inference_mode(), env.autocast():
      outputs = model(pixel_values=pixels)
      result = {'pred_logits': outputs.class_queries_logits.float(),
                'pred_masks': outputs.masks_queries_logits.float()}
    env.synchronize()
    return {k: v.cpu().numpy() for k, v in result.items()}
  return run


def torch_train_fn(env, pair: models.ModelPair, pixels, masks, classes):
  torch, model = env.fw.torch, pair.torch_model
  models.freeze_batch_norm(torch, model)
  optimization_config = pair.experiment.trainer.optimizer_config
  if pair.torch_optimizer is None:
    pair.torch_optimizer = torch_optimizer(torch, model, optimization_config)
  optimizer = pair.torch_optimizer
  clipnorm = optimization_config.optimizer.maskformer_adamw.global_clipnorm
  params = [p for p in model.parameters() if p.requires_grad]

  def run():
    models.freeze_batch_norm(torch, model)
    optimizer.zero_grad(set_to_none=True)
    # MaskFormer's port: its auxiliary losses need `use_auxiliary_loss` and
    # the hidden states passed explicitly (5.23 fails in `torch.stack(None)`
    # otherwise). Mask2Former's port always adds the auxiliary losses and
    # keeps `use_auxiliary_loss` on (`deep_supervision` is always on for it).
    forward_setting = model.config.use_auxiliary_loss
    model.config.use_auxiliary_loss = env.deep_supervision
    try:
      with env.autocast():
        outputs = model(pixel_values=pixels, mask_labels=masks,
                        class_labels=classes,
                        output_hidden_states=env.deep_supervision)
    finally:
      model.config.use_auxiliary_loss = forward_setting
    outputs.loss.backward()
    if clipnorm is not None:
      torch.nn.utils.clip_grad_norm_(params, clipnorm)
    optimizer.step()
    loss = outputs.loss.detach().float().item()
    env.synchronize()
    return loss
  return run



def torch_flop_check(env, size: int, num_queries: int):
  """The PyTorch FLOP counter on the same forward, as a cross-check."""
  if not env.fw.available or env.pair(num_queries).torch_model is None:
    return {}
  from torch.utils import flop_counter  # pylint: disable=g-import-not-at-top
  torch = env.fw.torch
  model = env.pair(num_queries).torch_model
  pixels, _, _ = torch_batch(
      torch, synthetic_inputs.make_workload(env.seed, 1, size),
      env.torch_device)
  model.eval()
  try:
    with torch.inference_mode(), flop_counter.FlopCounterMode(
        display=False) as counter:
      model(pixel_values=pixels)
  except Exception:  # pylint: disable=broad-except
    logging.exception('PyTorch FLOP count failed')
    return {}
  return {'image_size': size, 'num_queries': num_queries,
          'torch_flop_counter_gflops': counter.get_total_flops() / 1e9}

