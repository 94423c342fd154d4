"""``python -m services.cli`` runs the ``tellusonce`` command (used by ``up``'s children)."""

from services.cli.main import main

main()
