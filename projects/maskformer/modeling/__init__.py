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

"""Mask-classification models and their inference.

The top level holds what every mask-classification model shares: the
detectron2-style ResNet backbone (`resnet`), layers with PyTorch's numerics
(`layers`), DETR's sine positional encoding (`position_encoding`) and
transformer blocks (`transformer`), the class and mask heads (`heads`), the inference algorithms
(`inference`) and the post-processing layer (`postprocessing`). Each
meta-architecture has its own subpackage, today `maskformer/` (pixel
decoders, predictor, model); the shared modules import none of them.
"""
