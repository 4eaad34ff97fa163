"""``python -m audiosession.cli``: the ``audiosession`` command."""

from audiosession.cli import main

raise SystemExit(main())
