"""A DVP (PGO vendor): person accounts, the OAuth client side, collected data and request log."""
