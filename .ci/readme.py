"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing Quarto).

Markdown cells are copied; code cells become ```python blocks, without nbdev's `#|` directive lines; cells marked
`#| hide` are left out. Links into ../figures/ become figures/ (README.md lives in the repository root).
`python .ci/readme.py --check` exits 1 if README.md is not what index.ipynb gives (tests/test_environment.py runs it).
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    "The README text of the notebook at `nb_path`."
    parts = []
    for c in json.loads(Path(nb_path).read_text())['cells']:
        src = ''.join(c['source']).strip('\n')
        if c['cell_type'] == 'markdown': parts.append(src)
        elif c['cell_type'] == 'code':
            lines = src.splitlines()
            if any(re.match(r'#\|\s*hide\b', l) for l in lines): continue
            code = '\n'.join(l for l in lines if not l.startswith('#|')).strip('\n')
            if code: parts.append(f"```python\n{code}\n```")
    text = '\n\n'.join(parts) + '\n'
    return text.replace('](../figures/', '](figures/').replace('](../', '](')


if __name__ == '__main__':
    text, readme = render(), ROOT / 'README.md'
    if '--check' in sys.argv[1:]:
        if readme.read_text() != text: sys.exit('README.md is out of date: run `python .ci/readme.py`')
    else: readme.write_text(text)
