"""Ed25519 signatures of firmware images: trusted keys, checking, signing, making a key.

The ``cryptography`` package does the cryptography; this module only reads key files and
says clearly which one is wrong. Trusted signers are the public keys in one directory
(``[firmware] keys_dir``), each a PEM file or the raw 32 bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware_tools.image import FirmwareImage, ImageError, Version, pack_header, parse_image

MAX_KEY_FILE = 4096


class SignatureError(ImageError):
    """A missing or bad signature, or no key to check one with."""


@dataclass(frozen=True)
class TrustedKey:
    name: str  # the file's name, to say who signed
    key: Ed25519PublicKey


def public_key_from_bytes(data: bytes, name: str) -> Ed25519PublicKey:
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise SignatureError(f"{name}: not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError(f"{name}: a PEM public key, but not Ed25519")
        return key
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    raise SignatureError(f"{name}: neither a PEM public key nor 32 raw bytes of an Ed25519 key")


def load_trusted_keys(keys_dir: Path) -> list[TrustedKey]:
    """Every key file in ``keys_dir`` (hidden files and sub-directories left out); a file
    that is not an Ed25519 public key is an error, not skipped: the admin put it there."""
    try:
        entries = sorted(p for p in keys_dir.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        raise SignatureError(f"no trusted keys: {keys_dir} does not exist") from None
    except OSError as exc:
        raise SignatureError(f"{keys_dir}: cannot be read: {exc.strerror}") from None
    keys = []
    for path in entries:
        if not path.is_file():
            continue
        try:
            with path.open("rb") as f:
                data = f.read(MAX_KEY_FILE + 1)
        except OSError as exc:  # unreadable by this user: said, not a traceback
            raise SignatureError(f"{path}: cannot be read: {exc.strerror}") from None
        if len(data) > MAX_KEY_FILE:
            raise SignatureError(f"{path}: too large for a public key")
        keys.append(TrustedKey(path.name, public_key_from_bytes(data, str(path))))
    if not keys:
        raise SignatureError(f"no trusted keys in {keys_dir}")
    return keys


def check_signature(image: FirmwareImage, keys: list[TrustedKey]) -> TrustedKey:
    """The trusted key that signed ``image``; SignatureError when none did."""
    if image.signature is None:
        raise SignatureError("the image is not signed")
    for trusted in keys:
        try:
            trusted.key.verify(image.signature, image.signed_part)
        except InvalidSignature:
            continue
        return trusted
    raise SignatureError(
        f"bad signature: no trusted key ({', '.join(k.name for k in keys)}) signed this image"
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SignatureError(
            f"{path}: not an unencrypted PEM private key (make one with ccbox firmware keygen)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: a private key, but not Ed25519")
    return key


def sign(
    payload: bytes, board: str, version: Version, key: Ed25519PrivateKey, flags: int = 0
) -> FirmwareImage:
    """A signed image of ``payload`` (parsed back, so what is written is what is read)."""
    header = pack_header(board, version, payload, flags)
    return parse_image(header + payload + key.sign(header + payload))


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; never overwrite (a key lost is a fleet re-keyed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SignatureError(f"{path} exists: not overwritten") from None
    except OSError as exc:
        raise SignatureError(f"{path}: cannot be created: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_key_pair(private_path: Path) -> Path:
    """A new signing key at ``private_path`` (PEM, 0600) and its public key beside it
    (``<name>.pub.pem``, for the boxes' keys_dir); returns the public key's path."""
    key = Ed25519PrivateKey.generate()
    public_path = private_path.with_name(private_path.stem + ".pub.pem")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public_path.exists():
        raise SignatureError(f"{public_path} exists: not overwritten")
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_new(private_path, private, 0o600)
    write_new(public_path, public, 0o644)
    return public_path
