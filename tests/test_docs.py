"""The docs site's staging (.ci/sphinx/stage.py) and checker (.ci/docs_check.py), on small made-up inputs (no Sphinx run;
`bash .ci/docs` builds and checks the real site)."""
import importlib.util, json, re
from pathlib import Path

import pytest

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


# Signature cards (issue 26): the public API's `show_doc` outputs, kept in the notebooks, shown by the docs site as cards.
# check.SIGNATURE_CARDS lists the names by notebook.

def _showdoc_md(name, params, ret='', line=12):
    "A show_doc output as nbdev 2.4's BasicMarkdownRenderer writes it."
    sig = '\n'.join(f'    {p}' for p in params)
    return (f'---\n\n[source](https://github.com/o/r/blob/main/sidae/m.py#L{line}){{target="_blank" style="float:right; '
            f'font-size:smaller"}}\n\n### {name}\n\n```python\n\ndef {name}(\n{sig}\n){ret}:\n\n\n```\n\n*Its docstring.*')


def test_stage_turns_showdoc_outputs_into_cards():
    md = _showdoc_md('f', ["a:int=1, # the a"], '->int')
    out = {'output_type': 'execute_result', 'data': {'text/markdown': md.splitlines(True), 'text/plain': 'def f(...)'}}
    nb = stage.clean(_nb(_code('show_doc(f)', [out]), _code('g = show_doc   # not a show_doc cell')),
                     'https://github.com/o/r', 'main')
    card = nb['cells'][0]
    assert card['metadata']['tags'] == ['remove-input', stage.SHOWDOC_TAG] and 'tags' not in nb['cells'][1]['metadata']
    assert card['outputs'][0]['data']['text/markdown'] == (
        '[source](https://github.com/o/r/blob/main/sidae/m.py#L12)\n\n### f\n\n'
        '```python\ndef f(\n    a:int=1, # the a\n)->int:\n```\n\n*Its docstring.*')
    assert '#LNone' not in stage.showdoc_markdown(_showdoc_md('C.m', ['x:int=1, # x']).replace('#L12', '#LNone'))


def _card_html(title, sig):
    "A card as myst-nb renders a staged show_doc cell (a rubric for the heading, a highlighted code block)."
    return (f'<div class="cell tag_remove-input tag_{stage.SHOWDOC_TAG} docutils container">'
            f'<div class="cell_output docutils container"><p><a href="https://x.org">source</a></p>'
            f'<p class="rubric" id="t">{title}</p><div class="highlight"><pre><span></span>'
            f'<span class="k">def</span> {sig}</pre></div><p><em>doc</em></p></div></div>')


def test_card_checker_finds_missing_and_incomplete_cards():
    cards = check.Cards()
    cards.feed('<div class="cell"><div class="cell_input"><pre>def plain(x): pass</pre></div></div>'
               + _card_html('good', 'good(\n    a:int=1, # the a\n    kwargs:VAR_KEYWORD\n)-&gt;int: # what it gives\n')
               + _card_html('Cls.m', 'm(\n    a:int=1, # the a\n    b:str=&#39;x&#39;\n):\n')
               + _card_html('nodoc', 'nodoc(\n    a:int=1, b=2\n):\n') + _card_html('raw', ''))
    assert sorted(cards.cards) == ['Cls.m', 'good', 'nodoc', 'raw']
    assert check.card_problems(cards.cards, 'good') == []
    assert check.card_problems(cards.cards, 'plain') == ['no signature card for plain (a show_doc cell with its output)']
    assert check.card_problems(cards.cards, 'Cls.m') == [
        "the card of Cls.m has a parameter without a type and a comment (docments): \"b:str='x'\""]
    assert len(check.card_problems(cards.cards, 'nodoc')) == 1
    assert 'shows no signature' in check.card_problems(cards.cards, 'raw')[0]


@pytest.mark.parametrize('stem', sorted(check.SIGNATURE_CARDS))
def test_public_api_has_signature_cards(stem):
    """Each public name of SIGNATURE_CARDS has a show_doc output in its notebook, with a type and a docments comment on
    every parameter, and its source link points at the name's definition in sidae/. Main at f0d0d68 had no show_doc
    at all (and no type hints or docments): every notebook here failed. `bash .ci/docs` checks the same cards on the
    built site (.ci/docs_check.py), where they must render as cards, not as raw text."""
    cards = check.notebook_cards(json.loads((ROOT / 'nbs' / f'{stem}.ipynb').read_text()))
    problems = [p for name in check.SIGNATURE_CARDS[stem] for p in check.card_problems(cards, name)]
    assert not problems, '\n'.join(problems)
    nb = (ROOT / 'nbs' / f'{stem}.ipynb').read_text()
    for path, line, name in re.findall(r'sidae/(\w+\.py)#L(\d+)\)[^#]*?### ([\w.]+)', nb.replace('\\n', '\n')):
        src = (ROOT / 'sidae' / path).read_text().splitlines()[int(line) - 1]
        assert re.match(rf"\s*(def|class) {name.split('.')[-1]}\b", src), (
            f"{stem}: the source link of {name} points at line {line} of sidae/{path}: {src!r}; refresh the "
            "notebook's outputs (python .ci/refresh_outputs.py)")
