"""Fixtures shared by the test modules, and the order in which the modules run."""
import subprocess
from pathlib import Path
import pytest

# The slowest modules first (seconds on CI's 2-core machine, one module at a time): `.ci/test` runs two modules at a time
# (pytest-xdist, `--dist loadscope --no-loadscope-reorder`), and a slow module started last would run alone at the end.
SLOW_FIRST = ['test_paper_notebooks', 'test_readme_commands', 'test_executors', 'test_cli', 'test_own_images',
              'test_ddp', 'test_integrity', 'test_concurrency']


def pytest_collection_modifyitems(items):
    "Run the modules of SLOW_FIRST first, in that order; within a module the tests keep their order."
    rank = {m: i for i, m in enumerate(SLOW_FIRST)}
    items.sort(key=lambda it: rank.get(Path(str(it.fspath)).stem, len(rank)))


@pytest.fixture
def tmpfs():
    """`tmpfs(path, opts)` mounts a tmpfs at `path` with mount options `opts` (a small or read-only disk) and returns `path`;
    every mount is undone after the test. Skips where mounting is not allowed (it needs root: CI and this project's machines
    run as root)."""
    mounted = []

    def mount(path, opts):
        path.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', opts, 'tmpfs', str(path)], capture_output=True, text=True)
        if p.returncode: pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
        mounted.append(path)
        return path
    yield mount
    for path in reversed(mounted): subprocess.run(['umount', str(path)], capture_output=True)
