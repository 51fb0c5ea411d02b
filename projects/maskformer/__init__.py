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

"""MaskFormer (Cheng et al., 2021) for TensorFlow Model Garden.

Sub-packages and modules, bottom layer first; each imports only its own
layer and those before it (`tests/test_layering.py` checks it):

  1. `configs` (config dataclasses, experiments), `ops` (TensorFlow ops),
     `cli` (the tools' shared runner);
  2. `dataloaders` (TFRecord schema, decoders, parser, augmentation, the
     device-side inputs and loss targets);
  3. `modeling` (the model, post-processing), `losses` (matcher, criterion),
     `conversion` (datasets to TFRecords, offline; nothing imports it);
  4. `evaluation` (PQ, mIoU, mask AP), `checkpoints` (PyTorch conversion);
  5. `inference_setup` (category map, checkpoint, post-processor),
     `optimization` (PyTorch-exact AdamW);
  6. `tasks` (the Model Garden task);
  7. `serving` (SavedModel export, prediction), `registry_imports`;
  8. `reference` (checks against the PyTorch reference fixtures), `train`.

`docs/architecture.md` follows the data through them.
"""
