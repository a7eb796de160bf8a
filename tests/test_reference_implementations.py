"""Cross-checks against trusted implementations: lightly's SimSiam heads and loss, scikit-learn's kNN and logistic regression.

lightly (https://github.com/lightly-ai/lightly, a test-only dependency pinned in .ci/requirements.txt) implements SimSiam's
projection MLP, prediction MLP and negative cosine similarity from the SimSiam paper, independently of us. With the same
weights, our `projection_mlp`, `prediction_mlp`, `D_ncs` and `L_si` must give the same outputs and the same gradients, in
training mode (BatchNorm with batch statistics) and in evaluation mode. Our kNN accuracy must agree with scikit-learn's
`KNeighborsClassifier` with the same weighting, and our L-BFGS probe (`probe='lbfgs'`, `standardize=True`) with scikit-learn's
`LogisticRegression` on the same frozen features, through `evaluate` as the figures call it.

These live in tests/ rather than in the notebooks because lightly is not a dependency of sidae: a reader who runs the notebooks
does not need it.
"""
import math
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from sidae.models import projection_mlp, prediction_mlp, ResNet18Backbone
from sidae.losses import D_ncs, L_si
from sidae.evaluate import EvalConfig, evaluate, standardizer
from sidae.features import knn_accuracy, extract_features
from sidae.data import load_split, channel_stats

lightly_heads = pytest.importorskip('lightly.models.modules.heads')
lightly_loss = pytest.importorskip('lightly.loss')


def _same_outputs_and_grads(ours, theirs, x):
    "Copy our weights into lightly's module; compare outputs and input/parameter gradients in train and eval mode."
    theirs.layers.load_state_dict(ours.state_dict())              # the same layers in the same order: keys 0, 1, 3, ...
    for train in (True, False):
        ours.train(train); theirs.train(train)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya, yb = ours(xa), theirs(xb)
        torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-6)
        g = torch.randn_like(ya)
        ya.backward(g); yb.backward(g)
        torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=1e-6)
        for (k, pa), pb in zip(ours.named_parameters(), theirs.layers.parameters()):
            torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-5, atol=1e-6, msg=k)
            pa.grad = pb.grad = None


HEADS = [  # (ours, lightly's, in, hidden, out): the projection MLP and the prediction MLP at the cpu preset's and the paper's sizes
    (lambda i, h, o: projection_mlp(i, o), 'SimSiamProjectionHead', 64, 128, 128),
    (lambda i, h, o: projection_mlp(i, o), 'SimSiamProjectionHead', 512, 2048, 2048),
    (lambda i, h, o: prediction_mlp(i, h), 'SimSiamPredictionHead', 128, 32, 128),
    (lambda i, h, o: prediction_mlp(i, h), 'SimSiamPredictionHead', 2048, 512, 2048),
]


@pytest.mark.parametrize('ours,theirs,d_in,d_hid,d_out', HEADS)
def test_heads_equal_lightly(ours, theirs, d_in, d_hid, d_out):
    torch.manual_seed(0)
    ours, theirs = ours(d_in, d_hid, d_out), getattr(lightly_heads, theirs)(d_in, d_hid, d_out)
    assert [type(m) for m in ours] == [type(m) for m in theirs.layers]
    _same_outputs_and_grads(ours, theirs, torch.randn(16, d_in))


def test_negative_cosine_similarity_and_siamese_loss_equal_lightly():
    torch.manual_seed(0)
    crit = lightly_loss.NegativeCosineSimilarity()
    p1, p2, z1, z2 = (torch.randn(32, 128, requires_grad=True) for _ in range(4))
    torch.testing.assert_close(D_ncs(p1, z2), crit(p1, z2))
    ours = L_si(p1, p2, z1, z2)
    theirs = 0.5 * (crit(p1, z2.detach()) + crit(p2, z1.detach()))   # lightly's SimSiam example: the stop-gradient by the caller
    torch.testing.assert_close(ours, theirs)
    g_ours = torch.autograd.grad(ours, (p1, p2, z1, z2), allow_unused=True)
    g_theirs = torch.autograd.grad(theirs, (p1, p2, z1, z2), allow_unused=True)
    for a, b in zip(g_ours, g_theirs):
        assert (a is None) == (b is None)
        if a is not None: torch.testing.assert_close(a, b)
    assert g_ours[2] is None and g_ours[3] is None                   # no gradient reaches z through the stop-gradient


@pytest.mark.parametrize('k,t', [(1, 0.1), (20, 0.1), (200, 0.07)])
def test_knn_accuracy_equals_sklearn(k, t):
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(300, 16, generator=g), torch.randn(200, 16, generator=g)
    ytr, yte = torch.randint(0, 10, (300,), generator=g), torch.randint(0, 10, (200,), generator=g)
    train[:, :10] += 2 * F.one_hot(ytr, 10); test[:, :10] += 2 * F.one_hot(yte, 10)
    knn = KNeighborsClassifier(n_neighbors=k, metric='cosine', algorithm='brute', weights=lambda d: np.exp((1 - d) / t))
    sk = 100 * knn.fit(train.numpy(), ytr.numpy()).score(test.numpy(), yte.numpy())
    assert math.isclose(knn_accuracy(train, ytr, test, yte, k=k, t=t), sk, abs_tol=1e-9)


def test_lbfgs_probe_equals_sklearn_logistic_regression(tmp_path):
    "Through `evaluate`: our probe's test accuracy equals scikit-learn's on the same standardised frozen features."
    torch.manual_seed(0)
    backbone = ResNet18Backbone(8).eval()
    train, test = load_split('digits', 'train'), load_split('digits', 'test')
    mean, std = channel_stats(train.x)
    stage = tmp_path / 'stage-0000.pt'
    from sidae.models import projection_mlp as proj
    torch.save(dict(backbone=backbone.state_dict(), projector=proj(64, 32).state_dict(), mean=mean, std=std, epoch=0,
                    config=dict(width=8, d_hid=32, proj_hid=None)), stage)
    wd = 1e-3
    cfg = EvalConfig(dataset='digits', width=8, frac=1.0, probe='lbfgs', standardize=True, weight_decay=wd, knn_k=20)
    ours = evaluate(cfg, stage)
    f_tr, f_te = extract_features(backbone, train.x, mean, std), extract_features(backbone, test.x, mean, std)
    mu, sd = standardizer(f_tr)
    sk = LogisticRegression(C=1 / (wd * len(train)), tol=1e-10, max_iter=20000).fit(((f_tr - mu) / sd).numpy(), train.y.numpy())
    assert abs(ours['acc'] - 100 * sk.score(((f_te - mu) / sd).numpy(), test.y.numpy())) <= 100 / len(test) + 1e-9   # one image at most
    assert abs(ours['train_acc'] - 100 * sk.score(((f_tr - mu) / sd).numpy(), train.y.numpy())) <= 100 / len(train) + 1e-9
    assert math.isclose(ours['knn_acc'], knn_accuracy(f_tr, train.y, f_te, test.y, k=20, t=0.1), abs_tol=1e-9)
