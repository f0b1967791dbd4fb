"""Playroom: an online therapy room for child and adolescent psychotherapists."""

__version__ = "0.1.0"
