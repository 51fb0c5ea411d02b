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

"""Data: the tf.data pipeline and the device side of its output.

On the host: the TFRecord schema, the TFRecord and TFDS decoders, the
static-shape parser with the training augmentation recipes and the `tf.data`
pipeline. On the device (`maskformer_input`): the labels' keys, the
normalization of uint8 canvases and the loss targets built from the segment
maps. The offline converters that write the TFRecords are in `conversion/`.
"""
