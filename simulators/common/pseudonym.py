"""Recipient-specific encrypted pseudonyms of a BSN, in the manner of BSNk.

DigiD hands the inspection function a pseudonym only the localisation service can open; the
same BSN gives different, unlinkable pseudonyms for different recipients. The key is the
state directory's random secret (``SandboxConfig.secret``), never anything public.

Only the inspection function may ask the localisation index; besides its certificate (medmij
profile) it presents ``localisation_credential`` of its hostname as a bearer token, which only
holders of the secret (the sandbox's nodes) can derive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV


def _key(secret: bytes, recipient: str) -> bytes:
    return hashlib.sha512(secret + b"|pseudonym|" + recipient.encode()).digest()[:64]


def pseudonymise(secret: bytes, recipient: str, bsn: str) -> str:
    token = AESSIV(_key(secret, recipient)).encrypt(bsn.encode(), [recipient.encode()])
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def reveal(secret: bytes, recipient: str, pseudonym: str) -> str | None:
    """The BSN behind a pseudonym meant for this recipient, or None when it is not one."""
    try:
        token = base64.urlsafe_b64decode(pseudonym + "=" * (-len(pseudonym) % 4))
        return AESSIV(_key(secret, recipient)).decrypt(token, [recipient.encode()]).decode()
    except (InvalidTag, ValueError):
        return None


def localisation_credential(secret: bytes, hostname: str) -> str:
    """The bearer token with which the inspection function ``hostname`` asks the registry's
    localisation index: an HMAC of its hostname under the sandbox secret."""
    return hmac.new(secret, b"localisation|" + hostname.encode(), hashlib.sha256).hexdigest()
