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

"""Mask2Former's real-size experiments against the original's numbers.

The trainable parameter counts of the models that the registered experiments
build (through the task, which picks the architecture by config type) are
the original's (`mask2former_reference/README.md`, "Real-size parameter
counts"), in total and per part; the learning rates their optimizer configs
give are detectron2's `WarmupMultiStepLR` / `WarmupPolyLR` of the official
configs, computed here independently.
"""
import bisect

import numpy as np
from official.core import exp_factory
from official.core import task_factory
from official.modeling.optimization import optimizer_factory
import pytest

from projects.maskformer import registry_imports  # noqa: F401

# The reference README's table: total, backbone, pixel decoder, transformer
# decoder (trainable; FrozenBN statistics are not).
PARAMETER_COUNTS = {
    'mask2former_coco_panoptic_r50': (43_983_878, 23_454_912, 6_035_904,
                                      14_493_062),
    'mask2former_ade20k_semantic_r50': (43_988_247, 23_454_912, 6_035_904,
                                        14_497_431),
    'mask2former_coco_instance_r50': (43_970_257, 23_454_912, 6_035_904,
                                      14_479_441),
}


def _count(variables) -> int:
  return sum(int(np.prod(v.shape)) for v in variables)


@pytest.fixture(scope='module')
def parameter_counts():
  """Per experiment: (total, backbone, pixel decoder, transformer decoder).

  Each model is built once (variables only, no forward pass) and dropped.
  """
  counts = {}
  for name in PARAMETER_COUNTS:
    config = exp_factory.get_exp_config(name)
    model = task_factory.get_task(config.task).build_model()
    counts[name] = (_count(model.trainable_variables),
                    _count(model.backbone.trainable_variables),
                    _count(model.pixel_decoder.trainable_variables),
                    _count(model.transformer_decoder.trainable_variables))
  return counts


@pytest.mark.parametrize('name', sorted(PARAMETER_COUNTS))
def test_real_size_trainable_parameter_counts(parameter_counts, name):
  assert parameter_counts[name] == PARAMETER_COUNTS[name]


def _learning_rates(name, steps):
  config = exp_factory.get_exp_config(name).trainer.optimizer_config
  schedule = optimizer_factory.OptimizerFactory(config).build_learning_rate()
  return [float(schedule(step)) for step in steps]


@pytest.mark.parametrize('name', ['mask2former_coco_panoptic_r50',
                                  'mask2former_coco_instance_r50'])
def test_coco_schedule_is_detectron2_multistep(name):
  # WarmupMultiStepLR, STEPS (327778, 355092), gamma 0.1, WARMUP_FACTOR 1.0:
  # lr(k) = 1e-4 * 0.1 ** bisect_right(STEPS, k), the warm-up a no-op.
  steps = [0, 5, 9, 10, 327777, 327778, 355091, 355092, 368749]
  expected = [1e-4 * 0.1**bisect.bisect_right([327778, 355092], k)
              for k in steps]
  np.testing.assert_allclose(_learning_rates(name, steps), expected,
                             rtol=1e-6)


def test_ade20k_schedule_is_detectron2_poly():
  # WarmupPolyLR, MAX_ITER 160000, power 0.9, no warm-up, constant ending 0.
  # The schedule computes in float32: 1 - k / 160000 is rounded, which near
  # the end is a large relative error of a tiny rate, hence the absolute
  # tolerance of 1e-6 of the base rate.
  steps = [0, 1, 80000, 159999]
  expected = [1e-4 * (1.0 - k / 160000)**0.9 for k in steps]
  np.testing.assert_allclose(
      _learning_rates('mask2former_ade20k_semantic_r50', steps), expected,
      rtol=1e-5, atol=1e-10)


def test_coco_instance_is_the_panoptic_recipe_with_80_classes():
  panoptic = exp_factory.get_exp_config('mask2former_coco_panoptic_r50')
  instance = exp_factory.get_exp_config('mask2former_coco_instance_r50')
  assert instance.task.model.num_classes == 80
  for data in (instance.task.train_data, instance.task.validation_data):
    assert data.decoder.num_classes == 80
  instance.override({'task': {
      'model': {'num_classes': 133},
      'train_data': {'decoder': {'num_classes': 133}},
      'validation_data': {'decoder': {'num_classes': 133}}}})
  assert instance.as_dict() == panoptic.as_dict()
