"""The notebooks of nbs/ open in JupyterLab without a front-matter cell and fit its window (issue 26).

- JupyterLab, once the kernel of a notebook it opened has started, writes the kernel spec's display name ('Python 3
  (ipykernel)') and `language_info` into the notebook and so marks it changed (seen with JupyterLab 4.6.6 in headless
  Chromium). That is not avoided here: nbdev_clean, which every notebook must pass unchanged (.ci/test), writes the
  display name as the kernel's name ('python3') whatever settings.ini says, and `language_info` names this machine's
  Python version. Closing without saving loses nothing; a notebook saved anyway comes back through nbdev_clean.
- Saving writes what nbformat writes (jupyter_server's save path): each notebook is byte-identical after that
  round trip.
- No visible front-matter cell: nbdev_test skips the notebooks it skipped before through the front matter hidden in
  their title cell (an HTML comment), and the docs staging drops that comment.
- Lines of the code cells are at most 120 characters (outputs not counted), the `parameters` cells included, whose
  end-of-line comments stay papermill's help.
"""
import importlib.util, io, json, re
from pathlib import Path
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted((ROOT / 'nbs').glob('*.ipynb'))
SKIPPED = {'fig3', 'fig4', 'fig5', 'fig6', 'fig7', 'table1', 'guide', 'real_mnist', 'recon_space', 'results',
           'small_scale'}                      # run by tests/test_paper_notebooks.py, or no code at all
PARAMETERISED = ['fig3', 'fig4', 'fig5', 'fig6', 'fig7', 'table1', 'bench', 'small_scale', 'real_mnist', 'recon_space']
ids = [p.stem for p in NBS]


def _cells(p): return json.loads(p.read_text(encoding='utf-8'))['cells']
def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']


@pytest.mark.parametrize('path', NBS, ids=ids)
def test_saving_rewrites_nothing(path):
    "jupyter_server saves with nbformat.write(nb, f, version=NO_CONVERT): the file comes back byte for byte."
    raw = path.read_text(encoding='utf-8')
    out = io.StringIO()
    nbformat.write(nbformat.reads(raw, as_version=nbformat.NO_CONVERT), out, version=nbformat.NO_CONVERT)
    assert out.getvalue() == raw


def test_no_visible_front_matter_and_nbdev_test_skips_the_same():
    "No raw `---` cell; nbdev_test (its own test_nb logic) skips exactly SKIPPED, from the title cell's front matter."
    from fastcore.basics import str2bool
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    raw = [p.stem for p in NBS
           if any(c['cell_type'] == 'raw' and _src(c).lstrip().startswith('---') for c in _cells(p))]
    assert raw == []
    skipped = {p.stem for p in NBS
               if str2bool(getattr(NBProcessor(p, procs=FrontmatterProc, process=True).nb, 'frontmatter_', {})
                           .get('skip_exec', False))}
    assert skipped == SKIPPED


def test_docs_drop_the_hidden_front_matter():
    spec = importlib.util.spec_from_file_location('docs_stage', ROOT / '.ci/sphinx/stage.py')
    stage = importlib.util.module_from_spec(spec); spec.loader.exec_module(stage)
    md = '# T\n> d\n\n<!-- nbdev front matter, hidden\n- skip_exec: true\n-->'
    nb = {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': md},
                    {'cell_type': 'markdown', 'metadata': {}, 'source': 'a <!-- kept -->\n- x: y'}], 'metadata': {}}
    assert [c['source'] for c in stage.clean(nb, 'https://github.com/o/r', 'main')['cells']] == [
        '# T\n> d', 'a <!-- kept -->\n- x: y']


@pytest.mark.parametrize('path', NBS, ids=ids)
def test_code_lines_fit(path):
    "Lines of code cells (not outputs) are at most 120 characters: JupyterLab at 1600 px shows them whole."
    long = [(i, len(l)) for i, c in enumerate(_cells(path)) if c['cell_type'] == 'code'
            for l in _src(c).splitlines() if len(l) > 120]
    assert not long, f'nbs/{path.name}: (cell, length) of lines over 120: {long}'


@pytest.mark.parametrize('name', PARAMETERISED)
def test_parameter_help(name):
    "papermill --help-notebook: every parameter keeps a help (its end-of-line comment) of more than 20 characters."
    import papermill as pm
    params = pm.inspect_notebook(str(ROOT / 'nbs' / f'{name}.ipynb'))
    assert params and all(len(p['help']) > 20 for p in params.values()), {k: p['help'] for k, p in params.items()}
