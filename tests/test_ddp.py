"""Two processes (torch.distributed, gloo, CPU) compute the same pre-training as one process with the same global batch.

Each of the 2 processes takes half of every global batch of 64; BatchNorm uses the statistics of the global batch
(`sidae.distributed.AllReduceBatchNorm`: nn.SyncBatchNorm refuses CPU tensors in torch 2.14) and DDP averages the gradients.

Checked, for the tiny config `CFG` (2 epochs of 4 steps):
- both processes end with identical weights, buffers and logs (bit for bit: DDP all-reduces the gradients and the BN
  statistics are all-reduced, so every process applies the same update);
- rank 0 alone writes files, and a two-process run stopped after epoch 1 and started again (both processes read rank
  0's state) ends bit for bit where the uninterrupted two-process run ends;
- the two-process run equals a one-process run with batch 64: weights and buffers within ATOL = 1e-4.

Why this last comparison is made with the network in float64: this tiny training is chaotic in float32. Scaling the
input of a one-process run by (1 + 1e-6) changes its loss at step 4 by ~3e-3 and its weights after 8 steps by ~1 (BatchNorm
of channels with a near-zero batch variance amplifies rounding), so no run that sums in another order (as two processes
do) can agree with it to 1e-4 in float32 after 8 steps; at the first steps they agree to ~1e-7. In float64 rounding is
~1e-16 and the same amplification leaves the runs within ~1e-9: agreement to 1e-4 then tests the algorithm (sharding,
the views, global-batch BatchNorm, gradient averaging), not the rounding. The views are made in float32 exactly as in a
normal run (identical in both runs) and cast to float64.
"""
import os, socket, tempfile
from pathlib import Path
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

CFG = dict(dataset='digits', width=4, d_hid=32, pred_hid=8, limit=256, batch_size=64, epochs=2, method='sidae')
ATOL = 1e-4
FILES = ['log.csv', 'recon.png', 'stage-0000.pt', 'stage-0002.pt', 'state.prev.pt', 'state.pt', 'tb']   # stage 0: the initial weights; tb: rank 0's TensorBoard


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _float64(P):
    "Patch sidae.pretrain so that the network and the batches are float64 (the views are still made in float32)."
    build, fast = P.build_model, P.fast_batches
    P.build_model = lambda *a, **k: build(*a, **k).double()
    P.fast_batches = lambda *a, **k: (tuple(t.double() for t in b) for b in fast(*a, **k))
    return lambda: (setattr(P, 'build_model', build), setattr(P, 'fast_batches', fast))


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        import sidae.pretrain as P, sidae.checkpoint as C, sidae.records as R
        if rank != 0:       # only rank 0 may write: any file written by another rank fails the run
            def _no_write(*a, **k): raise AssertionError(f"rank {rank} tried to write a file")
            C.atomic_write = R.atomic_write = _no_write      # records (recon.png) imports atomic_write itself
        cfg = P.PretrainConfig(**CFG)
        full = P.pretrain(cfg, Path(out) / 'full', device='cpu', progress=False)
        P.pretrain(cfg, Path(out) / 'resumed', device='cpu', progress=False, stop_after=1)
        resumed = P.pretrain(cfg, Path(out) / 'resumed', device='cpu', progress=False)
        undo = _float64(P)
        f64 = P.pretrain(cfg, Path(out) / 'f64', device='cpu', progress=False); undo()
        torch.save(dict(full=full['model'].state_dict(), resumed=resumed['model'].state_dict(), f64=f64['model'].state_dict(),
                        rows=full['rows'], resumed_rows=resumed['rows'], f64_rows=f64['rows']), Path(out) / f'rank{rank}.pt')
    finally:
        dist.destroy_process_group()


def _no_seconds(rows): return [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]


def test_two_processes_equal_one():
    import sidae.pretrain as P
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
        r0, r1 = (torch.load(Path(out) / f'rank{r}.pt', weights_only=False) for r in (0, 1))

        # both processes agree bit for bit, and a stopped and resumed two-process run ends where the full one ends
        for k in r0['full']:
            assert torch.equal(r0['full'][k], r1['full'][k]), f"ranks differ in {k}"
            assert torch.equal(r0['full'][k], r0['resumed'][k]), f"resumed two-process run differs in {k}"
            assert torch.equal(r0['f64'][k], r1['f64'][k]), f"ranks differ in {k} (float64)"
        assert _no_seconds(r0['rows']) == _no_seconds(r1['rows']) == _no_seconds(r0['resumed_rows'])
        for d in ('full', 'resumed', 'f64'): assert sorted(os.listdir(Path(out) / d)) == FILES, d

        # one process with the same global batch (float64, see the module docstring)
        torch.set_num_threads(1)
        undo = _float64(P)
        try: single = P.pretrain(P.PretrainConfig(**CFG), Path(out) / 'single', device='cpu', progress=False)
        finally: undo()
        sd = single['model'].state_dict()
        assert list(r0['f64']) == list(sd)                       # same keys: the BN layers were swapped in place
        worst = 0.0
        for k, v in sd.items():
            if v.is_floating_point():
                torch.testing.assert_close(r0['f64'][k], v, atol=ATOL, rtol=0, msg=lambda m: f"{k}: {m}")
                worst = max(worst, (r0['f64'][k] - v).abs().max().item())
            else: assert torch.equal(r0['f64'][k], v), k         # num_batches_tracked
        for a, b in zip(r0['f64_rows'], single['rows']):         # the logged loss is that of the global batch
            for k in ('loss', 'L_si', 'L_dae'): assert abs(a[k] - b[k]) < ATOL, (k, a[k], b[k])
        print(f"largest |two processes - one process| over weights and buffers (float64): {worst:.2e}")


def _store_worker(rank, world, port, root, out):
    "Rank `rank` of two asks a RunStore for the run of CFG (as `sidae pretrain` under torchrun does); writes what it computed."
    from datetime import timedelta
    from sidae.runs import RunStore
    import sidae.pretrain as P
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world, timeout=timedelta(seconds=30))   # a hang fails within 30 s
    try:
        store = RunStore(root, device='cpu', progress=False)
        Path(out, f'asking{rank}').touch()
        r = store.pretrain(P.PretrainConfig(**CFG))
        Path(out, f'rank{rank}.txt').write_text(f"{len(store.computed)} {len(r['log'])}")
    finally:
        dist.destroy_process_group()


def test_ranks_agree_when_another_process_finishes_the_run(tmp_path):
    """Rank 0 waits for the run's lock, held by another process that finishes the run meanwhile: every rank returns the stored run.

    Before rank 0 decided for all (`RunStore._claim`, `from_rank0`), rank 1 saw the run unfinished, started the pre-training
    and waited in DDP's set-up for a rank 0 that had returned: a hang until the collective's timeout."""
    from filelock import FileLock
    import shutil, time
    from sidae.runs import RunStore
    import sidae.pretrain as P
    cfg = P.PretrainConfig(**CFG)
    torch.set_num_threads(1)
    done = RunStore(tmp_path / 'elsewhere', device='cpu', progress=False).pretrain(cfg)['run_dir']   # the other process's result
    store = RunStore(tmp_path / 'store', device='cpu', progress=False)
    d = store.pretrain_dir(cfg)
    d.mkdir(parents=True)
    lock = FileLock(str(d / '.lock'))
    lock.acquire()
    ctx = mp.spawn(_store_worker, args=(2, _free_port(), str(tmp_path / 'store'), str(tmp_path)), nprocs=2, join=False)
    t0 = time.time()
    while not all(Path(tmp_path, f'asking{r}').exists() for r in (0, 1)): assert time.time() - t0 < 60; time.sleep(0.1)
    time.sleep(3)                                               # both ranks have asked: rank 0 waits for the lock
    for f in done.iterdir():                                    # the files and the folders (tb/) of the finished run
        if f.name != '.lock': (shutil.copytree if f.is_dir() else shutil.copy2)(f, d / f.name)
    lock.release()
    t0 = time.time()
    while not ctx.join(timeout=5): assert time.time() - t0 < 120, "the ranks did not end"
    assert [Path(tmp_path, f'rank{r}.txt').read_text() for r in (0, 1)] == ['0 2', '0 2']   # nobody computed; both read 2 epochs


CFG_COMPILE = dict(CFG, epochs=1)


def _compile_worker(rank, world, port, out):
    "Rank `rank` pre-trains CFG_COMPILE (float64) with torch.compile as `sidae.pretrain` compiles it (backend aot_eager here)."
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        import sidae.pretrain as P
        orig, seen = torch.compile, []
        def compile(model, **kw):
            seen.append(type(model).__name__); return orig(model, **{'backend': 'aot_eager', **kw})
        torch.compile = compile
        undo = _float64(P)
        r = P.pretrain(P.PretrainConfig(**CFG_COMPILE), Path(out) / 'ddp', device='cpu', progress=False, compile=True, tensorboard=False)
        undo()
        torch.save(dict(sd=r['model'].state_dict(), rows=r['rows'], seen=seen, path=r['path']), Path(out) / f'compiled{rank}.pt')
    finally:
        dist.destroy_process_group()


def test_ddp_compile_syncbatchnorm_equals_one_process():
    """DDP, torch.compile and global-batch BatchNorm together (`sidae.pretrain._network`, the path of `torchrun ... sidae pretrain`
    on CUDA, where compile is the default): two processes of 4 steps equal one process with the same global batch (float64)."""
    import sidae.pretrain as P
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_compile_worker, args=(2, _free_port(), out), nprocs=2, join=True)
        r0, r1 = (torch.load(Path(out) / f'compiled{r}.pt', weights_only=False) for r in (0, 1))
        assert r0['seen'] == ['DistributedDataParallel'] and r0['path']['compile'], (r0['seen'], r0['path'])
        torch.set_num_threads(1)
        undo = _float64(P)
        try: single = P.pretrain(P.PretrainConfig(**CFG_COMPILE), Path(out) / 'single', device='cpu', progress=False, tensorboard=False)
        finally: undo()
        for k, v in single['model'].state_dict().items():
            assert torch.equal(r0['sd'][k], r1['sd'][k]), f"ranks differ in {k}"
            if v.is_floating_point(): torch.testing.assert_close(r0['sd'][k], v, atol=ATOL, rtol=0, msg=lambda m: f"{k}: {m}")
            else: assert torch.equal(r0['sd'][k], v), k          # num_batches_tracked
        for a, b in zip(r0['rows'], single['rows']):
            for k in ('loss', 'L_si', 'L_dae'): assert abs(a[k] - b[k]) < ATOL, (k, a[k], b[k])
