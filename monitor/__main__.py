"""`python -m monitor` and the `news-monitor` console script (pyproject's entry point is main here): the same CLI.

The CLI is imported when main() runs, not with this module: where extraction workers are started by multiprocessing's
spawn (no fork: extract_pool._context), it runs the console script again in every worker (a script, unlike
`-m monitor`, is run by path), and there its import of main must cost nothing; importing the CLI (click and every
command's module) cost each worker ~0.1 s of CPU. Workers forked by the fork server (extract_server.py) run nothing.
"""


def main() -> None:
    from monitor.cli import main as cli

    cli()


if __name__ == "__main__":  # spawned worker processes import this module without running it
    main()
