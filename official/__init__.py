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

"""Model Garden's `official` namespace package, extended by this checkout.

In a source checkout this directory sits in front of the installed
tf-models-official on `sys.path`. `pkgutil.extend_path` appends the installed
`official/` directory to this package's search path, so `official.core`,
`official.vision`, `official.projects.detr`, ... still resolve to Model Garden
while `official.projects.maskformer` resolves to this project. The wheel built
by `setup.py` ships only `official/projects/maskformer/`, which lands inside the
installed Model Garden tree, so this file is never installed.
"""
import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)
