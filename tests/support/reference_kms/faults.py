"""Seeded faults: each one breaks ONE documented behaviour of the reference KMS.

The quality tests enable a fault by name (``ReferenceKMS(faults=[name])``) and expect the conformance suite to
report a failure of at least one of the fault's ``rules`` (IDs from docs/rule-ids.md). Every fault is a small
hook in the reference's code path (``self._fault(name)``), never a second implementation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """A named deviation and the rule IDs it breaks."""

    name: str
    rules: tuple[str, ...]
    description: str


_DEFS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # keyid
    (
        "replicate-accepts-alias",
        ("KEYID-004", "KEYID-005", "ALIAS-002"),  # ALIAS-002 restates KEYID-004 for ReplicateKey
        "ReplicateKey resolves alias names and alias ARNs instead of answering InvalidArnException.",
    ),
    (
        "replicate-accepts-foreign-region-arn",
        ("KEYID-003",),
        "ReplicateKey ignores the Region of a key ARN and resolves the key ID in the caller's Region.",
    ),
    (
        "replicate-accepts-foreign-account-arn",
        ("KEYID-012",),
        "ReplicateKey ignores the account of a key ARN.",
    ),
    (
        "replicate-malformed-keyid-internal-error",
        ("KEYID-006", "ERR-002"),
        "ReplicateKey answers a malformed key ID with HTTP 500 KMSInternalException.",
    ),
    (
        "replicate-malformed-arn-wrong-code",
        ("KEYID-007",),
        "ReplicateKey answers a malformed key ARN with UnsupportedOperationException.",
    ),
    (
        "replicate-keyid-length-unchecked",
        ("KEYID-008",),
        "ReplicateKey skips the KeyId length constraint (NotFoundException instead of ValidationException).",
    ),
    (
        "replicate-missing-key-wrong-code",
        ("KEYID-009",),
        "ReplicateKey answers a nonexistent key with KMSInvalidStateException.",
    ),
    ("replicate-single-region-allowed", ("KEYID-010",), "ReplicateKey replicates a single-Region key."),
    ("replicate-replica-allowed", ("KEYID-011",), "ReplicateKey accepts a replica key as the source."),
    (
        "replicate-replica-checks-region-first",
        ("KEYID-011",),
        "ReplicateKey of a replica into an occupied Region answers AlreadyExistsException (check order).",
    ),
    # region
    (
        "replicate-region-pattern-unchecked",
        ("REGION-001",),
        "ReplicaRegion is not checked against the service-model pattern; any such value gets a replica.",
    ),
    (
        "replicate-unknown-region-allowed",
        ("REGION-002",),
        "A well-formed but nonexistent ReplicaRegion gets a replica.",
    ),
    (
        "replicate-unknown-region-internal-error",
        ("REGION-002", "ERR-002"),
        "A nonexistent ReplicaRegion is answered with HTTP 500 KMSInternalException.",
    ),
    (
        "replicate-other-partition-allowed",
        ("REGION-003",),
        "A ReplicaRegion in another partition gets a replica.",
    ),
    (
        "replicate-other-partition-wrong-code",
        ("REGION-003",),
        "A ReplicaRegion in another partition is answered with UnsupportedOperationException.",
    ),
    (
        "replicate-own-region-wrong-code",
        ("REGION-004",),
        "The primary's own Region is answered with AlreadyExistsException instead of ValidationException.",
    ),
    (
        "replicate-occupied-region-allowed",
        ("REGION-005",),
        "ReplicateKey into a Region that holds a replica replaces that replica.",
    ),
    (
        "replicate-pending-deletion-region-allowed",
        ("REGION-006", "DEL-007"),
        "A replica PendingDeletion no longer blocks ReplicateKey into its Region (it is replaced).",
    ),
    # policy
    (
        "replicate-policy-too-long-allowed",
        ("POLICY-003",),
        "Policy length limits are not enforced on ReplicateKey.",
    ),
    (
        "replicate-policy-bad-chars-allowed",
        ("POLICY-004",),
        "Policy characters outside the allowed set are accepted.",
    ),
    (
        "replicate-policy-invalid-json-allowed",
        ("POLICY-005",),
        "A Policy that is not JSON is accepted and stored as given.",
    ),
    (
        "replicate-policy-invalid-json-wrong-code",
        ("POLICY-005",),
        "A Policy that is not JSON is answered with ValidationException.",
    ),
    (
        "replicate-policy-structure-unchecked",
        ("POLICY-006",),
        "JSON that is not a key policy (no Statement/Effect/Principal/Action) is accepted.",
    ),
    (
        "replicate-lockout-check-skipped",
        ("POLICY-007",),
        "A lockout-unsafe Policy is accepted without BypassPolicyLockoutSafetyCheck.",
    ),
    (
        "replicate-bypass-flag-ignored",
        ("POLICY-008",),
        "BypassPolicyLockoutSafetyCheck=true is ignored: lockout-unsafe policies stay rejected.",
    ),
    (
        "replicate-empty-policy-allowed",
        ("POLICY-009",),
        "An empty Policy string is treated as omitted (default policy).",
    ),
    (
        "replicate-ignores-policy",
        ("POLICY-002",),
        "The given Policy is ignored; the replica gets the default key policy.",
    ),
    (
        "replicate-inherits-policy",
        ("POLICY-001",),
        "With Policy omitted, the replica gets the primary's key policy instead of the default one.",
    ),
    (
        "replicate-omits-replica-policy",
        ("POLICY-011", "POLICY-001"),
        "The ReplicateKey response has no ReplicaPolicy.",
    ),
    (
        "put-key-policy-propagates",
        ("POLICY-010",),
        "PutKeyPolicy on a multi-Region key also changes every related key's policy.",
    ),
    # tags
    (
        "replicate-tag-key-length-unchecked",
        ("TAGS-002",),
        "Tag key length limits are not enforced on ReplicateKey.",
    ),
    (
        "replicate-tag-value-length-unchecked",
        ("TAGS-003",),
        "Tag value length limit is not enforced on ReplicateKey.",
    ),
    ("replicate-too-many-tags-allowed", ("TAGS-004",), "More than 50 tags are accepted on ReplicateKey."),
    (
        "replicate-aws-prefix-case-sensitive",
        ("TAGS-005",),
        "Only the lower-case aws: prefix is reserved (AWS:, Aws: accepted).",
    ),
    (
        "replicate-aws-prefix-wrong-code",
        ("TAGS-005",),
        "The reserved aws: prefix is answered with ValidationException instead of TagException.",
    ),
    ("replicate-duplicate-tags-allowed", ("TAGS-006",), "Duplicate tag keys are accepted (last one wins)."),
    (
        "replicate-ignores-tags",
        ("TAGS-001",),
        "The given Tags are echoed in ReplicaTags but not applied to the replica.",
    ),
    (
        "replicate-inherits-tags",
        ("TAGS-008",),
        "The replica gets the primary's tags in addition to the given ones.",
    ),
    (
        "replicate-omits-replica-tags",
        ("TAGS-007",),
        "The ReplicateKey response has no ReplicaTags even when Tags were given.",
    ),
    (
        "tag-resource-propagates",
        ("TAGS-008",),
        "TagResource/UntagResource on a multi-Region key also change every related key's tags.",
    ),
    # description
    (
        "replicate-ignores-description",
        ("DESC-002",),
        "The given Description is ignored; the replica's description is empty.",
    ),
    (
        "replicate-inherits-description",
        ("DESC-001",),
        "With Description omitted, the replica gets the primary's description instead of empty.",
    ),
    (
        "replicate-description-length-unchecked",
        ("DESC-003",),
        "Description length is not checked on ReplicateKey.",
    ),
    (
        "update-description-propagates",
        ("DESC-004",),
        "UpdateKeyDescription on a multi-Region key also changes every related key.",
    ),
    # response
    (
        "replicate-response-wrong-arn",
        ("RESP-001", "REGION-007"),
        "ReplicaKeyMetadata.Arn keeps the primary's Region.",
    ),
    (
        "replicate-new-key-id",
        ("SHARED-001", "REGION-007", "RESP-001"),
        "The replica gets a fresh mrk- key ID instead of the primary's.",
    ),
    ("replica-creation-date-copied", ("RESP-005",), "The replica's CreationDate is copied from the primary."),
    (
        "replicate-response-missing-new-replica",
        ("RESP-004",),
        "ReplicaKeyMetadata.MultiRegionConfiguration.ReplicaKeys omits the new replica.",
    ),
    # shared
    (
        "replica-key-spec-not-copied",
        ("SHARED-002", "SHARED-014"),
        "The replica reports KeySpec SYMMETRIC_DEFAULT whatever the primary's spec.",
    ),
    (
        "replica-key-usage-not-copied",
        ("SHARED-003",),
        "The replica reports KeyUsage ENCRYPT_DECRYPT whatever the primary's usage.",
    ),
    (
        "replica-origin-not-copied",
        ("SHARED-004", "LIFE-002"),
        "The replica reports Origin AWS_KMS whatever the primary's origin.",
    ),
    (
        "replica-algorithms-not-copied",
        ("SHARED-005", "SHARED-006", "SHARED-007", "SHARED-008"),
        "The replica's algorithm lists are empty.",
    ),
    (
        "replica-rotation-not-copied",
        # A replica that starts without rotation also reports a setting other than the primary's (ROT-003)
        # and, with rotation off, no rotation period (SHARED-010).
        ("SHARED-009", "ROT-004", "ROT-003", "SHARED-010"),
        "A new replica starts with automatic rotation disabled.",
    ),
    (
        "rotation-not-synchronised",
        ("SHARED-009", "ROT-003"),
        "Enable/DisableKeyRotation on the primary does not reach existing replicas.",
    ),
    (
        "rotation-period-not-synchronised",
        ("SHARED-010",),
        "Replicas keep the default 365-day rotation period instead of the primary's.",
    ),
    (
        "replica-different-key-material",
        ("SHARED-011", "CRYPTO-001", "CRYPTO-002", "CRYPTO-003", "CRYPTO-008"),
        "A symmetric encryption replica gets fresh key material instead of the primary's.",
    ),
    ("replica-different-mac-key", ("SHARED-011", "CRYPTO-004"), "An HMAC replica gets a fresh HMAC key."),
    (
        "replica-different-signing-key",
        ("SHARED-011", "CRYPTO-005", "CRYPTO-006"),
        "An asymmetric replica gets a fresh key pair.",
    ),
    ("replica-reports-single-region", ("SHARED-012", "RESP-003"), "The replica reports MultiRegion false."),
    # mrc
    (
        "mrc-primary-not-updated",
        ("MRC-001", "MRC-005"),
        "The primary's ReplicaKeys is not updated by ReplicateKey.",
    ),
    ("mrc-older-replicas-not-updated", ("MRC-003",), "Existing replicas do not learn of a newer replica."),
    ("mrc-lists-primary", ("MRC-001", "RESP-004"), "ReplicaKeys also lists the primary."),
    # lifecycle
    ("replicate-disabled-primary-allowed", ("LIFE-004",), "ReplicateKey of a Disabled primary succeeds."),
    (
        "replicate-disabled-primary-checks-region-first",
        ("LIFE-004",),
        "ReplicateKey of a Disabled primary into an occupied Region answers AlreadyExistsException.",
    ),
    (
        "replicate-pending-deletion-primary-allowed",
        ("LIFE-005",),
        "ReplicateKey of a primary PendingDeletion/PendingReplicaDeletion succeeds.",
    ),
    (
        "replicate-pending-import-primary-allowed",
        ("LIFE-006",),
        "ReplicateKey of an EXTERNAL primary still PendingImport succeeds.",
    ),
    ("replica-never-leaves-creating", ("LIFE-001", "LIFE-009"), "A replica stays Creating forever."),
    (
        "crypto-allowed-while-creating",
        ("LIFE-003",),
        "Cryptographic operations on a Creating replica succeed.",
    ),
    (
        "external-replica-enabled-without-import",
        ("LIFE-002",),
        "A replica of an EXTERNAL primary becomes Enabled (with the primary's material) without an import.",
    ),
    ("crypto-allowed-when-disabled", ("LIFE-010",), "Cryptographic operations on a Disabled key succeed."),
    (
        "crypto-allowed-pending-deletion",
        ("LIFE-011",),
        "Cryptographic operations on a key PendingDeletion/PendingReplicaDeletion succeed.",
    ),
    ("state-enabled-flag-stale", ("LIFE-008",), "DisableKey sets KeyState Disabled but leaves Enabled true."),
    (
        "disable-key-propagates",
        ("INDEP-001", "LIFE-012"),
        "EnableKey/DisableKey on a multi-Region key changes every related key.",
    ),
    # deletion
    (
        "no-pending-replica-deletion",
        ("DEL-001",),
        "ScheduleKeyDeletion on a primary with replicas gives PendingDeletion with a DeletionDate.",
    ),
    (
        "schedule-deletion-propagates",
        ("INDEP-004",),
        "ScheduleKeyDeletion on a replica also schedules the primary and the other replicas.",
    ),
    (
        "cancel-deletion-enables",
        ("DEL-003",),
        "CancelKeyDeletion returns the key to Enabled instead of Disabled.",
    ),
    (
        "cancel-deletion-propagates",
        ("INDEP-005",),
        "CancelKeyDeletion on one related key cancels the deletion of every related key.",
    ),
    ("deletion-window-unchecked", ("DEL-004",), "PendingWindowInDays outside 7..30 is accepted."),
    (
        "enable-pending-deletion-allowed",
        ("DEL-006",),
        "EnableKey/DisableKey on a key PendingDeletion succeed.",
    ),
    # primary
    (
        "update-primary-no-swap",
        ("PRIMARY-001", "PRIMARY-002", "PRIMARY-006"),
        "UpdatePrimaryRegion succeeds but changes nothing.",
    ),
    (
        "update-primary-stale-replicas",
        ("PRIMARY-002",),
        "UpdatePrimaryRegion updates only the two swapped keys; other replicas keep the old primary.",
    ),
    (
        "update-primary-missing-replica-allowed",
        ("PRIMARY-003",),
        "UpdatePrimaryRegion to a Region without a replica succeeds as a no-op.",
    ),
    (
        "update-primary-from-replica-allowed",
        ("PRIMARY-004",),
        "UpdatePrimaryRegion called on a replica succeeds as a no-op.",
    ),
    # rotation
    (
        "replica-rotation-change-allowed",
        ("ROT-001", "ROT-002"),
        "Enable/DisableKeyRotation on a replica succeed (and change only that replica).",
    ),
    ("asymmetric-rotation-allowed", ("ROT-005",), "EnableKeyRotation on asymmetric and HMAC keys succeeds."),
    # import
    (
        "replica-import-accepts-different-material",
        ("IMPORT-003",),
        "A replica accepts key material different from the primary's.",
    ),
    (
        "replica-import-description-allowed",
        ("IMPORT-004",),
        "KeyMaterialDescription is accepted on a replica import.",
    ),
    # crypto
    (
        "decrypt-ignores-keyid",
        ("CRYPTO-007",),
        "Decrypt ignores a KeyId naming a key other than the ciphertext's.",
    ),
    ("encryption-context-ignored", ("CRYPTO-009",), "The encryption context is not bound to the ciphertext."),
    # alias
    ("alias-global", ("ALIAS-001", "INDEP-002"), "Aliases resolve and list in every Region."),
)

FAULTS: dict[str, Fault] = {name: Fault(name, rules, text) for name, rules, text in _DEFS}
