"""Pre-training and evaluation on a folder of your own images (`--dataset folder:/path`, torchvision's ImageFolder layout),
from the command line, on generated PNGs: a labelled folder with train/ and test/ (a class per sub-folder) pre-trains and
evaluates; an unlabelled folder pre-trains; a folder of images of many sizes and modes is cropped and resized
to 32x32; a bad folder (empty, an unreadable file) is one line on stderr with exit code 2; images edited in place give
a new run. Before, pre-training took only the paper's five data sets and digits. No `--device`: what a user types.
"""
import json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image


def _pngs(d, n, size=(40, 40), seed=0):
    d.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(seed)
    for k in range(n): Image.fromarray(g.integers(0, 256, (*size, 3), dtype=np.uint8)).save(d / f'{k}.png')


def _cli(tmp_path, *args):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'SIDAE_DATA': str(tmp_path / 'data')}
    return subprocess.run([sys.executable, '-m', 'sidae.cli', *args, '--preset', 'smoke', '--no-progress',
                           '--store', str(tmp_path / 'store')], capture_output=True, text=True, env=env, timeout=600,
                          cwd=tmp_path)


def test_a_labelled_folder_pretrains_and_evaluates(tmp_path):
    own = tmp_path / 'pets'
    for split, n in (('train', 24), ('test', 8)):
        for c in ('cats', 'dogs'): _pngs(own / split / c, n, seed=hash((split, c)) % 1000)
    p = _cli(tmp_path, 'pretrain', '--dataset', f'folder:{own}', '--limit', 'none', '--batch-size', '16')
    assert p.returncode == 0, p.stderr[-2000:]
    run = Path(json.loads(p.stdout)['run_dir'])
    assert run.name.startswith('folder-pets-') and (run / 'stage-0002.pt').exists()
    p = _cli(tmp_path, 'evaluate', '--dataset', f'folder:{own}', '--limit', 'none', '--batch-size', '16', '--frac', '1.0', '--pretrain-batch-size', '16')
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout)
    assert r['n_labelled'] == 48 and 0 <= r['acc'] <= 100 and r['probe_converged'], r


def test_an_unlabelled_folder_pretrains(tmp_path):
    _pngs(tmp_path / 'flat', 32, size=(64, 64))
    p = _cli(tmp_path, 'pretrain', '--dataset', f'folder:{tmp_path / "flat"}', '--limit', 'none', '--batch-size', '16')
    assert p.returncode == 0, p.stderr[-2000:]


@pytest.mark.parametrize('bad, message', [('empty', 'has no images'), ('unreadable', 'cannot be read as an image')])
def test_a_bad_folder_is_one_line(tmp_path, bad, message):
    d = tmp_path / bad
    d.mkdir()
    if bad != 'empty': _pngs(d, 4)
    if bad == 'unreadable': (d / 'x.png').write_bytes(b'this is no image')
    p = _cli(tmp_path, 'pretrain', '--dataset', f'folder:{d}', '--limit', 'none', '--batch-size', '2')
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and message in p.stderr, p.stderr[-2000:]


def test_an_unlabelled_folder_is_refused_for_evaluation_in_one_line(tmp_path):
    """Before, the labels -1 of an unlabelled folder reached the loss: a traceback from cross_entropy, not one line."""
    for split, n in (('train', 24), ('test', 8)): _pngs(tmp_path / 'flat' / split, n)
    p = _cli(tmp_path, 'evaluate', '--dataset', f'folder:{tmp_path / "flat"}', '--mode', 'supervised', '--limit', 'none', '--batch-size', '8',
             '--frac', '1.0')
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and 'has no labels' in p.stderr, p.stderr[-2000:]


def test_images_added_to_a_folder_give_a_new_run(tmp_path):
    """Before, a folder's runs were named by its path alone: after adding images the store returned the old run."""
    flat = tmp_path / 'flat'
    runs = []
    for n in (32, 36):                                                 # the same 32 images, then 4 more
        _pngs(flat, n)
        p = _cli(tmp_path, 'pretrain', '--dataset', f'folder:{flat}', '--limit', 'none', '--batch-size', '16')
        assert p.returncode == 0, p.stderr[-2000:]
        runs.append(json.loads(p.stdout)['run_dir'])
    assert runs[0] != runs[1], runs


def test_a_small_folder_fine_tunes_at_a_small_preset_without_a_batch_size(tmp_path):
    """The small presets fit the batch to the labelled images: for a folder, to its own count (48), not to the preset's limit.

    Before, the batch was fitted to 256 made-up labels (the smoke preset's limit): 64 > 48, and fine-tuning was refused."""
    own = tmp_path / 'pets'
    for split, n in (('train', 24), ('test', 8)):
        for c in ('cats', 'dogs'): _pngs(own / split / c, n, seed=hash((split, c)) % 1000)
    p = _cli(tmp_path, 'pretrain', '--dataset', f'folder:{own}', '--batch-size', '16')   # evaluate: nothing unasked
    assert p.returncode == 0, p.stderr[-2000:]
    p = _cli(tmp_path, 'evaluate', '--dataset', f'folder:{own}', '--mode', 'finetune', '--frac', '1.0', '--pretrain-batch-size', '16')
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)['n_labelled'] == 48


def test_a_folder_of_mixed_sizes_pretrains_on_32x32_images(tmp_path):
    """Issue 23, finding 10: the README says own images are "resized to 32x32", and a photo folder's sizes vary.

    Before, "img001.png is 40x40, but img000.png is 32x32: a folder data set needs images of one size" (exit 2)."""
    d, g = tmp_path / 'mixed', np.random.default_rng(1)
    d.mkdir()
    for k, shape in enumerate([(32, 32, 3), (40, 40, 3), (30, 50, 3), (24, 24), (60, 40, 4)] * 4):   # gray; RGBA
        Image.fromarray(g.integers(0, 256, shape, dtype=np.uint8)).save(d / f'img{k:03d}.png')
    p = _cli(tmp_path, 'pretrain', '--dataset', f'folder:{d}', '--limit', 'none', '--batch-size', '8')
    assert p.returncode == 0, p.stderr[-2000:]
    from sidae.data import load_split
    x = load_split(f'folder:{d}', root=tmp_path / 'data').x
    assert x.dtype == torch.uint8 and tuple(x.shape) == (20, 3, 32, 32)


def test_images_edited_in_place_give_a_new_run(tmp_path):
    """Issue 23, finding 4: a folder's identity is its images' contents, not their names and sizes.

    Before, every image inverted in place (the same names and sizes) returned the old run, trained on the old images."""
    flat, g, runs = tmp_path / 'flat', np.random.default_rng(2), []
    flat.mkdir()
    for k in range(32): Image.fromarray(g.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(flat / f'{k}.bmp')   # BMP
    sizes = sorted(f.stat().st_size for f in flat.iterdir())
    for inverted in (False, True):
        if inverted:
            for f in flat.iterdir(): Image.fromarray(255 - np.asarray(Image.open(f))).save(f)
        p = _cli(tmp_path, 'pretrain', '--dataset', f'folder:{flat}', '--limit', 'none', '--batch-size', '16')
        assert p.returncode == 0, p.stderr[-2000:]
        runs.append(json.loads(p.stdout)['run_dir'])
    assert sorted(f.stat().st_size for f in flat.iterdir()) == sizes and runs[0] != runs[1], runs
