"""Every shell command the README and its guides show, and every command of the paper notebooks' "Running it" sections,
run as typed.

The commands are read from README.md's ```bash blocks, from the fenced blocks of the notebooks that the README sends the
reader to for the rest (`GUIDE_NBS`: running at scale, reuse, speed, the GPU check, developing), and from the fenced
blocks of the paper notebooks' markdown, so a command added there is tested without editing this file. Each is run in a
shell, from a folder outside the checkout, against one fresh run store and data folder shared by the whole walk (as one
user following the README from the top), with only the scale swapped (`SWAPS`: the presets to `smoke`, `/data` to a
temporary folder holding small files in the real formats, the epochs and stages to the smoke preset's, four processes to
two, `nbs/` to the checkout's notebooks) and the folders the notebooks write into moved out of the checkout
(`-p fig_dir`, `-p out_dir`). Nothing else is added: in particular no `--device` (`tests/test_bad_input.py` and the
device tests are where `--device` is typed). A command that cannot run here is listed in `NOT_RUN` with the reason and
where it is tested instead; a line of that list that neither the README nor its guides show any more fails the test
too, so the list cannot go stale. Commands that need SLURM must refuse in one line (no SLURM here).

Catches (main at 2b69e61): `sidae pretrain --preset paper ...` without `--device` ended in `TypeError: device() received an
invalid combination of arguments`; `sidae evaluate --preset paper --dataset folder:/data/pets --frac 0.1` after the README's
`--epochs 100` pre-training pre-trained another 200-epoch run without a word; own images of mixed sizes were refused.
"""
import json, os, re, shlex, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAPER_NBS = ['fig3', 'fig4', 'fig5', 'fig6', 'fig7', 'table1']
GUIDE_NBS = ['guide', 'results']   # the README's long sections, moved out of it: their commands are walked as the README's
SWAPS = [  # (pattern, replacement): the scale, and the folders of the machine the README has in mind
    (r'(--preset|-p preset) (paper|cpu-long|cpu)\b', r'\1 smoke'), (r'--nproc_per_node \d+', '--nproc_per_node 2'),
    (r'--(pretrain-)?epochs 100\b', r'--\1epochs 3'), (r'--stage 200\b', '--stage 2'),
    (r'(?<![\w.])nbs/', f'{ROOT}/nbs/'), (r'/data/pets\b', '{data}/pets'), (r'(?<![\w/])/data\b', '{data}'),
    (r'/tmp/gpucheck', '{tmp}/gpucheck')]
NOT_RUN = {  # the start of a command -> why it is not run here, and where it is tested
    'bash .ci/run': "CI itself: this test runs inside it",
    'bash .ci/main': "regenerates the committed cpu-preset Fig. 3 (about 20 minutes); its notebook runs below at smoke size",
    'python3 -m sidae.gpucheck --out /tmp/gpucheck --size tiny': "nbs/24_gpucheck.ipynb runs exactly this command "
                                                                   "(with --device cpu; nbdev_test), as .ci/gpu-rehearsal does",
    'python3 -m sidae.gpucheck --out /tmp/gpucheck': "the paper-size GPU check: a lent GPU runs it (the tiny size is .ci/test's)",
    'source .venv/bin/activate': "the developers' loop: .ci/test runs export, clean, nbdev_test and pytest",
    'nbdev_export && nbdev_clean': "the developers' loop: .ci/test checks that both change nothing",
    'python .ci/refresh_outputs.py': "the developers' loop: re-runs the library notebooks in place (nbdev_test runs them)",
    'python .ci/readme.py': "the developers' loop: tests/test_docs.py checks that README.md is index.ipynb's",
    'bash .ci/test': "CI's test command: this test runs inside it",
}
RUN_ELSEWHERE = {  # a notebook command -> the test that runs it with the same parameters at smoke size (and checks its files)
    'papermill nbs/fig3.ipynb executed/fig3-frac0.01.ipynb -p frac 0.01': "the README's `papermill --log-output nbs/fig3.ipynb ...`",
    'papermill nbs/fig3.ipynb executed/fig3-frac1.ipynb -p frac 1.0': "tests/test_paper_notebooks.py::test_fig3",
    'papermill nbs/fig4.ipynb executed/fig4.ipynb': "tests/test_paper_notebooks.py (fig4)",
    'papermill nbs/fig5.ipynb executed/fig5.ipynb': "tests/test_paper_notebooks.py (fig5)",
    'papermill nbs/fig6.ipynb executed/fig6-1pct.ipynb -p fracs 0.01': "tests/test_paper_notebooks.py (fig6 at fracs [0.01])",
    'papermill nbs/fig7.ipynb executed/fig7.ipynb': "tests/test_paper_notebooks.py (fig7)",
    'papermill nbs/table1.ipynb executed/table1.ipynb': "tests/test_paper_notebooks.py (table1)",
    'papermill nbs/fig3.ipynb executed/fig3-cpu.ipynb -p preset cpu -p frac 0.01': "the README's (the same at smoke size)",
    'papermill nbs/fig4.ipynb executed/fig4-cpu.ipynb -p preset cpu': "tests/test_paper_notebooks.py (fig4)",
    'papermill nbs/fig5.ipynb executed/fig5-cpu.ipynb -p preset cpu': "tests/test_paper_notebooks.py (fig5)",
    'papermill nbs/fig7.ipynb executed/fig7-cpu.ipynb -p preset cpu': "tests/test_paper_notebooks.py (fig7)",
    'papermill nbs/table1.ipynb executed/table1-cpu.ipynb -p preset cpu': "tests/test_paper_notebooks.py (table1)",
    'papermill nbs/bench.ipynb executed/bench.ipynb': "on a CPU the next line's command (scale None is 'cpu'), which runs",
}
NEEDS_SLURM = ('--executor slurm', '-p executor slurm')


def _commands(text):
    "The commands of the fenced blocks in `text` (```bash, or plain ``` blocks of commands), trailing comments removed."
    out = []
    for lang, block in re.findall(r'```(\w*)\n(.*?)```', text, re.S):
        if lang not in ('bash', ''): continue
        for line in block.splitlines():
            cmd = re.sub(r'\s+#\s.*$', '', line).strip()
            if cmd and not cmd.startswith('#'): out.append(cmd)
    return out


def _markdown(name):
    "The markdown cells of nbs/NAME.ipynb, in order."
    cells = json.loads((ROOT / 'nbs' / f'{name}.ipynb').read_text())['cells']
    return [''.join(c['source']) for c in cells if c['cell_type'] == 'markdown']


def readme_commands():
    """The README's shell commands, then those of its guides (GUIDE_NBS), in order; a command shown in both (the README
    shows the guides' main commands in brief) is walked once, where it is first shown."""
    cmds = _commands((ROOT / 'README.md').read_text())
    for name in GUIDE_NBS: cmds += [c for md in _markdown(name) for c in _commands(md)]
    return list(dict.fromkeys(cmds))


def notebook_commands():
    "The commands of the paper notebooks' markdown cells (their 'Running it' sections), in order."
    cmds = []
    for name in PAPER_NBS:
        for md in _markdown(name): cmds += [c for c in _commands(md) if c.startswith(('papermill', 'mkdir'))]
    return cmds


def _skipped(cmd):
    "The reason a command is not run here (or is run by another test), or None."
    if cmd in RUN_ELSEWHERE: return RUN_ELSEWHERE[cmd]
    return next((why for start, why in sorted(NOT_RUN.items(), key=lambda kv: -len(kv[0])) if cmd.startswith(start)), None)


def at_smoke(cmd, ctx):
    "The command with the scale swapped and the notebooks' output folders moved out of the checkout."
    for pat, rep in SWAPS: cmd = re.sub(pat, rep.format(**ctx), cmd)
    if cmd.startswith('papermill'):
        nb = re.search(r'nbs/(\w+)\.ipynb', cmd).group(1)
        if nb in PAPER_NBS:
            cmd += ('' if '-p preset' in cmd else ' -p preset smoke') + f" -p fig_dir {ctx['tmp']}/figures"
        elif nb == 'bench':
            cmd += f" -p out_dir {ctx['tmp']}/figures -p seconds 0.3 -p warmup 1"
    return cmd


def _images(folder, n=96):
    "Own images of mixed sizes and modes in two class folders (train/ and test/), as a photo folder has them."
    from PIL import Image
    rng = np.random.default_rng(0)
    sizes, modes = [(32, 32), (40, 40), (50, 30), (28, 36)], ['RGB', 'L', 'RGBA']
    for split, count in (('train', n), ('test', n // 2)):
        for i in range(count):
            d = folder / split / f'class{i % 2}'; d.mkdir(parents=True, exist_ok=True)
            w, h = sizes[i % len(sizes)]
            arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) // (1 + i % 2)
            Image.fromarray(arr).convert(modes[i % len(modes)]).save(d / f'img{i:03d}.png')


def _cifar(root):
    "CIFAR-10 in torchvision's format (small random batches), read once into sidae's cache as a user's first run does."
    import pickle
    from unittest import mock
    from sidae.data import load_split
    rng, folder = np.random.default_rng(0), root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    for name, n in [(f'data_batch_{i}', 60) for i in range(1, 6)] + [('test_batch', 100)]:
        data = {'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8), 'labels': (np.arange(n) % 10).tolist()}
        with open(folder / name, 'wb') as f: pickle.dump(data, f)
    with open(folder / 'batches.meta', 'wb') as f: pickle.dump({'label_names': [f'c{i}' for i in range(10)]}, f)
    with mock.patch('torchvision.datasets.cifar.check_integrity', lambda *a, **k: True):   # the md5 sums of the real files
        for split in ('train', 'test'): load_split('cifar10', split, root=root)


@pytest.fixture(scope='module')
def ctx(tmp_path_factory, smoke_store):
    """A user's machine: a fresh store (the session's `smoke_store`, empty: this module runs first in its session, and
    tests/test_paper_notebooks.py reads it afterwards) and data folder, a working folder outside the checkout, the venv's
    commands on PATH."""
    tmp = tmp_path_factory.mktemp('user')
    assert not any(smoke_store.iterdir()), f"{smoke_store} is not empty: the README walk starts from a new store"
    data, cwd = tmp / 'data', tmp / 'work'
    cwd.mkdir(); _images(data / 'pets'); _cifar(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('SIDAE_', 'PYTEST'))}
    env.update(SIDAE_RUNS=str(smoke_store), SIDAE_DATA=str(data), OMP_NUM_THREADS='1', MPLBACKEND='Agg',
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return dict(tmp=str(tmp), data=str(data), cwd=cwd, env=env)


def _run(cmd, ctx, timeout=900):
    "Run a command line as a shell would, in the user's working folder."
    return subprocess.run(['bash', '-c', cmd], cwd=ctx['cwd'], env=ctx['env'], capture_output=True, text=True, timeout=timeout)


def test_the_lists_are_read():
    """The README, its guides and the notebooks show the commands this test walks through, and NOT_RUN names only commands
    still shown."""
    cmds = readme_commands() + notebook_commands()
    assert sum(c.startswith('sidae ') for c in cmds) >= 6 and sum(c.startswith('papermill') for c in cmds) >= 18, cmds
    assert not [c for c in cmds if '--device' in c or '-p device' in c], "a documented command passes a device"
    stale = [s for s in NOT_RUN if not any(c.startswith(s) for c in cmds)] + [s for s in RUN_ELSEWHERE if s not in cmds]
    assert not stale, f"NOT_RUN or RUN_ELSEWHERE list commands that are no longer shown: {stale}"


def _check(cmd, ctx):
    "Run one documented command at smoke size; it succeeds, or refuses in one line where it needs SLURM."
    typed = at_smoke(cmd, ctx)
    assert '--device' not in typed and '-p device' not in typed
    r = _run(typed, ctx)
    said = f"$ {typed}\n--- exit {r.returncode}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
    if any(k in cmd for k in NEEDS_SLURM):
        assert r.returncode != 0 and 'SLURM' in r.stdout + r.stderr, said
        if cmd.startswith('sidae'): assert len(r.stderr.strip().splitlines()) == 1, said
    else:
        assert r.returncode == 0, said
        assert 'Traceback' not in r.stderr, said


def test_readme_commands(ctx):
    """Every shell command of the README and its guides, as typed (at smoke size), from another folder: the `sidae`
    commands top to bottom (each may need what an earlier one made), the papermill notebooks beside them on the other core
    (they share the store, as a user's notebook and shell do). The real-data figure says CIFAR-10 (small files in its real format), not digits."""
    from concurrent.futures import ThreadPoolExecutor
    cmds = [c for c in readme_commands() if _skipped(c) is None]
    with ThreadPoolExecutor(1) as lane:
        notebooks = lane.submit(lambda: [_check(c, ctx) for c in cmds if c.startswith(('mkdir', 'papermill'))])
        for c in cmds:
            if not c.startswith(('mkdir', 'papermill')): _check(c, ctx)
        notebooks.result()
    figures = Path(ctx['tmp']) / 'figures'
    assert any(figures.glob('fig3-digits-*-smoke-*.png')) and any(figures.glob('bench-*.md'))
    real = pd.read_csv(figures / 'fig3-cifar10-frac0.01-w0.5-smoke-1seed.csv')
    assert set(real.pretrain.dropna()) == {'cifar10'} and set(real.downstream) == {'cifar10'}


def test_notebook_commands(ctx):
    """Every papermill command of the paper notebooks' 'Running it' sections at smoke size, each distinct one once (those that
    another test runs with the same parameters are in RUN_ELSEWHERE), two at a time as two users sharing one store would."""
    from concurrent.futures import ThreadPoolExecutor
    todo, seen = [], set()
    for cmd in notebook_commands():
        typed = at_smoke(re.sub(r'executed/\S+', 'executed/out.ipynb', cmd), ctx)
        if typed not in seen and _skipped(cmd) is None: seen.add(typed); todo.append(cmd)
    _run('mkdir -p executed', ctx)
    with ThreadPoolExecutor(2) as pool: list(pool.map(lambda c: _check(c, ctx), [c for c in todo if not c.startswith('mkdir')]))
    assert len(todo) >= 6, todo
