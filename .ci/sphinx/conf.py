# Sphinx configuration of the docs site: the notebooks of nbs/, staged by stage.py, rendered by myst-nb.
# Built by `bash .ci/docs` (sphinx-build -c .ci/sphinx build/docs/src build/docs/html, moved to _site); offline, nothing is executed.
import importlib.util, shutil
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser(delimiters=['='])
_cfg.read(Path(__file__).resolve().parents[2] / 'settings.ini')
_s = _cfg['DEFAULT']

project = _s['title']
author = _s['author']
copyright = _s['copyright']
release = version = _s['version']

extensions = ['myst_nb']
root_doc = 'index'
exclude_patterns = ['figures/**', '**/.ipynb_checkpoints']   # figures/ holds files to link to, not pages

# the notebooks carry their committed outputs; the docs build never runs them
nb_execution_mode = 'off'
nb_merge_streams = True
nb_output_stderr = 'show'
myst_enable_extensions = ['dollarmath', 'amsmath', 'html_image', 'colon_fence']
myst_heading_anchors = 4          # GitHub-style anchors (#concurrency-kills-and-damaged-files) as in nbdev/Quarto

html_theme = 'sphinx_book_theme'
html_title = project
html_static_path = ['_static']
html_css_files = ['custom.css']
html_copy_source = True          # _sources/NAME.ipynb: the theme's download button gives the notebook
html_show_sourcelink = False
html_theme_options = {
    'repository_url': _s.get('git_url', ''),
    'repository_branch': _s.get('branch', 'main'),
    'path_to_docs': _s.get('nbs_path', 'nbs'),
    'use_repository_button': False,    # an external link; the site is meant to work offline
    'show_navbar_depth': 1,
    'show_toc_level': 2,
    'home_page_in_toc': True,
    # no top navbar (its only item would be a second search field beside the sidebar's)
    'navbar_start': [], 'navbar_center': [], 'navbar_end': [], 'navbar_persistent': [],
}

# MathJax 3 from the sphinx-mathjax-offline package, not from a CDN: the site works offline. Only what tex-chtml.js
# needs is copied (3 of its 24 MB; no speech rule engine). Its files are used directly: as an extension the package
# would turn off Sphinx's parallel reading.
mathjax_path = 'mathjax/tex-chtml.js'
_MATHJAX = Path(importlib.util.find_spec('sphinx-mathjax-offline').submodule_search_locations[0]) / 'static' / 'mathjax'
_MATHJAX_PARTS = ['tex-chtml.js', 'output/chtml/fonts/woff-v2', 'input/tex/extensions', 'a11y', 'ui']


def _copy_mathjax(app, exc):
    if exc is not None or app.builder.format != 'html': return
    for part in _MATHJAX_PARTS:
        src, dst = _MATHJAX / part, Path(app.outdir) / '_static' / 'mathjax' / part
        if src.is_dir(): shutil.copytree(src, dst, dirs_exist_ok=True)
        else: dst.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src, dst)


def setup(app):
    app.connect('build-finished', _copy_mathjax)
