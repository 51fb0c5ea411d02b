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

"""SavedModel export of MaskFormer or Mask2Former: images in, results out.

`MaskFormerModule` is a Model Garden vision `ExportModule` for either
meta-architecture, chosen by the type of the experiment's task config
(`inference_setup.build_model`). Its two serving signatures take one image of
any size:

  * 'serving_default': `inputs`, a uint8 [1, H, W, 3] RGB tensor;
  * 'serve_image_bytes': `inputs`, a string [1] tensor holding a JPEG or PNG
    file, decoded as the input pipeline decodes (JPEGs with the accurate
    integer DCT, as PIL).

Inside, each image goes through the evaluation path of the experiment's
validation data (`task.validation_data.parser`): detectron2's
ResizeShortestEdge (`eval_short_edge` / `eval_max_size`, scaled down further if
needed to fit the model canvas), the PIL-like bilinear resize, normalization,
zero padding bottom/right onto the static **model canvas** (`parser.output_size`;
batch 1). The model then runs at that static size, padding-exact where the
validation data is (`parser.padding_exact`: on the image's region, its resized
size rounded up to `parser.size_divisibility`, `ops.valid_region`), and
`MaskFormerPostProcessor` produces the original's inference at the image's
original size, with the
architecture's panoptic rule (Mask2Former paints only the confident pixels of
a segment, MaskFormer all the pixels it wins; `inference.panoptic_inference`).

Outputs live on a static **output canvas** (`parser.groundtruth_padded_size`,
the evaluation's canvas), with the image's result in the top-left
`output_size` rectangle; they are not sliced inside the signature, which keeps
every output shape static. `output_size` is the original size when it fits
the canvas (then the results are the original's inference at the original
size); a larger image gets its results at the largest size of the same aspect
ratio that fits (`augmentation.fit_size`), and the caller may upsample them.
Every output has a leading batch axis of 1 ([Hc, Wc] = the output canvas, Q =
queries, k = instance pairs):

  'original_size', 'output_size': int32 [1, 2] (height, width);
  'valid_mask': bool [1, Hc, Wc], True inside `output_size`;
  with 'semantic': 'semantic_map', int32 [1, Hc, Wc], the arg-max class of the
    original's semantic scores (contiguous ids), -1 outside `output_size`
    (the [Hc, Wc, K] scores themselves are not returned: about 1 GB for COCO
    on a 1344 x 1344 canvas);
  with 'panoptic': 'panoptic', int32 [1, Hc, Wc] segment ids (0 = void) and
    the segment table [1, Q] in slot order: 'segment_valid', 'segment_id',
    'segment_category' (contiguous class, -1 if invalid),
    'segment_category_id' (the dataset's category id, -1 if invalid),
    'segment_isthing', 'segment_score', 'segment_query', plus 'num_segments'
    [1];
  with 'instance': 'instance_masks', bool [1, k, Hc, Wc], and [1, k]
    'instance_scores', 'instance_classes' (contiguous), 'instance_category_ids'
    (dataset ids), 'instance_queries', 'instance_valid' (False for stuff
    classes), sorted by class
    probability (Mask2Former's rule; the original MaskFormer has none).

The category metadata (names, thing flags, dataset ids, colours), the
architecture and the serving settings travel inside the SavedModel as the asset
`assets/serving_metadata.json` (`read_metadata`). The export runs in float32
whatever the experiment's mixed-precision setting.

With `padding_exact` (every experiment's validation data) the results are what
the original computes on the image alone (the original pads a single image to
a multiple of 32 for ADE20K and not at all for COCO), within float32 rounding.
Without it the model sees the image zero-padded to the canvas: edge pixels,
normalization statistics and the attention then include the padding.
"""
import json
import os
import tempfile
from typing import Any
from typing import Dict
from typing import List
from typing import Mapping
from typing import Optional
from typing import Sequence

from official.core import config_definitions as cfg
from official.core import export_base as core_export_base
from official.vision.serving import export_base
import tensorflow as tf
import tf_keras

from projects.maskformer import inference_setup
from projects.maskformer.configs import dataloader as data_cfg
from projects.maskformer.dataloaders import augmentation
from projects.maskformer.dataloaders import decoders
from projects.maskformer.dataloaders import input_pipeline
from projects.maskformer.dataloaders import maskformer_input
from projects.maskformer.modeling import postprocessing

METADATA_FILE = 'serving_metadata.json'
# Function keys of `get_inference_signatures` and their signature names.
SIGNATURES = {'image_tensor': 'serving_default',
              'image_bytes': 'serve_image_bytes'}
# Mask2Former's number of (query, class) pairs per image (both
# architectures' default).
DEFAULT_INSTANCE_TOP_K = 100


def serving_categories(categories: Optional[Sequence[Mapping[str, Any]]],
                       num_classes: int) -> List[Dict[str, Any]]:
  """The category table stored with the SavedModel, one entry per class.

  Args:
    categories: The converter's category list
      (`inference_setup.read_category_map`): dicts
      with 'contiguous_id' and optionally 'category_id', 'name', 'isthing',
      'color'; None when the experiment has no category map.
    num_classes: The model's number of classes K.

  Returns:
    K dicts, by contiguous id, with 'contiguous_id', 'category_id' (the
    contiguous id when the map has none), 'name' ('class <k>' when absent),
    'isthing' (bool, False when absent) and 'color' ([r, g, b] or None).

  Raises:
    ValueError: if the map does not list exactly the model's K classes.
  """
  if categories is None:
    categories = [{'contiguous_id': k} for k in range(num_classes)]
  ids = [int(c['contiguous_id']) for c in categories]
  if ids != list(range(num_classes)):
    raise ValueError(f'the category map lists {len(ids)} classes, but the '
                     f'model has num_classes={num_classes}')
  return [{
      'contiguous_id': k,
      'category_id': int(c.get('category_id', k)),
      'name': str(c.get('name', f'class {k}')),
      'isthing': bool(c.get('isthing', False)),
      'color': [int(v) for v in c['color']] if c.get('color') else None,
  } for k, c in enumerate(categories)]


def default_outputs(params: cfg.ExperimentConfig) -> List[str]:
  """All three results for panoptic data; only 'semantic' for semantic data.

  A semantic experiment (ADE20K-150) computes its semantic scores at the
  padded input size, as the original does without `PANOPTIC_ON`; asking for
  panoptic or instance results switches that to the original size.
  """
  if params.task.validation_data.decoder.label_type == data_cfg.PANOPTIC:
    return list(postprocessing.OUTPUT_KINDS)
  return ['semantic']


class MaskFormerModule(export_base.ExportModule):
  """Serving module: raw image -> resize, model, post-processing."""

  def __init__(self,
               params: cfg.ExperimentConfig,
               *,
               model: Optional[tf_keras.Model] = None,
               categories: Optional[Sequence[Mapping[str, Any]]] = None,
               outputs: Optional[Sequence[str]] = None,
               instance_top_k: Optional[int] = None):
    """Initializes the module.

    Args:
      params: The experiment, MaskFormer's or Mask2Former's (by the type of
        `task`). Used: `task.model`, `task.validation_data`
        (its parser's `output_size` is the model canvas, `eval_short_edge` /
        `eval_max_size` the resize, `groundtruth_padded_size` the output
        canvas, `padding_exact` / `size_divisibility` the region the model
        computes each image on) and `task.evaluation` (thresholds,
        `category_map_file`).
      model: The model, taking inputs of the model canvas size; built from
        `task.model` (random weights; `inference_setup.build_model`) if
        None.
      categories: The category map (`inference_setup.read_category_map`'s
        list); read from
        `task.evaluation.category_map_file` if None and that is set.
      outputs: Any of 'semantic', 'panoptic', 'instance'; default
        `default_outputs(params)`.
      instance_top_k: (query, class) pairs of the instance results; default
        min(100, Q * K).

    Raises:
      ValueError: for an unusable configuration (no output canvas, panoptic or
        instance results without a category map, a category map that does not
        match the model, bad `instance_top_k`, a padding-exact canvas that
        is not a multiple of `size_divisibility`).
    """
    parser = params.task.validation_data.parser
    if not parser.groundtruth_padded_size:
      raise ValueError(
          'the output canvas is task.validation_data.parser.'
          'groundtruth_padded_size, which is not set; set it to the largest '
          'image size to serve at full resolution')
    input_pipeline.check_padding_exact_canvas(parser)
    self._padding_exact = bool(parser.padding_exact)
    self._size_divisibility = int(parser.size_divisibility)
    self._model_canvas = tuple(int(s) for s in parser.output_size)
    self._output_canvas = tuple(int(s) for s in parser.groundtruth_padded_size)
    self._eval_short_edge = int(parser.eval_short_edge)
    self._eval_max_size = int(parser.eval_max_size)
    outputs = tuple(outputs or default_outputs(params))
    model_config = params.task.model
    evaluation = params.task.evaluation
    if categories is None and evaluation.category_map_file:
      categories = inference_setup.read_category_map(
          evaluation.category_map_file)
    num_pairs = model_config.num_classes * inference_setup.num_queries(
        params.task)
    if instance_top_k is None:
      instance_top_k = min(DEFAULT_INSTANCE_TOP_K, num_pairs)
    if not 0 < instance_top_k <= num_pairs:
      raise ValueError(f'instance_top_k must be in [1, {num_pairs}] (queries x '
                       f'classes), got {instance_top_k}')
    post_processor = inference_setup.build_post_processor(
        categories, params.task.validation_data, evaluation, outputs,
        paint_confident_pixels_only=inference_setup.is_mask2former(
            params.task),
        instance_top_k=instance_top_k)
    categories = serving_categories(categories, model_config.num_classes)
    # Kept as JSON text: plain values, exactly what the export writes.
    self._metadata_json = json.dumps({
        'architecture': inference_setup.architecture(params.task),
        'categories': categories,
        'outputs': list(outputs),
        'model_canvas': list(self._model_canvas),
        'output_canvas': list(self._output_canvas),
        'eval_short_edge': self._eval_short_edge,
        'eval_max_size': self._eval_max_size,
        'padding_exact': self._padding_exact,
        'size_divisibility': self._size_divisibility,
        'object_mask_threshold': float(evaluation.object_mask_threshold),
        'overlap_threshold': float(evaluation.overlap_threshold),
        'instance_top_k': int(instance_top_k),
        'signatures': SIGNATURES,
    }, indent=1)
    super().__init__(params, batch_size=1,
                     input_image_size=list(self._model_canvas), model=model)
    self._post_processor = post_processor
    self._category_ids = tf.constant([c['category_id'] for c in categories],
                                     tf.int32)

  def _build_model(self) -> tf_keras.Model:
    """The task's model with its input size set to the model canvas."""
    task = self.params.task.replace(
        model={'input_size': list(self._model_canvas) + [3]})
    return inference_setup.build_model(task)

  def _decode_image(self, encoded_image_bytes: tf.Tensor) -> tf.Tensor:
    """Decodes a JPEG or PNG as the input pipeline does (uint8 [H, W, 3])."""
    return decoders.decode_image(encoded_image_bytes)

  @property
  def metadata(self) -> Dict[str, Any]:
    """What a client needs besides the signatures (see `read_metadata`).

    Keys: 'architecture' ('maskformer' or 'mask2former',
    `inference_setup.architecture`), 'categories' (`serving_categories`),
    'outputs', 'model_canvas', 'output_canvas', 'eval_short_edge',
    'eval_max_size', 'padding_exact', 'size_divisibility',
    'object_mask_threshold', 'overlap_threshold',
    'instance_top_k' and 'signatures' (function key -> signature name).
    """
    return json.loads(self._metadata_json)

  def preprocess(self, images: tf.Tensor):
    """The evaluation resize, normalization and padding of one image.

    Args:
      images: A uint8 [1, H, W, 3] RGB tensor, H and W at least 1.

    Returns:
      (canvas_images, image_sizes, output_sizes): a float32 [1, Hm, Wm, 3]
      tensor (the normalized image zero-padded onto the model canvas), an
      int32 [1, 2] tensor (the resized image's size inside it) and an int32
      [1, 2] tensor (the size of the results on the output canvas).
    """
    image = images[0]
    original_size = tf.shape(image)[:2]
    check = tf.debugging.assert_positive(
        original_size, message='the image must have a positive height and '
        'width')
    with tf.control_dependencies([check]):
      size = augmentation.shortest_edge_size(
          original_size, self._eval_short_edge, self._eval_max_size)
    size = augmentation.fit_size(size, self._model_canvas)
    resized = augmentation.resize_image(tf.cast(image, tf.float32), size)
    canvas_image = augmentation.pad_image(
        maskformer_input.normalize_image(resized), self._model_canvas, 0.0)
    output_size = augmentation.fit_size(original_size, self._output_canvas)
    return canvas_image[tf.newaxis], size[tf.newaxis], output_size[tf.newaxis]

  def serve(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Runs the whole inference on one image.

    Args:
      images: A uint8 [1, H, W, 3] RGB tensor.

    Returns:
      The outputs listed in the module docstring.
    """
    canvas_images, image_sizes, output_sizes = self.preprocess(images)
    computed_sizes = (maskformer_input.rounded_sizes(
        image_sizes, self._size_divisibility) if self._padding_exact else None)
    outputs = self.model(canvas_images, training=False,
                         valid_sizes=computed_sizes)
    results = self._post_processor(
        {'pred_logits': outputs['pred_logits'],
         'pred_masks': outputs['pred_masks']},
        self._model_canvas, image_sizes, output_sizes, computed_sizes)
    served = {
        'original_size': tf.shape(images, out_type=tf.int32)[tf.newaxis, 1:3],
        'output_size': output_sizes,
        'valid_mask': results.pop('valid_mask'),
    }
    if 'semantic' in results:
      semantic = results.pop('semantic')
      served['semantic_map'] = tf.where(
          served['valid_mask'],
          tf.argmax(semantic, axis=-1, output_type=tf.int32), -1)
    if 'panoptic' in results:
      served['segment_category_id'] = tf.where(
          results['segment_valid'],
          tf.gather(self._category_ids,
                    tf.maximum(results['segment_category'], 0)), -1)
    if 'instance_classes' in results:
      served['instance_category_ids'] = tf.gather(
          self._category_ids, results['instance_classes'])
    served.update(results)
    return served


def read_metadata(saved_model: Any) -> Dict[str, Any]:
  """The serving metadata of a SavedModel exported by `export_saved_model`.

  Args:
    saved_model: The object `tf.saved_model.load` returned.

  Returns:
    The dict of `MaskFormerModule.metadata`.

  Raises:
    ValueError: if the SavedModel carries no MaskFormer serving metadata.
  """
  asset = getattr(saved_model, 'serving_metadata', None)
  if asset is None:
    raise ValueError('the SavedModel has no MaskFormer serving metadata; '
                     'export it with tools/export_saved_model.py')
  path = asset.asset_path.numpy().decode('utf-8')
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def export_saved_model(module: MaskFormerModule,
                       export_dir: str,
                       checkpoint_path: Optional[str] = None) -> str:
  """Writes `module` as a SavedModel with its two signatures and metadata.

  Args:
    module: The serving module.
    export_dir: The SavedModel folder to create (not timestamped); it must
      not already hold a SavedModel.
    checkpoint_path: A checkpoint of `tf.train.Checkpoint(model=...)` (a
      training model_dir or a converted checkpoint), or a folder holding one;
      None exports the module's current weights.

  Returns:
    `export_dir`.

  Raises:
    ValueError: if the export folder is taken or the checkpoint is missing.
  """
  if tf.io.gfile.exists(os.path.join(export_dir, 'saved_model.pb')):
    raise ValueError(f'{export_dir} already holds a SavedModel; choose a new '
                     'folder')
  if checkpoint_path is not None:
    checkpoint_path = inference_setup.resolve_checkpoint(checkpoint_path)
  with tempfile.TemporaryDirectory() as folder:
    metadata_path = os.path.join(folder, METADATA_FILE)
    with open(metadata_path, 'w', encoding='utf-8') as f:
      json.dump(module.metadata, f, indent=1)
    module.serving_metadata = tf.saved_model.Asset(metadata_path)
    return core_export_base.export(module, dict(SIGNATURES), export_dir,
                                   checkpoint_path=checkpoint_path,
                                   timestamped=False)
