import sys

from chargepark.platform.cli import main

sys.exit(main())
