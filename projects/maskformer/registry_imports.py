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

"""Imports every module that registers experiments, tasks or backbones.

Per architecture, its config module (its task config and the experiments it
registers with `exp_factory`) and its task module (the task registered for
that config with `task_factory`; it imports the model, whose module registers
the backbones). The shared task config is `configs/task.py`; one task module
serves both architectures.
"""
# pylint: disable=unused-import
# MaskFormer and Mask2Former.
from projects.maskformer.configs import mask2former as m2f_cfg  # noqa: F401
from projects.maskformer.configs import maskformer as exp_cfg  # noqa: F401
from projects.maskformer.tasks import maskformer_segmentation  # noqa: F401
