"""The console command exists, prints its version and teaches with --help."""

import subprocess
import sys

from typer.testing import CliRunner

from egogen import __version__
from egogen.cli import app

runner = CliRunner()


def test_version_flag_prints_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"egogen {__version__}"


def test_help_lists_only_real_command_groups():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "body" in result.stdout


def test_console_script_is_installed_and_runs():
    out = subprocess.run([sys.executable, "-m", "egogen", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert __version__ in out.stdout
