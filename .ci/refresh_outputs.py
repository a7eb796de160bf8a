"""Re-execute notebooks in place so that they keep their outputs (the demos a reader sees on opening them), then clean them.

    python .ci/refresh_outputs.py                  # the library notebooks nbs/NN_*.ipynb and nbs/index.ipynb
    python .ci/refresh_outputs.py nbs/09_pretrain.ipynb ...
    SIDAE_RUNS=/path/to/store python .ci/refresh_outputs.py --paper   # fig3 ... table1 and small_scale, with papermill

Cells are run as `nbdev_test` runs them, from the notebook's folder, skipping the cells flagged with settings.ini's
`tst_flags` (`notest slow cuda`: a CUDA cell keeps no output on a machine without a GPU) and `#| eval: false`. Images are
plain PNG at 80 dpi (small files). A notebook whose run fails is left as it was, and the script exits with 1. Run it inside
the project's environment (`.venv/bin` on PATH); `nbdev_clean` (run at the end) keeps the outputs and strips the rest.
The paper notebooks (fig3 ... table1) and `small_scale` compute through the run store: `--paper` runs them in place with
papermill at their defaults (on a CPU: the `cpu` preset; what the store lacks is computed, about 15 minutes a figure from an
empty store on two cores), which also rewrites their files in `figures/`, and drops the progress-bar widgets from their
outputs (a bar shows as 0% outside a live kernel); it ignores `MPLBACKEND` (with `Agg` the figures would be missing from
the outputs). `bench` is refreshed by hand on the machine it describes: `papermill nbs/bench.ipynb nbs/bench.ipynb --cwd nbs`
(no `-p`: papermill would add a parameters cell), which also rewrites `figures/bench-<device>.md` and `.csv`.
"""
import configparser, json, os, subprocess, sys, time
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

ROOT = Path(__file__).resolve().parent.parent


def _skip_flags():
    "The flags of settings.ini's `tst_flags`."
    cp = configparser.ConfigParser()
    cp.read(ROOT / 'settings.ini')
    return set(cp['DEFAULT'].get('tst_flags', '').split())


def _directives(cell):
    "The words of a cell's `#|` lines: `#| eval: false` gives {'eval:', 'false'}."
    return {w for line in cell.source.splitlines() if line.startswith('#|') for w in line[2:].split()}


def refresh(path, skip):
    "Run notebook `path` and write it back with its outputs; returns (ok, seconds)."
    t0, nb = time.time(), read_nb(path)
    shell = CaptureShell(path, mpl_format='png')
    shell.run_cell("import matplotlib; matplotlib.rcParams['figure.dpi'] = 80")

    def no_run(cell):
        d = _directives(cell)
        return cell.cell_type != 'code' or bool(d & skip) or {'eval:', 'false'} <= d

    cwd = os.getcwd()
    try:
        os.chdir(path.parent)
        shell.run_all(nb, exc_stop=True, preproc=no_run)
    except Exception:
        sys.stderr.write(shell.prettytb(fname=path) + '\n')
        return False, time.time() - t0
    finally:
        os.chdir(cwd)
    write_nb(nb, path)
    return True, time.time() - t0


PAPER = ('fig3', 'fig4', 'fig5', 'fig6', 'fig7', 'table1', 'small_scale', 'recon_space', 'real_mnist')


def _drop_widgets(path):
    "Remove widget outputs (tqdm's bars) and the saved widget state from a notebook."
    nb = json.loads(path.read_text())
    for c in nb['cells']:
        if 'outputs' in c: c['outputs'] = [o for o in c['outputs'] if 'application/vnd.jupyter.widget-view+json' not in o.get('data', {})]
    nb['metadata'].pop('widgets', None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')


def refresh_paper(path):
    "Run a paper notebook in place with papermill at its defaults; returns (ok, seconds)."
    t0 = time.time()
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}   # a backend set in the shell (Agg) keeps figures out of the outputs
    r = subprocess.run(['papermill', '--log-output', path.name, path.name], cwd=path.parent, env=env)
    if r.returncode == 0: _drop_widgets(path)
    return r.returncode == 0, time.time() - t0


def main(args):
    "Refresh the notebooks named in `args` (default: the library notebooks and index), then nbdev_clean them."
    paper = args[:1] == ['--paper']
    if paper: paths = [ROOT / 'nbs' / f'{n}.ipynb' for n in (args[1:] or PAPER)]   # --paper fig3 table1: those only
    else: paths = [Path(a).resolve() for a in args] or sorted((ROOT / 'nbs').glob('[0-9][0-9]*_*.ipynb')) + [ROOT / 'nbs' / 'index.ipynb']
    skip, failed = _skip_flags(), []
    for p in paths:
        ok, secs = refresh_paper(p) if paper else refresh(p, skip)
        print(f"{'ok    ' if ok else 'FAILED'} {p.relative_to(ROOT)} ({secs:.0f} s)", flush=True)
        if not ok: failed.append(p)
    subprocess.run(['nbdev_clean'], cwd=ROOT, check=True)
    return 1 if failed else 0


if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
