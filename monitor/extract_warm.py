"""The extraction forkserver's preload: imports the pool's worker code and pays extraction's first-use
costs there once, so every worker forked from the server starts warm instead of warming up by itself.

Then gc.freeze(): the objects made so far (the imported modules, the warm-up's caches) leave the collector's
generations, so a worker's full collections skip them and do not write to the pages it shares with the server
(a forked child measured over the 181 e2e pages: 0 full collections and 6,062 page faults against 1 and 7,888)."""

import gc

from monitor.extract_pool import warm_up

warm_up()
gc.freeze()
