"""Check the built docs site (`bash .ci/docs` runs it): exit 1 with a list of the problems unless

- every notebook `nbs/*.ipynb` has its page `SITE/<name>.html` (and the site has `index.html`);
- every `<img src>` of every page is a file of the site (or a `data:` URI);
- every local `<a href>`, stylesheet `<link href>` and `<script src>` (not http/https/mailto/data/javascript)
  is a file of the site, and a `#fragment` on a link to a page is an `id` (or `<a name>`) in that page;
- no page loads a script or stylesheet from the network: the site works offline;
- every name of SIGNATURE_CARDS has its signature card (a `show_doc` output, tagged by stage.py) on its notebook's page:
  a title that is the name, then the signature with a type and a docments comment on every parameter (but `*args` and
  `**kwargs`, whose comments nbdev does not show).

`python .ci/docs_check.py [SITE] [NBS]` (defaults `_site`, `nbs`). Plain Python, standard library only.
"""
import json, re, sys, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
_external = ('http', 'https', 'mailto', 'data', 'javascript', 'tel', 'ftp')

# The public API that the README and the notebooks show (issue 26), by notebook: each name needs a signature card
SIGNATURE_CARDS = {
    '04_data': ('load_split', 'load_folder', 'load_pretrain'),
    '05_augment': ('BatchAugment', 'paper_augment', 'two_views'),
    '06_models': ('build_model',),
    '07_losses': ('siamese_loss',),
    '08a_monitor': ('check_finite',),
    '08c_pretrain_config': ('PretrainConfig',),
    '09_pretrain': ('TrainState', 'train_step', 'train_epoch', 'pretrain'),
    '10_evaluate': ('EvalConfig', 'evaluate'),
    '11a_presets': ('preset_pretrain', 'preset_eval'),
    '12_runs': ('RunStore', 'RunStore.pretrain', 'RunStore.evaluate', 'RunStore.missing'),
    '13_export': ('export_backbone', 'load_backbone'),
    '14_executors': ('LocalExecutor', 'LocalExecutor.compute', 'SlurmExecutor', 'SlurmExecutor.compute',
                     'make_executor'),
}
SHOWDOC_CLASS = 'tag_sidae-showdoc'   # myst-nb's class for the cells that .ci/sphinx/stage.py tags sidae-showdoc


class Cards(HTMLParser):
    "The signature cards of one HTML page: {title: signature text} (the first code block of each card)."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cards, self._depth, self._card, self._grab, self._title, self._sig = {}, 0, None, None, '', None

    def handle_starttag(self, tag, attrs):
        cls = (dict(attrs).get('class') or '').split()
        if tag == 'div':
            self._depth += 1
            if SHOWDOC_CLASS in cls and self._card is None: self._card, self._title, self._sig = self._depth, '', None
        if self._card is None: return
        if tag == 'p' and 'rubric' in cls or tag in ('h1', 'h2', 'h3', 'h4'): self._grab = 'title'
        if tag == 'pre' and self._sig is None: self._grab, self._sig = 'sig', ''

    def handle_endtag(self, tag):
        if tag in ('p', 'pre', 'h1', 'h2', 'h3', 'h4'): self._grab = None
        if tag == 'div':
            if self._card == self._depth: self.cards[self._title.strip()] = self._sig or ''; self._card = None
            self._depth -= 1

    def handle_data(self, data):
        if self._grab == 'title': self._title += data
        elif self._grab == 'sig': self._sig += data


def notebook_cards(nb):
    "{title: signature text} of the show_doc outputs (text/markdown) of the notebook `nb` (a dict)."
    cards = {}
    for c in nb['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if c['cell_type'] != 'code' or not re.search(r'^show_doc', src, re.M): continue
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            md = ''.join(md) if isinstance(md, list) else md
            title, sig = re.search(r'^#+ +(.+)$', md or '', re.M), re.search(r'```python\n(.*?)```', md or '', re.S)
            if title: cards[title.group(1).strip()] = sig.group(1) if sig else ''
    return cards


def card_problems(cards, name):
    "What is wrong with the signature card of `name` in `cards` ({title: signature}): [] when it is there and complete."
    if name not in cards: return [f'no signature card for {name} (a show_doc cell with its output)']
    lines = [l for l in cards[name].strip().splitlines() if l.strip()]
    if not lines or not re.match(rf"(async )?def {re.escape(name.split('.')[-1])}\($", lines[0].strip()):
        return [f'the card of {name} shows no signature (def {name.split(".")[-1]}(...)): {lines[:1]}']
    params = [l.strip() for l in lines[1:] if not l.strip().startswith(')')]
    star = lambda p: p.startswith('*') or re.match(r'\w+:VAR_(KEYWORD|POSITIONAL)\b', p)   # how nbdev shows *a, **kw
    bad = [p for p in params if not star(p) and not re.match(r'\w+:[^#]+# \S', p)]
    return [f'the card of {name} has a parameter without a type and a comment (docments): {p!r}' for p in bad]


class Page(HTMLParser):
    "The ids, image sources, links and loaded resources of one HTML file."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.imgs, self.links, self.assets = set(), [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id',): 
            if a.get(k): self.ids.add(a[k])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        if tag == 'img' and a.get('src') is not None: self.imgs.append(a['src'])
        if tag == 'a' and a.get('href') is not None: self.links.append(a['href'])
        if tag == 'script' and a.get('src'): self.assets.append(a['src'])
        if tag == 'link' and a.get('href') and set((a.get('rel') or '').split()) & {'stylesheet', 'icon', 'preload'}:
            self.assets.append(a['href'])


def _parse(path):
    p = Page(); p.feed(path.read_text(encoding='utf-8', errors='replace')); return p


def _resolve(site, page, url):
    "(file, fragment) that a local `url` of `page` points to."
    u = urlsplit(url)
    target = page if not u.path else (page.parent / unquote(u.path)).resolve()
    if u.path.endswith('/') or target.is_dir(): target = target / 'index.html'
    return target, unquote(u.fragment)


def check(site=ROOT / '_site', nbs=ROOT / 'nbs'):
    "(problems, counts) of the site at `site` for the notebooks in `nbs`."
    site, nbs = Path(site).resolve(), Path(nbs)
    problems, n = [], dict(pages=0, notebooks=0, images=0, links=0, fragments=0, assets=0, cards=0)
    if not (site / 'index.html').is_file(): return [f'{site}/index.html is missing'], n
    for nb in sorted(nbs.glob('*.ipynb')):
        n['notebooks'] += 1
        if not (site / f'{nb.stem}.html').is_file(): problems.append(f'{nb}: no page {nb.stem}.html in {site}')
    pages = {p.resolve(): _parse(p) for p in sorted(site.rglob('*.html')) if '_static' not in p.relative_to(site).parts}
    n['pages'] = len(pages)
    ids = {p: parsed.ids for p, parsed in pages.items()}
    for page, parsed in pages.items():
        rel = page.relative_to(site)
        if 'fastcore.test' in page.read_text(encoding='utf-8', errors='replace'):   # plumbing, not documentation: nbdev hides it (#| hide)
            problems.append(f'{rel}: shows a test-only import cell (from fastcore.test import ...); mark it #| hide')
        for kind, urls in (('image', parsed.imgs), ('link', parsed.links), ('asset', parsed.assets)):
            for url in urls:
                scheme = urlsplit(url).scheme.lower()
                if kind == 'asset' and scheme in ('http', 'https') or url.startswith('//'):
                    problems.append(f'{rel}: loads {url} from the network (the site should work offline)'); continue
                if scheme in _external or url.strip() == '' or url == '#': continue
                n[kind + 's'] += 1
                target, frag = _resolve(site, page, url)
                if not target.is_file():
                    problems.append(f'{rel}: {kind} {url!r} -> {target.relative_to(site) if target.is_relative_to(site) else target} does not exist')
                elif kind == 'link' and frag and target.suffix == '.html':
                    n['fragments'] += 1
                    if target not in ids: ids[target] = _parse(target).ids
                    if frag not in ids[target]: problems.append(f'{rel}: link {url!r}: no id {frag!r} in {target.relative_to(site)}')
    for stem, names in SIGNATURE_CARDS.items():
        page = site / f'{stem}.html'
        if not page.is_file(): continue
        cards = Cards(); cards.feed(page.read_text(encoding='utf-8', errors='replace'))
        n['cards'] += len(names)
        problems += [f'{stem}.html: {p}' for name in names for p in card_problems(cards.cards, name)]
    return problems, n


if __name__ == '__main__':
    t0 = time.perf_counter()
    site, nbs = (sys.argv[1:] + ['_site', 'nbs'][len(sys.argv) - 1:])[:2]
    problems, n = check(site, nbs)
    print(f"[docs check] {n['pages']} pages ({n['notebooks']} notebooks), {n['images']} images, {n['links']} local links "
          f"({n['fragments']} with #fragments), {n['assets']} scripts/stylesheets, {n['cards']} signature cards checked in "
          f"{time.perf_counter() - t0:.1f} s")
    if problems:
        print(f'[docs check] FAILED: {len(problems)} problem(s):', *problems[:200], sep='\n  ', file=sys.stderr)
        sys.exit(1)
    print('[docs check] ok: every notebook has a page, every image, link and asset resolves, every card is there')
