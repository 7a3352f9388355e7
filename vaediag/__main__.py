import sys

from vaediag.cli import main

sys.exit(main())
