"""What a sceptical reader checks: no training step on one image, a probe that is known to have converged, one clear line for
ordinary faults (a full disk, a read-only store), nothing half-written.

- Fine-tuning with 13 labels (1% of digits) at the small presets' batch of 6: every train-mode BatchNorm step sees at least
  half a batch, with the backbone's features and with the projector's. Before `EvalConfig.merge_last` the last batch of
  every epoch held one image, and with `features='projector'` fine-tuning crashed ("Expected more than 1 value per channel
  when training").
- The L-BFGS probe's result records its gradient at the solution and that it converged (before: nothing was recorded and a
  probe without weight decay was accepted).
- A store on a read-only file system, or on one that fills up during a run: `sidae pretrain` exits with code 2 and one line
  naming the path and the cause, no traceback; no temporary file is left and every torch file in the run folder is complete;
  its status says it failed and why. Before, an OSError that was not a FileNotFoundError ended in a traceback, and torch.save
  on a full disk raised a RuntimeError that did not say the disk was full.
"""
import json, os, subprocess, sys, zipfile
from pathlib import Path
import pytest, torch
from sidae.evaluate import EvalConfig, evaluate
from sidae.pretrain import PretrainConfig, pretrain
from sidae.runs import RunStore, preset_eval, preset_pretrain


@pytest.fixture(scope='module')
def stage(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp('run')
    return pretrain(preset_pretrain('smoke'), d, progress=False)['stages'][2]


def _bn_batches(monkeypatch):
    "Record the batch size of every train-mode BatchNorm call."
    sizes, forward = [], torch.nn.modules.batchnorm._BatchNorm.forward
    def spy(self, x):
        if self.training: sizes.append(x.shape[0])
        return forward(self, x)
    monkeypatch.setattr(torch.nn.modules.batchnorm._BatchNorm, 'forward', spy)
    return sizes


@pytest.mark.parametrize('features', ['backbone', 'projector'])
def test_fine_tuning_13_labels_has_no_one_image_step(stage, monkeypatch, features):
    cfg = preset_eval('smoke', frac=0.01, mode='finetune', features=features)
    assert cfg.batch_size == 6
    sizes = _bn_batches(monkeypatch)
    r = evaluate(cfg, stage)
    assert r['n_labelled'] == 13 and min(sizes) >= 3 and set(sizes) == {6, 7}, sorted(set(sizes))


def test_supervised_baseline_13_labels_has_no_one_image_step(monkeypatch):
    sizes = _bn_batches(monkeypatch)
    evaluate(preset_eval('smoke', frac=0.01, mode='supervised'))
    assert min(sizes) >= 3, sorted(set(sizes))


def test_the_probe_records_its_convergence(tmp_path):
    store = RunStore(tmp_path, progress=False)
    r = store.evaluate(preset_eval('smoke', frac=0.01), preset_pretrain('smoke'), 0)
    assert r['probe_converged'] is True and 0 <= r['probe_grad_rel'] <= 1e-3 and r['probe_iterations'] > 0, r
    with pytest.raises(ValueError, match="probe='lbfgs' with weight_decay=0"): EvalConfig(probe='lbfgs', standardize=True, weight_decay=0)


def _cli(store, *args):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'sidae.cli', 'pretrain', '--preset', 'smoke', '--no-progress',
                           '--store', str(store), *args], capture_output=True, text=True, env=env, timeout=300)


def test_a_read_only_store_is_one_line(tmp_path, tmpfs):
    ro = tmpfs(tmp_path / 'ro', 'ro,size=64k')
    p = _cli(ro / 'runs')
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert len(p.stderr.strip().splitlines()) == 1 and 'Read-only file system' in p.stderr and str(ro) in p.stderr, p.stderr


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, tmpfs):
    small = tmpfs(tmp_path / 'small', 'size=1m')
    p = _cli(small / 'runs')
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert len(p.stderr.strip().splitlines()) == 1 and 'No space left on device' in p.stderr, p.stderr
    run = next((small / 'runs' / 'pretrain').iterdir())
    assert not [f for f in run.iterdir() if f.name.endswith('.tmp')], sorted(os.listdir(run))
    for f in run.glob('*.pt'): assert zipfile.ZipFile(f).testzip() is None, f
    st = json.loads((run / 'status.json').read_text())
    assert st['state'] == 'failed' and 'No space left on device' in st['error'], st
    print(p.stderr.strip(), '|', sorted(os.listdir(run)))
