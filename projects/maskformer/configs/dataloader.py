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

"""Input pipeline configs: decoder, parser and augmentation of MaskFormer data."""
import dataclasses
from typing import List
from typing import Optional

from official.core import config_definitions as cfg
from official.modeling import hyperparams

PANOPTIC = 'panoptic'
SEMANTIC = 'semantic'
OVERFLOW_ERROR = 'error'
OVERFLOW_KEEP_LARGEST = 'keep_largest'
# Evaluation padding (`Parser.eval_padding`).
EVAL_PADDING_CANVAS = 'canvas'
EVAL_PADDING_SIZE_DIVISIBILITY = 'size_divisibility'
COCO_TRAIN_SHORT_EDGES = tuple(range(480, 801, 32))
ADE20K_TRAIN_SHORT_EDGES = (256, 307, 358, 409, 460, 512, 563, 614, 665, 716,
                            768, 819, 870, 921, 972, 1024)
# The validation splits' sizes.
COCO_VAL_EXAMPLES = 5000
ADE20K_VAL_EXAMPLES = 2000


@dataclasses.dataclass
class DetrPanopticAugmentation(hyperparams.Config):
  """The COCO panoptic recipe of the original (detectron2 DETR panoptic mapper).

  Horizontal flip; with probability `crop_prob` a resize of the short edge to
  one of `crop_short_edges` (no maximum) and a random crop whose height and
  width are drawn in [min(size, crop_size_range[0]),
  min(size, crop_size_range[1])]; then a resize of the short edge to one of
  `short_edges` with the long edge at most `max_size`.

  Attributes:
    flip_prob: probability of the horizontal flip.
    crop_prob: probability of the resize-and-crop branch.
    crop_short_edges: short edges of the resize before the crop.
    crop_size_range: [min, max] crop height and width, inclusive.
    short_edges: short edges of the final resize, picked uniformly.
    max_size: maximum long edge of the final resize.
  """
  flip_prob: float = 0.5
  crop_prob: float = 0.5
  crop_short_edges: List[int] = dataclasses.field(
      default_factory=lambda: [400, 500, 600])
  crop_size_range: List[int] = dataclasses.field(
      default_factory=lambda: [384, 600])
  short_edges: List[int] = dataclasses.field(
      default_factory=lambda: list(COCO_TRAIN_SHORT_EDGES))
  max_size: int = 1333


@dataclasses.dataclass
class SemanticCropAugmentation(hyperparams.Config):
  """The ADE20K-150 recipe of the original (MaskFormer semantic mapper).

  Resize of the short edge to one of `short_edges` with the long edge at most
  `max_size`, a random crop of at most `crop_size`, photometric jitter
  (ColorAugSSD), a horizontal flip, then padding to `crop_size` with
  `pad_value` (0-255 RGB, before normalization) and the label with void.

  Attributes:
    short_edges: short edges of the resize, picked uniformly.
    max_size: maximum long edge of the resize.
    crop_size: [height, width] of the random crop and of the padding.
    color_jitter: whether to apply the ColorAugSSD photometric jitter.
    flip_prob: probability of the horizontal flip.
    pad_value: image padding value on the 0-255 RGB scale.
  """
  short_edges: List[int] = dataclasses.field(
      default_factory=lambda: list(ADE20K_TRAIN_SHORT_EDGES))
  max_size: int = 2048
  crop_size: List[int] = dataclasses.field(default_factory=lambda: [512, 512])
  color_jitter: bool = True
  flip_prob: float = 0.5
  pad_value: float = 128.0


@dataclasses.dataclass
class LargeScaleJitter(hyperparams.Config):
  """Large-scale jitter onto the canvas (a TPU-friendly fixed-size recipe).

  The image is resized, keeping its aspect ratio, to fit the canvas times a
  factor drawn uniformly in [scale_min, scale_max], flipped with probability
  `flip_prob`, randomly cropped to the canvas where it is larger, and padded
  to the canvas with `pad_value` (0-255 RGB, before normalization) and the
  label with void where it is smaller: detectron2's `ResizeScale` and
  `FixedSizeCrop` (pad value 128), as Mask2Former's COCO recipes use them.

  Attributes:
    scale_min: smallest jitter factor.
    scale_max: largest jitter factor.
    flip_prob: probability of the horizontal flip.
    pad_value: image padding value on the 0-255 RGB scale.
  """
  scale_min: float = 0.1
  scale_max: float = 2.0
  flip_prob: float = 0.5
  pad_value: float = 128.0


@dataclasses.dataclass
class NoAugmentation(hyperparams.Config):
  """No training augmentation: the evaluation resize only."""


@dataclasses.dataclass
class Augmentation(hyperparams.OneOfConfig):
  """Training augmentation.

  Attributes:
    type: 'detr_panoptic' (COCO recipe), 'semantic_crop' (ADE20K recipe),
      'large_scale_jitter', or 'none' (the evaluation resize, no randomness).
  """
  type: Optional[str] = 'detr_panoptic'
  detr_panoptic: DetrPanopticAugmentation = dataclasses.field(
      default_factory=DetrPanopticAugmentation)
  semantic_crop: SemanticCropAugmentation = dataclasses.field(
      default_factory=SemanticCropAugmentation)
  large_scale_jitter: LargeScaleJitter = dataclasses.field(
      default_factory=LargeScaleJitter)
  # A field per type, so that every choice serialises to YAML.
  none: NoAugmentation = dataclasses.field(default_factory=NoAugmentation)


@dataclasses.dataclass
class Decoder(hyperparams.Config):
  """How examples are decoded.

  Attributes:
    label_type: 'panoptic' (segment id map with per-segment classes and crowd
      flags) or 'semantic' (class label map, 0 = ignore, 1..num_classes).
    num_classes: number of classes; the semantic label values 1..num_classes
      become classes 0..num_classes - 1.
  """
  label_type: str = PANOPTIC
  num_classes: int = 133


@dataclasses.dataclass
class Canvas(hyperparams.Config):
  """One training canvas of a set (`Parser.canvases`).

  Attributes:
    height: canvas height.
    width: canvas width.
    weight: the share of training steps on this canvas (the set's weights
      are normalized); set it to the share of the augmented images that go
      to this canvas (tools/canvas_padding.py measures it), so that every
      image is seen as often as with one canvas.
  """
  height: int = 0
  width: int = 0
  weight: float = 0.0


@dataclasses.dataclass
class Parser(hyperparams.Config):
  """How decoded examples become fixed-shape model inputs.

  Attributes:
    output_size: [height, width] of the canvas every image is padded onto.
    max_segments: number of target slots per image (at most the number of
      queries of the model).
    segment_overflow: what happens to an image with more than `max_segments`
      segments: 'error' fails with the image id, 'keep_largest' keeps the
      `max_segments` largest ones (non-crowd first) and logs a warning; the
      pixels of dropped segments become void.
    eval_short_edge: short edge of the evaluation resize.
    eval_max_size: maximum long edge of the evaluation resize. With the
      'canvas' padding, an image whose evaluation size does not fit
      `output_size` is scaled down further to fit it (`image_info` records
      the scale actually used).
    eval_padding: how evaluation images are padded. 'canvas': onto the static
      `output_size` canvas (TPU and XLA friendly; the padded pixels take part
      in the attention, which the original's batch-1 inference does not
      have). 'size_divisibility': only up to the next multiple of
      `size_divisibility`, as the original evaluates (its inference is then
      reproduced exactly); image shapes vary, so the per-replica batch size
      must be 1 and the consumer must accept dynamic shapes
      (`evaluation.dataset_prediction` and tools/evaluate_coco_panoptic.py
      do; the task's validation step needs 'canvas').
    size_divisibility: with 'size_divisibility' padding, the multiple the
      evaluation image is padded to; 0 for none (the original: 0 for COCO
      panoptic, 32 for ADE20K). With `padding_exact`, the multiple each
      image's computed region is rounded up to.
    padding_exact: the model computes each image of the static canvas as
      the original computes it alone, on its own region (the resized or
      augmented image, rounded up to a multiple of `size_divisibility`) and
      not on the padding around it (`ops.valid_region`). Evaluation data:
      batched, static-shape inference with the 'size_divisibility'
      evaluation's results. Training data (MaskFormer only): the matcher and
      the mask losses also see each image's region only, the original's
      training step for images it trains unpadded (COCO, one image per GPU);
      augmentations that pad in the original ('semantic_crop',
      'large_scale_jitter') should leave it off. Needs the 'torch_resnet'
      backbone and a canvas that is a multiple of `size_divisibility`.
    groundtruth_padded_size: when set, evaluation examples also carry the
      segment map at the original resolution, padded to this [height, width].
    label_resize: nearest-neighbour rule of the segment-map resize: 'pil' (PIL
      NEAREST, which the original applies to COCO panoptic PNGs) or 'torch'
      (PyTorch `F.interpolate(mode='nearest')`, which the original applies to
      the ADE20K semantic labels).
    augmentation: training augmentation.
    canvases: training data only; empty: every image on `output_size`.
      Otherwise a set of canvases (e.g. landscape 832 x 1344 and portrait
      1344 x 832): each augmented image goes to the canvas of the smallest
      area that holds it (equal areas: the first listed), and a batch holds
      one canvas, chosen per step by `canvas_schedule_seed` and the global
      step, so that every host and replica agrees
      (`dataloaders.canvases`); one program is compiled per canvas. The
      images are augmented as on `output_size`, which must be the smallest
      canvas holding every canvas of the set; an image that fits no canvas
      of the set stops the pipeline with an error. Needs
      projects/maskformer/train.py's trainer (`canvas_trainer`).
    canvas_schedule_seed: the seed of the canvas schedule.
    dtype: dtype of the image: 'float32' or 'bfloat16' (normalized on the
      host), or 'uint8' (the 0-255 canvas, 4x less host memory traffic,
      normalized on the device by `maskformer_input.prepare_model_inputs`,
      which the task's steps and the dataset prediction call).
  """
  output_size: List[int] = dataclasses.field(
      default_factory=lambda: [1344, 1344])
  max_segments: int = 100
  segment_overflow: str = OVERFLOW_ERROR
  eval_short_edge: int = 800
  eval_max_size: int = 1333
  eval_padding: str = EVAL_PADDING_CANVAS
  size_divisibility: int = 0
  padding_exact: bool = False
  groundtruth_padded_size: Optional[List[int]] = None
  label_resize: str = 'pil'
  augmentation: Augmentation = dataclasses.field(default_factory=Augmentation)
  canvases: List[Canvas] = dataclasses.field(default_factory=list)
  canvas_schedule_seed: int = 0
  dtype: str = 'float32'


@dataclasses.dataclass
class DataConfig(cfg.DataConfig):
  """MaskFormer input data.

  The source is `input_path` (TFRecords written by
  `tools/create_coco_panoptic_tfrecord.py` or `tools/create_ade20k_tfrecord.py`)
  or `tfds_name` ('coco/2017_panoptic' or 'scene_parse150', prepared locally).

  Attributes:
    file_type: file type of `input_path` ('tfrecord', 'tfrecord_compressed').
    tfds_skip_decoding_feature: TFDS features left encoded; 'image' lets the
      decoder decode JPEGs exactly as PIL does (TFDS uses the fast DCT).
    decoder: example decoding.
    parser: fixed-shape parsing and augmentation.
  """
  file_type: str = 'tfrecord'
  tfds_skip_decoding_feature: str = 'image'
  decoder: Decoder = dataclasses.field(default_factory=Decoder)
  parser: Parser = dataclasses.field(default_factory=Parser)


def coco_panoptic_data(input_path: str = '', is_training: bool = True,
                       global_batch_size: int = 64) -> DataConfig:
  """The COCO panoptic data of the original recipe (133 classes).

  Args:
    input_path: TFRecord file pattern; leave empty and set `tfds_name` to read
      'coco/2017_panoptic' instead.
    is_training: training (augmented) or evaluation data.
    global_batch_size: batch size over all replicas.

  Returns:
    A `DataConfig`: canvas 1344 x 1344 (the 1333 maximum rounded up to a
    multiple of 32), augmentation 'detr_panoptic', evaluation resize 800/1333;
    training images are uint8 (normalized on the device), evaluation images
    float32 and computed padding-exactly on the canvas.
  """
  return DataConfig(
      input_path=input_path,
      is_training=is_training,
      global_batch_size=global_batch_size,
      shuffle_buffer_size=1000,
      decoder=Decoder(label_type=PANOPTIC, num_classes=133),
      parser=Parser(
          output_size=[1344, 1344],
          eval_short_edge=800,
          eval_max_size=1333,
          label_resize='pil',
          augmentation=Augmentation(type='detr_panoptic'),
          padding_exact=not is_training,
          dtype='uint8' if is_training else 'float32'))


def ade20k_semantic_data(input_path: str = '', is_training: bool = True,
                         global_batch_size: int = 16) -> DataConfig:
  """The ADE20K-150 semantic data of the original recipe.

  Args:
    input_path: TFRecord file pattern; leave empty and set `tfds_name` to read
      'scene_parse150' instead.
    is_training: training (augmented) or evaluation data.
    global_batch_size: batch size over all replicas.

  Returns:
    A `DataConfig`: training canvas 512 x 512 (the crop), evaluation resize
    512/2048 onto a 1024 x 1024 canvas (images whose resized size does not fit
    it, aspect ratios beyond 1:2, are scaled down to fit), augmentation
    'semantic_crop'; training images are uint8 (normalized on the device),
    evaluation images float32, computed padding-exactly on the canvas;
    size divisibility 32 (the original's evaluation padding).
  """
  return DataConfig(
      input_path=input_path,
      is_training=is_training,
      global_batch_size=global_batch_size,
      shuffle_buffer_size=1000,
      decoder=Decoder(label_type=SEMANTIC, num_classes=150),
      parser=Parser(
          output_size=[512, 512] if is_training else [1024, 1024],
          eval_short_edge=512,
          eval_max_size=2048,
          size_divisibility=32,
          label_resize='torch',
          augmentation=Augmentation(type='semantic_crop'),
          padding_exact=not is_training,
          dtype='uint8' if is_training else 'float32'))


def synthetic_cpu_data(input_path: str, is_training: bool,
                       global_batch_size: int,
                       canvas: int = 128) -> DataConfig:
  """Data of the demo: `tools/make_synthetic_coco.py` images (128 x 128).

  Evaluation data is computed padding-exactly (the demo's images fill the
  canvas, so it changes nothing there).
  """
  return DataConfig(
      input_path=input_path,
      is_training=is_training,
      global_batch_size=global_batch_size,
      drop_remainder=is_training,
      shuffle_buffer_size=256,
      decoder=Decoder(label_type=PANOPTIC, num_classes=6),
      parser=Parser(
          output_size=[canvas, canvas],
          max_segments=16,
          eval_short_edge=canvas,
          eval_max_size=canvas,
          padding_exact=not is_training,
          groundtruth_padded_size=None if is_training else [canvas, canvas],
          augmentation=Augmentation(
              type='large_scale_jitter',
              large_scale_jitter=LargeScaleJitter(
                  scale_min=0.8, scale_max=1.25))))
