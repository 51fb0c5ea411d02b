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

"""The post-processing layer: model outputs to results at the original size.

`MaskFormerPostProcessor` resizes the mask logits as the original does and
runs the `inference` algorithms on them. Everything here has static shapes, runs under `tf.function(jit_compile=True)`
and can be exported in a SavedModel. The original (PyTorch) post-processing
runs per image on tensors whose size is that image's original (height, width);
sizes differ inside a batch, so this module uses a **fixed output canvas**:

* every output has the static spatial size `canvas_size = (H, W)`, which must
  be at least every original size of the batch (e.g. the dataset's maximum,
  or the serving signature's fixed size);
* image b's result occupies the top-left `original_sizes[b]` rectangle; the
  rest of the canvas is void (panoptic id 0), zero scores (semantic) or empty
  masks (instance), and `valid_mask` marks the occupied rectangle;
* the per-image sizes (`image_sizes`, the resized image inside the padded
  input, and `original_sizes`) are tensors, so one compiled program serves
  every image size.

The resize to the original size is PyTorch's `F.interpolate(mode='bilinear',
align_corners=False)` of each image's cropped region
(`interpolation.resize_bilinear_per_image`, float32 exact on TPU too), in the
original's order: mask logits are upsampled to the padded input size, cropped
to the image size and resized to the original size (detectron2's
`sem_seg_postprocess`).
"""
from typing import Any
from typing import Dict
from typing import Mapping
from typing import Optional
from typing import Sequence

import tensorflow as tf
import tf_keras

from projects.maskformer.modeling import inference
from projects.maskformer.ops import interpolation
from projects.maskformer.ops import valid_region

OUTPUT_KINDS = ('semantic', 'panoptic', 'instance')


def canvas_valid_mask(output_sizes: tf.Tensor,
                      canvas_size: Sequence[int]) -> tf.Tensor:
  """The region of the canvas each image's output occupies.

  Args:
    output_sizes: An int [B, 2] tensor, each image's (height, width).
    canvas_size: The canvas (height, width), Python ints.

  Returns:
    A bool [B, H, W] tensor, True inside the top-left `output_sizes[b]`
    rectangle of image b.
  """
  output_sizes = tf.cast(output_sizes, tf.int32)
  rows = tf.range(canvas_size[0])[tf.newaxis, :] < output_sizes[:, 0:1]
  cols = tf.range(canvas_size[1])[tf.newaxis, :] < output_sizes[:, 1:2]
  return rows[:, :, tf.newaxis] & cols[:, tf.newaxis, :]


class MaskFormerPostProcessor(tf_keras.layers.Layer):
  """Turns MaskFormer's outputs into semantic, panoptic and instance results.

  Follows `MaskFormer.forward` in eval mode: mask logits are upsampled to the
  padded input size; with panoptic (or instance) output, or with
  `semantic_postprocess_before_inference`, they are cropped and resized to the
  original size first and every inference runs there; otherwise (the ADE20K
  semantic setting) the semantic scores are computed at the padded size and
  then cropped and resized. All outputs live on the fixed canvas described in
  the module docstring. The layer computes in float32 whatever the global
  mixed-precision policy, unless it is built with `dtype='float64'` (the
  exact mode of the parity checks).
  """

  def __init__(self,
               thing_classes: Sequence[int],
               canvas_size: Sequence[int],
               outputs: Sequence[str] = ('semantic', 'panoptic'),
               object_mask_threshold: float = 0.8,
               overlap_threshold: float = 0.8,
               semantic_postprocess_before_inference: bool = False,
               instance_top_k: int = 100,
               paint_confident_pixels_only: bool = False,
               **kwargs):
    """Initializes the post-processor.

    Args:
      thing_classes: The contiguous class ids of the thing classes.
      canvas_size: The static output (height, width); at least every original
        image size.
      outputs: Which results to compute, any of 'semantic', 'panoptic',
        'instance'.
      object_mask_threshold: Panoptic: minimum class score of a query.
      overlap_threshold: Panoptic: minimum area / original_area of a segment.
      semantic_postprocess_before_inference: The original's
        `SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE`: compute semantic scores
        from the resized mask logits. Forced on when panoptic or instance
        output is requested, as `PANOPTIC_ON` forces it in the original.
      instance_top_k: Instance: (query, class) pairs per image.
      paint_confident_pixels_only: Panoptic: Mask2Former's rule, only pixels
        where the winning query's mask probability is >= 0.5 are painted
        (`inference.panoptic_inference`); False for MaskFormer.
      **kwargs: Passed to `tf_keras.layers.Layer`.

    Raises:
      ValueError: for an unknown output kind or an unusable threshold.
    """
    kwargs.setdefault('dtype', 'float32')
    super().__init__(**kwargs)
    unknown = set(outputs) - set(OUTPUT_KINDS)
    if unknown or not outputs:
      raise ValueError(f'outputs must be a non-empty subset of {OUTPUT_KINDS}, '
                       f'got {tuple(outputs)}.')
    inference.exact_fraction(overlap_threshold)
    self._config_dict = {
        'thing_classes': [int(c) for c in thing_classes],
        'canvas_size': [int(s) for s in canvas_size],
        'outputs': list(outputs),
        'object_mask_threshold': float(object_mask_threshold),
        'overlap_threshold': float(overlap_threshold),
        'semantic_postprocess_before_inference': bool(
            semantic_postprocess_before_inference),
        'instance_top_k': int(instance_top_k),
        'paint_confident_pixels_only': bool(paint_confident_pixels_only),
    }

  def call(self,
           model_outputs: Mapping[str, Any],
           padded_size: Sequence[int],
           image_sizes: tf.Tensor,
           original_sizes: tf.Tensor,
           computed_sizes: Optional[tf.Tensor] = None
           ) -> Dict[str, tf.Tensor]:
    """Computes the requested results.

    Args:
      model_outputs: The model's output dict; uses `pred_logits`, a float
        [B, Q, K + 1] tensor, and `pred_masks`, a float [B, Q, h, w] tensor of
        mask logits at stride 4 of the padded input.
      padded_size: The padded input (height, width): the spatial shape of the
        model's input images, Python ints or int32 scalar tensors.
      image_sizes: An int [B, 2] tensor, each resized image's (height, width)
        inside the padded input.
      original_sizes: An int [B, 2] tensor, each image's original (height,
        width), at most the canvas size.
      computed_sizes: None, or an int [B, 2] tensor: the region of the input
        each image was computed on alone (a padding-exact model run,
        `ops.valid_region`). Each image's mask logits are then
        upsampled from their own region at stride 4 to that region, as the
        original upsamples the image's own padded input, instead of from
        the whole map to `padded_size`.

    Returns:
      A dict with 'valid_mask' (bool [B, H, W]) and, per requested output,
      'semantic' (float32 [B, H, W, K] scores, 0 outside the valid region),
      the `panoptic_inference` keys and the `instance_inference` keys.
    """
    config = self._config_dict
    canvas_size = config['canvas_size']
    requested = set(config['outputs'])
    pred_logits = model_outputs['pred_logits']
    if computed_sizes is None:
      upsampled = interpolation.resize_bilinear(model_outputs['pred_masks'],
                                                padded_size)
    else:
      upsampled = interpolation.resize_bilinear_per_image(
          model_outputs['pred_masks'],
          valid_region.sizes_at_stride(computed_sizes, 4), computed_sizes,
          padded_size)
    valid_mask = canvas_valid_mask(original_sizes, canvas_size)
    results = {'valid_mask': valid_mask}
    at_original_size = (bool(requested & {'panoptic', 'instance'}) or
                        config['semantic_postprocess_before_inference'])
    if at_original_size:
      mask_logits = interpolation.resize_bilinear_per_image(
          upsampled, image_sizes, original_sizes, canvas_size)
    if 'semantic' in requested:
      if at_original_size:
        semantic = inference.semantic_inference(pred_logits, mask_logits)
      else:
        semantic = interpolation.resize_bilinear_per_image(
            inference.semantic_inference(pred_logits, upsampled),
            image_sizes, original_sizes, canvas_size, height_axis=1)
      results['semantic'] = tf.where(valid_mask[..., tf.newaxis], semantic,
                                     0.0)
    if 'panoptic' in requested:
      results.update(inference.panoptic_inference(
          pred_logits, mask_logits, valid_mask, config['thing_classes'],
          config['object_mask_threshold'], config['overlap_threshold'],
          config['paint_confident_pixels_only']))
    if 'instance' in requested:
      results.update(inference.instance_inference(
          pred_logits, mask_logits, valid_mask, config['thing_classes'],
          config['instance_top_k']))
    return results

  def get_config(self) -> Dict[str, Any]:
    config = super().get_config()
    config.update(self._config_dict)
    return config
