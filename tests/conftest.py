"""Fixtures shared by the test modules."""
import subprocess
import pytest


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
