"""The signalling socket's edge: the socket itself and the handlers of each kind of message."""
