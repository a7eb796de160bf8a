"""The paper's grid through submitit, on the CPU: submitit's `local` cluster starts real processes as SLURM would, honours
the time limit (SIGUSR2 `signal_delay_s` before it) and requeues a job whose callable has `checkpoint()`.

- A whole figure (Fig. 3's right panel at the smoke preset) submitted with `executor='slurm'` on the local cluster: every
  run is computed once, by its job (no run has a previous attempt), and the figure's table drawn from the store equals the
  one computed in this process, number for number. Before the SLURM executor nothing could submit a figure: `figure_setup`
  had no executor and the store computed one run after the other here.
- A job forced to time out in the middle of a pre-training run (its time limit is shorter than the run) is requeued by
  submitit (`RunJob.checkpoint`), resumes the run from its state in the store, and ends with the weights of an uninterrupted
  run, bit for bit (the store records the interrupted attempt). Before `RunJob` and the store's 'interrupted' state a
  time-out ended the job and left the run 'failed'.
"""
import json, os, re
from pathlib import Path
import pandas as pd
import pytest, torch
from sidae.executors import SlurmExecutor
from sidae.figures import figure_setup, collect_figure
from sidae.runs import RunStore, preset_eval, preset_pretrain


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_a_figure_through_submitit_local_equals_one_computed_here(tmp_path):
    slurm = dict(cluster='local', time=10, cpus=1, poll=0.5, folder=str(tmp_path / 'jobs'))
    S = figure_setup('smoke', store=str(tmp_path / 'cluster'), progress=False, executor='slurm', slurm=slurm)
    here = figure_setup('smoke', store=str(tmp_path / 'here'), progress=False, executor='none')
    a, b = collect_figure(S, 'fig3', frac=1.0), collect_figure(here, 'fig3', frac=1.0)
    pd.testing.assert_frame_equal(a, b)
    jobs = [json.loads(l) for l in (Path(S.store.root) / 'jobs.jsonl').read_text().splitlines()]
    runs = [r for j in jobs for r in j['runs']]
    assert len(runs) == len(set(runs)) and len([j for j in jobs if j['name'] == 'sidae-pretrain']) == 3, jobs
    for kind in ('pretrain', 'evaluate'):
        for d in (Path(S.store.root) / kind).iterdir():
            st = json.loads((d / 'status.json').read_text())
            assert st['state'] == 'done' and 'previous' not in st, (d.name, st)       # computed once, by its job
            assert d.name in runs, d.name


def test_a_timed_out_job_is_requeued_and_resumes_to_the_same_weights(tmp_path):
    cfg = preset_pretrain('cpu', width=8, d_hid=32, pred_hid=8, epochs=30, batch_size=64, limit=256, stages=(30,))   # about 25 s on one core
    store = RunStore(tmp_path / 'cluster', progress=False)
    ex = SlurmExecutor(cluster='local', time=20 / 60, signal_delay_s=6, max_timeouts=10, poll=0.5, folder=str(tmp_path / 'jobs'))
    jobs = ex.compute(store, [cfg])
    st = store.status(store.pretrain_dir(cfg))
    log = Path(jobs['pretrain'][0].paths.stdout).read_text() + Path(jobs['pretrain'][0].paths.stderr).read_text()
    assert re.search(r'Requeued job \S+ \(\d+ remaining timeouts\)', log), log[-2000:]
    assert st['state'] == 'done' and st['previous']['state'] == 'interrupted' and st['resumed_from'] > 0, st
    alone = RunStore(tmp_path / 'here', progress=False)
    a = torch.load(store.pretrain(cfg)['stages'][30], weights_only=True)
    b = torch.load(alone.pretrain(cfg)['stages'][30], weights_only=True)
    for part in ('backbone', 'projector'):
        for k in a[part]: assert torch.equal(a[part][k], b[part][k]), (part, k)
    print(f"resumed from epoch {st['resumed_from']} of {cfg.epochs}; every weight equal to the uninterrupted run's")


def test_runs_held_by_active_slurm_jobs_are_not_submitted_again(tmp_path, monkeypatch):
    """A run that a recorded SLURM job still holds (pending) is not submitted again; the new call waits for that job instead.

    Before `active_jobs`, every missing run was submitted again when a notebook or `sidae run` was started again before the
    jobs of the first call ended: a second job per run, holding a GPU while it waited for the first one's lock."""
    import sidae.executors as X
    store = RunStore(tmp_path / 'store', progress=False)
    cfgs = [preset_pretrain('smoke', method='ae', seed=s) for s in (0, 1)]
    held = store.pretrain_dir(cfgs[0]).name
    store.root.mkdir(parents=True)
    rec = dict(submitted='2026-12-04T10:00:00', cluster='slurm', name='sidae-pretrain', job_id='4242_0', folder=str(tmp_path / 'old' / '4242_0'),
               stdout='', stderr='', runs=[held])
    (store.root / 'jobs.jsonl').write_text(json.dumps(rec) + '\n')

    class Pending:                                    # the earlier job: it computes its run when it is waited for
        job_id, waited = '4242_0', []
        def done(self): return True
        def result(self):
            Pending.waited.append(self.job_id)
            return X.compute_request(store.root, X.store_options(store), 'pretrain', (cfgs[0].to_dict(),))
    monkeypatch.setattr(X, 'job_state', lambda r: 'PENDING' if r['job_id'] == '4242_0' else 'COMPLETED')
    monkeypatch.setattr(X, '_slurm_job', lambda r: Pending())
    X.SlurmExecutor(cluster='debug', folder=str(tmp_path / 'jobs'), poll=0.1).compute(store, cfgs)
    new = [r for l in (store.root / 'jobs.jsonl').read_text().splitlines()[1:] for r in json.loads(l)['runs']]
    assert new == [store.pretrain_dir(cfgs[1]).name], new            # only the run that no job held was submitted
    assert Pending.waited == ['4242_0'] and all(store.status(store.pretrain_dir(c))['state'] == 'done' for c in cfgs)


def test_a_figure_whose_slurm_jobs_left_runs_missing_is_not_computed_on_the_login_node(tmp_path, monkeypatch):
    """After its SLURM jobs, a run still missing raises; before, the notebook computed it in its own process (a login node's CPU)."""
    S = figure_setup('smoke', store=str(tmp_path / 'store'), progress=False, executor='slurm', slurm=dict(cluster='slurm'))
    monkeypatch.setattr(SlurmExecutor, 'compute', lambda self, *a, **k: dict(pretrain=[], evaluate=[]))   # jobs that ended, computing nothing
    with pytest.raises(RuntimeError, match='still missing after their SLURM jobs ended'): collect_figure(S, 'fig3', frac=1.0)
    assert not (tmp_path / 'store' / 'pretrain').exists()


def test_plan_sbatch_writes_tasks_that_train_on_the_clusters_gpus(tmp_path):
    """`sidae plan --sbatch DIR` alone plans for the cluster's GPUs; with --executor local it is refused in one line.

    Before, --sbatch took the default local executor: on a login node without a GPU its tasks.json said device 'cpu', amp 'none'."""
    import subprocess, sys
    cmd = [sys.executable, '-m', 'sidae.cli', 'plan', '--preset', 'smoke', '--figures', 'fig3', '--store', str(tmp_path / 'store'), '--no-progress']
    p = subprocess.run(cmd + ['--sbatch', str(tmp_path / 'sb')], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    tasks = json.loads((tmp_path / 'sb' / 'tasks.json').read_text())
    assert tasks['opts']['device'] == 'cuda' and tasks['pretrain'], tasks['opts']
    assert all(r[1][0]['amp'] == 'bf16' for r in tasks['pretrain'][0]), tasks['pretrain'][0]
    p = subprocess.run(cmd + ['--executor', 'local', '--sbatch', str(tmp_path / 'sb2')], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and '--sbatch with --executor local' in p.stderr, p.stderr


_SBATCH = '''#!/bin/bash
n=$(( $(cat "$FAKE_SLURM/next" 2>/dev/null || echo 1000) + 1 )); echo $n > "$FAKE_SLURM/next"
cp "${@: -1}" "$FAKE_SLURM/submitted-$n.sh"
echo "Submitted batch job $n"
'''
_SACCT = '''#!/bin/bash
echo "JobID|State|NodeList"
while [ $# -gt 0 ]; do if [ "$1" = -j ]; then for i in 0 1 2 3; do echo "$2_$i|$(cat "$FAKE_SLURM/state")|"; done; shift; fi; shift; done
'''


def test_slurm_submission_files_and_no_second_submission_while_pending(tmp_path, monkeypatch):
    """On `cluster='slurm'` (a fake `sbatch`, `sacct` and `srun` on PATH): the array scripts that submitit writes carry our options (one
    GPU per job, the signal before the time limit, the partition, extra options, the evaluations after the pre-training array);
    started again while sacct says the jobs are pending, nothing is submitted a second time.

    No test built a SLURM submission before: the `slurm` branch of `SlurmExecutor._executor` never ran."""
    fake = tmp_path / 'fake'; fake.mkdir()
    for name, text in (('sbatch', _SBATCH), ('sacct', _SACCT), ('srun', '#!/bin/bash\n')): (fake / name).write_text(text); (fake / name).chmod(0o755)
    (fake / 'state').write_text('PENDING')
    monkeypatch.setenv('PATH', f"{fake}:{os.environ['PATH']}"); monkeypatch.setenv('FAKE_SLURM', str(fake))
    store = RunStore(tmp_path / 'store', progress=False)
    pcs = [preset_pretrain('smoke', method='ae', seed=s) for s in (0, 1)]
    evals = [(preset_eval('smoke', frac=1.0), p, 2) for p in pcs]
    ex = SlurmExecutor(cluster='slurm', partition='gpu', time=90, extra={'qos': 'high'}, wait=False, folder=str(tmp_path / 'jobs'))
    ex.compute(store, pcs, evals)
    pre, ev = (fake / 'submitted-1001.sh').read_text(), (fake / 'submitted-1002.sh').read_text()
    for line in ('--array=0-1%2', '--gpus-per-node=1', '--signal=USR2@120', '--partition=gpu', '--qos=high', '--time=90', '--ntasks-per-node=1'):
        assert f"#SBATCH {line}" in pre, (line, pre)
    assert '#SBATCH --dependency=afterany:1001' in ev and '--array=0-1%2' in ev, ev
    ex.compute(store, pcs, evals)                                      # again, while sacct says pending: nothing new
    assert not (fake / 'submitted-1003.sh').exists()
    assert len((store.root / 'jobs.jsonl').read_text().splitlines()) == 4
