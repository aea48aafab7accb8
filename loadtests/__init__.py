"""Locust load tests of the sandbox's MedMij flows, one module per flow.

``collect`` (a PGO user: authorize, DigiD, consent, token, every search), ``longlived``
(refresh token and re-collect), ``inspection`` (Mijn Gezondheidsoverzicht), ``registry``
(nodes polling the lists), ``search`` (one BgZ search at saturation), ``pgo`` (collect through
the sandbox's own PGO), ``portability`` (mass export during a bankruptcy), ``ceiling`` (a bare
ASGI endpoint) and ``shape`` (a busy morning). ``pgo-sandbox load`` runs them; see
docs/load-testing.md.
"""
