"""The GPU check's plan (`python3 -m sidae.gpucheck`), replayed on the CPU at paper size with GPU-like compile times.

A GPU is lent rarely, for 15 minutes; what its first check brings back must be what a user needs: (a) the default CUDA
path (bf16, channels_last, torch.compile as a `paper` run compiles it, sync-free views) against float32 eager, and its
host syncs; (b) its speed and the per-image DataLoader reference (the headline ratio); (c) a `paper`-preset run killed
and resumed through the run store. Before, the plan began with augmentation and eager checks, compiled twice in its
correctness part (an eval-mode float32 graph no run uses, and "all four"), budgeted every compile at a fixed 100 s, and
could skip any section.
"""
import math
import pytest, torch
from sidae import gpucheck as G
from sidae.gpureport import Report, check_size, report_meta, PARTS

FIRST = [getattr(G, 'A_NAME', 'default path'), 'default path: no host sync in training steps',
         'speed: sidae, default path', 'speed: sidae, reference pipeline',
         'resume after SIGKILL (paper preset, run store, default path)']


@pytest.mark.parametrize('compile_s', [100, 150, 250])
def test_first_sections_always_run_and_the_check_ends_by_its_deadline(compile_s):
    rows, end = G.replay(compile_s)
    assert [r[0] for r in rows[:5]] == FIRST
    assert [r[1] for r in rows[:5]] == ['run'] * 5, rows[:5]
    assert end <= check_size('paper')['deadline'], end
    assert rows[-1][0] == 'fast path: compile'          # the float32 eval-mode graph no run uses: last


def test_the_default_path_comes_first_and_only_it_must_run():
    secs = G.plan(check_size('tiny'), torch.device('cpu'), None, 0.1, None, PARTS, '/tmp', {})
    assert [s[0] for s in secs[:5]] == FIRST
    assert [s[4] for s in secs] == [True] * 5 + [False] * (len(secs) - 5)


def test_the_budget_uses_the_measured_compile():
    "A section that compiles is estimated with the check's first compile as measured, not a fixed guess."
    pre = dict(compile_ok=True, compile_why='', workers=1, shm='')
    state = dict(preflight=pre, fused_ok=True, estimates=G.GPU_ESTIMATES)
    cpu = torch.device('cpu')
    secs = {s[0]: s[3] for s in G.plan(check_size('paper'), cpu, None, 3.0, None, PARTS, '/tmp', state)}
    before = secs['speed: simsiam, default path']()
    state['compile_s'] = 250.0
    assert secs['speed: simsiam, default path']() - before == pytest.approx(250.0 - G.GPU_ESTIMATES['compile'])


def test_reduce_overhead_fails_where_inductor_skipped_cuda_graphs(tmp_path):
    "Inductor says it skipped CUDA graphs only in its counters and logs: the row then fails and the check exits 3."
    from sidae.gpuspeed import _cudagraphs_used
    row = dict(method='sidae', pipeline='fast', setting='+ reduce-overhead', images_s=1.0, cudagraph_skips=2)
    _cudagraphs_used(row, dict(compile='reduce-overhead'), torch.device('cuda'))
    assert row['passed'] is False and 'skipped CUDA graphs' in row['note']
    cpu, S = torch.device('cpu'), check_size('tiny')
    report = Report(tmp_path, 'cpu', report_meta(cpu, 'tiny', S, 0.1, None, ()), log=None)
    sec = report.run('lever: + reduce-overhead', 'speed', lambda: [row])
    assert sec['status'] == 'failed' and report.exit_code() == 3
