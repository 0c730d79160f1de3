"""Encryption at rest for ConnectWise private keys (Fernet, key derived from the secret key)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretDecryptError(RuntimeError):
    """A stored private key cannot be decrypted with the current secret key."""


def _fernet(secret_key: str) -> Fernet:
    # A dedicated derivation keeps the session-signing use of the secret separate from this one.
    digest = hashlib.sha256(b"billing-sync/private-key/v1\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(secret_key: str, plaintext: str) -> str:
    """Encrypt a private key for storage."""
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt_secret(secret_key: str, token: str) -> str:
    """Decrypt a stored private key; a changed secret key is reported, never guessed around."""
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptError(
            "the stored ConnectWise private key cannot be decrypted: BILLING_SYNC_SECRET_KEY "
            "changed since it was saved; enter the private key again"
        ) from exc


def key_hint(plaintext: str) -> str:
    """The last four characters, the only part of a key ever shown back."""
    return plaintext[-4:] if len(plaintext) >= 8 else ""
