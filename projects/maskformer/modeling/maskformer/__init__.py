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

"""MaskFormer's own modules: what another mask-classification model replaces.

The FPN and "+6 Enc" pixel decoders, the DETR transformer predictor and the
assembled model (`maskformer_model.build_maskformer_model`). They are built
from the shared blocks of `modeling/` (backbone, layers, transformer blocks,
heads); nothing outside this package imports from it except the code that
builds or converts a MaskFormer (task, serving, checkpoints, reference).
"""
