"""Who may do what: staff accounts and sign-in, capability links and their tokens, rate limits."""
