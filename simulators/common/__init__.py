"""Pieces every simulated node shares: configuration, HTTP client, FHIR helpers, storage."""
