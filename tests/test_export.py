"""A pre-trained backbone taken elsewhere: `sidae export` on a run of the store, then `sidae.load_backbone` and `torch.hub`
from a fresh clone of the repository, in a fresh interpreter, load it into torchvision's ResNet-18 whose features equal the
project's backbone on the same input. Before `sidae.export` nothing exported a backbone or loaded it into torchvision.
"""
import json, subprocess, sys
from pathlib import Path
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


def test_export_then_torch_hub_from_a_clone(tmp_path):
    torch.set_num_threads(1)
    store = RunStore(tmp_path / 'store', device='cpu', progress=False)
    run = store.pretrain(preset_pretrain('smoke'))
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
