"""Every option and argument of every `sidae` sub-command says in a line what it does (issue 19: help that explains).

Before, `compare --dataset/--seed`, `status --json` and `task`'s three arguments had no help, and `--dataset` refused or did
not name `folder:/path` in `compare` and `evaluate --downstream`."""
import argparse
from sidae.cli import build_parser


def _subparsers(ap):
    return {name: p for a in ap._actions if isinstance(a, argparse._SubParsersAction) for name, p in a.choices.items()}


def test_every_option_of_every_command_has_help():
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in _subparsers(build_parser()).items() for a in p._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help or '').strip()]
    assert not missing, missing


def test_the_dataset_options_name_your_own_folders():
    subs = _subparsers(build_parser())
    for name, opt in (('pretrain', '--dataset'), ('evaluate', '--dataset'), ('evaluate', '--downstream'), ('compare', '--dataset')):
        a = next(a for a in subs[name]._actions if opt in a.option_strings)
        assert 'folder:/path' in a.help and a.choices is None, (name, opt, a.help, a.choices)
