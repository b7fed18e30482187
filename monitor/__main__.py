"""`python -m monitor` and the `news-monitor` console script (pyproject's entry point is main here): the same CLI.

The CLI is imported when main() runs, not with this module: multiprocessing runs the console script again in every
extraction worker it starts (a script, unlike `-m monitor`, is run by path), and there its import of main must
cost nothing; importing the CLI (click and every command's module) cost each worker ~0.1 s of CPU.
"""


def main() -> None:
    from monitor.cli import main as cli

    cli()


if __name__ == "__main__":  # worker processes (forkserver/spawn) import this module without running it
    main()
