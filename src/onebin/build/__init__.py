"""Pack an onebin application into one executable and one zipapp.

``onebin.build.pack.build`` is the entry point; the other modules are its steps:
what one build packs (``plan``), the generated entry module (``entry``), the
packages copied from disk (``stage``) with precompressed static files
(``compress``), what to leave out (``trim``), which distributions the zipapp needs
(``closure``), byte-for-byte repeatable archives (``archive``), the self-extracting
launcher (``launcher``), the two packers (``executable``, ``zipapp``) and the size
report (``report``). PyInstaller, shiv and brotli are imported only by the build's
modules, so an installed onebin without the ``build`` extra still imports this
package (the command line reads ``TARGETS`` from it).
"""

from __future__ import annotations

EXECUTABLE = "exe"
ZIPAPP = "pyz"
TARGETS = (EXECUTABLE, ZIPAPP)
