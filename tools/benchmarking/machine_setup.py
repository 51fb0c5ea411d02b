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

"""The machine of a model benchmark run: what it is and how it is set up.

`configure` sets the threads, the visible devices and the precision policy
before any op runs; the other functions describe the machine, the framework
versions and the thread settings for the report.
"""
import os
import platform
from typing import Any
from typing import Dict
from typing import Optional

from absl import app
import numpy as np
import tensorflow as tf
import tf_keras

# Dense bfloat16 tensor-core peaks (TFLOP/s) from the vendors' data sheets,
# for the fraction-of-peak column; `--peak_tflops` overrides.
GPU_PEAK_BF16_TFLOPS = {'H200': 989.0, 'H100': 989.0, 'A100': 312.0,
                        'L40S': 362.0, 'L4': 121.0, 'A10': 125.0}


def configure(env, peak_tflops: Optional[float]):
  """Threads, visible devices and the precision policy (before any op).

  Args:
    env: the run (`model_benchmark.Env`); its device fields are set.
    peak_tflops: the GPU's peak bfloat16 TFLOP/s, or None to look it up from
      the device name.

  Raises:
    app.UsageError: a GPU run on a machine where TF or torch sees no GPU.
  """
  tf.config.threading.set_intra_op_parallelism_threads(env.threads)
  if env.fw.available:
    env.fw.torch.set_num_threads(env.threads)
  if env.device == 'cpu':
    tf.config.set_visible_devices([], 'GPU')
    env.tf_dtype = tf.float32
    return
  gpus = tf.config.list_physical_devices('GPU')
  if not gpus:
    raise app.UsageError('--device=gpu: TensorFlow sees no GPU')
  if env.fw.available and not env.fw.torch.cuda.is_available():
    raise app.UsageError('--device=gpu: torch sees no CUDA device')
  tf.config.experimental.set_memory_growth(gpus[0], True)
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  env.tf_dtype = tf.bfloat16
  env.tf_device = '/GPU:0'
  env.torch_device = 'cuda'
  details = tf.config.experimental.get_device_details(gpus[0])
  env.device_name = details.get('device_name', 'GPU')
  env.peak_tflops = peak_tflops or next(
      (v for k, v in GPU_PEAK_BF16_TFLOPS.items() if k in env.device_name),
      None)



def framework_versions(fw) -> Dict[str, str]:
  """Python's and the frameworks' versions (`fw`: the PyTorch side)."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  versions = {'python': platform.python_version(), 'tensorflow': tf.__version__,
              'tf_keras': tf_keras.__version__, 'numpy': np.__version__}
  for package in ('tf-models-official',):
    try:
      versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      pass
  if fw.available:
    versions['torch'] = fw.torch.__version__
    versions['transformers'] = fw.transformers.__version__
  return versions


def machine_facts(env) -> Dict[str, Any]:
  """The CPU, memory, platform, device and load average at the start."""
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  try:
    memory_gib = (os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') /
                  2.0**30)
  except (ValueError, OSError):
    memory_gib = None
  machine = {'cpu': cpu, 'cpus': os.cpu_count(), 'memory_gib': memory_gib,
             'platform': platform.platform(), 'device': env.device,
             'device_name': env.device_name}
  try:
    machine['load_average_start'] = list(os.getloadavg())
  except OSError:
    pass
  return machine


def _onednn_setting() -> str:
  """TF_ENABLE_ONEDNN_OPTS, or TF's choice for this CPU when it is unset.

  TF turns oneDNN on by default only on some CPUs (off on the project's AMD
  EPYC machine), so 'default' alone does not say which.
  """
  if 'TF_ENABLE_ONEDNN_OPTS' in os.environ:
    return os.environ['TF_ENABLE_ONEDNN_OPTS']
  from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  return 'default (on)' if _pywrap_util_port.IsMklEnabled() else 'default (off)'


def thread_settings(env) -> Dict[str, Any]:
  """TF's, oneDNN's and torch's thread settings."""
  threads = {
      'tf_intra_op': tf.config.threading.get_intra_op_parallelism_threads(),
      'tf_inter_op': (tf.config.threading.get_inter_op_parallelism_threads()
                      or 'default'),
      'onednn': _onednn_setting(),
  }
  if env.fw.available:
    threads['torch'] = env.fw.torch.get_num_threads()
    threads['torch_interop'] = env.fw.torch.get_num_interop_threads()
    threads['OMP_WAIT_POLICY'] = os.environ.get('OMP_WAIT_POLICY', 'default')
  return threads

