"""`python -m citizen` is the `citizen` command."""

from citizen.cli import main

main()
