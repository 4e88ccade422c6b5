"""`python -m abusewatch.cli ...`: the same as the `abusewatch` command."""

from abusewatch.cli.main import main

raise SystemExit(main())
