"""Adding a method is one module: a throwaway method registered in a temporary registry scope
appears in ``--methods all``, ``ftunlearn list`` and the report with no other edit."""

from __future__ import annotations

import sys
import textwrap

import pytest

from ftunlearn.cli import main
from ftunlearn.experiments.config import parse_methods
from ftunlearn.methods.base import METHODS

MODULE = textwrap.dedent('''
    from dataclasses import dataclass

    from ftunlearn.methods.base import Hyperparameters, Unlearner, register


    @dataclass(frozen=True)
    class NothingConfig(Hyperparameters):
        pass


    @register
    class DoNothing(Unlearner):
        """Returns the original model unchanged (a throwaway for the registry test)."""

        name = "do-nothing"
        Config = NothingConfig
        summary = "returns the original model"

        def run(self, model, retain, forget, context):
            return model
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_methods.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    with METHODS.scope():
        yield "my_methods"
    sys.modules.pop("my_methods", None)
    assert "do-nothing" not in METHODS


@pytest.mark.usefixtures("no_report_plots")
@pytest.mark.usefixtures("no_report_plots")  # the report's text lists it
def test_imported_method_is_listed_everywhere(user_module, tmp_path, capsys):
    assert main(["--import", user_module, "list"]) == 0
    assert "do-nothing" in capsys.readouterr().out
    assert parse_methods("all")[-1] == "do-nothing"
    out = tmp_path / "run"
    code = main(["bench", "--methods", "ft,do-nothing", "--seeds", "1", "--recipe", "epochs=1",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
                 "--threads", "1", "--metrics", "primary"])
    assert code == 0
    assert "do-nothing" in (out / "report.md").read_text()


def test_unimportable_module_is_one_clean_error(capsys):
    assert main(["--import", "no_such_module_xyz", "list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ftunlearn list: error: --import")
