"""`nbdev_test --n_workers 2 --timing` with the slowest notebooks started first.

nbdev_test starts the notebooks in name order, so the two longest (09_pretrain, 24_gpucheck: 75-115 s each in CI) began
late and one of them ran alone at the end: about 45 s of one idle core in CI (d0405c4). This runs the same function on the
same notebooks (nbdev's `nbglob`, `test_nb` with settings.ini's `tst_flags`, two worker processes, the notebooks' folder as
working directory), in the order of SLOW_FIRST, then the rest by name. `nbdev_test` itself still works as before.
"""
import sys
from fastcore.parallel import parallel
from fastcore.xtras import working_directory
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.test import test_nb

# seconds in CI (d0405c4 / 6ba9ea7): 09_pretrain 115/104, 24_gpucheck 95/74, 14_executors 52/44, 19_cli 54/38, ...
SLOW_FIRST = ['09_pretrain', '24_gpucheck', '14_executors', '19_cli', '17_figures', '10_evaluate', '04_data',
              '00a_startup', '18_plan', '21_gpuchecks', 'bench', '23_gpuresume', '12_runs', '25_studies']


def notebooks():
    "The notebooks nbdev_test runs (nbglob, .notest siblings left out), SLOW_FIRST first, then by name."
    files = [f.absolute() for f in sorted(nbglob(as_path=True)) if not (f.parent / '.notest').exists()]
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    return sorted(files, key=lambda f: rank.get(f.stem, len(rank)))


def main(n_workers=2):
    "Run every notebook as nbdev_test does; print the failures (exit 1) or 'Success.' and each notebook's seconds."
    cfg, files = get_config(), notebooks()
    with working_directory(cfg.nbs_path):
        results = parallel(test_nb, files, skip_flags=cfg.tst_flags.split(), force_flags=[], n_workers=n_workers,
                           basepath=cfg.config_path, pause=0.01)
    failed = [f.name for f, (ok, _) in zip(files, results) if not ok]
    if failed: sys.exit(f"\nnbdev Tests Failed On The Following Notebooks:\n{'=' * 50}\n\t" + '\n\t'.join(failed))
    print("Success.")
    for f, (_, t) in sorted(zip(files, results), key=lambda r: -r[1][1]): print(f"{f.name}: {int(t)} secs")


if __name__ == '__main__': main()
