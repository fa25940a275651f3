"""The `transfer-laws` entry point: every verb module is assembled, and one that cannot be imported
is an error rather than a verb silently missing from --help."""
from __future__ import annotations

import pytest

from transfer_laws.flows import cli


def test_every_verb_module_registers_its_verbs():
    verbs = cli.build_parser()._subparsers._group_actions[0].choices
    assert {"train", "run", "dry-run", "status", "aggregate", "plan", "fit", "predict", "export-suite",
            "services"} <= set(verbs)


def test_a_verb_module_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setattr(cli, "VERB_MODULES", [*cli.VERB_MODULES, "transfer_laws.flows.cli_no_such_verb"])
    with pytest.raises(ModuleNotFoundError, match="cli_no_such_verb"):
        cli.build_parser()
