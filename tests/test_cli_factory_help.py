"""Every command that takes a ``module:factory`` spec says in its ``--help`` that the spec runs
code (issue 19: ``--dataset os:system --data-dir CMD`` would run a shell command)."""

from __future__ import annotations

import re

import pytest

from ftunlearn.cli import main

WARNING = "a module:factory spec imports and runs that code"


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


def _option_help(text: str, option: str) -> str:
    """The help of ``option`` alone: from its name up to the next option's line."""
    options = text.partition(" options: ")[2]  # past the usage line, which names every option
    found = re.search(rf"(?:^| ){re.escape(option)} \S+ (.*?)(?= --[a-z]|$)", options)
    assert found is not None, f"{option} is not in the help"
    return found.group(1)


@pytest.mark.parametrize("command", ["bench", "audit", "tune", "unlearn"])
@pytest.mark.parametrize("option", ["--model", "--dataset"])
def test_factory_options_say_the_spec_runs_code(command, option, capsys):
    assert WARNING in _option_help(_help(command, capsys), option)


@pytest.mark.parametrize("command", ["bench", "audit", "tune"])
def test_config_option_says_its_factories_run_code(command, capsys):
    assert WARNING in _option_help(_help(command, capsys), "--config")
