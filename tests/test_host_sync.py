"""No training step of the fast path makes the host wait for the GPU, proved on the CPU with tensors on the `meta` device.

On a GPU the host queues kernels and runs ahead of the device; a copy between devices, a value read back to the host
(`.item()`) or a shape that depends on the data (`nonzero`) makes it wait until the device has caught up
(`sidae.devices.host_syncs` lists every such aten operation). On the `meta` device tensors have shapes but no data, so a
whole epoch of the real loop (`sidae.pretrain.epoch_batches` and the loop's `train_epoch`: views, network, loss, backward,
SGD) runs in no time, and a copy from the CPU is a copy between devices exactly as it is on a GPU.

What the epoch may do, and nothing else: copy the epoch's image order to the device once, before its first step, and read
the losses back at the finite-loss check every `CHECK_EVERY` steps (counted here through a stand-in for the check, which
on `meta` has no values to read). The code before this test copied each step's indices from the host (one blocking copy per
step from pageable memory) and the hue step's sector table in every colour-jitter slot (8 copies a step): 28 steps gave 252
copies.

The GPU check (`python3 -m sidae.gpucheck`) runs real steps on a GPU under `torch.cuda.set_sync_debug_mode('error')`.
"""
import torch
import sidae.pretrain as P
from sidae.augment import paper_augment
from sidae.data import ImageData
from sidae.devices import host_syncs, op_counts
from sidae.models import build_model

META = torch.device('meta')
STEPS = P.CHECK_EVERY + 3


def _epoch(monkeypatch, channels_last):
    "The syncs of one epoch of STEPS steps of the fast pipeline on meta, and the steps at which the finite-loss check ran."
    cfg = P.PretrainConfig(dataset='digits', width=8, d_hid=32, pred_hid=8, batch_size=16, epochs=2)
    data = ImageData(torch.zeros(16 * STEPS, 3, 32, 32, dtype=torch.uint8), torch.zeros(16 * STEPS, dtype=torch.long), [], 'digits', 'train')
    mean, std = torch.zeros(3, device=META), torch.ones(3, device=META)
    model = build_model('sidae', 8, 32, 8).to(META)
    if channels_last: model = model.to(memory_format=torch.channels_last)
    opt, sched = P.make_optimizer(model, cfg)
    st = P.TrainState(model, opt, sched, channels_last=channels_last)
    batches = P.epoch_batches(cfg, data, META, mean, std)
    aug = paper_augment('digits', sync_free=True)
    aug.apply(torch.zeros(2, 3, 32, 32, device=META), aug.sample(2, 32, 32, device=META))  # a device's first call copies its constants once
    checks = []
    monkeypatch.setattr(P, 'check_finite', lambda pending, *a: checks.append(pending[-1][0] + 1))
    perm = torch.randperm(len(data))
    found = host_syncs(lambda: P.train_epoch(st, cfg, batches(perm, None), 0))
    return found, checks


def test_an_epoch_copies_its_order_once_and_reads_back_only_at_the_checks(monkeypatch):
    found, checks = _epoch(monkeypatch, channels_last=False)
    assert found == [f"_to_copy: a copy from cpu to meta of shape ({STEPS}, 16)"], found[:10]
    assert checks == [P.CHECK_EVERY, STEPS]


def test_channels_last_adds_no_sync(monkeypatch):
    found, _ = _epoch(monkeypatch, channels_last=True)
    assert len(found) == 1, found[:10]


def test_the_detector_sees_what_the_old_code_did():
    "The index mode (the CPU's) and a per-step copy are found: the test above could fail."
    aug = paper_augment('cifar10', sync_free=False)
    x = torch.rand(8, 3, 32, 32)
    assert any('nonzero' in f for f in host_syncs(lambda: aug.apply(x, aug.sample(8, 32, 32))))
    idx = torch.arange(8)
    assert host_syncs(lambda: torch.zeros(8, 3, device=META)[idx.to(META)]) == ['_to_copy: a copy from cpu to meta of shape (8,)']


def test_sync_free_augmentation_op_count():
    "Aten operations per view of the sync-free augmentation at batch 64: 473 (CIFAR-10) and 513 (digits) before the blend steps."
    x = torch.rand(64, 3, 32, 32)
    for ds, most in (('cifar10', 280), ('digits', 320)):
        aug = paper_augment(ds, sync_free=True)
        p = aug.sample(64, 32, 32, generator=torch.Generator().manual_seed(0))
        n = op_counts(lambda: aug.apply(x, p))
        assert n['ops'] <= most, (ds, n['ops'], n['kernels'])
