import sys

from gui_grpo.cli.main import main

sys.exit(main())
