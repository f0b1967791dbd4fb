"""The database: engine, tables, migrations, opening it with the keys, ids and group commit."""
