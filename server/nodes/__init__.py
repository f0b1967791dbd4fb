"""Several server nodes: the Redis bus between them and signalling relayed across them."""
