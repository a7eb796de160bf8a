"""The run store when several processes ask for the same runs, when one of them is killed, and when a run fails.

- Three processes (multiprocessing 'spawn') ask one fresh store, at the same moment (a barrier), for the same smoke-sized
  pre-training and for the same fine-tuning evaluation of it (every optimiser step is slowed to >= 0.2 s, so that all of
  them ask while the first computes; the test checks that they did). Exactly one process computes each run (the others
  wait for the run's file lock and read what it stored); every file is intact (torch files load with their CRCs checked, JSON
  parses, no temporary file is left); both runs are 'done'; all three processes get the same log and the same result.
- The same with the soft lock for shared file systems (`SIDAE_LOCK=soft`: `filelock.SoftFileLease`, which NFS without working
  locks needs): one process computes each run, the others wait. Before the lock choice the store always took `FileLock`
  (flock), which does not exclude other hosts on NFS mounted with `nolock` or `local_lock`.
- The same, but the first process to compute the pre-training sends itself SIGKILL in its middle (second epoch): the
  kernel drops its lock, a waiting process takes the run over and resumes it from the state of epoch 1; the run is
  computed to its end exactly once and its status records the interrupted attempt.
- A failed run leaves a readable record (error and traceback) and does not count as finished; a non-finite loss fails the
  run with a message naming the epoch, the step, the losses and the learning rate; a representation collapse is a warning
  in status.json and a column of log.csv.
"""
import json, multiprocessing as mp, os, signal, time, warnings, zipfile
from pathlib import Path
import pytest, torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
from sidae.runs import RunStore, preset_pretrain, preset_eval

N = 3


def _configs():
    return preset_pretrain('smoke'), preset_eval('smoke', frac=0.01, mode='finetune')


def _worker(root, barrier, out, kill_marker=None, kill_at=6):
    "Ask the store for the smoke pre-training and its evaluation; write what this process computed and got to `out`."
    torch.set_num_threads(1)
    steps = [0]
    def hook(opt, args, kwargs):       # every optimiser step takes >= 0.2 s, so that the others ask while one computes
        steps[0] += 1; time.sleep(0.2)
        if not kill_marker or steps[0] != kill_at: return
        try: os.close(os.open(kill_marker, os.O_CREAT | os.O_EXCL))   # only the first process to get here dies
        except FileExistsError: return
        os.kill(os.getpid(), signal.SIGKILL)
    register_optimizer_step_pre_hook(hook)
    store = RunStore(root, progress=False)
    pcfg, ecfg = _configs()
    barrier.wait(60)
    asked = time.time(); r = store.pretrain(pcfg); got = time.time()
    e = store.evaluate(ecfg, pcfg)
    Path(out).write_text(json.dumps(dict(computed=[str(p) for p in store.computed], log=r['log'], result=e, asked=asked, got=got)))


def _race(root, kill_marker=None):
    "Start N workers at once; their exit codes and reports."
    ctx = mp.get_context('spawn')
    barrier = ctx.Barrier(N)
    outs = [Path(root) / f'out{i}.json' for i in range(N)]
    ps = [ctx.Process(target=_worker, args=(str(root / 'store'), barrier, str(o), kill_marker)) for o in outs]
    for p in ps: p.start()
    for p in ps: p.join(300)
    return [p.exitcode for p in ps], [json.loads(o.read_text()) for o in outs if o.exists()]


def _check_intact(store, pcfg, ecfg):
    "Every file of both runs reads back; both are done; no temporary or resumable-state file is left downstream."
    pdir, edir = store.pretrain_dir(pcfg), store.eval_dir(ecfg, pcfg, pcfg.epochs)
    for d in (pdir, edir):
        assert store.status(d)['state'] == 'done'
        for f in d.iterdir():
            assert not f.name.endswith('.tmp'), f
            if f.suffix == '.pt':
                assert zipfile.ZipFile(f).testzip() is None, f
                torch.load(f, weights_only=True)
            if f.suffix == '.json': json.loads(f.read_text())
    assert len((pdir / 'log.csv').read_text().splitlines()) == 1 + pcfg.epochs
    lock = ['.lock'] if os.environ.get('SIDAE_LOCK', 'file') == 'file' else []     # a soft lease leaves no file behind
    assert sorted(f.name for f in edir.iterdir()) == lock + ['config.json', 'result.json', 'status.json']
    return pdir, edir


@pytest.mark.parametrize('lock', ['file', 'soft'])
def test_three_processes_one_computation(tmp_path, monkeypatch, lock):
    monkeypatch.setenv('SIDAE_LOCK', lock)                               # the spawned processes inherit it
    codes, reports = _race(tmp_path)
    assert codes == [0] * N
    store, (pcfg, ecfg) = RunStore(tmp_path / 'store'), _configs()
    pdir, edir = _check_intact(store, pcfg, ecfg)
    computed = [c for r in reports for c in r['computed']]
    assert computed.count(str(pdir)) == 1 and computed.count(str(edir)) == 1, computed
    maker = next(r for r in reports if str(pdir) in r['computed'])
    assert max(r['asked'] for r in reports) < maker['got']               # all asked while it computed: they waited
    assert all(r['result'] == reports[0]['result'] and r['log'] == reports[0]['log'] for r in reports)
    assert reports[0]['result'] == json.loads((edir / 'result.json').read_text())


def test_killed_computation_is_taken_over_and_resumed(tmp_path):
    codes, reports = _race(tmp_path, kill_marker=str(tmp_path / 'killed'))
    assert sorted(codes) == sorted([-signal.SIGKILL] + [0] * (N - 1)), codes
    store, (pcfg, ecfg) = RunStore(tmp_path / 'store'), _configs()
    pdir, edir = _check_intact(store, pcfg, ecfg)
    computed = [c for r in reports for c in r['computed']]
    assert computed.count(str(pdir)) == 1 and computed.count(str(edir)) == 1, computed
    st = store.status(pdir)
    assert st['previous']['state'] == 'interrupted' and st['resumed_from'] == 1, st
    assert reports[0]['result'] == reports[1]['result'] and reports[0]['log'] == reports[1]['log']


@pytest.fixture
def one_thread():
    "Train in this process with one thread (two threads on a busy two-core machine are many times slower)."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_failed_run_leaves_a_record_and_is_not_finished(tmp_path):
    store = RunStore(tmp_path, progress=False)
    bad = preset_pretrain('smoke', batch_size=512)               # larger than the 256 images of the smoke preset
    for attempt in range(2):
        with pytest.raises(ValueError, match='batch_size=512 is larger than the pre-training data'): store.pretrain(bad)
        st = json.loads((store.pretrain_dir(bad) / 'status.json').read_text())
        assert st['state'] == 'failed' and 'batch_size=512' in st['error'] and 'Traceback' in st['traceback']
    assert st['previous']['state'] == 'failed' and store.computed == []


def test_non_finite_loss_fails_the_run_with_a_clear_message(tmp_path, one_thread):
    store = RunStore(tmp_path, progress=False)
    pcfg = preset_pretrain('smoke', lr=1e38)
    with pytest.raises(FloatingPointError) as e: store.pretrain(pcfg)
    msg = str(e.value)
    for part in ('non-finite loss at epoch 1, step ', 'loss=', 'L_si=', 'L_dae=', 'lr=1e+38'): assert part in msg, msg
    st = store.status(store.pretrain_dir(pcfg))
    assert st['state'] == 'failed' and 'FloatingPointError: non-finite loss' in st['error']
    assert not (store.pretrain_dir(pcfg) / 'state.pt').exists()   # nothing saved after the bad step


def test_collapse_is_a_warning_in_status_and_log(tmp_path, one_thread):
    store = RunStore(tmp_path, progress=False, collapse_warn=1.0)   # a threshold no run stays above
    pcfg = preset_pretrain('smoke')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); r = store.pretrain(pcfg)
    assert any('representation collapse at epoch 1' in str(m.message) for m in w)
    st = store.status(r['run_dir'])
    assert st['state'] == 'done' and st['collapse'] == [1, 2]
    assert any('representation collapse at epoch 2' in w for w in st['warnings'])
    assert any('representation collapse in epochs [1, 2]' in w for w in st['warnings'])
    assert [row['collapse'] for row in r['log']] == [1.0, 1.0]
    assert 'collapse' in (r['run_dir'] / 'log.csv').read_text().splitlines()[0].split(',')
