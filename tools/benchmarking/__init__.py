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

"""The benchmarks of `tools/benchmark*.py`, in parts.

The model benchmark (`tools/benchmark.py`, TF MaskFormer or Mask2Former
against the `transformers` PyTorch port):

  * `models`: the architecture and both frameworks' models with the same
    weights;
  * `synthetic_inputs`: framework-neutral random inputs;
  * `tf_workloads` / `torch_workloads`: each framework's inputs and step
    functions (the PyTorch side is optional and stays out of the library);
  * `measurement`: timing and peak memory of the steps;
  * `model_benchmark`: the run's settings and the workloads it measures;
  * `machine_setup`: what the machine is and how the frameworks run on it;
  * `reporting`: the JSON report and the markdown section of
    docs/benchmarks.md.

The matcher benchmark (`tools/benchmark_matcher.py`): `matcher_workloads`.
The input pipeline benchmark (`tools/benchmark_input.py`): `input_pipelines`.
The modules import each other as `benchmarking.<module>`: the tools put
their folder first on `sys.path`.
"""
