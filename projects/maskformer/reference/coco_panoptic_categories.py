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

"""The 133 COCO panoptic categories: dataset ids and thing/stuff flags.

The reference fixtures use contiguous class ids: the index of a category in
the id-sorted list of the 133 COCO panoptic categories (panopticapi's
`panoptic_coco_categories.json`). Post-processing needs to know which of
those classes are things; this table gives it without the dataset files.
"""
from typing import List

# Dataset ids of the 80 thing categories.
THING_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
    23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
    46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64,
    65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88,
    89, 90,
)

# Dataset ids of the 53 stuff categories.
STUFF_IDS = (
    92, 93, 95, 100, 107, 109, 112, 118, 119, 122, 125, 128, 130, 133, 138,
    141, 144, 145, 147, 148, 149, 151, 154, 155, 156, 159, 161, 166, 168, 171,
    175, 176, 177, 178, 180, 181, 184, 185, 186, 187, 188, 189, 190, 191, 192,
    193, 194, 195, 196, 197, 198, 199, 200,
)

NUM_CLASSES = len(THING_IDS) + len(STUFF_IDS)


def thing_contiguous_ids() -> List[int]:
  """The contiguous ids (indices in the id-sorted list) of the things."""
  things = set(THING_IDS)
  return [index for index, category_id in
          enumerate(sorted(THING_IDS + STUFF_IDS)) if category_id in things]
