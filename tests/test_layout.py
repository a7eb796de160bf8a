"""The package's shape: a stack of modules in the notebooks' reading order, each importing only from modules before it and
never another module's `_private` names; no plotting library behind training; small functions.

The order is the numbering of the library notebooks (`nbs/00_checks.ipynb` ... `nbs/24_gpucheck.ipynb`), which export the
modules of the same names: reading the notebooks in order reads every module after the ones it uses.
"""
import ast, re, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / 'sidae'
ORDER = [re.match(r'\d\d[a-z]?_(\w+)\.ipynb', p.name).group(1) for p in sorted((ROOT / 'nbs').glob('[0-9][0-9]*_*.ipynb'))]
MAX_LINES = 40


def _tree(module): return ast.parse((PKG / f'{module}.py').read_text())


def _sidae_imports(module):
    "(imported module, names) for every import of a sidae module in `module`, relative or absolute, at any depth."
    out = []
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ''
            if node.level == 1: out.append((name, [a.name for a in node.names]))
            elif name.startswith('sidae.'): out.append((name[len('sidae.'):], [a.name for a in node.names]))
            elif name == 'sidae': out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend((a.name[len('sidae.'):], []) for a in node.names if a.name.startswith('sidae.'))
    return out


def test_every_module_has_its_notebook():
    modules = sorted(p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_'))
    assert sorted(ORDER) == modules


@pytest.mark.parametrize('module', ORDER)
def test_imports_only_modules_before_it(module):
    before = ORDER[:ORDER.index(module)]
    for imported, _ in _sidae_imports(module):
        if imported == module: continue                   # a module may name itself (runs: a function a spawned process imports)
        assert imported in before, f"sidae.{module} imports sidae.{imported}, which is not before it in {ORDER}"


@pytest.mark.parametrize('module', ORDER)
def test_no_private_names_of_other_modules(module):
    for imported, names in _sidae_imports(module):
        if imported == module: continue
        private = [n for n in names if n.startswith('_')]
        assert not private, f"sidae.{module} imports {private} from sidae.{imported}"


def test_no_import_cycle():
    "The import graph, read from the source, has no cycle (a consequence of the order, checked on its own)."
    graph = {m: {i for i, _ in _sidae_imports(m) if i != m} for m in ORDER}
    done, visiting = set(), []
    def visit(m):
        assert m not in visiting, f"import cycle: {' -> '.join(visiting[visiting.index(m):] + [m])}"
        if m in done: return
        visiting.append(m)
        for n in graph[m]: visit(n)
        visiting.pop(); done.add(m)
    for m in ORDER: visit(m)


def test_training_imports_no_plotting_library():
    code = ("import sys, sidae.pretrain, sidae.evaluate, sidae.runs, sidae.cli\n"
            "print(sorted(m for m in ('matplotlib', 'seaborn') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == '[]', f"importing the training modules loads {out}"


@pytest.mark.parametrize('module', ORDER)
def test_functions_are_short(module):
    "No function over 40 lines, unless a comment on its `def` line says why (`# long: ...`)."
    lines = (PKG / f'{module}.py').read_text().splitlines()
    for node in ast.walk(_tree(module)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= MAX_LINES or '# long:' in lines[node.lineno - 1], f"sidae.{module}.{node.name} has {n} lines"



MAX_WIDTH = 120


def _written_by_nbdev(i, line):
    "nbdev's own lines: the module docstring (the notebook's `> ` summary, one line) and `__all__`'s first line."
    return (i == 0 and line.startswith('"""') and line.endswith('"""')) or line.startswith('__all__ = [')


@pytest.mark.parametrize('module', ORDER)
def test_lines_fit(module):
    """No line over 120 characters in the exported module, so that it reads in a window and in a side-by-side diff:
    main at 5bc6b0e had ~760 such lines outside the generated _modidx.py (106 in cli.py). The two lines nbdev writes
    itself are left out (it copies the summary whole and wraps `__all__` at 120 after `__all__ = `)."""
    lines = (PKG / f'{module}.py').read_text().splitlines()
    long = [f"{i + 1}: {len(l)} characters" for i, l in enumerate(lines)
            if len(l) > MAX_WIDTH and not _written_by_nbdev(i, l)]
    assert not long, f"sidae/{module}.py has lines over {MAX_WIDTH} characters (wrap them in nbs/): {long}"
