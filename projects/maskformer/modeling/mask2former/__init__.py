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

"""Mask2Former (Cheng et al., 2022): the meta-architecture's own modules.

  * `deformable_attention`: `MSDeformAttn`, Deformable DETR's multi-scale
    deformable attention layer;
  * `pixel_decoder`: `MSDeformAttnPixelDecoder`, the deformable transformer
    encoder over res3..res5 plus one FPN level for res2;
  * `transformer_decoder`: `MultiScaleMaskedTransformerDecoder`, masked
    cross-attention over the levels in turn, with a prediction head before
    the first layer and after every layer.

What the original computes is written out in the shared
`docs/mask2former_semantics.md`; this package imports only the shared
modules of `modeling/` and `ops/`, not MaskFormer's.
"""
