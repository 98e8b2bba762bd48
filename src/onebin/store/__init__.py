"""The embedded store: database wrapper, migrations, and the write-token table."""
