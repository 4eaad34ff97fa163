"""``python -m audiosession``: the ``audiosession`` command (see ``audiosession --help``)."""

from audiosession.cli import main

raise SystemExit(main())
