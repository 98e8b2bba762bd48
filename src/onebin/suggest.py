"""An argparse parser that answers a mistyped option with the one that was meant.

argparse says only "unrecognized arguments: --prot 9000"; with dozens of settings a
user then reads all of ``--help`` to find ``--port``. Every option of the command
line is a candidate, from whichever subcommand: which subcommand was parsed is not
recorded anywhere argparse exposes, and a near miss from another one is still a
useful pointer.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterator, Sequence
from typing import NoReturn

# argparse's own wording (it ships no translations), as its parse_args() writes it.
UNRECOGNIZED = "unrecognized arguments: "


class SuggestingParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose "unrecognized arguments" error names the closest options.

    The rest is argparse's: the usage line, the message, exit status 2. Subparsers
    made with ``add_subparsers`` are of this class too (argparse's default).
    """

    def error(self, message: str) -> NoReturn:
        unknown = message.removeprefix(UNRECOGNIZED)
        if unknown != message:
            message += self.hint(unknown.split())
        super().error(message)

    def hint(self, extras: Sequence[str]) -> str:
        """`` (did you mean --port?)`` for the unknown options that resemble a known one."""
        known = sorted(set(option_strings(self)))
        pairs = []
        for extra in extras:
            if not extra.startswith("-"):
                continue  # a value, such as the 9000 of --prot 9000
            typed = extra.partition("=")[0]
            closest = difflib.get_close_matches(typed, known, n=1)
            if closest:
                pairs.append((typed, closest[0]))
        if not pairs:
            return ""
        if len(pairs) == 1:
            return f" (did you mean {pairs[0][1]}?)"
        return " (did you mean " + ", ".join(f"{m} for {t}" for t, m in pairs) + "?)"


def option_strings(parser: argparse.ArgumentParser) -> Iterator[str]:
    """Every option string of ``parser`` and of every subcommand below it."""
    for action in parser._actions:  # argparse has no public listing
        yield from action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from option_strings(subparser)
