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

"""Regexes that select groups of the MaskFormer model's variables by name.

They are a contract between the model (`modeling/maskformer/` and the shared
blocks of `modeling/`), which names the variables, and the optimizer
(`projects/maskformer/optimization.py` and its config,
`configs/optimization.py`), which gives the backbone its learning-rate
multiplier and exempts norms and the query embedding from weight decay.
Match them with `re.search` on `variable.name` (e.g.
'transformer_predictor/query_embed:0'); they match names with or without the
':0' and MirroredStrategy '/replica_<k>' suffixes.

  * head (everything but the backbone): `HEAD_VARIABLE_REGEX`;
  * backbone: every other variable (`BACKBONE_VARIABLE_REGEX`), whatever the
    backbone type; the 'torch_resnet' backbone's variables also start with
    `backbone/`;
  * GroupNorm / LayerNorm parameters: `NORM_VARIABLE_REGEX`;
  * the query embedding: `QUERY_EMBED_VARIABLE_REGEX`;
  * Mask2Former's decoder embeddings (the original's `nn.Embedding` modules,
    `WEIGHT_DECAY_EMBED` 0): `DECODER_EMBEDDING_VARIABLE_REGEX`.
"""

HEAD_VARIABLE_REGEX = r'(^|/)(pixel_decoder|transformer_predictor)/'
BACKBONE_VARIABLE_REGEX = r'^(?!(.*/)?(pixel_decoder|transformer_predictor)/)'
NORM_VARIABLE_REGEX = r'(group_norm|layer_norm)\d*/(gamma|beta)(/|:|$)'
QUERY_EMBED_VARIABLE_REGEX = r'(^|/)query_embed(/|:|$)'
DECODER_EMBEDDING_VARIABLE_REGEX = (
    r'(^|/)transformer_predictor/(query_feat|query_embed|level_embed)(/|:|$)')
