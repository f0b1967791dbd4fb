"""What is kept of sessions: tamper-evident logs, records, reports, retention and export."""
