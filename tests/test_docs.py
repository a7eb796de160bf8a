"""The docs site's staging (.ci/sphinx/stage.py) and checker (.ci/docs_check.py), on small made-up inputs (no Sphinx run;
`bash .ci/docs` builds and checks the real site)."""
import importlib.util, json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m


stage, check = _load('docs_stage', '.ci/sphinx/stage.py'), _load('docs_check', '.ci/docs_check.py')


def _nb(*cells): return {'cells': [dict(c, metadata=c.get('metadata', {})) for c in cells], 'metadata': {'widgets': {}}, 'nbformat': 4, 'nbformat_minor': 5}
def _code(src, outputs=()): return {'cell_type': 'code', 'source': src, 'outputs': list(outputs), 'execution_count': None}
def _md(src): return {'cell_type': 'markdown', 'source': src}


def test_clean_hides_like_nbdev():
    nb = stage.clean(_nb({'cell_type': 'raw', 'source': '---\nskip_exec: true\n---'},
                         _code('#| default_exp losses'), _code('#| hide\nsecret = 1'), _code('#|hide: \nsecret = 2'),
                         _code('#| export\ndef f(): pass'), _code('#| echo: false\nprint(1)'), _code('x = 1 #| hide_line\ny = 2'),
                         _code('#| include: false\nsecret = 3'),
                         _code('t', [{'output_type': 'display_data', 'data': {'application/vnd.jupyter.widget-view+json': {}, 'text/plain': '0%'}}])),
                     'https://github.com/o/r', 'main')
    srcs = [c['source'] for c in nb['cells']]
    assert srcs == ['def f(): pass', 'print(1)', 'y = 2', 't'], srcs
    assert nb['cells'][1]['metadata']['tags'] == ['remove-input'] and nb['cells'][3]['outputs'] == []
    assert 'widgets' not in nb['metadata']


def test_links_are_rewritten_for_the_staged_tree():
    md = ('![a](../figures/f.png) [b](../figures/t.md) [c](../nbs/fig3.ipynb#x) [d](../figures/) [e](../setup.py) '
          '[f](03_losses.ipynb) [g](https://x.org/../y) <img src="../figures/g.png">')
    assert stage.rewrite_links(md, 'https://github.com/o/r', 'main') == (
        '![a](figures/f.png) [b](path:figures/t.md) [c](fig3.ipynb#x) [d](https://github.com/o/r/tree/main/figures/) '
        '[e](https://github.com/o/r/blob/main/setup.py) [f](03_losses.ipynb) [g](https://x.org/../y) <img src="figures/g.png">')


def test_toctree_order():
    stems = ['index', 'table1', 'fig10', 'fig3', '10_x', '02_y', 'bench', 'small_scale', '00_z']
    assert stage.groups(stems) == [('Library', ['00_z', '02_y', '10_x']), ('Paper results', ['fig3', 'fig10', 'table1']),
                                   ('More', ['bench', 'small_scale'])]


def test_checker_finds_missing_pages_images_links_and_fragments(tmp_path):
    nbs, site = tmp_path / 'nbs', tmp_path / 'site'
    nbs.mkdir(); site.mkdir(); (site / '_images').mkdir()
    for n in ('index', 'a', 'b'): (nbs / f'{n}.ipynb').write_text(json.dumps(_nb()))
    (site / '_images' / 'ok.png').write_bytes(b'')
    (site / 'index.html').write_text('<h1 id="top">x</h1><img src="_images/ok.png"><a href="a.html#top">a</a>'
                                     '<a href="https://x.org/missing.html">ext</a><a href="#top">self</a>')
    (site / 'a.html').write_text('<p id="p">a</p><img src="_images/gone.png"><a href="index.html#nowhere">i</a>'
                                 '<a href="nope.html">n</a><script src="https://cdn.example/x.js"></script>'
                                 '<pre><span class="kn">from</span> <span class="nn">fastcore.test</span> import test_eq</pre>')
    problems, n = check.check(site, nbs)
    text = '\n'.join(problems)
    assert len(problems) == 7, text
    for s in ('no page b.html', "image '_images/gone.png'", "no id 'nowhere'", "link 'nope.html'", "no id 'top' in a.html",
              'cdn.example', 'a.html: shows a test-only import cell'):
        assert s in text, (s, text)
    assert n['pages'] == 2 and n['notebooks'] == 3 and n['images'] == 2
