"""``python -m egogen`` runs the command line."""

from egogen.cli import main

main()
