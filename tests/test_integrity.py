"""Nothing read back is trusted unchecked, run the way a user types it (`sidae ...` from another folder, a fresh
store, no `--device`). Issue 23, finding 3: a damaged data cache (32 flipped bytes, or 4 KiB of zeros inside its tensor)
is reported in one line, moved aside and rebuilt from the source; before, `torch.load` read it without a word and the
run trained on the changed images. The data sets with a cache: a folder of your own images, and torchvision's (MNIST
here, on tiny files written in its format; `digits` has no cache). Finding 6: a full disk names the file that could not
be written; before, the one line said only `[Errno 28] No space left on device`.
"""
import csv, errno, os, shutil, struct, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from sidae.checkpoint import atomic_save, atomic_write, atomic_write_text, check_zip

SIDAE = Path(sys.executable).with_name('sidae')           # the console script a user types


def _sidae(cwd, *args):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'SIDAE_DATA': str(Path(cwd) / 'default-data')}   # not the user's
    return subprocess.run([str(SIDAE), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def _pretrain(cwd, dataset, data, store):
    more = ['--limit', 'none', '--batch-size', '16'] if dataset.startswith('folder:') else ['--no-stand-in']
    return _sidae(cwd, 'pretrain', '--preset', 'smoke', '--dataset', dataset, '--data-root', str(data),
                  '--store', str(store), '--no-progress', *more)


def _trained_on(store):
    "What a run saw of its images: stage 0's normalisation and the losses of every epoch (log.csv without its seconds)."
    run = next((Path(store) / 'pretrain').iterdir())
    stage = torch.load(run / 'stage-0000.pt', map_location='cpu', weights_only=True)
    with open(run / 'log.csv') as f: rows = list(csv.DictReader(f))
    log = [{k: v for k, v in row.items() if k != 'seconds'} for row in rows]
    return stage['mean'].tolist(), stage['std'].tolist(), log


def _own_images(tmp):
    "A folder of 32 images of your own: 'folder:PATH'."
    own, g = tmp / 'own', np.random.default_rng(0)
    own.mkdir()
    for k in range(32): Image.fromarray(g.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(own / f'{k}.png')
    return f'folder:{own}'


def _mnist_files(tmp):
    "torchvision's MNIST files (64 train, 16 test images of noise) in the data folder: 'mnist'."
    raw, g = tmp / 'data' / 'MNIST' / 'raw', np.random.default_rng(0)
    raw.mkdir(parents=True)
    for prefix, n in (('train', 64), ('t10k', 16)):
        images, labels = g.integers(0, 256, n * 784, dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)
        (raw / f'{prefix}-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 0x803, n, 28, 28) + images.tobytes())
        (raw / f'{prefix}-labels-idx1-ubyte').write_bytes(struct.pack('>II', 0x801, n) + labels.tobytes())
    return 'mnist'


@pytest.fixture(scope='module')
def fresh(tmp_path_factory):
    "fresh(source): the data set, its data folder with the cache, and what a smoke run on a fresh cache saw (once)."
    made = {}
    def make(source):
        if source not in made:
            tmp = tmp_path_factory.mktemp(source)
            dataset = dict(folder=_own_images, mnist=_mnist_files)[source](tmp)
            p = _pretrain(tmp, dataset, tmp / 'data', tmp / 'store')
            assert p.returncode == 0, p.stderr[-2000:]
            made[source] = dataset, tmp / 'data', _trained_on(tmp / 'store')
        return made[source]
    return make


def _flip32(b):
    n = len(b) // 2
    return b[:n] + bytes(v ^ 0xFF for v in b[n:n + 32]) + b[n + 32:]


def _zero4k(b):
    n = len(b) // 2 - 2048
    return b[:n] + bytes(4096) + b[n + 4096:]


@pytest.mark.parametrize('source, damage', [('folder', _flip32), ('folder', _zero4k), ('mnist', _flip32)],
                         ids=['folder-32-flipped-bytes', 'folder-4KiB-of-zeros', 'mnist-32-flipped-bytes'])
def test_a_damaged_data_cache_is_rebuilt(fresh, tmp_path, source, damage):
    dataset, data0, want = fresh(source)
    data = tmp_path / 'data'
    shutil.copytree(data0, data)
    cache = next((data / 'sidae-cache').glob('*-train.pt'))
    good = cache.read_bytes()
    cache.write_bytes(damage(good))
    p = _pretrain(tmp_path, dataset, data, tmp_path / 'store')
    assert p.returncode == 0, p.stderr[-2000:]
    said = [line for line in p.stderr.splitlines() if cache.name in line]
    assert len(said) == 1 and 'is damaged' in said[0] and 'rebuilding it' in said[0], p.stderr
    assert _trained_on(tmp_path / 'store') == want                       # the images, not the damaged copy of them
    aside = list(cache.parent.glob(cache.name + '.damaged-*'))
    assert len(aside) == 1 and aside[0].read_bytes() == damage(good), sorted(os.listdir(cache.parent))
    check_zip(cache)                                                       # rebuilt
    x = lambda f: torch.load(f, weights_only=True)['x']
    assert torch.equal(x(cache), x(data0 / 'sidae-cache' / cache.name))


def _fill(folder):
    "Fill the file system of `folder` to its last byte."
    with open(folder / 'filler', 'wb', buffering=0) as f:
        try:
            while True: f.write(bytes(4096))
        except OSError as e: assert e.errno == errno.ENOSPC, e


def test_a_full_disk_names_the_file(tmp_path, tmpfs):
    small = tmpfs(tmp_path / 'small', 'size=256k')
    _fill(small)
    for write, path in ((lambda p: atomic_write_text('x' * 8192, p), small / 'a.txt'),
                        (lambda p: atomic_save(torch.zeros(4096), p), small / 'b.pt'),
                        (lambda p: atomic_write(p, lambda t: Path(t).write_bytes(bytes(8192))), small / 'c.bin')):
        with pytest.raises(OSError) as e: write(path)
        assert e.value.errno == errno.ENOSPC and e.value.filename == str(path), e.value
    p = _sidae(tmp_path, 'pretrain', '--preset', 'smoke', '--no-progress', '--store', str(small / 'runs'))
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr[-2000:]
    assert 'No space left on device' in lines[0] and str(small / 'runs' / 'pretrain') in lines[0], lines
    assert not [f for f in small.rglob('*.tmp')], sorted(map(str, small.rglob('*')))
