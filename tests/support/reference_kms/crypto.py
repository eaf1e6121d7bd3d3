"""Real key material and cryptography for the reference KMS (via ``cryptography``).

Interoperability between related multi-Region keys is only provable with real crypto: a replica that does not
share the primary's material must visibly fail to decrypt, verify or check MACs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
HMAC_BYTES = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
HMAC_ALG = {
    "HMAC_224": "HMAC_SHA_224",
    "HMAC_256": "HMAC_SHA_256",
    "HMAC_384": "HMAC_SHA_384",
    "HMAC_512": "HMAC_SHA_512",
}
_HASHLIB = {
    "HMAC_SHA_224": "sha224",
    "HMAC_SHA_256": "sha256",
    "HMAC_SHA_384": "sha384",
    "HMAC_SHA_512": "sha512",
}
_EC_SIGN = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "ECC_SECG_P256K1": "ECDSA_SHA_256",
}
RSA_SIGN = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]
RSA_ENCRYPT = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
ED_SPEC = "ECC_NIST_EDWARDS25519"

# Which KeyUsage values each KeySpec allows (AWS "Key spec reference" / CreateKey docs).
USAGES: dict[str, tuple[str, ...]] = {
    "SYMMETRIC_DEFAULT": ("ENCRYPT_DECRYPT",),
    **{s: ("ENCRYPT_DECRYPT", "SIGN_VERIFY") for s in RSA_BITS},
    "ECC_NIST_P256": ("SIGN_VERIFY", "KEY_AGREEMENT"),
    "ECC_NIST_P384": ("SIGN_VERIFY", "KEY_AGREEMENT"),
    "ECC_NIST_P521": ("SIGN_VERIFY", "KEY_AGREEMENT"),
    "ECC_SECG_P256K1": ("SIGN_VERIFY",),
    ED_SPEC: ("SIGN_VERIFY",),
    **{s: ("GENERATE_VERIFY_MAC",) for s in HMAC_BYTES},
}

_BLOB_MAGIC = b"RKMS\x01"
CiphertextParts = tuple[str, str, bytes, bytes]


class CryptoFailure(Exception):
    """Bad ciphertext, signature or key material; the caller maps it to the right KMS error."""


def algorithms(spec: str, usage: str) -> dict[str, list[str]]:
    """KeyMetadata algorithm members for a spec/usage pair."""
    if spec == "SYMMETRIC_DEFAULT":
        return {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}
    if spec in HMAC_BYTES:
        return {"MacAlgorithms": [HMAC_ALG[spec]]}
    if usage == "KEY_AGREEMENT":
        return {"KeyAgreementAlgorithms": ["ECDH"]}
    if spec in RSA_BITS:
        return (
            {"EncryptionAlgorithms": list(RSA_ENCRYPT)}
            if usage == "ENCRYPT_DECRYPT"
            else {"SigningAlgorithms": list(RSA_SIGN)}
        )
    if spec == ED_SPEC:
        return {"SigningAlgorithms": ["ED25519_SHA_512"]}
    return {"SigningAlgorithms": [_EC_SIGN[spec]]}


def generate_material(spec: str) -> bytes:
    """Fresh key material: raw bytes for symmetric/HMAC, PKCS#8 DER for asymmetric keys."""
    if spec == "SYMMETRIC_DEFAULT":
        return os.urandom(32)
    if spec in HMAC_BYTES:
        return os.urandom(HMAC_BYTES[spec])
    key: Any
    if spec in RSA_BITS:
        key = rsa.generate_private_key(65537, RSA_BITS[spec])
    elif spec == ED_SPEC:
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(EC_CURVES[spec]())
    return bytes(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def material_id(material: bytes) -> str:
    """A stable 64-hex identifier of key material (like AWS's CurrentKeyMaterialId)."""
    return hashlib.sha256(b"reference-kms-material" + material).hexdigest()


def material_fits(spec: str, material: bytes) -> bool:
    """Whether imported material has the shape the key spec needs."""
    if spec == "SYMMETRIC_DEFAULT":
        return len(material) == 32
    if spec in HMAC_BYTES:
        return len(material) == HMAC_BYTES[spec]
    try:
        key = serialization.load_der_private_key(material, None)
    except (ValueError, TypeError):
        return False
    if spec in RSA_BITS:
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size == RSA_BITS[spec]
    if spec == ED_SPEC:
        return isinstance(key, ed25519.Ed25519PrivateKey)
    return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, EC_CURVES[spec])


def _private(material: bytes) -> Any:
    return serialization.load_der_private_key(material, None)


def _aad(context: dict[str, str] | None) -> bytes:
    return json.dumps(context or {}, sort_keys=True, separators=(",", ":")).encode()


def sym_encrypt(
    key_id: str, mat_id: str, material: bytes, plaintext: bytes, context: dict[str, str] | None
) -> bytes:
    """AES-256-GCM; the blob embeds the key ID and material ID so any related key can find its material."""
    nonce = os.urandom(12)
    ct = AESGCM(material).encrypt(nonce, plaintext, _aad(context))
    kid = key_id.encode()
    return _BLOB_MAGIC + struct.pack(">B", len(kid)) + kid + bytes.fromhex(mat_id) + nonce + ct


def parse_sym_blob(blob: bytes) -> CiphertextParts | None:
    """(key_id, material_id, nonce, ciphertext) of a blob made by :func:`sym_encrypt`, else None."""
    if not blob.startswith(_BLOB_MAGIC) or len(blob) < len(_BLOB_MAGIC) + 1:
        return None
    pos = len(_BLOB_MAGIC)
    n = blob[pos]
    pos += 1
    if len(blob) < pos + n + 32 + 12 + 16:
        return None
    try:
        kid = blob[pos : pos + n].decode()
    except UnicodeDecodeError:
        return None
    pos += n
    mat = blob[pos : pos + 32].hex()
    pos += 32
    return kid, mat, blob[pos : pos + 12], blob[pos + 12 :]


def sym_decrypt(
    material: bytes, nonce: bytes, ct: bytes, context: dict[str, str] | None, bind_context: bool = True
) -> bytes:
    """Inverse of :func:`sym_encrypt`; raises CryptoFailure on any mismatch."""
    try:
        return AESGCM(material).decrypt(nonce, ct, _aad(context) if bind_context else None)
    except InvalidTag as exc:
        raise CryptoFailure("InvalidTag") from exc


def _hash(name: str) -> hashes.HashAlgorithm:
    return {
        "SHA_1": hashes.SHA1(),
        "SHA_256": hashes.SHA256(),
        "SHA_384": hashes.SHA384(),
        "SHA_512": hashes.SHA512(),
    }[name]


def rsa_encrypt(material: bytes, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES_OAEP_SHA_1 / _256 with the key's public half."""
    h = _hash(algorithm.removeprefix("RSAES_OAEP_"))
    pub = _private(material).public_key()
    return bytes(pub.encrypt(plaintext, padding.OAEP(padding.MGF1(h), h, None)))


def rsa_decrypt(material: bytes, algorithm: str, ciphertext: bytes) -> bytes:
    """Inverse of :func:`rsa_encrypt`."""
    h = _hash(algorithm.removeprefix("RSAES_OAEP_"))
    try:
        return bytes(_private(material).decrypt(ciphertext, padding.OAEP(padding.MGF1(h), h, None)))
    except ValueError as exc:
        raise CryptoFailure("rsa decrypt") from exc


def public_key_der(material: bytes) -> bytes:
    """SubjectPublicKeyInfo DER of an asymmetric key."""
    return bytes(
        _private(material)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def digest_size(algorithm: str) -> int:
    """Bytes of the digest a signing algorithm hashes with (for MessageType DIGEST)."""
    return {"256": 32, "384": 48, "512": 64}[algorithm.rsplit("_", 1)[-1]]


def _sig_params(algorithm: str, digest: bool) -> tuple[Any, Any]:
    h = _hash("SHA_" + algorithm.rsplit("_", 1)[-1])
    hash_arg: Any = utils.Prehashed(h) if digest else h
    if algorithm.startswith("RSASSA_PSS"):
        return padding.PSS(padding.MGF1(h), h.digest_size), hash_arg
    if algorithm.startswith("RSASSA_PKCS1"):
        return padding.PKCS1v15(), hash_arg
    return ec.ECDSA(hash_arg), None


def sign(material: bytes, algorithm: str, message: bytes, digest: bool) -> bytes:
    """Sign like KMS: RSA PKCS#1 v1.5 / PSS (salt = digest length), DER ECDSA, pure Ed25519."""
    key = _private(material)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    pad, hash_arg = _sig_params(algorithm, digest)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, pad, hash_arg)
    return bytes(key.sign(message, pad))


def verify(material: bytes, algorithm: str, message: bytes, signature: bytes, digest: bool) -> bool:
    """Whether ``signature`` is valid for ``message`` under the key's public half."""
    pub = _private(material).public_key()
    try:
        if isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(signature, message)
            return True
        pad, hash_arg = _sig_params(algorithm, digest)
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(signature, message, pad, hash_arg)
        else:
            pub.verify(signature, message, pad)
    except (InvalidSignature, ValueError):
        return False
    return True


def mac(material: bytes, algorithm: str, message: bytes) -> bytes:
    """HMAC over ``message``."""
    return hmac.new(material, message, _HASHLIB[algorithm]).digest()


def generate_wrapping_key(spec: str) -> rsa.RSAPrivateKey:
    """RSA key pair for GetParametersForImport."""
    return rsa.generate_private_key(65537, RSA_BITS[spec])


def unwrap(private: rsa.RSAPrivateKey, algorithm: str, blob: bytes) -> bytes:
    """Unwrap imported key material (RSAES_OAEP_SHA_1/_256, RSAES_PKCS1_V1_5, RSA_AES_KEY_WRAP_SHA_1/_256)."""
    try:
        if algorithm == "RSAES_PKCS1_V1_5":
            return bytes(private.decrypt(blob, padding.PKCS1v15()))
        if algorithm.startswith("RSAES_OAEP_"):
            h = _hash(algorithm.removeprefix("RSAES_OAEP_"))
            return bytes(private.decrypt(blob, padding.OAEP(padding.MGF1(h), h, None)))
        if algorithm.startswith("RSA_AES_KEY_WRAP_"):
            h = _hash(algorithm.removeprefix("RSA_AES_KEY_WRAP_"))
            size = private.key_size // 8
            aes_key = private.decrypt(blob[:size], padding.OAEP(padding.MGF1(h), h, None))
            return bytes(aes_key_unwrap_with_padding(aes_key, blob[size:]))
    except (ValueError, InvalidUnwrap) as exc:
        raise CryptoFailure("unwrap") from exc
    raise CryptoFailure(f"unsupported wrapping algorithm {algorithm}")
