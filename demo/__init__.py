"""The seeded demo: a ConnectWise simulator, a SQLite database, a preview, a sync, the web app."""
