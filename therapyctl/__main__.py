"""``python -m therapyctl ...`` runs the ``therapyctl`` command."""

from ui.cli import main

if __name__ == "__main__":
    main()
