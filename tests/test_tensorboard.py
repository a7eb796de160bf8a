"""Every run writes TensorBoard event files beside log.csv (RUN/tb), read back here with TensorBoard's own reader: the
scalars of every epoch (loss parts, learning rate, collapse monitor, kNN accuracy when on), the reconstructions at each stage,
the configuration; a run killed after epoch 1 and resumed keeps one value per epoch (what the killed attempt wrote after the
epoch it resumes from is purged). Before, a run wrote log.csv only.
"""
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from sidae.pretrain import pretrain
from sidae.runs import RunStore, preset_pretrain


def _events(run_dir):
    ea = EventAccumulator(str(run_dir / 'tb'), size_guidance={'scalars': 0, 'images': 0})
    ea.Reload()
    return ea


def test_a_run_writes_its_curves_and_reconstructions(tmp_path):
    torch.set_num_threads(1)
    cfg = preset_pretrain('smoke', epochs=3, stages=(1, 3))
    r = RunStore(tmp_path, progress=False, knn_every=1).pretrain(cfg)
    ea = _events(r['run_dir'])
    tags = ea.Tags()
    for k in ('loss', 'L_si', 'L_dae', 'z_std', 'lr', 'knn_acc'): assert f'pretrain/{k}' in tags['scalars'], (k, tags)
    loss = ea.Scalars('pretrain/loss')
    assert [s.step for s in loss] == [1, 2, 3]
    assert [round(s.value, 4) for s in loss] == [round(row['loss'], 4) for row in r['log']]     # the same numbers as log.csv
    assert [i.step for i in ea.Images('reconstructions (top: originals)')] == [1, 3]              # at the stages
    assert 'config' in str(tags)


def test_a_resumed_run_has_one_value_per_epoch(tmp_path):
    torch.set_num_threads(1)
    cfg = preset_pretrain('smoke', epochs=3, stages=(3,))
    pretrain(cfg, tmp_path, progress=False, stop_after=2)
    (tmp_path / 'state.pt').replace(tmp_path / 'state.pt.keep'); (tmp_path / 'state.prev.pt').replace(tmp_path / 'state.pt')   # back to epoch 1
    pretrain(cfg, tmp_path, progress=False)
    steps = [s.step for s in _events(tmp_path).Scalars('pretrain/loss')]
    assert steps == [1, 2, 3], steps
