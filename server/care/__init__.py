"""The clinical frame: clients, consent, checklists, the gate, plans, sessions, escalation."""
