"""Under CI=true a skipped kernel test fails the run (conftest.py's rule)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import python_env

SKIPPING = '''
import pytest

def test_needs_something_missing():
    pytest.skip("pretend the kernel lacks a feature")

@pytest.mark.kernel
def test_marked_kernel_elsewhere():
    pytest.skip("pretend again")
'''


def run_pytest(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "tests" / "linux").mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "linux" / "test_skips.py").write_text(SKIPPING)
    env = dict(python_env(), CI=ci, IPCNS_TEST_NO_ISOLATION="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), str(tmp_path / "tests")],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False)


def test_a_skipped_kernel_test_fails_under_ci(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, "true")
    assert out.returncode == 1, out.stdout
    assert "2 failed" in out.stdout
    assert "kernel test skipped under CI=true" in out.stdout


def test_outside_ci_a_skip_is_a_skip(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, "")
    assert out.returncode == 0, out.stdout
    assert "2 skipped" in out.stdout
