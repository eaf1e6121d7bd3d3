"""A conforming reference KMS served over HTTP on loopback, with seeded faults (see ``faults.FAULTS``)."""

from .faults import FAULTS, Fault
from .server import ReferenceKMS, region_from_authorization
from .service import KMSBackend, KMSError, default_policy

__all__ = [
    "FAULTS",
    "Fault",
    "KMSBackend",
    "KMSError",
    "ReferenceKMS",
    "default_policy",
    "region_from_authorization",
]
