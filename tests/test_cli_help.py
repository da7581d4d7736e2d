"""Every option of every command has help, and --help shows its default."""
import argparse

import pytest

from crosscheck import cli
from mnist_cnn import config, sweep

PARSERS = {"crosscheck": cli.parser, "mnist_cnn.train": config.parser, "mnist_cnn.sweep": sweep.parser}


def walk(parser: argparse.ArgumentParser):
    """(parser, action) for every argument of `parser` and of its subcommands, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:  # the subcommands' one-line help
                yield parser, choice
            for sub in action.choices.values():
                yield from walk(sub)
        elif not isinstance(action, argparse._HelpAction):
            yield parser, action


def _name(action) -> str:
    return "/".join(action.option_strings) or action.dest


@pytest.mark.parametrize("command", PARSERS)
def test_every_option_has_help(command):
    missing = [f"{parser.prog} {_name(action)}" for parser, action in walk(PARSERS[command]())
               if not action.help or action.help == argparse.SUPPRESS]
    assert not missing, f"options without help: {', '.join(missing)}"


@pytest.mark.parametrize("command", PARSERS)
def test_help_shows_every_default(command):
    """An option with a value by default says which in --help (the formatter adds it where the
    text does not): on/off flags and options without a default are the only exceptions."""
    silent = []
    for parser, action in walk(PARSERS[command]()):
        if not action.option_strings or isinstance(action.default, bool) or action.default in (None, ""):
            continue
        shown = parser._get_formatter()._get_help_string(action)
        if "default" not in shown:
            silent.append(f"{parser.prog} {_name(action)}")
    assert not silent, f"defaults not shown: {', '.join(silent)}"


def test_the_rendered_help_carries_the_defaults():
    text = config.parser().format_help()
    assert "--batch-size BATCH_SIZE" in text and "(default: 50)" in text
    assert "(default: float64 float32)" in " ".join(cli.parser()._subparsers._group_actions[0]
                                                    .choices["check"].format_help().split())
