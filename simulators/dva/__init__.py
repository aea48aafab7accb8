"""A DVA: the OAuth authorization server and FHIR resource server in front of care providers."""
