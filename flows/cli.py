"""`transfer-laws`: one entry point, one sub-command per stage.

Each verb lives in its own `flows/cli_<verb>.py` module exposing `register(subparsers)`; this file
only assembles them and turns `InputError` into a clear message with exit code 2 (and a
`ReportedFailure`, such as a run that failed on a full disk, into one with exit code 1).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from contextlib import contextmanager

from transfer_laws.tasks.common.errors import InputError, ReportedFailure
from transfer_laws.tasks.common.version import VERSION

# Modules that each add one or more verbs; listed here so `--help` shows them in this order.
VERB_MODULES = ["transfer_laws.flows.cli_train", "transfer_laws.flows.cli_sweep", "transfer_laws.flows.cli_plan",
                "transfer_laws.flows.cli_fit", "transfer_laws.flows.cli_export",
                "transfer_laws.flows.cli_services"]


class Parser(argparse.ArgumentParser):
    """argparse with errors in the project's shape: what is wrong, then `Fix:` what to do."""

    def error(self, message: str):  # argparse exits with 2 after printing the usage
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`\n")


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default in its help, except None: there the help says what happens instead."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


@contextmanager
def flag_names(flags: dict[str, str]):
    """The API names its arguments (d_f); a CLI error names the flag the user typed (--d-f)."""
    try:
        yield
    except InputError as exc:
        if exc.field not in flags:
            raise
        raise InputError(flags[exc.field], exc.value, exc.problem, exc.fix.replace(
            f"{exc.field}=", f"{flags[exc.field]} ")) from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="transfer-laws",
        description=(
            "Measure how much pre-training is worth in data (Hernandez et al. 2021, "
            "'Scaling Laws for Transfer'): train transformers of many sizes on target data sets of "
            "many sizes, from scratch and fine-tuned, fit L(N, D), and fit D_T = k * D_F^alpha * N^beta."
        ),
        epilog="The same from Python: `import transfer_laws` (fit, predict, plan, load_config, run, runs).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERB_MODULES:  # a verb that fails to import is an error, never a verb missing from --help
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except InputError as exc:
        print(f"transfer-laws {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except ReportedFailure as exc:  # work started and failed (a full disk, a crashed run)
        print(f"transfer-laws {args.verb}: error: {exc}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
