"""The extraction forkserver's preload: imports the pool's worker code and pays extraction's first-use
costs there once, so every worker forked from the server starts warm instead of warming up by itself."""

from monitor.extract_pool import warm_up

warm_up()
