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

"""Imports of `projects.maskformer` point down the layers and never loop.

The module graph is read from the source with `ast` (nothing is imported):
every `import` and `from ... import` statement, at any depth (also inside
functions), that names a module of the project. Rules:

  * `configs/` imports nothing of the project outside `configs/`;
  * `ops/` imports nothing of the project outside `ops/`;
  * `serving/` does not import `tasks/`;
  * the shared modules of `modeling/` import none of its meta-architecture
    subpackages (`ARCHITECTURES`), nor does one architecture import another;
  * nothing else of the project imports `conversion/` (offline only);
  * no import cycle among the project's modules;
  * every package (or top-level module) imports only its own layer or the
    layers below it in `LAYERS`;
  * no source file of the library (`projects/`, `official/`) or of `tools/`
    is longer than `MAX_SOURCE_LINES`.
"""
import ast
import pathlib
from typing import Dict
from typing import List
from typing import Optional
from typing import Set

import conftest

PACKAGE = 'projects.maskformer'
# The longest a source file of the library or tools/ may be.
MAX_SOURCE_LINES = 600
SOURCE_FOLDERS = ('projects', 'official', 'tools')

# The project's packages and top-level modules, bottom layer first.
LAYERS = (
    ('cli', 'configs', 'ops'),
    ('dataloaders',),
    ('modeling', 'losses', 'conversion'),
    ('evaluation', 'checkpoints'),
    ('inference_setup', 'optimization', 'canvas_trainer'),
    ('tasks',),
    ('serving', 'registry_imports'),
    ('reference', 'train'),
)

# The subpackages of `modeling/`, one per meta-architecture; the rest of
# `modeling/` is shared by every architecture.
ARCHITECTURES = ('mask2former', 'maskformer')


def module_files(root: pathlib.Path, package: str) -> Dict[str, pathlib.Path]:
  """Module name -> file of every module of `package` under `root`.

  A package's `__init__.py` is named after the package.
  """
  base = root.joinpath(*package.split('.'))
  modules = {}
  for path in sorted(base.rglob('*.py')):
    parts = list(path.relative_to(root).with_suffix('').parts)
    if parts[-1] == '__init__':
      parts.pop()
    modules['.'.join(parts)] = path
  return modules


def _resolve(name: str, modules: Dict[str, pathlib.Path]) -> Optional[str]:
  """The project module that importing `name` loads last, or None."""
  while name and name not in modules:
    name = name.rpartition('.')[0]
  return name or None


def import_graph(root: pathlib.Path,
                 package: str = PACKAGE) -> Dict[str, Set[str]]:
  """Module -> the project modules it imports (itself excluded).

  `from a.b import c` counts as an import of the module `a.b.c` when that is
  a module, else of `a.b`; relative imports are resolved against the
  importing module's package.
  """
  modules = module_files(root, package)
  graph = {}
  for name, path in modules.items():
    is_package = path.name == '__init__.py'
    here = name if is_package else name.rpartition('.')[0]
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
      targets: List[str] = []
      if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ''
        if node.level:
          anchor = here.split('.')
          anchor = anchor[:len(anchor) - (node.level - 1)]
          base = '.'.join(anchor + ([base] if base else []))
        targets = [f'{base}.{alias.name}' for alias in node.names]
      for target in targets:
        resolved = _resolve(target, modules)
        if resolved and resolved != name:
          imported.add(resolved)
    graph[name] = imported
  return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
  """One import cycle as [m0, m1, ..., m0], or None (depth-first search)."""
  state = {}  # 1: on the current path, 2: finished.
  path = []

  def visit(node):
    state[node] = 1
    path.append(node)
    for child in sorted(graph.get(node, ())):
      if state.get(child) == 1:
        return path[path.index(child):] + [child]
      if child not in state:
        cycle = visit(child)
        if cycle:
          return cycle
    path.pop()
    state[node] = 2
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


def _upward_imports(graph: Dict[str, Set[str]], layer: str,
                    allowed: Set[str]) -> List[str]:
  """'a -> b' for every import of `layer`'s modules outside `allowed`."""
  prefix = f'{PACKAGE}.{layer}'
  return sorted(
      f'{module} -> {target}' for module, targets in graph.items()
      if module == prefix or module.startswith(prefix + '.')
      for target in targets
      if not any(target == a or target.startswith(a + '.') for a in allowed))


GRAPH = import_graph(conftest.REPO_ROOT)


def test_graph_sees_the_project():
  """The scan finds the modules and known edges, also inside functions."""
  assert len(GRAPH) > 60
  assert f'{PACKAGE}.inference_setup' in GRAPH[
      f'{PACKAGE}.tasks.maskformer_segmentation']
  assert f'{PACKAGE}.configs.variable_names' in GRAPH[
      f'{PACKAGE}.configs.optimization']
  assert GRAPH[f'{PACKAGE}.configs.variable_names'] == set()


def test_configs_import_only_configs():
  assert _upward_imports(GRAPH, 'configs', {f'{PACKAGE}.configs'}) == []


def test_ops_import_only_ops():
  assert _upward_imports(GRAPH, 'ops', {f'{PACKAGE}.ops'}) == []


def test_serving_does_not_import_tasks():
  tasks = f'{PACKAGE}.tasks'
  assert sorted(f'{m} -> {t}' for m, ts in GRAPH.items()
                if m.startswith(f'{PACKAGE}.serving')
                for t in ts if t == tasks or t.startswith(tasks + '.')) == []


def _architecture(module: str) -> Optional[str]:
  """'maskformer' for 'projects.maskformer.modeling.maskformer.x', else None."""
  prefix = f'{PACKAGE}.modeling.'
  if not module.startswith(prefix):
    return None
  head = module[len(prefix):].split('.')[0]
  return head if head in ARCHITECTURES else None


def test_architectures_are_the_modeling_subpackages():
  modeling = conftest.REPO_ROOT.joinpath(*PACKAGE.split('.'), 'modeling')
  assert sorted(path.parent.name
                for path in modeling.glob('*/__init__.py')) == sorted(
                    ARCHITECTURES)


def test_shared_modeling_imports_no_architecture():
  modeling = f'{PACKAGE}.modeling'
  assert sorted(
      f'{m} -> {t}' for m, ts in GRAPH.items()
      if m == modeling or m.startswith(modeling + '.')
      for t in ts
      if _architecture(t) and _architecture(t) != _architecture(m)) == []


def test_nothing_imports_conversion():
  conversion = f'{PACKAGE}.conversion'
  assert sorted(f'{m} -> {t}' for m, ts in GRAPH.items()
                if not m.startswith(conversion)
                for t in ts if t.startswith(conversion)) == []


def _top(module: str) -> str:
  """'configs' for 'projects.maskformer.configs.model'."""
  return module[len(PACKAGE) + 1:].split('.')[0]


def test_layers_point_down():
  level = {name: k for k, names in enumerate(LAYERS) for name in names}
  modules = [m for m in GRAPH if m != PACKAGE]
  assert sorted({_top(m) for m in modules}) == sorted(level)
  assert sorted(
      f'{m} -> {t}' for m in modules for t in GRAPH[m]
      if t != PACKAGE and level[_top(t)] > level[_top(m)]) == []


def test_no_import_cycle():
  assert find_cycle(GRAPH) is None


def test_checks_catch_violations(tmp_path):
  """On a made-up package: an upward import, a nested import, a cycle."""
  base = tmp_path.joinpath(*PACKAGE.split('.'))
  files = {
      '__init__.py': '',
      'configs/__init__.py': '',
      'configs/a.py': 'def f():\n  from projects.maskformer.tasks import t\n',
      'tasks/__init__.py': '',
      'tasks/t.py': 'from . import u\n',
      'tasks/u.py': 'import projects.maskformer.tasks.t\n',
      'ops/__init__.py': '',
      'ops/o.py': 'from projects.maskformer.ops import p\nimport numpy\n',
      'ops/p.py': '',
  }
  for relative, text in files.items():
    (base / relative).parent.mkdir(parents=True, exist_ok=True)
    (base / relative).write_text(text)
  graph = import_graph(tmp_path)
  assert _upward_imports(graph, 'configs', {f'{PACKAGE}.configs'}) == [
      f'{PACKAGE}.configs.a -> {PACKAGE}.tasks.t']
  assert _upward_imports(graph, 'ops', {f'{PACKAGE}.ops'}) == []
  assert find_cycle(graph) == [f'{PACKAGE}.tasks.t', f'{PACKAGE}.tasks.u',
                               f'{PACKAGE}.tasks.t']
  del graph[f'{PACKAGE}.tasks.u']
  assert find_cycle(graph) is None


def long_source_files(root: pathlib.Path,
                      limit: int = MAX_SOURCE_LINES) -> List[str]:
  """'path: n lines' of every `.py` file under `SOURCE_FOLDERS` over `limit`."""
  found = []
  for folder in SOURCE_FOLDERS:
    for path in sorted((root / folder).rglob('*.py')):
      count = len(path.read_text(encoding='utf-8').splitlines())
      if count > limit:
        found.append(f'{path.relative_to(root)}: {count} lines')
  return found


def test_no_source_file_is_too_long():
  assert list((conftest.REPO_ROOT / 'tools').glob('*.py'))
  assert long_source_files(conftest.REPO_ROOT) == []


def test_long_file_check_catches_a_long_file(tmp_path):
  (tmp_path / 'tools' / 'sub').mkdir(parents=True)
  (tmp_path / 'tools' / 'sub' / 'long.py').write_text('x = 1\n' * 601)
  (tmp_path / 'tools' / 'short.py').write_text('x = 1\n' * 600)
  assert long_source_files(tmp_path) == [
      str(pathlib.Path('tools/sub/long.py')) + ': 601 lines']
