"""``python -m faceatlas``: the same as the ``faceatlas`` command."""

from faceatlas.cli import main

if __name__ == "__main__":
    main()
