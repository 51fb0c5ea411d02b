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

r"""Evaluates COCO panoptic predictions (PQ) or instance masks (mask AP).

Three modes:
  (a) files: --pred_json/--pred_folder hold existing predictions;
  (b) model: --experiment (+ --config_file/--params_override) and --checkpoint
      name a trained MaskFormer; it runs over the experiment's validation data
      (`task.validation_data`), writes panopticapi-format predictions (and,
      with --overlay_dir, readable overlays) into --output_dir, then evaluates
      them as in (a). Every image is predicted as the original evaluates it:
      alone, resized by the validation data's evaluation resize and padded
      only to a multiple of its `size_divisibility` (0 for COCO: no
      padding), so a converted PyTorch checkpoint gives the original's
      predictions. --padding chooses how: 'exact_canvas' (default) batches
      the images on the validation data's static canvas and computes each
      on its own region (`parser.padding_exact`); 'per_image' runs one
      image at a time at its own shape; 'canvas' is the plain static canvas
      (padded pixels take part in the attention: not the original's
      predictions). With --instance_ap it also writes the model's
      instance predictions (Mask2Former's instance inference: the top 100
      (query, class) pairs of thing classes per image) to instances.json in
      --output_dir and scores them as in (c);
  (c) instance: --instance_json holds predicted instance masks in COCO's
      results format (a list of {"image_id", "category_id", "segmentation":
      the RLE of the full-image mask at the original size, "score"}). The
      instance ground truth is derived from the panoptic one (--gt_json,
      --gt_folder): one instance per thing segment, crowd segments kept as
      COCO's ignore regions (a detection matched to one counts neither way).
      Prints COCO's mask AP (`pycocotools` COCOeval, iouType 'segm': AP,
      AP50, AP75, APs, APm, APl x 100) and optionally writes them, in
      [0, 1], to --output_json. COCO's panoptic masks are the instance masks
      with overlaps resolved, so the AP differs slightly from AP against
      `instances_val2017.json`.

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

  python tools/evaluate_coco_panoptic.py --experiment=maskformer_synthetic_cpu \
      --params_override="task.validation_data.input_path=/data/val-*,..." \
      --checkpoint=/tmp/model --output_dir=/tmp/eval \
      --gt_json=coco/annotations/panoptic_val2017.json \
      --gt_folder=coco/annotations/panoptic_val2017 \
      --image_dir=coco/val2017 --overlay_dir=/tmp/eval/overlays \
      --instance_ap --output_json=/tmp/eval/metrics.json

  python tools/evaluate_coco_panoptic.py \
      --gt_json=coco/annotations/panoptic_val2017.json \
      --gt_folder=coco/annotations/panoptic_val2017 \
      --instance_json=/tmp/instances.json --output_json=/tmp/ap.json

Exits with status 1 and a message naming the file, image and segment when
the inputs are missing or inconsistent. Predictions can be written with
`projects.maskformer.evaluation.panoptic_io.PanopticPredictionWriter` (from
`MaskFormerPostProcessor` outputs via `panoptic_io.segments_from_table`) and
then evaluated with `evaluate_prediction_files`.
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.
from typing import Any
from typing import Dict

from absl import app
from absl import flags
from official.core import task_factory
import tensorflow as tf

import experiment_flags
from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.evaluation import dataset_prediction
from projects.maskformer.evaluation import instance_ap
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
_INSTANCE_JSON = flags.DEFINE_string(
    'instance_json', None, 'Instance mode: predicted instance masks in COCO\'s '
    'results format, a JSON list of {"image_id", "category_id" (dataset id), '
    '"segmentation" (COCO RLE of the full-image mask at the original size), '
    '"score"}; scored with COCO mask AP against the thing segments of '
    '--gt_json/--gt_folder (crowd segments are ignore regions). Excludes '
    '--pred_json/--pred_folder and --experiment.')
_OUTPUT_JSON = flags.DEFINE_string(
    'output_json', None, 'Optional file to write the results to: the '
    'pq_compute result structure (All/Things/Stuff pq, sq, rq, n and '
    'per_class pq, sq, rq, values in [0, 1]); in instance mode AP, AP50, '
    'AP75, APs, APm, APl in [0, 1] (-1 where undefined); in model mode with '
    '--instance_ap the pq_compute structure and these under "instance_ap".')
_PROGRESS = flags.DEFINE_bool(
    'progress', True, 'Draw a progress bar on stderr.')
_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags()
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', None, 'Model mode: a checkpoint of the model (a training '
    'model_dir, whose latest checkpoint is used, or a checkpoint path, e.g. '
    'one written by tools/convert_pytorch_checkpoint.py).')
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Model mode: where predictions.json and the '
    'predictions/ PNG folder are written (then evaluated).')
_IMAGE_DIR = flags.DEFINE_string(
    'image_dir', None, 'Model mode: folder of the original images (the '
    'ground-truth JSON\'s images[].file_name), needed by --overlay_dir.')
_OVERLAY_DIR = flags.DEFINE_string(
    'overlay_dir', None, 'Model mode: also write an overlay picture (segment '
    'colours, outlines, class names) per image here.')
# --padding choices.
PADDING_EXACT_CANVAS = 'exact_canvas'
PADDING_PER_IMAGE = 'per_image'
PADDING_CANVAS = 'canvas'
_PADDING = flags.DEFINE_enum(
    'padding', PADDING_EXACT_CANVAS,
    [PADDING_EXACT_CANVAS, PADDING_PER_IMAGE, PADDING_CANVAS],
    'Model mode: how images meet the model. exact_canvas: batches on the '
    'validation data\'s static canvas, each image computed on its own region '
    '(its resized size rounded up to parser.size_divisibility), as the '
    'original computes it alone (sets parser.padding_exact; needs the '
    'torch_resnet backbone). per_image: one image at a time at that size '
    '(sets parser.eval_padding=size_divisibility, global_batch_size=1 and a '
    'model input size of any height and width), the same predictions with '
    'dynamic shapes. canvas: the validation data as configured (padded '
    'pixels take part in the attention unless the experiment sets '
    'parser.padding_exact).')
_INSTANCE_AP = flags.DEFINE_bool(
    'instance_ap', False, 'Model mode: also write the model\'s instance '
    'predictions (thing classes) to --output_dir/instances.json in COCO\'s '
    'results format and score them with COCO mask AP, as --instance_json '
    'does, against the thing segments of --gt_json/--gt_folder (crowd '
    'segments are ignore regions).')
_MAX_IMAGES = flags.DEFINE_integer(
    'max_images', None, 'Model mode: predict at most this many images (the '
    'evaluation then covers only those; use for quick looks, not for PQ).')


def evaluate_prediction_files(gt_json: str,
                              gt_folder: str,
                              pred_json: str,
                              pred_folder: str,
                              show_progress: bool = True) -> Dict[str, Any]:
  """Computes PQ of prediction files and prints the table.

  Args:
    gt_json: The ground-truth JSON.
    gt_folder: The ground-truth PNG folder.
    pred_json: The prediction JSON.
    pred_folder: The prediction PNG folder.
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
  return results


def format_ap_table(results: Dict[str, float]) -> str:
  """COCO mask AP as a two-line table, x 100 ('-' where undefined)."""
  names = instance_ap.AP_NAMES
  values = [f'{100.0 * results[n]:6.1f}' if results[n] >= 0 else f'{"-":>6}'
            for n in names]
  return '\n'.join([' '.join(f'{n:>6}' for n in names), ' '.join(values)])


def evaluate_instance_file(gt_json: str,
                           gt_folder: str,
                           instance_json: str) -> Dict[str, float]:
  """Computes COCO mask AP of an instance results file and prints it.

  Args:
    gt_json: The panoptic ground-truth JSON.
    gt_folder: Its PNG folder.
    instance_json: The predictions in COCO's results format.

  Returns:
    AP, AP50, AP75, APs, APm, APl in [0, 1] (-1 where undefined).

  Raises:
    PanopticFormatError: the ground truth is missing or inconsistent.
    ValueError: the predictions are not a valid results list.
  """
  ground_truth = instance_ap.instance_ground_truth_from_panoptic(gt_json,
                                                                 gt_folder)
  results = panoptic_io.load_json(instance_json, 'instance results JSON')
  if not isinstance(results, list):
    raise ValueError(f'{instance_json}: expected a JSON list of results '
                     '(COCO results format)')
  evaluator = instance_ap.InstanceAPEvaluator(ground_truth)
  try:
    evaluator.add_results(results)
  except ValueError as e:
    raise ValueError(f'{instance_json}: {e}') from e
  values = evaluator.evaluate()
  print(f'mask AP of {len(results)} instances on '
        f'{len(ground_truth["images"])} images '
        f'({len(ground_truth["annotations"])} ground-truth thing segments)')
  print(format_ap_table(values))
  return values


def predict_and_evaluate() -> Dict[str, Any]:
  """Model mode: predicts the validation data, writes and evaluates files.

  Returns:
    The `pq_compute` result structure; with --instance_ap also the mask AP
    under 'instance_ap'.
  """
  params = experiment_flags.load_experiment(_EXPERIMENT_FLAGS)
  if params.task.validation_data.decoder.label_type != 'panoptic':
    raise ValueError('the experiment\'s validation data is not panoptic')
  params.task.init_checkpoint = _CHECKPOINT.value
  params.task.init_checkpoint_modules = 'all'
  data = params.task.validation_data
  divisor = data.parser.size_divisibility
  padding = (f'padded to a multiple of {divisor}' if divisor else
             'not padded')
  if _PADDING.value == PADDING_PER_IMAGE:
    data.parser.eval_padding = data_cfg.EVAL_PADDING_SIZE_DIVISIBILITY
    data.parser.padding_exact = False
    data.global_batch_size = 1
    params.task.model.input_size = [None, None, 3]
    print(f'predicting one image at a time, {padding}, as the original')
  elif _PADDING.value == PADDING_EXACT_CANVAS:
    data.parser.eval_padding = data_cfg.EVAL_PADDING_CANVAS
    data.parser.padding_exact = True
    print(f'predicting batches of {data.global_batch_size} on the '
          f'{"x".join(str(s) for s in data.parser.output_size)} canvas, each '
          f'image computed on its own region ({padding}), as the original')
  task = task_factory.get_task(params.task)
  model = task.build_model()
  task.initialize(model)
  pred_folder = os.path.join(_OUTPUT_DIR.value, 'predictions')
  pred_json = os.path.join(_OUTPUT_DIR.value, 'predictions.json')
  instance_json = (os.path.join(_OUTPUT_DIR.value, 'instances.json')
                   if _INSTANCE_AP.value else None)
  image_names = (dataset_prediction.image_file_names(_GT_JSON.value)
                 if _OVERLAY_DIR.value else None)
  summary = dataset_prediction.write_panoptic_predictions(
      task, model, pred_folder, pred_json, overlay_dir=_OVERLAY_DIR.value,
      image_dir=_IMAGE_DIR.value, image_names=image_names,
      max_images=_MAX_IMAGES.value, show_progress=_PROGRESS.value,
      instance_json=instance_json)
  print(f'wrote {summary["images"]} predictions ({summary["segments"]} '
        f'segments) to {pred_json} and {pred_folder}/')
  if _OVERLAY_DIR.value:
    print(f'wrote overlays to {_OVERLAY_DIR.value}/')
  if instance_json:
    print(f'wrote {summary["instances"]} instance predictions to '
          f'{instance_json}')
  results = evaluate_prediction_files(_GT_JSON.value, _GT_FOLDER.value,
                                      pred_json, pred_folder, _PROGRESS.value)
  if instance_json:
    results['instance_ap'] = evaluate_instance_file(
        _GT_JSON.value, _GT_FOLDER.value, instance_json)
  return results


def main(argv) -> int:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  model_mode = bool(_EXPERIMENT_FLAGS.experiment.value)
  instance_mode = bool(_INSTANCE_JSON.value)
  if _INSTANCE_AP.value and not model_mode:
    raise app.UsageError('--instance_ap needs model mode (--experiment); '
                         'score an instance results file with '
                         '--instance_json')
  if instance_mode:
    if model_mode or _PRED_JSON.value or _PRED_FOLDER.value:
      raise app.UsageError('--instance_json (instance mode) excludes '
                           '--pred_json/--pred_folder and --experiment')
    required = (_GT_JSON, _GT_FOLDER)
  elif model_mode:
    required = (_GT_JSON, _GT_FOLDER, _CHECKPOINT, _OUTPUT_DIR)
    if _PRED_JSON.value or _PRED_FOLDER.value:
      raise app.UsageError('--pred_json/--pred_folder (file mode) and '
                           '--experiment (model mode) exclude each other')
    if _OVERLAY_DIR.value and not _IMAGE_DIR.value:
      raise app.UsageError('--overlay_dir needs --image_dir')
  else:
    required = (_GT_JSON, _GT_FOLDER, _PRED_JSON, _PRED_FOLDER)
  missing = [f'--{flag.name}' for flag in required if not flag.value]
  if missing:
    raise app.UsageError(f'missing required flags: {", ".join(missing)}')
  cli.check_writable(_OUTPUT_JSON.value, '--output_json')
  if instance_mode:
    results = evaluate_instance_file(_GT_JSON.value, _GT_FOLDER.value,
                                     _INSTANCE_JSON.value)
  elif model_mode:
    cli.check_writable(_OUTPUT_DIR.value, '--output_dir')
    cli.check_writable(_OVERLAY_DIR.value, '--overlay_dir')
    results = predict_and_evaluate()
  else:
    results = evaluate_prediction_files(_GT_JSON.value, _GT_FOLDER.value,
                                        _PRED_JSON.value, _PRED_FOLDER.value,
                                        _PROGRESS.value)
  cli.write_json(_OUTPUT_JSON.value, results)
  return 0


if __name__ == '__main__':
  cli.run(main, user_errors=(panoptic_io.PanopticFormatError, ValueError,
                             tf.errors.OpError))
