from __future__ import annotations

import pytest

from onebin.config import add_arguments
from onebin.suggest import SuggestingParser


def command_line() -> SuggestingParser:
    """Shaped like onebin's: settings on 'serve', a nested 'token create'."""
    parser = SuggestingParser(prog="onebin")
    parser.add_argument("--version", action="version", version="onebin 0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_arguments(commands.add_parser("serve"))
    token = commands.add_parser("token")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser("create")
    create.add_argument("--name")
    create.add_argument("--replace", action="store_true")
    return parser


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        command_line().parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: onebin ")
    return err.splitlines()[-1]


def test_a_mistyped_option_names_the_one_meant(capsys):
    assert refused(capsys, "serve", "--prot", "9000") == (
        "onebin: error: unrecognized arguments: --prot 9000 (did you mean --port?)"
    )


def test_an_option_with_its_value_attached_is_matched_by_name(capsys):
    assert refused(capsys, "serve", "--data_dir=/srv").endswith("(did you mean --data-dir?)")


def test_options_of_nested_subcommands_are_candidates(capsys):
    assert refused(capsys, "token", "create", "--replcae").endswith("(did you mean --replace?)")


def test_several_mistakes_are_each_answered(capsys):
    line = refused(capsys, "serve", "--prot", "1", "--hots", "::")
    assert line.endswith("(did you mean --port for --prot, --host for --hots?)")


def test_nothing_alike_gets_no_guess(capsys):
    line = refused(capsys, "serve", "--zzzzzz", "1")
    assert line == "onebin: error: unrecognized arguments: --zzzzzz 1"


def test_other_errors_and_good_command_lines_are_argparse_s(capsys):
    assert refused(capsys, "token", "create", "--name").endswith("expected one argument")
    args = command_line().parse_args(["serve", "--port", "9000"])
    assert (args.command, args.port) == ("serve", "9000")
    args = command_line().parse_args(["token", "create", "--name", "me", "--replace"])
    assert (args.token_command, args.name, args.replace) == ("create", "me", True)


def test_only_the_typed_commands_options_are_candidates(capsys):
    # --name is token create's: on serve it is no option at all, and not a "did you mean".
    assert refused(capsys, "serve", "--name", "x") == (
        "onebin: error: unrecognized arguments: --name x"
    )


def test_abbreviations_are_refused_not_guessed(capsys):
    line = refused(capsys, "serve", "--max-body", "5")
    assert line.endswith("unrecognized arguments: --max-body 5 (did you mean --max-body-bytes?)")


def test_a_mistyped_command_names_the_one_meant(capsys):
    assert refused(capsys, "tokn").endswith("(did you mean 'token'?)")
    assert refused(capsys, "token", "craete").endswith("(did you mean 'create'?)")
