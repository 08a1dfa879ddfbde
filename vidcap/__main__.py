"""`python -m vidcap` is the same as the `vidcap` command."""
from vidcap.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
