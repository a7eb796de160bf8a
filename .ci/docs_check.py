"""Check the built docs site (`bash .ci/docs` runs it): exit 1 with a list of the problems unless

- every notebook `nbs/*.ipynb` has its page `SITE/<name>.html` (and the site has `index.html`);
- every `<img src>` of every page is a file of the site (or a `data:` URI);
- every local `<a href>`, stylesheet `<link href>` and `<script src>` (not http/https/mailto/data/javascript)
  is a file of the site, and a `#fragment` on a link to a page is an `id` (or `<a name>`) in that page;
- no page loads a script or stylesheet from the network: the site works offline.

`python .ci/docs_check.py [SITE] [NBS]` (defaults `_site`, `nbs`). Plain Python, standard library only.
"""
import sys, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
_external = ('http', 'https', 'mailto', 'data', 'javascript', 'tel', 'ftp')


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
    problems, n = [], dict(pages=0, notebooks=0, images=0, links=0, fragments=0, assets=0)
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
    return problems, n


if __name__ == '__main__':
    t0 = time.perf_counter()
    site, nbs = (sys.argv[1:] + ['_site', 'nbs'][len(sys.argv) - 1:])[:2]
    problems, n = check(site, nbs)
    print(f"[docs check] {n['pages']} pages ({n['notebooks']} notebooks), {n['images']} images, {n['links']} local links "
          f"({n['fragments']} with #fragments), {n['assets']} scripts/stylesheets checked in {time.perf_counter() - t0:.1f} s")
    if problems:
        print(f'[docs check] FAILED: {len(problems)} problem(s):', *problems[:200], sep='\n  ', file=sys.stderr)
        sys.exit(1)
    print('[docs check] ok: every notebook has a page, every image, link and asset resolves')
