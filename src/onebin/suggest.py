"""An argparse parser that answers a mistyped option or command with the one meant.

argparse says only "unrecognized arguments: --prot 9000"; with dozens of settings a
user then reads all of ``--help`` to find ``--port``. The candidates are the options
of the command that was typed (``build --data-dir`` is not a near miss of itself:
``--data-dir`` belongs to other commands), and a mistyped command gets the closest
command. Abbreviations are refused: ``--max-body 5`` silently meaning
``--max-body-bytes 5`` is a guess, not a setting.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

# argparse's own wording (it ships no translations), as its parse_args() writes it.
UNRECOGNIZED = "unrecognized arguments: "
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)$")


class SuggestingParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors name the closest option or command.

    The rest is argparse's: the usage line, the message, exit status 2. Subparsers
    made with ``add_subparsers`` are of this class too (argparse's default).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._typed: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._typed = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        unknown = message.removeprefix(UNRECOGNIZED)
        if unknown != message:
            message += self.hint(unknown.split())
        elif choice := _INVALID_CHOICE.search(message):
            choices = re.findall(r"'([^']*)'", choice.group(2))
            closest = difflib.get_close_matches(choice.group(1), choices, n=1)
            if closest:
                message += f" (did you mean {closest[0]!r}?)"
        super().error(message)

    def hint(self, extras: Sequence[str]) -> str:
        """`` (did you mean --port?)`` for the unknown options that resemble a known one."""
        known = sorted(set(option_strings(selected(self, self._typed))))
        pairs = []
        for extra in extras:
            if not extra.startswith("-"):
                continue  # a value, such as the 9000 of --prot 9000
            typed = extra.partition("=")[0]
            closest = difflib.get_close_matches(typed, known, n=1)
            if closest and closest[0] != typed:
                pairs.append((typed, closest[0]))
        if not pairs:
            return ""
        if len(pairs) == 1:
            return f" (did you mean {pairs[0][1]}?)"
        return " (did you mean " + ", ".join(f"{m} for {t}" for t, m in pairs) + "?)"


def selected(parser: argparse.ArgumentParser, typed: Sequence[str]) -> argparse.ArgumentParser:
    """The deepest (sub)command parser that the words of ``typed`` name."""
    for word in typed:
        if word.startswith("-"):
            continue
        for action in parser._actions:  # argparse has no public listing
            if isinstance(action, argparse._SubParsersAction) and word in action.choices:
                parser = action.choices[word]
                break
    return parser


def option_strings(parser: argparse.ArgumentParser) -> Iterator[str]:
    """The option strings of one parser (its own, not its subcommands')."""
    for action in parser._actions:
        yield from action.option_strings
