"""Fixtures shared by the test modules, and the order in which the modules run."""
import subprocess
from pathlib import Path
import pytest

# The slowest modules first, by the seconds of their tests at d0405c4 (pytest --durations, two at a time): README walk
# 250 (and the paper notebooks' 77 after it), studies 191, cli 170, executors 145, ddp 88, own_images 65, resume 58,
# concurrency 47, fastpath 45, integrity 40, host_sync 25, export 19, fidelity 16, each other module under 10. `.ci/test`
# runs two modules at a time (pytest-xdist, `--dist loadscope --no-loadscope-reorder`), and a slow module started last
# runs alone at the end: test_resume did, about 45 s of one idle core.
SLOW_FIRST = ['test_readme_commands', 'test_paper_notebooks', 'test_studies', 'test_cli', 'test_executors', 'test_ddp',
              'test_own_images', 'test_resume', 'test_concurrency', 'test_fastpath', 'test_integrity', 'test_host_sync',
              'test_export', 'test_fidelity']
# Modules that run in the worker of another, after it, in one session: the paper notebooks read the run store that the
# README walk filled from empty (`smoke_store`), as a researcher's notebooks read what their `sidae run` computed, so
# each smoke run of the figures is computed once in CI, not once per module.
SAME_WORKER = {'test_paper_notebooks': 'test_readme_commands'}


def _module(nodeid): return Path(nodeid.split('::', 1)[0]).stem


def pytest_collection_modifyitems(items):
    "Run the modules of SLOW_FIRST first, in that order; within a module the tests keep their order."
    rank = {m: i for i, m in enumerate(SLOW_FIRST)}
    items.sort(key=lambda it: rank.get(_module(it.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    "Under `--dist loadscope`, a scope is a module, or the module that SAME_WORKER joins it to."
    if config.getvalue('dist') != 'loadscope': return None
    from xdist.scheduler import LoadScopeScheduling

    class Modules(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return SAME_WORKER.get(_module(nodeid), _module(nodeid))
    return Modules(config, log)


@pytest.fixture(scope='session')
def smoke_store(tmp_path_factory):
    """One run store for the README walk and then the paper notebooks (SAME_WORKER: one session, one after the other):
    the walk starts from it empty, as a new user does."""
    return tmp_path_factory.mktemp('runs')


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
