import sys

from chargepark.cli import main

sys.exit(main())
