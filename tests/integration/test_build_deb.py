"""scripts/build-deb's command line: --arch takes amd64 (the default) and arm64, anything else is a
usage error (exit 2) that names the accepted values, before anything is installed or built."""
import os
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(os.environ.get("EC2AGENT_SOURCE", Path(__file__).resolve().parents[2]))


def build_deb(*args, tmp):
    return subprocess.run([str(SOURCE / "scripts/build-deb"), *args], capture_output=True, text=True,
                          timeout=30, cwd=tmp)


@pytest.mark.parametrize("args", [["--arch", "i386"], ["--arch=riscv64"], ["--arch", "ARM64"], ["--arch", ""]])
def test_an_architecture_it_does_not_build_is_a_clear_error(args, tmp_path):
    out = tmp_path / "deb"
    r = build_deb(*args, str(out), tmp=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "accepted values are amd64 (the default) and arm64" in r.stderr
    assert not out.exists()  # refused before building anything


@pytest.mark.parametrize("args", [["--arch"], ["--bits", "64"], ["a", "b"]])
def test_a_malformed_command_line_prints_the_usage(args, tmp_path):
    r = build_deb(*args, tmp=tmp_path)
    assert r.returncode == 2
    assert "usage: scripts/build-deb [--arch amd64|arm64] [OUTDIR]" in r.stderr
