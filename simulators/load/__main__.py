"""`python -m simulators.load`: the same as `chargepark sim load`."""

from simulators.load.cli import main

raise SystemExit(main())
