"""The README's numbers are the committed results' numbers.

The accuracy table of "What the CPU preset gives" (in nbs/index.ipynb, from which README.md is made, and again in
nbs/results.ipynb, the results in full) must equal what the committed Fig. 3 CSVs of the `cpu` preset give: per backbone,
the mean (standard error) over the seeds at the last stage of the linear probe at 1% and 100% of the labels, of the kNN at
1% and 100%, and of the probe's train accuracy at 100%. The speed paragraph (nbs/guide.ipynb, where it moved from the
README) must equal figures/bench-cpu.csv (images/s rounded, ratios to one decimal for the augmentation and two for the
training step). Before this test both were typed by hand into the notebook, and nothing tied them to the files: a
regenerated figure could leave the README telling old numbers.
"""
import json, re
from pathlib import Path
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIG = ROOT / 'figures'
LABELS = {'SidAE (w = 0.5)': 'SidAE (w = 0.5)', 'SimSiam': 'SimSiam', 'denoising autoencoder': 'autoencoder',
          'random init (no pre-training)': 'random init (no pre-training)', 'supervised ResNet-18': 'supervised'}


def _markdown_text(name):
    nb = json.loads((ROOT / 'nbs' / f'{name}.ipynb').read_text())
    return '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')


def _cell(df, label, value):
    d = df[(df.label == label) & df[value].notna()]
    d = d[d.epoch.isna() | (d.epoch == d.epoch.max())] if label != 'random init (no pre-training)' else d
    if d.empty: return '-'
    m, s = d[value].mean(), d[value].std(ddof=1) / len(d) ** 0.5
    return f"{m:.2f} ({s:.2f})"


def _expected():
    one, all_ = (pd.read_csv(FIG / f'fig3-digits-frac{f}-w0.5-cpu-3seeds.csv') for f in ('0.01', '1'))
    label = lambda df, name: next(l for l in df.label.unique() if l.startswith(LABELS[name]))
    return {name: [_cell(one, label(one, name), 'acc'), _cell(all_, label(all_, name), 'acc'), _cell(one, label(one, name), 'knn_acc'),
                   _cell(all_, label(all_, name), 'knn_acc'), _cell(all_, label(all_, name), 'train_acc')] for name in LABELS}


@pytest.mark.parametrize('nb', ['index', 'results'])
def test_the_accuracy_table_is_the_committed_csvs(nb):
    text, want = _markdown_text(nb), _expected()
    for name, cells in want.items():
        row = next(l for l in text.splitlines() if l.startswith(f"| {name}"))
        got = [c.strip().replace('**', '') for c in row.strip('|').split('|')[1:]]
        assert got == cells, (nb, name, got, cells)


def test_the_speed_paragraph_is_the_committed_bench():
    b = pd.read_csv(FIG / 'bench-cpu.csv')
    aug = b[b.task == 'augmentation'].set_index('pipeline')['images_s']
    step = b[(b.task == 'pre-training') & (b.method == 'sidae')].set_index('pipeline')['images_s']
    text = ' '.join(_markdown_text('guide').split())
    want = (f"take {aug['BatchAugment']:,.0f} images/s batched against {aug['per-image reference']:,.0f} images/s per image with torchvision "
            f"(**{aug['BatchAugment'] / aug['per-image reference']:.1f}x**); a whole SidAE training step runs at {step['fast']:,.0f} against "
            f"{step['reference']:,.0f} images/s ({step['fast'] / step['reference']:.2f}x")
    assert want in text, want
