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

"""Offline conversion of COCO panoptic and ADE20K-150 to TFRecords.

Run once before training (`tools/create_*_tfrecord.py`): the per-dataset
readers and checks (`coco_panoptic`, `ade20k`), their parallel loading with
the error and skip summary (`loading`), and the atomic sharded writer with
the category map (`tfrecords`). The records follow
`dataloaders/example_schema.py`. Nothing on the training or serving path
imports this package.
"""
