"""``python -m onebin`` runs the same command line as the ``onebin`` script."""

from onebin.cli import main

raise SystemExit(main())
