"""`python -m monitor` runs the same CLI as the `news-monitor` console script."""

from monitor.cli import main

if __name__ == "__main__":  # worker processes (forkserver/spawn) import this module without running it
    main()
