"""Stage the notebooks of nbs/ as the Sphinx source tree of the docs site (`bash .ci/docs` runs this).

`python .ci/sphinx/stage.py DEST` empties DEST and writes into it:

- every `nbs/*.ipynb` (found by glob, never by name), cleaned the way nbdev's docs processors clean them:
  code cells whose leading `#|` directives include `hide` (or Quarto's `include: false`) are left out, as are
  YAML front-matter raw cells (`---` ... `---`), the hidden front matter of a title cell (an HTML comment holding
  nbdev's `- key: value` lines, such as the paper notebooks' `- skip_exec: true`) and cells left empty; `#|`
  directive lines and `#| hide_line` lines are removed from the shown code; `#| echo: false` hides a cell's code
  and `#| output: false` its output; ipywidgets outputs (papermill's tqdm bars) and the notebook's widget state are
  left out: they would need require.js and the widget manager from a CDN, and their text fallback is the bar at 0%;
  a `show_doc(...)` cell shows its output only (nbdev's `clean_show_doc`), as a signature card: tagged
  `sidae-showdoc` (myst-nb gives the cell the class `tag_sidae-showdoc`, which custom.css draws as a box), its
  markdown without nbdev's rule above it, without Quarto's `{target=...}` attributes on the source link (MyST would
  show them as text) or its `#LNone` (no line found) and without the blank lines at the ends of the signature;
- `figures/` of the repository, so that the notebooks' `../figures/...` images and links resolve;
- a hidden toctree appended to `index.ipynb` (the home page): the library notebooks `NN_*.ipynb` in number
  order, the paper notebooks (`figN`, `tableN`), then the others, in name order.

Links in markdown cells are written for nbs/: `../figures/X` becomes `figures/X`, `../nbs/X` becomes `X`; a link
to another file or folder of the repository (`../X`) becomes a link to it at `git_url` (settings.ini).
The notebooks in nbs/ are only read, never changed; nothing is executed.
"""
import json, re, shutil, sys
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_dir_line = re.compile(r'^\s*#\s*\|')
_WIDGET = 'application/vnd.jupyter.widget-view+json'
_FM_COMMENT = re.compile(r'\s*<!--(?:(?!-->).)*?^-\s+\w+\s*:(?:(?!-->).)*-->', flags=re.S | re.M)   # <!-- - k: v -->
_showdoc = re.compile(r'^show_doc', re.M)          # nbdev's test for a show_doc cell (processors._re_showdoc)
_source_link = re.compile(r'\[source\]\(([^)\s]+)\)\{[^}\n]*\}')
SHOWDOC_TAG = 'sidae-showdoc'


def _sort_key(stem):
    "Natural sort key: '10_x' after '9_x', 'fig10' after 'fig9'."
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', stem)]


def groups(stems):
    "[(caption, [stem, ...]), ...]: the toctree's sections, in order (index is the root page, not listed)."
    stems = sorted((s for s in stems if s != 'index'), key=_sort_key)
    lib = [s for s in stems if re.match(r'\d+[a-z]?_', s)]
    paper = [s for s in stems if re.fullmatch(r'(fig|table)\d+\w*', s)]
    rest = [s for s in stems if s not in lib and s not in paper]
    return [(c, g) for c, g in [('Library', lib), ('Paper results', paper), ('More', rest)] if g]


def directives(lines):
    "({name: value}, n): the leading `#|` directives of a cell's lines and how many lines they take."
    d, n = {}, 0
    for l in lines:
        if not _dir_line.match(l): break
        n += 1
        body = _dir_line.sub('', l).strip()
        if not body: continue
        name, _, val = body.partition(':') if ':' in body else (body.split()[0], '', ' '.join(body.split()[1:]))
        d[name.strip()] = val.strip()
    return d, n


def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']


def rewrite_links(md, git_url, branch):
    "A markdown cell's relative links, written for nbs/, rewritten for the staged tree (see the module doc)."
    def repl(m):
        pre, target = m.group(1), m.group(2)
        if not target.startswith('../'): return m.group(0)
        rel = target[3:]
        if rel.startswith('nbs/'): new = rel[4:]
        elif rel.startswith('figures/') and rel != 'figures/':   # an image shows; a link to a file downloads it
            new = rel if pre.startswith('![') or re.search(r'src\s*=', pre) else f'path:{rel}'
        else: new = f"{git_url.rstrip('/')}/{'tree' if rel.endswith('/') else 'blob'}/{branch}/{rel}"
        return pre + new
    md = re.sub(r'(!?\[[^\]]*\]\(\s*<?)([^)\s>]+)', repl, md)          # [text](target), ![alt](target)
    return re.sub(r'''((?:src|href)\s*=\s*["'])([^"']+)''', repl, md)   # <img src="..."> <a href="...">


def showdoc_markdown(md):
    "The markdown of a show_doc output (nbdev's BasicMarkdownRenderer) as the docs site shows it (see the module doc)."
    md = re.sub(r'\A\s*---[ \t]*\n\s*', '', md)
    md = _source_link.sub(r'[source](\1)', md).replace('#LNone)', ')')   # nbdev finds no line for a dotted name
    md = re.sub(r'(```python[ \t]*\n)(?:[ \t]*\n)+', r'\1', md)
    return re.sub(r'\n(?:[ \t]*\n)+(```[ \t]*(?:\n|\Z))', r'\n\1', md)


def _showdoc_cell(c, tags):
    "Tag a show_doc cell (its input hidden, its output a card) and clean its markdown outputs."
    tags += [t for t in ('remove-input', SHOWDOC_TAG) if t not in tags]
    for o in c.get('outputs', []):
        md = o.get('data', {}).get('text/markdown')
        if md is not None: o['data']['text/markdown'] = showdoc_markdown(_src({'source': md}))


def clean(nb, git_url, branch):
    "The notebook `nb` (a dict) as the docs show it."
    cells = []
    for i, c in enumerate(nb['cells']):
        src = _src(c)
        if c['cell_type'] == 'raw':
            if re.match(r'\s*---\s*\n', src) and re.search(r'\n---\s*$', src.rstrip()): continue   # front matter
        elif c['cell_type'] == 'markdown':
            src = rewrite_links(_FM_COMMENT.sub('', src), git_url, branch)
        elif c['cell_type'] == 'code':
            lines = src.splitlines()
            d, n = directives(lines)
            if 'hide' in d or d.get('include') == 'false': continue
            lines = [l for l in lines[n:] if not re.search(r'#\s*\|\s*hide_line\s*$', l)]
            src = '\n'.join(lines).strip('\n')
            tags = list(c.get('metadata', {}).get('tags', []))
            if d.get('echo') == 'false': tags.append('remove-input')
            if d.get('output') == 'false': tags.append('remove-output')
            if _showdoc.search(src): _showdoc_cell(c, tags)
            if tags: c.setdefault('metadata', {})['tags'] = tags
            if 'outputs' in c: c['outputs'] = [o for o in c['outputs'] if _WIDGET not in o.get('data', {})]
            if not src and not c.get('outputs'): continue
        if not src.strip() and c['cell_type'] != 'code': continue
        c['source'] = src
        cells.append(c)
    nb['cells'] = cells
    nb.get('metadata', {}).pop('widgets', None)
    return nb


def toctree_cell(stems):
    "A markdown cell with one hidden toctree per section of `groups(stems)`."
    parts = [f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: {cap}\n\n" + '\n'.join(g) + '\n```' for cap, g in groups(stems)]
    return {'cell_type': 'markdown', 'id': 'sidae-docs-toctree', 'metadata': {}, 'source': '\n\n'.join(parts)}


def stage(dest, root=ROOT):
    dest, root = Path(dest), Path(root)
    cfg = ConfigParser(delimiters=['=']); cfg.read(root / 'settings.ini')
    git_url, branch = cfg['DEFAULT'].get('git_url', ''), cfg['DEFAULT'].get('branch', 'main')
    nbs = sorted((root / cfg['DEFAULT'].get('nbs_path', 'nbs')).glob('*.ipynb'))
    stems = [p.stem for p in nbs]
    if 'index' not in stems: sys.exit(f'docs: no index.ipynb in {root / "nbs"}: it is the home page')
    if dest.exists(): shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for p in nbs:
        nb = clean(json.loads(p.read_text()), git_url, branch)
        if p.stem == 'index': nb['cells'].append(toctree_cell(stems))
        (dest / p.name).write_text(json.dumps(nb, indent=1))
    if (root / 'figures').is_dir(): shutil.copytree(root / 'figures', dest / 'figures')
    return stems


if __name__ == '__main__':
    if len(sys.argv) != 2: sys.exit(__doc__)
    stems = stage(sys.argv[1])
    print(f'[docs] staged {len(stems)} notebooks: ' + ' | '.join(', '.join(g) for _, g in [('', ['index'])] + groups(stems)))
