"""kms-conformance: a property-based conformance suite for AWS KMS ReplicateKey.

Public surface: the ``kms-conformance`` command (``conformance.cli``), the pytest plugin
(``conformance.plugin``), the rule catalogue (``conformance.catalogue.load_catalogue``) and the
report schema (``conformance.verdicts.SCHEMA``). Everything else is internal.
"""

__version__ = "0.1.0"
