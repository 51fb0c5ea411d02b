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


"""Losses: the Hungarian matcher and the mask-classification set criterion.

`matching_cost` (MaskFormer's class, focal and dice matching costs),
`matcher` (the costs of every decoder layer and their exact assignment),
`mask_loss` (the bounded-memory focal and dice losses of the matched pairs)
and `criterion` (the criterion every mask-classification model shares, and
MaskFormer's). Everything is a TensorFlow computation of the train step.
"""
