"""`python -m monitor` runs the same CLI as the `news-monitor` console script."""

from monitor.cli import main

main()
