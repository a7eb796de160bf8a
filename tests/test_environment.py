"""The pinned environments agree, and the package metadata pins nothing.

`.ci/requirements.txt` (what CI and `.ci/main` install) and `environment.yml` (the conda environment for GPU users) must name
the same packages at the same versions; `settings.ini`'s `requirements` (the package's metadata) must not pin versions, so
that users with other torch versions can install sidae.
"""
import re
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    "{name: version} of the `name==version` lines."
    return dict(m.groups() for m in (re.match(r'^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)', l) for l in lines) if m)


def test_environment_yml_matches_ci_requirements():
    ci = _pins((ROOT / '.ci' / 'requirements.txt').read_text().splitlines())
    conda = _pins((ROOT / 'environment.yml').read_text().splitlines())
    assert len(ci) >= 15 and 'torch' in ci and 'nbdev' in ci
    assert conda == ci


def test_package_metadata_does_not_pin():
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    reqs = cfg['DEFAULT']['requirements'].split()
    assert 'torch>=2.1' in reqs
    assert not [r for r in reqs if '==' in r], reqs


def test_readme_is_generated_from_index():
    import subprocess, sys
    r = subprocess.run([sys.executable, str(ROOT / '.ci' / 'readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
