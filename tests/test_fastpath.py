"""The fast paths of the pre-training loop compute the same losses as the float32 reference.

On one fixed batch and a tiny SidAE network (width 4, d_hid 32, pred_hid 8, BatchNorm in training mode), with the same
weights, the loss parts (loss, L_si, L_dae) of one `train_step` must match those of plain float32:

| fast path | tolerance on each loss part v: abs(v - v_ref) <= tol * max(1, abs(v_ref)) |
|---|---|
| `amp='bf16'` (CPU autocast in bfloat16) | 2e-2 (bfloat16 keeps 8 bits of mantissa: ~4e-3 per rounding) |
| `channels_last=True` (model and batch) | 1e-5 |
| `torch.compile` (inductor, needs a C++ compiler on the CPU) | 1e-4 |

The tolerance is relative for parts of size >= 1 and absolute below: L_si is a negative cosine similarity in [-1, 1]
that is near 0 (about -0.05) for a network at initialisation, where a relative error says nothing (bf16 changes it by
~3e-3 absolute, 5% relative).

For channels_last and compile the weights after the step are compared too (same tolerance): the backward pass and the
optimiser step are fast-path code as well.
"""
import copy, os, shutil, time
import pytest, torch
from sidae.models import build_model
from sidae.pretrain import train_step

W = 0.5
COMPILE_BUDGET_S = 90   # the compile test skips itself rather than pass slowly (first compilation of the network)


def _setup():
    torch.manual_seed(0)
    model = build_model('sidae', width=4, d_hid=32, pred_hid=8)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 32, 32, generator=g)
    batch = (x, x + 0.1 * torch.randn(x.shape, generator=g), x + 0.1 * torch.randn(x.shape, generator=g))
    return model, batch


def _step(model, batch, net=None, **kw):
    "One SGD step of `net` (default: `model`) on `batch`; returns the loss parts (floats) and the weights after it."
    opt = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=5e-4)
    res = train_step(net if net is not None else model, opt, batch, W, **kw)
    return {k: res[k].item() for k in ('loss', 'L_si', 'L_dae')}, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _close_weights(a, b, tol):
    for k in a:
        if a[k].is_floating_point(): torch.testing.assert_close(a[k], b[k], atol=tol, rtol=tol, msg=lambda m: f"{k}: {m}")


def test_bf16_autocast():
    model, batch = _setup()
    ref, _ = _step(copy.deepcopy(model), batch)
    bf, _ = _step(copy.deepcopy(model), batch, amp='bf16')
    for k in ref: assert abs(bf[k] - ref[k]) <= 2e-2 * max(1, abs(ref[k])), (k, bf[k], ref[k])
    assert bf != ref        # autocast did run in bfloat16


def test_channels_last():
    model, batch = _setup()
    ref, w_ref = _step(copy.deepcopy(model), batch)
    m = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert m.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    cl, w_cl = _step(m, tuple(t.contiguous(memory_format=torch.channels_last) for t in batch))
    for k in ref: assert abs(cl[k] - ref[k]) <= 1e-5 * max(1, abs(ref[k])), (k, cl[k], ref[k])
    _close_weights(w_ref, w_cl, 1e-5)


def _has_compiler():
    return any(shutil.which(c) for c in (os.environ.get('CXX', 'g++'), 'g++', 'c++', 'clang++'))


@pytest.mark.skipif(not hasattr(torch, 'compile'), reason='torch.compile is not available in this torch')
@pytest.mark.skipif(not _has_compiler(), reason='torch.compile (inductor) on the CPU needs a C++ compiler; none found')
def test_compile():
    model, batch = _setup()
    ref, w_ref = _step(copy.deepcopy(model), batch)
    m = copy.deepcopy(model)
    t0 = time.time()
    try: co, w_co = _step(m, batch, net=torch.compile(m))
    except Exception as e: pytest.skip(f'torch.compile failed on this machine: {type(e).__name__}: {str(e)[:200]}')
    if time.time() - t0 > COMPILE_BUDGET_S:
        pytest.skip(f'torch.compile took {time.time() - t0:.0f} s (> {COMPILE_BUDGET_S} s) on this machine')
    for k in ref: assert abs(co[k] - ref[k]) <= 1e-4 * max(1, abs(ref[k])), (k, co[k], ref[k])
    _close_weights(w_ref, w_co, 1e-4)
