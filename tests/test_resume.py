"""A killed run, started again, ends bit for bit where an uninterrupted run ends; so does one whose checkpoint is damaged.

Kill and resume (pre-training; downstream fine-tuning and the supervised baseline): a child process (multiprocessing 'spawn', `sys.executable`)
trains with a hook on every optimiser step that sends the process SIGKILL in the middle of an epoch, after at least one
state was saved; a fresh child runs the same configuration into the same folder to the end. Its weights and buffers
(`state_dict`, `torch.equal`), its log (every column but `seconds`) and, downstream, its accuracies must equal those of an
uninterrupted child, and it must have resumed (trained fewer steps) rather than started again.

Damaged checkpoints: `state.pt` cut short, overwritten with zeros inside (complete on the outside: only the zip CRCs see
it) or replaced by a torch file of something else -> a warning naming the file, the run falls back to `state.prev.pt`
and still ends equal; garbage in both states -> two warnings, the run starts from scratch and still ends equal.

Every training runs with one CPU thread (in the children and, for the damaged-checkpoint tests, in this process), so all
runs do the same arithmetic in the same order. The three uninterrupted runs share one child process (each is seeded on its
own, so they do not depend on each other).
"""
import multiprocessing as mp, os, signal, warnings
from pathlib import Path
import pytest, torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

PCFG = dict(dataset='digits', method='sidae', width=4, d_hid=32, pred_hid=8, batch_size=64, limit=256, epochs=4, stages=(2, 4))
P_STEPS = 256 // 64                     # optimiser steps per pre-training epoch
P_KILL = 2 * P_STEPS + 3                # step 3 of epoch 3: states of epochs 1 and 2 are saved
ECFG = dict(dataset='digits', mode='finetune', frac=0.1, epochs=3, batch_size=32, width=4, augment=True)
E_STEPS = 4                             # 135 labelled images in batches of 32: 32, 32, 32 and 39 (merge_last: the 7 join the last)
E_KILL = E_STEPS + 3                    # step 3 of epoch 2: the state of epoch 1 is saved


def _child(jobs):
    """Run the trainings `jobs` [(kind, run, out, kill_at, stage, mode)] in this (child) process, one after the other; each
    SIGKILLs the process at its optimiser step `kill_at` (None: never) or saves weights, log rows and steps to `out`."""
    torch.set_num_threads(1)
    from sidae.pretrain import PretrainConfig, pretrain
    from sidae.evaluate import EvalConfig, evaluate
    steps, kill = [0], [None]
    def hook(opt, args, kwargs):
        steps[0] += 1
        if steps[0] == kill[0]: os.kill(os.getpid(), signal.SIGKILL)
    register_optimizer_step_pre_hook(hook)
    for kind, run, out, kill_at, stage, mode in jobs:
        steps[0], kill[0] = 0, kill_at
        if kind == 'pretrain':
            r = pretrain(PretrainConfig(**PCFG), run, progress=False)
            torch.save(dict(weights=r['model'].state_dict(), rows=r['rows'], steps=steps[0], resumed_from=r['resumed_from']), out)
        else:
            r = evaluate(EvalConfig(**{**ECFG, 'mode': mode}), stage, state_path=Path(run) / 'state.pt')
            torch.save(dict(weights=r['model'].state_dict(), acc=r['acc'], train_acc=r['train_acc'], steps=steps[0]), out)


def _spawn(kind, run, out, kill_at=None, stage=None, mode='finetune', killed=False, more=()):
    "Run `_child` on this training (then on the trainings `more`) in a fresh process; check that it ended as expected."
    p = mp.get_context('spawn').Process(target=_child, args=([(kind, run, out, kill_at, stage, mode), *more],))
    p.start(); p.join(300)
    assert p.exitcode == (-signal.SIGKILL if killed else 0), f"child {kind} ended with {p.exitcode}"


def _no_seconds(rows): return [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]


def _log(run):
    "log.csv of a run folder as lines, without its seconds column."
    lines = [l.split(',') for l in (Path(run) / 'log.csv').read_text().splitlines()]
    i = lines[0].index('seconds')
    return [l[:i] + l[i + 1:] for l in lines]


def _assert_same_weights(a, b):
    assert list(a) == list(b)
    for k in a: assert torch.equal(a[k], b[k]), f"{k} differs"


@pytest.fixture(scope='module')
def ref(tmp_path_factory):
    "The uninterrupted pre-training, fine-tuning (of its stage 2) and supervised training, in one child process."
    d = tmp_path_factory.mktemp('ref')
    stage = d / 'pre' / 'stage-0002.pt'
    _spawn('pretrain', d / 'pre', d / 'pre.pt', more=[('evaluate', d / 'finetune', d / 'finetune.pt', None, stage, 'finetune'),
                                                      ('evaluate', d / 'supervised', d / 'supervised.pt', None, None, 'supervised')])
    return dict(dir=d, stage=stage, **{k: torch.load(d / f'{k}.pt', weights_only=False) for k in ('pre', 'finetune', 'supervised')})


def test_pretrain_killed_mid_epoch_resumes_bit_for_bit(ref, tmp_path):
    run = tmp_path / 'run'
    _spawn('pretrain', run, tmp_path / 'killed.pt', P_KILL, killed=True)
    assert not (tmp_path / 'killed.pt').exists()
    state = torch.load(run / 'state.pt', weights_only=True)
    assert state['epoch'] == 2 and len(_log(run)) == 1 + 2               # killed in epoch 3, after the state of epoch 2
    _spawn('pretrain', run, tmp_path / 'resumed.pt')
    res = torch.load(tmp_path / 'resumed.pt', weights_only=False)
    assert res['resumed_from'] == 2 and res['steps'] == 2 * P_STEPS     # it resumed; it did not start again
    _assert_same_weights(ref['pre']['weights'], res['weights'])
    assert _no_seconds(res['rows']) == _no_seconds(ref['pre']['rows'])
    assert _log(run) == _log(ref['dir'] / 'pre')
    for f in ('stage-0002.pt', 'stage-0004.pt'):
        a, b = (torch.load(d / f, weights_only=True) for d in (run, ref['dir'] / 'pre'))
        _assert_same_weights(a['backbone'], b['backbone'])


@pytest.mark.parametrize('mode', ['finetune', 'supervised'])
def test_downstream_killed_mid_training_resumes_bit_for_bit(ref, tmp_path, mode):
    stage, run = (ref['stage'] if mode == 'finetune' else None), tmp_path / 'eval'
    _spawn('evaluate', run, tmp_path / 'killed.pt', E_KILL, stage, mode, killed=True)
    assert torch.load(run / 'state.pt', weights_only=True)['epoch'] == 1
    _spawn('evaluate', run, tmp_path / 'resumed.pt', None, stage, mode)
    res = torch.load(tmp_path / 'resumed.pt', weights_only=False)
    assert res['steps'] == 2 * E_STEPS                                   # epochs 2 and 3 only
    _assert_same_weights(ref[mode]['weights'], res['weights'])
    assert (res['acc'], res['train_acc']) == (ref[mode]['acc'], ref[mode]['train_acc'])


# --- damaged checkpoints (trained in this process, with one thread like the children) ---

@pytest.fixture
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cut_short(p): p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2])
def _zeros_inside(p): b = p.read_bytes(); p.write_bytes(b[:2000] + bytes(len(b) - 4000) + b[-2000:])
def _foreign(p): torch.save(dict(epoch=3, note='not a state'), p)
def _garbage(p): p.write_bytes(os.urandom(4096))


def _pretrain_counting(run, **kw):
    "pretrain PCFG into `run` in this process; returns (result, number of optimiser steps, warnings)."
    from sidae.pretrain import PretrainConfig, pretrain
    steps = [0]
    h = register_optimizer_step_pre_hook(lambda *a: steps.__setitem__(0, steps[0] + 1))
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            r = pretrain(PretrainConfig(**PCFG), run, progress=False, **kw)
    finally: h.remove()
    return r, steps[0], [str(m.message) for m in w]


@pytest.mark.parametrize('damage', [_cut_short, _zeros_inside, _foreign])
def test_damaged_state_falls_back_to_the_previous_one(ref, tmp_path, one_thread, damage):
    run = tmp_path / 'run'
    _pretrain_counting(run, stop_after=3)                                # state.pt: epoch 3, state.prev.pt: epoch 2
    damage(run / 'state.pt')
    r, steps, msgs = _pretrain_counting(run)
    assert any(f"resumable state {run / 'state.pt'} is damaged" in m and 'falling back to state.prev.pt' in m for m in msgs), msgs
    assert r['resumed_from'] == 2 and steps == 2 * P_STEPS
    _assert_same_weights(ref['pre']['weights'], r['model'].state_dict())
    assert _no_seconds(r['rows']) == _no_seconds(ref['pre']['rows']) and _log(run) == _log(ref['dir'] / 'pre')
    assert (run / 'state.pt.corrupt').exists()                           # kept aside for a look, never loaded


def test_both_states_garbage_restarts_from_scratch(ref, tmp_path, one_thread):
    run = tmp_path / 'run'
    _pretrain_counting(run, stop_after=3)
    for f in ('state.pt', 'state.prev.pt'): _garbage(run / f)
    r, steps, msgs = _pretrain_counting(run)
    assert sum('is damaged' in m for m in msgs) == 2 and any('starting from scratch' in m for m in msgs), msgs
    assert r['resumed_from'] == 0 and steps == PCFG['epochs'] * P_STEPS
    _assert_same_weights(ref['pre']['weights'], r['model'].state_dict())
    assert _no_seconds(r['rows']) == _no_seconds(ref['pre']['rows']) and _log(run) == _log(ref['dir'] / 'pre')


@pytest.mark.parametrize('both', [False, True])
def test_damaged_downstream_state(ref, tmp_path, one_thread, both):
    from sidae.evaluate import EvalConfig, evaluate
    state = tmp_path / 'state.pt'
    evaluate(EvalConfig(**ECFG), ref['stage'], state_path=state)   # state.pt: epoch 3, state.prev.pt: epoch 2
    _cut_short(state)
    if both: _garbage(tmp_path / 'state.prev.pt')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        r = evaluate(EvalConfig(**ECFG), ref['stage'], state_path=state)
    msgs = [str(m.message) for m in w]
    assert any(f"{state} is damaged" in m for m in msgs) and any(('starting from scratch' if both else 'falling back') in m for m in msgs), msgs
    _assert_same_weights(ref['finetune']['weights'], r['model'].state_dict())
    assert (r['acc'], r['train_acc']) == (ref['finetune']['acc'], ref['finetune']['train_acc'])
