"""The fault campaign of issue 23, repeatable: kills, damaged files of each kind and bad inputs, through the `sidae` command.

    python .ci/fault_campaign.py [--kills 12] [--out campaign.json]

Every command is typed as a user types it (no --device), against a fresh store and data folder in a temporary folder. It
counts, for each fault, what a user sees: a finished result equal to an uninterrupted run's (bit for bit: the stage files'
tensors), one line naming the file or the parameter, or something else (a traceback, a wrong result without a word), which
is what it is there to find. Not run by CI (about 10 minutes on 2 cores); its counts go into the closing note of issue 23.
"""
import argparse, json, os, random, re, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path
import torch

SIDAE = [sys.executable, '-m', 'sidae.cli']
BASE = ['pretrain', '--preset', 'smoke', '--epochs', '6', '--no-progress']


def run(args, env, timeout=600):
    "Run `sidae ARGS` to its end; returns the CompletedProcess."
    return subprocess.run(SIDAE + args, env=env, capture_output=True, text=True, timeout=timeout)


def stages(run_dir):
    "The tensors of every stage file of a run, for a bit-for-bit comparison."
    return {p.name: torch.load(p, weights_only=True)['backbone'] for p in sorted(Path(run_dir).glob('stage-*.pt'))}


def same(a, b):
    "True if two runs' stage tensors are equal bit for bit."
    return a.keys() == b.keys() and all(torch.equal(a[k][n], b[k][n]) for k in a for n in a[k])


def one_line(p):
    "True if a failed command said one line (no traceback)."
    return p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1 and 'Traceback' not in p.stderr


def run_dir(out):
    "The run folder a finished `sidae pretrain` printed."
    return Path(json.loads(out[out.index('{'):])['run_dir'])


def kills(env, n, seed=0):
    "Kill `sidae pretrain` with SIGKILL, SIGTERM or SIGINT at random moments, resume it; compare with an uninterrupted run."
    rng, rows = random.Random(seed), []
    for i in range(n):
        args = BASE + ['--seed', str(100 + i % 3)]
        sig = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT][i % 3]
        p = subprocess.Popen(SIDAE + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.5, 9.0))
        p.send_signal(sig)
        out, err = p.communicate()
        rows.append(dict(signal=sig.name, exit=p.returncode, said=err.strip().splitlines()[-1:] if err.strip() else [],
                         one_line=len(err.strip().splitlines()) <= 1 and 'Traceback' not in err, args=args))
        done = run(args, env)
        rows[-1]['resumed_exit'] = done.returncode
        if done.returncode == 0:
            d = run_dir(done.stdout)
            rows[-1]['tmp_left'] = [q.name for q in d.glob('.*.tmp')]
            rows[-1]['status'] = json.loads((d / 'status.json').read_text())['state']
            rows[-1]['run_dir'] = str(d)
    return rows


def damage(path, how):
    "Damage a file: flip 32 bytes in its middle, zero 4 KiB in its middle, cut it in half, or change a digit."
    b = bytearray(Path(path).read_bytes())
    mid = len(b) // 2
    if how == 'flip': b[mid:mid + 32] = bytes(x ^ 0xFF for x in b[mid:mid + 32])
    elif how == 'zero': b[mid:mid + 4096] = bytes(len(b[mid:mid + 4096]))
    elif how == 'cut': b = b[:mid]
    elif how == 'digit': b = bytearray(re.sub(rb'\d', b'7', bytes(b), count=3))
    Path(path).write_bytes(bytes(b))


def damaged_files(env, ref_dir, ref_result):
    "Damage each kind of file a finished run is read from; the next command must say so and give the right result."
    rows, store = [], Path(env['SIDAE_RUNS'])
    args, ev = BASE + ['--seed', '100'], ['evaluate', '--preset', 'smoke', '--pretrain-epochs', '6', '--seed', '100',
                                          '--frac', '0.1', '--no-progress']
    cases = [('stage', ref_dir / 'stage-0003.pt', 'flip', args), ('stage', ref_dir / 'stage-0006.pt', 'zero', args),
             ('stage', ref_dir / 'stage-0006.pt', 'cut', args), ('config.json', ref_dir / 'config.json', 'cut', args),
             ('config.json', ref_dir / 'config.json', 'digit', args), ('log.csv', ref_dir / 'log.csv', 'digit', args),
             ('log.csv', ref_dir / 'log.csv', 'cut', args), ('status.json', ref_dir / 'status.json', 'cut', args),
             ('result.json', 'result', 'digit', ev)]
    for kind, path, how, cmd in cases:
        if path == 'result': path = next(store.glob('evaluate/*/result.json'), None)
        if path is None or not path.exists(): rows.append(dict(kind=kind, how=how, outcome='not found')); continue
        good = path.read_bytes()
        damage(path, how)
        p = run(cmd, env)
        said = [l for l in p.stderr.strip().splitlines() if l]
        if cmd is ev: right = p.returncode == 0 and json.loads(p.stdout[p.stdout.index('{'):])['acc'] == ref_result['acc']
        else: right = p.returncode == 0 and same(stages(run_dir(p.stdout)), stages(ref_dir))
        outcome = ('recomputed or rewritten, said' if right and said else 'right, said nothing' if right
                   else 'refused in one line' if one_line(p) else 'WRONG or traceback')
        rows.append(dict(kind=kind, how=how, exit=p.returncode, said=said[-1:], outcome=outcome))
        if not right: path.write_bytes(good)
    return rows + [data_cache(env, how) for how in ('flip', 'zero')]


def _folder(root, n=96):
    "A folder of own images (two classes, mixed sizes) for the data-cache cases (digits is embedded: it has no cache)."
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(n):
        d = Path(root) / f'class{i % 2}'; d.mkdir(parents=True, exist_ok=True)
        w, h = [(32, 32), (40, 40), (50, 30)][i % 3]
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(d / f'img{i:03d}.png')
    return Path(root)


def data_cache(env, how):
    "A damaged data cache of a folder: a new run on it must say so and equal the same run made with a fresh cache."
    tmp = Path(tempfile.mkdtemp(prefix='cache-'))
    folder = _folder(tmp / 'pets')
    args = BASE + ['--dataset', f'folder:{folder}', '--seed', '300']
    fresh = {**env, 'SIDAE_RUNS': str(tmp / 'ref'), 'SIDAE_DATA': str(tmp / 'data-ref')}
    ref = stages(run_dir(run(args, fresh).stdout))
    mine = {**env, 'SIDAE_RUNS': str(tmp / 'runs'), 'SIDAE_DATA': str(tmp / 'data')}
    run(BASE[:-3] + ['--epochs', '1', '--dataset', f'folder:{folder}', '--seed', '301'], mine)   # makes the cache
    cache = next((tmp / 'data' / 'sidae-cache').glob('folder-*-train.pt'))
    damage(cache, how)
    p = run(args, mine)
    said = [l for l in p.stderr.strip().splitlines() if l]
    right = p.returncode == 0 and same(stages(run_dir(p.stdout)), ref)
    outcome = ('recomputed or rewritten, said' if right and said else 'right, said nothing' if right
               else 'refused in one line' if one_line(p) else 'WRONG or traceback')
    return dict(kind='data cache (folder)', how=how, exit=p.returncode, said=said[-1:], outcome=outcome)


BAD = [['pretrain', '--preset', 'smoke', '--seed', '99999999999999999999999'], ['pretrain', '--preset', 'huge'],
       ['pretrain', '--preset', 'smoke', '--epochs', '0'], ['pretrain', '--preset', 'smoke', '--lr', '-1'],
       ['pretrain', '--preset', 'smoke', '--w', '2'], ['pretrain', '--preset', 'smoke', '--method', 'byol'],
       ['pretrain', '--preset', 'smoke', '--dataset', 'imagenet'], ['pretrain', '--preset', 'smoke', '--batch-size', '4096'],
       ['pretrain', '--preset', 'smoke', '--dataset', 'folder:/nonexistent'], ['pretrain', '--preset', 'smoke', '--stages', '7'],
       ['pretrain', '--preset', 'smoke', '--device', 'cuda:3'], ['pretrain', '--preset', 'smoke', '--amp', 'fp8'],
       ['evaluate', '--preset', 'smoke', '--frac', '0'], ['evaluate', '--preset', 'smoke', '--mode', 'knn'],
       ['evaluate', '--preset', 'smoke', '--stage', '5'], ['evaluate', '--preset', 'smoke', '--seed', '7'],
       ['evaluate', '/nonexistent/run'], ['compare', '--preset', 'smoke', '--fracs', 'x'],
       ['status', '--store', '/nonexistent/store'], ['status', '--store', '/etc/hostname'],
       ['export', '/nonexistent/run', '/tmp/x'], ['plan', '--figures', 'fig9'],
       ['run', '--preset', 'smoke', '--figures', 'fig3', '--executor', 'slurm'], ['task', '/nonexistent.json', 'pretrain', '0']]


def bad_inputs(env):
    "Each bad invocation must end in one line, exit 2."
    rows = []
    for args in BAD:
        p = run(args, env)
        rows.append(dict(args=' '.join(args), exit=p.returncode, one_line=one_line(p), said=p.stderr.strip().splitlines()[-1:]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--kills', type=int, default=12); ap.add_argument('--out', default='campaign.json')
    ns = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='sidae-campaign-'))
    env = {**os.environ, 'SIDAE_RUNS': str(tmp / 'runs'), 'SIDAE_DATA': str(tmp / 'data'), 'OMP_NUM_THREADS': '1'}
    t0, report = time.time(), {}
    refs = {}
    for s in (100, 101, 102):                       # uninterrupted references, in a store of their own
        renv = {**env, 'SIDAE_RUNS': str(tmp / 'ref')}
        refs[s] = stages(run_dir(run(BASE + ['--seed', str(s)], renv).stdout))
    report['kills'] = kills(env, ns.kills)
    for r in report['kills']:
        r['bit_for_bit'] = 'run_dir' in r and same(stages(r['run_dir']), refs[int(r['args'][-1])])
    ref_dir = Path(report['kills'][0]['run_dir'])
    ev = run(['evaluate', '--preset', 'smoke', '--pretrain-epochs', '6', '--seed', '100', '--frac', '0.1', '--no-progress'], env)
    report['damaged'] = damaged_files(env, ref_dir, json.loads(ev.stdout[ev.stdout.index('{'):]))
    report['bad_inputs'] = bad_inputs(env)
    report['seconds'] = round(time.time() - t0)
    Path(ns.out).write_text(json.dumps(report, indent=1, default=str))
    k, d, b = report['kills'], report['damaged'], report['bad_inputs']
    print(f"kills: {sum(r['bit_for_bit'] for r in k)}/{len(k)} resumed bit for bit; "
          f"{sum(r['one_line'] for r in k)}/{len(k)} ended without a traceback; "
          f"{sum(bool(r.get('tmp_left')) for r in k)} left .tmp files")
    for r in d: print(f"damaged {r['kind']} ({r['how']}): {r['outcome']}: {r.get('said')}")
    print(f"bad inputs: {sum(r['one_line'] and r['exit'] == 2 for r in b)}/{len(b)} one line, exit 2")
    for r in b:
        if not (r['one_line'] and r['exit'] == 2): print(f"  NOT one line: sidae {r['args']}: exit {r['exit']}: {r['said']}")
    print(f"{report['seconds']} s; report: {ns.out}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
