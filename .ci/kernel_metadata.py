"""Write into the notebooks of nbs/ the kernel metadata that JupyterLab sets on opening them; run after nbdev_clean
(`nbdev_clean && python .ci/kernel_metadata.py`, as .ci/test does).

Why: JupyterLab, once the kernel of a notebook it opened has started, sets the notebook's `kernelspec` (its display
name from the kernel spec: 'Python 3 (ipykernel)') and its `language_info` (from the kernel's kernel_info reply,
Python's version included). If either differs from the file, the notebook is marked changed right after opening and
closing it asks to save. nbdev_clean keeps `language_info` (settings.ini's `allowed_metadata_keys` names it) but
writes `kernelspec.display_name` as the kernel's name ('python3'), whatever settings.ini says. So this script writes
both as this environment's kernel reports them; tests/test_notebooks_clean.py checks them against a running kernel.

`python .ci/kernel_metadata.py [NOTEBOOK ...]`: the notebooks named (default: every nbs/*.ipynb); a notebook whose
text would not change is not written.
"""
import json, platform, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def kernel_metadata(name='python3'):
    "{'kernelspec': ..., 'language_info': ...} as JupyterLab sets them once this environment's kernel `name` starts."
    from jupyter_client.kernelspec import KernelSpecManager
    from ipykernel.ipkernel import IPythonKernel
    spec = KernelSpecManager().get_kernel_spec(name)
    info = dict(IPythonKernel.language_info, version=platform.python_version())   # as in its kernel_info reply
    return {'kernelspec': {'name': name, 'display_name': spec.display_name, 'language': spec.language},
            'language_info': info}


def nb_text(nb):
    "The notebook `nb` (a dict) as nbdev writes it (execnb's nb2str)."
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n'


def set_kernel_metadata(path, meta):
    "Write `meta` into the metadata of the notebook at `path`; True if the file changed."
    old = path.read_text(encoding='utf-8')
    nb = json.loads(old)
    nb['metadata'].update(meta)
    new = nb_text(nb)
    if new != old: path.write_text(new, encoding='utf-8')
    return new != old


if __name__ == '__main__':
    meta = kernel_metadata()
    for p in [Path(a) for a in sys.argv[1:]] or sorted((ROOT / 'nbs').glob('*.ipynb')): set_kernel_metadata(p, meta)
