"""The command line (`abusewatch ...`): argument parsing and glue, no library logic of its own."""
