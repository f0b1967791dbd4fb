"""Keys and sealing: the key ring, sealed fields, key rotation, a local TLS certificate."""
