"""What happened, proven untampered: the signed, hash-chained session logs and their
verification."""
