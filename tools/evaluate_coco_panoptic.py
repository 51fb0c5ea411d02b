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

r"""Evaluates COCO panoptic predictions with panopticapi's PQ definition.

Given predictions in panopticapi's format (a folder of PNGs whose colour
encodes the segment id R + 256 G + 256^2 B, and a JSON with one annotation
per image: `image_id`, `file_name`, `segments_info` with `id` and
`category_id`), prints panopticapi's table (PQ, SQ, RQ x 100 and the number
of categories N for All / Things / Stuff) and optionally writes the
structure `panopticapi.evaluation.pq_compute` returns:
{"All": {"pq", "sq", "rq", "n"}, "Things": ..., "Stuff": ...,
"per_class": {category_id: {"pq", "sq", "rq"}}}, values in [0, 1].

Usage:
  python tools/evaluate_coco_panoptic.py \
      --gt_json=coco/annotations/panoptic_val2017.json \
      --gt_folder=coco/annotations/panoptic_val2017 \
      --pred_json=/tmp/predictions.json --pred_folder=/tmp/predictions \
      --output_json=/tmp/pq.json

Exits with status 1 and a message naming the file, image and segment when
the inputs are missing or inconsistent. Predictions can be written with
`projects.maskformer.evaluation.panoptic_io.PanopticPredictionWriter` (from
`MaskFormerPostProcessor` outputs via `panoptic_io.segments_from_table`) and
then evaluated with `evaluate_prediction_files`.
"""
import json
import sys
from typing import Any
from typing import Dict
from typing import Optional

from absl import app
from absl import flags

from projects.maskformer.evaluation import panoptic_io
from projects.maskformer.evaluation import panoptic_quality

_GT_JSON = flags.DEFINE_string(
    'gt_json', None, 'Ground-truth panoptic JSON in COCO panoptic format: '
    '"annotations" (image_id, file_name, segments_info with id, '
    'category_id, iscrowd, area) and "categories" (id, isthing).')
_GT_FOLDER = flags.DEFINE_string(
    'gt_folder', None, 'Folder holding the ground-truth panoptic PNGs named by '
    'the annotations\' file_name.')
_PRED_JSON = flags.DEFINE_string(
    'pred_json', None, 'Prediction JSON in the same format ("annotations" '
    'with image_id, file_name and segments_info with id and category_id); '
    'every ground-truth image needs one annotation.')
_PRED_FOLDER = flags.DEFINE_string(
    'pred_folder', None, 'Folder holding the predicted panoptic PNGs named by '
    'the prediction annotations\' file_name.')
_OUTPUT_JSON = flags.DEFINE_string(
    'output_json', None, 'Optional file to write the pq_compute result '
    'structure to (All/Things/Stuff pq, sq, rq, n and per_class pq, sq, rq, '
    'values in [0, 1]).')
_PROGRESS = flags.DEFINE_bool(
    'progress', True, 'Draw a progress bar on stderr.')

_REQUIRED_FLAGS = (_GT_JSON, _GT_FOLDER, _PRED_JSON, _PRED_FOLDER)


def evaluate_prediction_files(gt_json: str,
                              gt_folder: str,
                              pred_json: str,
                              pred_folder: str,
                              output_json: Optional[str] = None,
                              show_progress: bool = True) -> Dict[str, Any]:
  """Computes PQ of prediction files, prints the table, writes the JSON.

  Args:
    gt_json: The ground-truth JSON.
    gt_folder: The ground-truth PNG folder.
    pred_json: The prediction JSON.
    pred_folder: The prediction PNG folder.
    output_json: Where to write the result structure, or None.
    show_progress: Whether to draw a progress bar on stderr.

  Returns:
    The `pq_compute` result structure.

  Raises:
    PanopticFormatError: for missing or inconsistent inputs.
  """
  results = panoptic_quality.pq_compute(gt_json, gt_folder, pred_json,
                                        pred_folder,
                                        show_progress=show_progress)
  print(panoptic_quality.format_pq_table(results))
  if output_json:
    with open(output_json, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=1)
  return results


def main(argv) -> int:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  missing = [f'--{flag.name}' for flag in _REQUIRED_FLAGS if not flag.value]
  if missing:
    raise app.UsageError(f'missing required flags: {", ".join(missing)}')
  try:
    evaluate_prediction_files(_GT_JSON.value, _GT_FOLDER.value,
                              _PRED_JSON.value, _PRED_FOLDER.value,
                              _OUTPUT_JSON.value, _PROGRESS.value)
  except (panoptic_io.PanopticFormatError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  app.run(main)
