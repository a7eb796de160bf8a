"""Every `sidae` sub-command as a user types it: the console script, a fresh store ($SIDAE_RUNS), run from another folder,
no `--device`, the smoke preset where it trains (issue 23).

What each test caught on main at 2b69e61 is in its docstring."""
import csv, io, json, os, shlex, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest

SIDAE = str(Path(sys.executable).with_name('sidae'))         # the console script of this environment


def sidae(*args, cwd, env=None, timeout=600):
    "Run `sidae ARGS` as typed, from `cwd`; returns the CompletedProcess (text)."
    e = {**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})}
    return subprocess.run([SIDAE, *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


def one_line(p, rc=2):
    "Assert that the command ended with exit code `rc` and exactly one line on stderr; return it."
    lines = p.stderr.strip().splitlines()
    assert p.returncode == rc and len(lines) == 1, (p.returncode, p.stderr[-3000:])
    return lines[0]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    "A fresh store as $SIDAE_RUNS, and a working folder outside the checkout."
    monkeypatch.setenv('SIDAE_RUNS', str(tmp_path / 'runs'))
    (tmp_path / 'work').mkdir()
    return tmp_path


@pytest.fixture(scope='module')
def stored(tmp_path_factory):
    "A store holding the smoke preset's default run and one linear evaluation of it, made by the commands themselves."
    tmp = tmp_path_factory.mktemp('stored')
    env = {'SIDAE_RUNS': str(tmp / 'runs')}
    p = sidae('pretrain', '--preset', 'smoke', cwd=tmp, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    p = sidae('evaluate', '--preset', 'smoke', cwd=tmp, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp, env, json.loads(p.stdout)


def test_help_imports_no_torch(tmp_path):
    """`sidae --help` and every sub-command's --help parse without importing torch, torchvision or pandas.

    Before, the CLI module imported torch, torchvision and torch._dynamo before parsing: 6-8 s for `sidae --help` here."""
    code = ("import sys\nfrom sidae.cli import main, build_parser\n"
            "subs = [a for a in build_parser()._actions if a.dest == 'command'][0].choices\n"
            "for args in [['--help']] + [[s, '--help'] for s in subs]:\n"
            "    try: main(args)\n    except SystemExit as e: assert e.code == 0, args\n"
            "print([m for m in ('torch', 'torchvision', 'pandas', 'matplotlib') if m in sys.modules])")
    p = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().splitlines()[-1] == '[]', (p.stdout[-500:], p.stderr[-2000:])


def test_a_command_imports_torch_with_the_collector_paused(fresh):
    """`sidae status` imports torch and torchvision with Python's garbage collector paused and their objects frozen
    (sidae.startup): no full collection in the whole command. Before (d0405c4) the same command ran 6 full collections,
    5 of them during its imports: about 1.5 of its 4.2 CPU-seconds here."""
    (fresh / 'runs').mkdir()
    code = ("import gc; from sidae.cli import main; rc = main(['status'])\n"
            "print(rc, gc.get_stats()[2]['collections'], gc.get_freeze_count(), gc.isenabled())")
    p = subprocess.run([sys.executable, '-c', code], cwd=fresh / 'work', capture_output=True, text=True, timeout=300)
    rc, full, frozen, on = p.stdout.split()[-4:]
    assert (rc, full, on) == ('0', '0', 'True') and int(frozen) > 100_000, (p.stdout[-500:], p.stderr[-2000:])


def test_the_parsers_names_are_the_librarys():
    """The names the parser keeps to stay torch-free (methods, data sets, modes, presets, ... and the configs' fields) equal the library's."""
    import dataclasses, importlib
    from sidae.cli import LIBRARY_NAMES, PRETRAIN_HELP, EVAL_HELP
    from sidae.pretrain import PretrainConfig
    from sidae.evaluate import EvalConfig
    for key, names in LIBRARY_NAMES.items():
        mod, name = key.split('.')
        assert tuple(getattr(importlib.import_module(f'sidae.{mod}'), name)) == names, key
    assert list(PRETRAIN_HELP) == [f.name for f in dataclasses.fields(PretrainConfig)]
    assert list(EVAL_HELP) == [f.name for f in dataclasses.fields(EvalConfig)]


def test_pretrain_evaluate_status_results_export_at_their_defaults(stored):
    """pretrain and evaluate at the smoke preset, then status, results (table and CSV) and export with no options at all.

    Before: `sidae pretrain --preset smoke` without --device ended in a TypeError; `status` showed neither presets nor
    accuracies; no command listed the stored results."""
    tmp, env, res = stored
    status = sidae('status', cwd=tmp, env=env)
    assert status.returncode == 0, status.stderr
    run = next(l for l in status.stdout.splitlines() if 'digits-sidae' in l)
    assert 'done' in run and '2/2 epochs' in run and 'preset smoke' in run and f"{res['acc']:.1f}" in run, status.stdout
    table = sidae('results', cwd=tmp, env=env)
    assert table.returncode == 0 and 'digits' in table.stdout and f"{res['acc']:.2f}" in table.stdout, table.stdout
    rows = list(csv.DictReader(io.StringIO(sidae('results', '--csv', cwd=tmp, env=env).stdout)))
    assert [(r['dataset'], r['mode'], r['method'], r['stage'], r['preset']) for r in rows] == [('digits', 'linear', 'sidae', '2', 'smoke')], rows
    assert float(rows[0]['acc']) == pytest.approx(res['acc']) and list(rows[0]) == ['dataset', 'mode', 'frac', 'method', 'w', 'seed', 'stage',
                                                                                    'preset', 'acc', 'knn_acc', 'train_acc']
    run_dir = next((tmp / 'runs' / 'pretrain').iterdir())
    x = sidae('export', str(run_dir), str(tmp / 'out'), cwd=tmp, env=env)
    assert x.returncode == 0 and (tmp / 'out' / 'backbone.pth').exists(), x.stderr[-2000:]


def test_evaluate_refuses_a_run_that_is_not_stored_and_names_the_command_that_makes_it(stored):
    """`sidae evaluate --preset smoke --pretrain-epochs 3 --seed 5` refuses in one line that names the run and the `sidae pretrain`
    command, computing nothing; that command, typed, makes the run; evaluate then works, as does `evaluate RUN_DIR` and
    `--pretrain-missing`.

    Before: evaluate pre-trained the missing run on its way without a word (finding 2: `--epochs` is the classifier's)."""
    tmp, env, _ = stored
    before = sorted((tmp / 'runs' / 'pretrain').iterdir())
    line = one_line(sidae('evaluate', '--preset', 'smoke', '--pretrain-epochs', '3', '--seed', '5', cwd=tmp, env=env))
    cmd = line.split('`')[1]
    assert cmd == 'sidae pretrain --preset smoke --dataset digits --method sidae --w 0.5 --seed 5 --epochs 3', line
    assert 'digits-sidae-w0.5-s5-' in line and '--pretrain-missing' in line and '--pretrain-epochs' in line, line
    assert sorted((tmp / 'runs' / 'pretrain').iterdir()) == before and not list((tmp / 'runs' / 'evaluate').glob('*-s5-*'))
    made = sidae(*shlex.split(cmd)[1:], cwd=tmp, env=env)
    assert made.returncode == 0, made.stderr[-2000:]
    run_dir = json.loads(made.stdout)['run_dir']
    again = sidae('evaluate', '--preset', 'smoke', '--pretrain-epochs', '3', '--seed', '5', '--stage', '2', cwd=tmp, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    by_dir = sidae('evaluate', run_dir, '--stage', '2', '--seed', '5', cwd=tmp, env=env)    # the stored run by its folder, its preset found
    assert by_dir.returncode == 0 and json.loads(by_dir.stdout)['acc'] == json.loads(again.stdout)['acc'], by_dir.stderr[-2000:]
    asked = sidae('evaluate', '--preset', 'smoke', '--seed', '6', '--pretrain-missing', cwd=tmp, env=env)
    assert asked.returncode == 0 and 'digits-sidae-w0.5-s6-' in asked.stderr and 'computing it first' in asked.stderr, asked.stderr[-2000:]


@pytest.mark.parametrize('sig, rc, name', [(signal.SIGTERM, 143, 'SIGTERM'), (signal.SIGINT, 130, 'SIGINT')])
def test_a_signal_ends_pretrain_in_one_line_and_the_run_is_interrupted(fresh, sig, rc, name):
    """SIGTERM (what `kill` and SLURM send) and Ctrl-C's SIGINT end `sidae pretrain` with one line, exit 143 / 130, and the run's
    status.json says 'interrupted'.

    Before: SIGTERM killed it at once with status.json left 'running'; Ctrl-C printed an 85-line traceback, exit 1."""
    e = {**os.environ, 'OMP_NUM_THREADS': '1'}
    p = subprocess.Popen([SIDAE, 'pretrain', '--preset', 'smoke', '--epochs', '200', '--no-progress'], cwd=fresh / 'work', env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not list((fresh / 'runs').glob('pretrain/*/status.json')) or 'running' not in list((fresh / 'runs').glob('pretrain/*/status.json'))[0].read_text():
        assert time.time() - t0 < 120 and p.poll() is None, p.communicate()
        time.sleep(0.2)
    time.sleep(1.5)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert p.returncode == rc and len(lines) == 1 and name in lines[0] and 'resumes' in lines[0], (p.returncode, err[-3000:])
    st = json.loads(next((fresh / 'runs').glob('pretrain/*/status.json')).read_text())
    assert st['state'] == 'interrupted', st


def test_status_of_a_store_that_is_not_a_folder(fresh):
    """`sidae status --store FILE` and `--store /missing/folder`: one line, exit 2. Before: `store ...:` and exit 0."""
    (fresh / 'file').write_text('x')
    assert 'is not a folder' in one_line(sidae('status', '--store', str(fresh / 'file'), cwd=fresh / 'work'))
    assert 'does not exist' in one_line(sidae('status', '--store', str(fresh / 'missing' / 'folder'), cwd=fresh / 'work'))


def test_a_seed_too_large_is_one_line_and_leaves_no_run(fresh):
    """`--seed 99999999999999999999999`: one line naming the seed, no run folder. Before: "Overflow when unpacking long long"
    (no parameter named) and a `failed` run folder left behind."""
    said = one_line(sidae('pretrain', '--preset', 'smoke', '--seed', '99999999999999999999999', cwd=fresh / 'work'))
    assert 'seed=99999999999999999999999 is too large for a seed' in said, said
    assert not (fresh / 'runs' / 'pretrain').exists() or not any((fresh / 'runs' / 'pretrain').iterdir())


def test_compare_says_what_it_computes_and_prints_its_table_once(fresh):
    """`sidae compare --preset smoke`: one line saying how many runs it computes, then the table, and no JSON (only with --json).

    Before: no word of what it computed, and ~40 lines of the table's rows as JSON after it."""
    p = sidae('compare', '--preset', 'smoke', '--no-progress', cwd=fresh / 'work')
    assert p.returncode == 0, p.stderr[-2000:]
    assert '3 pre-training runs and 10 evaluations are not in the store' in p.stderr, p.stderr[-2000:]
    assert '{' not in p.stdout and 'supervised (no pre-training)' in p.stdout, p.stdout
    again = sidae('compare', '--preset', 'smoke', '--no-progress', '--json', cwd=fresh / 'work')
    assert 'not in the store' not in again.stderr and json.loads(again.stdout[again.stdout.index('['):])[0]['method'] == 'sidae'


def test_plan_defaults_to_the_notebooks_preset_and_says_1_seed(fresh):
    """`sidae plan --figures fig3` on this CPU machine plans the cpu preset, as the notebooks do; at smoke it says '1 seed'.

    Before: it planned 'paper' on a CPU, and said '1 seeds'."""
    p = sidae('plan', '--figures', 'fig3', cwd=fresh / 'work')
    assert p.returncode == 0 and "at preset 'cpu' (3 seeds," in p.stdout, p.stdout[:500] + p.stderr[-2000:]
    p = sidae('plan', '--figures', 'fig3', '--preset', 'smoke', cwd=fresh / 'work')
    assert p.returncode == 0 and '(1 seed,' in p.stdout, p.stdout[:500]


def test_pretrain_knn_every_logs_knn_and_is_not_part_of_the_run(fresh):
    """`--knn-every 1` logs the kNN accuracy per epoch (log.csv); without it the same run is found, not computed again.

    Before: no such option; no run logged the kNN accuracy per epoch that the README promised."""
    p = sidae('pretrain', '--preset', 'smoke', '--knn-every', '1', '--no-progress', cwd=fresh / 'work')
    assert p.returncode == 0, p.stderr[-2000:]
    run = Path(json.loads(p.stdout)['run_dir'])
    rows = list(csv.DictReader(open(run / 'log.csv')))
    assert len(rows) == 2 and all(r['knn_acc'] for r in rows), rows
    again = sidae('pretrain', '--preset', 'smoke', '--no-progress', cwd=fresh / 'work')
    assert json.loads(again.stdout)['run_dir'] == str(run) and json.loads((run / 'status.json').read_text()).get('previous') is None


def test_sbatch_scripts_hold_on_the_cluster(fresh):
    """`sidae plan --sbatch DIR`: no path of this machine's Python in the scripts (SIDAE_PYTHON, default python3), tasks.json found
    from the submit folder, --cpus-per-task equal to the task's threads, the --signal comment says it fires before the time
    limit, and a warning line for a store under /tmp.

    Before: the venv's python and DIR's absolute paths were baked in, every task ran one thread on 8 cores, the comment said
    "on pre-emption", and nothing warned of a store under /tmp."""
    out = fresh / 'sb'
    p = sidae('plan', '--preset', 'smoke', '--figures', 'fig3', '--sbatch', str(out), '--cpus', '4', cwd=fresh / 'work')
    assert p.returncode == 0, p.stderr[-2000:]
    assert any('warning' in l and '/tmp' in l and 'shared' in l for l in p.stderr.splitlines()), p.stderr
    text = (out / 'pretrain.sbatch').read_text() + (out / 'evaluate.sbatch').read_text() + (out / 'submit.sh').read_text()
    assert sys.executable not in text and str(out) not in text and '${SIDAE_PYTHON:-python3}' in text, text
    assert 'SLURM_SUBMIT_DIR' in text and 'task tasks.json pretrain' in text and '--cpus-per-task=4' in text, text
    assert '120 s before the time limit' in text and 'on pre-emption' not in text, text
    assert json.loads((out / 'tasks.json').read_text())['opts']['threads'] == 4


def test_plan_sbatch_and_run_refuse_a_missing_data_set_before_anything(fresh):
    """At the paper preset with an empty data folder, `plan --sbatch` and `run` refuse in one line naming the data set, and
    nothing is written or computed. Before: 70 jobs were written that would each fail at their start."""
    empty = fresh / 'data'; empty.mkdir()
    line = one_line(sidae('plan', '--preset', 'paper', '--figures', 'fig3', '--sbatch', str(fresh / 'sb'), '--data-root', str(empty),
                          cwd=fresh / 'work'))
    assert 'cifar10' in line and str(empty) in line and not (fresh / 'sb').exists(), line
    line = one_line(sidae('run', '--preset', 'paper', '--figures', 'fig3', '--data-root', str(empty), cwd=fresh / 'work'))
    assert 'cifar10' in line and not (fresh / 'runs' / 'pretrain').exists(), line


@pytest.mark.skipif(shutil.which('sbatch') is not None, reason='this machine has SLURM')
def test_run_with_slurm_on_a_machine_without_it(fresh):
    """`sidae run --executor slurm` where there is no sbatch: one line, exit 2. Before: a traceback ending in `Could not detect "srun"`."""
    line = one_line(sidae('run', '--preset', 'smoke', '--figures', 'fig3', '--executor', 'slurm', cwd=fresh / 'work'))
    assert 'sbatch' in line, line


def test_figure_paths_are_printed_absolute(tmp_path):
    """The paper notebooks print `shown(path)` of the files they write: absolute, read the same from any folder.

    Before: `figures/fig3-...png`, relative to the checkout, which read as ./figures from another folder."""
    code = "from sidae.naming import shown, figures_dir\nprint(shown(figures_dir() / 'fig3.png'))"
    p = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    printed = p.stdout.strip()
    assert p.returncode == 0 and Path(printed.replace('~', str(Path.home()), 1)).is_absolute(), (printed, p.stderr[-2000:])
