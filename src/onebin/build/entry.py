"""The entry module of an artifact: onebin's command line with the packed app as default.

Generated per build, because the app is named by a string (``MODULE:ATTRIBUTE``)
that ``onebin.cli.main`` imports at run time: nothing else in the artifact says which
app it was built for. The same text serves both packers: PyInstaller runs it as its
entry script (``__main__``), shiv imports it from site-packages and calls ``main``.
"""

from __future__ import annotations

from onebin.build.plan import app_module

ENTRY_MODULE = "_onebin_main"
ENTRY_POINT = f"{ENTRY_MODULE}:main"


def entry_module(reference: str) -> str:
    """The source of the entry module that runs onebin with ``reference`` as the app."""
    app_module(reference)  # only a checked reference is written into source code
    return (
        f'"""Run onebin\'s command line with {reference} as the app (written by onebin build)."""\n'
        "\n"
        "from onebin.cli import main as onebin_main\n"
        "\n"
        "\n"
        "def main() -> int:\n"
        f"    return onebin_main(app={reference!r})\n"
        "\n"
        "\n"
        'if __name__ == "__main__":\n'
        "    raise SystemExit(main())\n"
    )
