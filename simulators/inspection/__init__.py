"""Mijn Gezondheidsoverzicht: the public inspection function, a DVP that stores nothing."""
