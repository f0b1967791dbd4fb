"""Allow ``python -m server``.

The garbage collector is off while the command imports what it needs: some 1,000 modules,
about 125,000 objects that live as long as the process and leave under 2,000 in cycles, and
the collections their growing number set off took about 0.1 s of every start, which every
page coming back after a restart waits for (``docs/performance.md``, §13). ``server.cli``
turns it on again: for a server once it has started (``_freeze_heap``), for any other
command at once.
"""

import gc

gc.disable()

from server.cli import main  # noqa: E402 - imported with the collector off

raise SystemExit(main())
