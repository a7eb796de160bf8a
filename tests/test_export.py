"""A pre-trained backbone taken elsewhere: `sidae export` on a run of the store, then `sidae.load_backbone` and `torch.hub`
from a fresh clone of the repository, in a fresh interpreter, load it into torchvision's ResNet-18 whose features equal the
project's backbone on the same input. Before `sidae.export` nothing exported a backbone or loaded it into torchvision.
Issue 23, finding 5: `sidae export RUN/state.pt OUT` says in one line what state.pt is and what is allowed (before:
"damaged ..., delete the run folder"), and `load_backbone` takes a run's stage checkpoint (before: `KeyError:
'conv1.weight'`).
"""
import json, os, subprocess, sys
from pathlib import Path
import pytest
import torch
from sidae.cli import main
from sidae.evaluate import load_stage
from sidae.runs import RunStore, preset_pretrain

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, sys, torch
path, x, clone = sys.argv[1:4]
net = torch.hub.load(clone, 'sidae_resnet18', source='local', path=path)
import sidae
assert sidae.__file__.startswith(clone), sidae.__file__            # the clone's code, not an installed one
with torch.no_grad(): torch.save(dict(feats=net(torch.load(x)), cls=type(net).__module__ + '.' + type(net).__name__), x + '.out')
"""


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A smoke-sized run of a fresh store, on the device a user gets without asking for one."
    torch.set_num_threads(1)
    return RunStore(tmp_path_factory.mktemp('export') / 'store', progress=False).pretrain(preset_pretrain('smoke'))


def test_export_then_torch_hub_from_a_clone(tmp_path, run):
    assert main(['export', str(run['run_dir']), str(tmp_path / 'out')]) == 0
    meta = json.loads((tmp_path / 'out' / 'backbone.json').read_text())
    assert meta['arch'] == 'torchvision.models.resnet18' and meta['epoch'] == 2 and 'no max-pool' in meta['stem']
    clone = tmp_path / 'clone'
    subprocess.run(['git', 'clone', '-q', str(ROOT), str(clone)], check=True)
    for f in ('hubconf.py', 'sidae'):                            # the working tree's files, committed or not
        subprocess.run(['cp', '-r', str(ROOT / f), str(clone)], check=True)
    ours, _, (mean, std), _ = load_stage(run['stages'][2])
    x = ((torch.rand(6, 3, 32, 32) - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    torch.save(x, tmp_path / 'x.pt')
    subprocess.run([sys.executable, '-c', PROBE, str(tmp_path / 'out' / 'backbone.pth'), str(tmp_path / 'x.pt'), str(clone)],
                   check=True, cwd=tmp_path, timeout=300)
    got = torch.load(tmp_path / 'x.pt.out', weights_only=False)
    with torch.no_grad(): want = ours.eval()(x)
    assert got['cls'] == 'torchvision.models.resnet.ResNet' and (got['feats'] - want).abs().max() < 1e-6


@pytest.mark.parametrize('state', ['state.pt', 'state.prev.pt'])
def test_export_of_a_resumable_state_says_what_it_is(tmp_path, run, state):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    p = subprocess.run([str(Path(sys.executable).with_name('sidae')), 'export', str(run['run_dir'] / state), 'out'],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and 'is a resumable training state' in lines[0], p.stderr[-2000:]
    assert 'stage-EEEE.pt' in lines[0] and 'delete' not in lines[0] and 'damaged' not in lines[0], lines
    assert not (tmp_path / 'out').exists()


def test_load_backbone_takes_a_stage_checkpoint(run):
    from sidae import load_backbone
    ours, _, (mean, std), _ = load_stage(run['stages'][2])
    x = torch.rand(4, 3, 32, 32)
    for src in (run['stages'][2], run['run_dir']):                  # a stage file, or a run folder: its last stage
        net = load_backbone(src)
        with torch.no_grad(): assert torch.equal(net(x), ours.eval()(x)), src
        assert net.sidae['epoch'] == 2 and net.sidae['mean'] == mean.flatten().tolist(), net.sidae
