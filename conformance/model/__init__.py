"""The oracle: a pure-Python model of KMS keys (no I/O). See ``world.World``."""

from conformance.model.world import Expectation, Family, KeyRecord, World

__all__ = ["Expectation", "Family", "KeyRecord", "World"]
