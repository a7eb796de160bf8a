"""The paper notebooks (nbs/fig3.ipynb ... nbs/fig7.ipynb, nbs/table1.ipynb) run under papermill at the smoke preset.

Each notebook is executed with papermill's Python API, as `papermill nbs/fig3.ipynb ...` would execute it, with a working
directory that is neither the repository nor nbs/ (the notebooks find the repository themselves), into a temporary figure
folder of its own and with one run store shared by the whole session (tests/conftest.py's `smoke_store`): the notebooks
share their runs as they do for a researcher (Fig. 7 and Table 1 mostly read what Fig. 3 and Fig. 4 computed), and in
CI they run after the README walk, in its worker, and read what its `sidae run --figures all` computed. Checked:

- every notebook opens with its title (nbdev's `skip_exec` front matter hidden in it, an HTML comment), then the
  `parameters`-tagged cell with a comment for each parameter (without the tag, `-p` would silently change nothing; nbdev_clean keeps it only because settings.ini
  allows the `tags` cell metadata);
- the files appear, exactly those the parameters name: PNG and PDF (non-empty, with their magic bytes) and the CSV behind the
  figure, with one row per panel, method, stage and seed (plus one per panel and seed for each baseline: random init and
  supervised), accuracies in [0, 100], a kNN accuracy beside every frozen evaluation and the probe's train accuracy;
- a parameter given takes effect: Fig. 3 runs at frac=1.0 and Fig. 6 at fracs=[0.01] (its fine-tuning at 100% would take
  minutes), and both the CSV and the file name show it;
- the command line without an output path (`papermill nbs/fig3.ipynb -p ...` with standard output not a terminal) runs the
  notebook and writes the executed notebook to standard output;
- a bad parameter stops the notebook in its validation cell with the clear ValueError, and nothing is written;
- the source notebooks are never modified;
- the committed notebooks (the paper's and the studies) show their figures as outputs, as a reader opening them expects.

About 3 minutes on 2 CPU cores alone, most of it starting kernels and the smoke runs of Fig. 3 and Fig. 4; about 1 minute
after the README walk (8 to 10 s a notebook). The kernels run torch with
one thread (OMP_NUM_THREADS=1 unless set): on a shared 2-core machine two threads per process made the runs several times slower.
"""
import json, os, re, subprocess, sys
from pathlib import Path
import pandas as pd
import papermill as pm
import pytest

NBS = Path(__file__).resolve().parent.parent / 'nbs'
NOTEBOOKS = ['fig3', 'fig4', 'fig5', 'fig6', 'fig7', 'table1']
COMMON = ['preset', 'seeds', 'epochs', 'store', 'data_root', 'download', 'device', 'fast', 'executor', 'slurm', 'wait', 'fig_dir']
STAGES = [1, 2]                      # the smoke preset's stages
PANEL = dict(fig3='frac', fig4='frac', fig5='paper_downstream', fig6='frac', fig7='paper_downstream')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Kernels (which inherit the environment) run torch with one thread: on a shared 2-core machine two threads per
    process oversubscribe the cores when other work shares them, and OpenMP's waiting made the runs several times slower."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('OMP_NUM_THREADS', os.environ.get('OMP_NUM_THREADS', '1'))
        yield


@pytest.fixture(scope='module')
def store(smoke_store):
    """The session's run store (tests/conftest.py), shared by the notebooks, so each run is computed once; in CI the README
    walk (tests/test_readme_commands.py) ran before in this session and filled it, as `sidae run --figures all` does."""
    return smoke_store


def _execute(name, store, tmp_path, **params):
    "Execute nbs/{name}.ipynb with papermill at the smoke preset from another folder; returns the figure folder."
    src = NBS / f'{name}.ipynb'
    before = src.read_bytes()
    figs, cwd = tmp_path / 'figs', tmp_path / 'elsewhere'
    cwd.mkdir()
    try:
        pm.execute_notebook(str(src), str(tmp_path / f'{name}.ipynb'), kernel_name='python3', progress_bar=False, cwd=str(cwd),
                            parameters={**dict(preset='smoke', store=str(store), fig_dir=str(figs)), **params})
    finally:
        assert src.read_bytes() == before, f'{src} was modified'
    return figs


def _files(figs, name):
    "Check that exactly PNG, PDF and CSV named `name` were written, the images non-empty; return the CSV."
    assert sorted(p.name for p in figs.iterdir()) == sorted(f'{name}.{e}' for e in ('csv', 'pdf', 'png'))
    for ext, magic in (('png', b'\x89PNG'), ('pdf', b'%PDF')):
        data = (figs / f'{name}.{ext}').read_bytes()
        assert len(data) > 5000 and data[:4] == magic, (ext, len(data))
    return pd.read_csv(figs / f'{name}.csv')


def _check_curves(df, panels, labels, supervised=True, random_init=True, seeds=(0,)):
    "One row per panel, method, stage and seed, one per panel and seed for each baseline, accuracies in [0, 100]."
    assert df.acc.between(0, 100).all() and df.acc.notna().all() and df.train_acc.between(0, 100).all()
    ssl = df[~df.method.isin(['supervised', 'random'])]
    sup, rnd = df[df.method == 'supervised'], df[df.method == 'random']
    assert sorted(ssl.label.unique()) == sorted(labels)
    counts = ssl.groupby(['panel', 'label', 'epoch', 'seed']).size()
    assert (counts == 1).all() and len(counts) == panels * len(labels) * len(STAGES) * len(seeds)
    assert sorted(ssl.epoch.unique()) == STAGES
    assert len(sup) == (panels * len(seeds) if supervised else 0) and sup.epoch.isna().all() and sup.knn_acc.isna().all()
    assert len(rnd) == (panels * len(seeds) if random_init else 0) and (rnd.epoch == 0).all()
    frozen = df[df['mode'] == 'linear']
    assert frozen.knn_acc.between(0, 100).all() and frozen.knn_acc.notna().all()      # kNN beside every frozen evaluation
    assert set(df.preset) == {'smoke'} and set(df.downstream) <= {'digits', 'mnist_5k'}


PAPER3 = ['SidAE (w = 0.5)', 'SimSiam', 'autoencoder']


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_parameters_cell(name):
    "Title with hidden front matter, then the tagged parameters cell, each parameter with its comment (--help-notebook)."
    cells = json.loads((NBS / f'{name}.ipynb').read_text())['cells']
    title = ''.join(cells[0]['source'])
    assert cells[0]['cell_type'] == 'markdown' and title.startswith('# ')
    assert re.search(r'^<!--(?:(?!-->).)*^- skip_exec: true$(?:(?!-->).)*-->', title, flags=re.S | re.M), title
    tagged = [i for i, c in enumerate(cells) if 'parameters' in c['metadata'].get('tags', [])]
    assert tagged == [1], tagged
    params = pm.inspect_notebook(str(NBS / f'{name}.ipynb'))
    assert set(COMMON) <= set(params), set(COMMON) - set(params)
    assert all(len(p['help']) > 20 for p in params.values()), [k for k, p in params.items() if len(p['help']) <= 20]


FIGURES_SHOWN = dict(fig3=1, fig4=1, fig5=1, fig6=1, fig7=1, recon_space=1, small_scale=3, real_mnist=1)


@pytest.mark.parametrize('name', FIGURES_SHOWN)
def test_committed_notebooks_show_their_figures(name):
    "The committed paper notebooks keep the figures they draw as outputs (a refresh with MPLBACKEND=Agg dropped them)."
    cells = json.loads((NBS / f'{name}.ipynb').read_text())['cells']
    shown = sum('image/png' in o.get('data', {}) for c in cells for o in c.get('outputs', []))
    assert shown >= FIGURES_SHOWN[name], f"nbs/{name}.ipynb shows {shown} figures; refresh it with .ci/refresh_outputs.py --paper"


def test_fig3(store, tmp_path):
    figs = _execute('fig3', store, tmp_path, frac=1.0)
    df = _files(figs, 'fig3-digits-frac1-w0.5-smoke-1seed')
    assert set(df.frac) == {1.0} and set(df.paper_downstream) == {'cifar10'}
    _check_curves(df.assign(panel=df.frac), 1, PAPER3)


def test_fig4(store, tmp_path):
    figs = _execute('fig4', store, tmp_path)
    df = _files(figs, 'fig4-digits-frac0.01-w0.125+0.25+0.5-smoke-1seed')
    _check_curves(df.assign(panel=df.frac), 1, ['SidAE (w = 0.125)', 'SidAE (w = 0.25)', 'SidAE (w = 0.5)'], supervised=False)


def test_fig5(store, tmp_path):
    figs = _execute('fig5', store, tmp_path)
    df = _files(figs, 'fig5-real-mnist-4000+digits-frac0.01-w0.5-smoke-1seed')
    assert set(df.paper_downstream) == {'mnist', 'fashion_mnist'} and set(df.frac) == {0.01}   # real MNIST; digits for Fashion-MNIST
    assert set(df[df.paper_downstream == 'mnist'].downstream) == {'mnist_5k'} and set(df[df.paper_downstream != 'mnist'].downstream) == {'digits'}
    _check_curves(df.assign(panel=df.paper_downstream), 2, PAPER3)


def test_fig6(store, tmp_path):
    figs = _execute('fig6', store, tmp_path, fracs=[0.01])
    df = _files(figs, 'fig6-digits-frac0.01-w0.125-smoke-1seed')
    assert set(df.frac) == {0.01} and set(df[df.method != 'supervised']['mode']) == {'finetune'}
    _check_curves(df.assign(panel=df.frac), 1, ['SidAE (w = 0.125)', 'SimSiam', 'autoencoder'], random_init=False)


def test_fig7(store, tmp_path):
    figs = _execute('fig7', store, tmp_path)
    df = _files(figs, 'fig7-digits-frac1-w0.25-smoke-1seed')
    assert set(df.paper_downstream) == {'stl10'} and set(df.paper_pretrain.dropna()) == {'stl10'}   # digits for both: one panel
    _check_curves(df.assign(panel=df.paper_downstream), 1, ['SidAE (w = 0.25)', 'SimSiam', 'autoencoder'])


def test_table1(store, tmp_path):
    from sidae.tables import paper_table1
    figs = _execute('table1', store, tmp_path)
    name = 'table1-digits+real-mnist-4000-w0.5+0.25-smoke-1seed'
    assert sorted(p.name for p in figs.iterdir()) == sorted([f'{name}.csv', f'{name}-runs.csv', f'{name}.md'])
    b, runs, paper = pd.read_csv(figs / f'{name}.csv'), pd.read_csv(figs / f'{name}-runs.csv'), paper_table1()
    assert len(b) == len(paper) == 24 and len(runs) == 24 + 2 * 8           # one row per row of the table and method, + 2 baselines
    assert b.ours_mean.between(0, 100).all() and runs.acc.between(0, 100).all() and set(runs.epoch.dropna()) == {0, 2}
    assert set(runs.method) == {'sidae', 'simsiam', 'ae', 'random', 'supervised'}
    assert b.paper_mean.tolist() == paper['mean'].tolist()
    assert b['diff'].isna().all()                                  # digits, or 4,000 images of MNIST, against the paper's: no difference
    assert set(b[b.method == 'sidae'].w) == {0.5, 0.25} and set(b[b.paper_pretrain == 'stl10'].query("method == 'sidae'").w) == {0.25}
    md = (figs / f'{name}.md').read_text()
    assert md.count('\n| ') == 3 * (1 + 3 + 2) and 'stands for' in md   # 3 tables: header, a row per distinct set of runs
    assert md.count(' vs. paper ') == 2 * 3 and '| real MNIST, a 4,000-image subset |' in md   # the paper beside real MNIST
    assert 'random init (no pre-training)' in md and '## Weighted kNN accuracy' in md


def test_cli_without_output_path(store, tmp_path):
    "`papermill nbs/fig3.ipynb -p ...` from another folder, stdout not a terminal: the notebook goes to stdout, the files to fig_dir."
    figs = tmp_path / 'figs'
    src = NBS / 'fig3.ipynb'
    before = src.read_bytes()
    papermill = Path(sys.executable).parent / 'papermill'
    r = subprocess.run([str(papermill), str(src), '-p', 'preset', 'smoke', '-p', 'frac', '1.0', '-p', 'store', str(store),
                        '-p', 'fig_dir', str(figs)],
                       cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert src.read_bytes() == before
    assert json.loads(r.stdout)['metadata']['papermill']['parameters']['frac'] == 1.0
    _files(figs, 'fig3-digits-frac1-w0.5-smoke-1seed')


@pytest.mark.parametrize('name,params,message', [
    ('fig3', dict(preset='huge'), "preset='huge' is not known; allowed: 'paper', 'cpu', 'cpu-long', 'smoke'"),
    ('fig4', dict(frac=2), "frac=2 is outside (0, 1]; allowed: 0 < frac <= 1"),
])
def test_bad_parameter(store, tmp_path, name, params, message):
    "A bad value stops the notebook in its validation cell, with the message naming the parameter, value and allowed values."
    with pytest.raises(pm.PapermillExecutionError) as e:
        _execute(name, store, tmp_path, **params)
    assert message in str(e.value) and 'ValueError' in str(e.value)
    assert not (tmp_path / 'figs').exists() or not any((tmp_path / 'figs').iterdir())
