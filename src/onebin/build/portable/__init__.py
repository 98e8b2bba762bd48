"""The portable executable: one file that runs on any Linux with glibc 2.28 or newer.

``onebin build`` packs the interpreter and libraries of the machine it runs on, so
its executable needs that machine's glibc or newer. ``onebin build --portable``
builds them instead, from Debian's source packages, in a Debian 11 root
(``root``, ``sources``, ``toolchain.sh``), packs the app there (``build``) and
checks every ELF file of the result against the limit (``glibc``).
"""
