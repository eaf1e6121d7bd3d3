"""Directed scenarios: short scripted programs, run once per focus before Hypothesis explores.

Layer: state machine. Each scenario drives a fresh ``ReplicateKeyMachine`` through its own rule
methods with fixed arguments, so every check, expectation and replay script is the machine's:
nothing here decides a verdict.

Why: a small random budget reaches a given behaviour under some seeds and misses it under others,
so a deviation would be reported by one run and not the next (a verdict that depends on luck).
Every scenario below reaches its rules under every seed. Rules a scenario finds failing are then
muted for the exploration, which spends its budget on what the scenarios do not script.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis.stateful import MultipleResults

from conformance.checks import RuleViolation
from conformance.inputs import PLACEHOLDER_ACCOUNT as ACCOUNT
from conformance.inputs import PLACEHOLDER_KEY_ID as KEY_ID
from conformance.inputs import PLACEHOLDER_REGION as REGION
from conformance.inputs import BadInput
from conformance.machine import Handle, ReplicateKeyMachine

SYMMETRIC: dict[str, Any] = {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "Origin": "AWS_KMS"}
EXTERNAL: dict[str, Any] = {**SYMMETRIC, "Origin": "EXTERNAL"}
RSA_SIGN: dict[str, Any] = {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY", "Origin": "AWS_KMS"}
RSA_ENCRYPT: dict[str, Any] = {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT", "Origin": "AWS_KMS"}
ECC_SIGN: dict[str, Any] = {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "Origin": "AWS_KMS"}
HMAC: dict[str, Any] = {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC", "Origin": "AWS_KMS"}

_ROOT = "arn:{partition}:iam::{account}:root"


def _policy(principal: str, actions: str | list[str], pad: int = 0) -> str:
    """A key policy text with one Allow statement ({account}/{partition} are filled in at run time)."""
    quoted = f'"{actions}"' if isinstance(actions, str) else "[" + ", ".join(f'"{a}"' for a in actions) + "]"
    return (
        '{"Version": "2012-10-17", "Statement": [{"Sid": "directed", "Effect": "Allow", '
        f'"Principal": {{"AWS": "{principal}"}}, "Action": {quoted}, "Resource": "*"}}]}}' + " " * pad
    )


SAFE_POLICY = _policy(_ROOT, "kms:*")


def _bad_policy(text: str) -> str:
    """A policy template as a BadInput holds it (BadInput.resolve puts in the run's account)."""
    return text.replace("{account}", ACCOUNT).replace("{partition}", "aws")


# One invalid value per rule (boundary values where the rule has a bound). The strategies generate
# the same kinds of value at random; these are the fixed points every run visits.
INVALID_INPUTS: tuple[BadInput, ...] = (
    BadInput("KeyId", f"arn:aws:kms:af-south-1:{ACCOUNT}:key/{KEY_ID}", "KEYID-003", "another Region's ARN"),
    BadInput("KeyId", "alias/directed", "KEYID-004", "an alias name"),
    BadInput("KeyId", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/directed", "KEYID-005", "an alias ARN"),
    BadInput("KeyId", "not-a-key-id", "KEYID-006", "neither key ID nor ARN"),
    BadInput("KeyId", f"arn:aws:s3:{REGION}:{ACCOUNT}:key/{KEY_ID}", "KEYID-007", "an ARN of another service"),
    BadInput("KeyId", "", "KEYID-008", "empty"),
    BadInput("KeyId", "mrk-" + "0" * 28 + "dead", "KEYID-009", "a well-formed key ID of no key"),
    BadInput("KeyId", f"arn:aws:kms:{REGION}:000000000000:key/{KEY_ID}", "KEYID-012", "another account's ARN"),
    BadInput("ReplicaRegion", "", "REGION-001", "empty"),
    BadInput("ReplicaRegion", "US-WEST-2", "REGION-001", "upper case"),
    BadInput("ReplicaRegion", "us-invalid-1", "REGION-002", "the pattern, but no Region"),
    BadInput("ReplicaRegion", "cn-north-1", "REGION-003", "another partition"),
    BadInput("ReplicaRegion", REGION, "REGION-004", "the primary's own Region"),
    BadInput("Policy", _bad_policy(_policy(_ROOT, "kms:*", pad=131_073)), "POLICY-003", "over the model maximum"),
    BadInput("Policy", _bad_policy(_policy(_ROOT, "kms:*", pad=32_768)), "POLICY-003", "over the 32 KB quota"),
    BadInput("Policy", _bad_policy(SAFE_POLICY.replace("directed", "dir\u0100cted")), "POLICY-004", "U+0100"),
    BadInput("Policy", "{", "POLICY-005", "not JSON"),
    BadInput("Policy", '{"Version": "2012-10-17"}', "POLICY-006", "no Statement"),
    BadInput(
        "Policy",
        _bad_policy(_policy(_ROOT, "kms:Encrypt")),
        "POLICY-007",
        "does not allow PutKeyPolicy",
        bypass=False,
    ),
    BadInput("Policy", "", "POLICY-009", "empty"),
    BadInput("Tags", [{"TagKey": "", "TagValue": "v"}], "TAGS-002", "an empty tag key"),
    BadInput("Tags", [{"TagKey": "k" * 129, "TagValue": "v"}], "TAGS-002", "a 129-character tag key"),
    BadInput("Tags", [{"TagKey": "k", "TagValue": "v" * 257}], "TAGS-003", "a 257-character tag value"),
    BadInput("Tags", [{"TagKey": f"k{i:02d}", "TagValue": ""} for i in range(51)], "TAGS-004", "51 tags"),
    BadInput("Tags", [{"TagKey": "aws:directed", "TagValue": "v"}], "TAGS-005", "the aws: prefix"),
    BadInput("Tags", [{"TagKey": "AwS:directed", "TagValue": "v"}], "TAGS-005", "the aws: prefix, mixed case"),
    BadInput("Tags", [{"TagKey": "k", "TagValue": "a"}, {"TagKey": "k", "TagValue": "b"}], "TAGS-006", "a duplicate"),
    BadInput("Description", "d" * 8193, "DESC-003", "8193 characters"),
)

VALID_EXTRAS: tuple[dict[str, Any], ...] = (
    {"Description": "kms-conformance directed replica", "Tags": [{"TagKey": "directed", "TagValue": "yes"}]},
    {"Description": "", "Tags": [{"TagKey": "k" * 128, "TagValue": "v" * 256}], "Policy": SAFE_POLICY},
    {"Description": "d" * 8192, "Policy": SAFE_POLICY, "BypassPolicyLockoutSafetyCheck": False},
    {"Policy": _policy(_ROOT, "kms:Encrypt"), "BypassPolicyLockoutSafetyCheck": True},
)


class Driver:
    """Calls a machine's rules one by one, checking after each step as Hypothesis would."""

    def __init__(self, machine: ReplicateKeyMachine, name: str = "") -> None:
        self.machine = machine
        self.name = name
        self.program: list[str] = []
        self.cuts: list[int] = []  # for each of the machine's fail points: the program lines up to it

    def program_until(self, fail_point: int) -> str:
        """The scenario's source up to the step in which the machine's ``fail_point``-th failure happened."""
        header = f"# directed scenario {self.name} (conformance/directed.py)"
        return "\n".join([header, *self.program[: self.cuts[fail_point]]])

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.machine, name)

        def step(**kwargs: Any) -> Any:
            shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            self.program.append(f"state.{name}({shown})"[:400])
            result = method(**kwargs)
            self.cuts += [len(self.program)] * (len(self.machine.fail_points) - len(self.cuts))
            # A violation is recorded by the checker; the scenario goes on (a tainted machine does nothing).
            with contextlib.suppress(RuleViolation):
                self.machine.no_rule_broken_in_this_step()
            return None if isinstance(result, MultipleResults) else result

        return step


@dataclass(frozen=True)
class Scenario:
    name: str
    foci: tuple[str, ...]
    script: Callable[[Driver], None]


Then = Callable[[Driver, Handle], None]


def _scenario(name: str, foci: tuple[str, ...], params: dict[str, Any], *then: Then, replica: bool = True) -> Scenario:
    """A scenario: a primary (with one replica, as every test case starts), then ``then`` in order.

    Scenarios are small on purpose: after a mutating call the model did not allow, the machine stops
    judging its test case, so one deviation would hide whatever a longer script checks after it.
    """

    def script(d: Driver) -> None:
        handle = d.first_primary(params=dict(params)) if replica else d.create_primary(params=dict(params))
        if isinstance(handle, Handle):
            for step in then:
                step(d, handle)

    return Scenario(name, foci, script)


def _replicate(region_pick: int, key_form: str = "id", **extras: Any) -> Then:
    return lambda d, h: d.replicate_key(handle=h, region_pick=region_pick, key_form=key_form, extras=extras)


def _pause(seconds: float) -> Then:
    """Let time pass: RESP-005 tells a replica's own CreationDate from a copied one only after 1.5 s."""

    def pause(d: Driver, h: Handle) -> None:
        time.sleep(seconds)
        d.machine.waited_after_create = True

    return pause


def _observe_all(d: Driver, h: Handle) -> None:
    d.describe_related_keys(handle=h)
    d.list_tags_of_related_keys(handle=h)
    d.get_policies_of_related_keys(handle=h)


def _describe(d: Driver, h: Handle) -> None:
    d.describe_related_keys(handle=h)


def _enable(pick: int, enable: bool) -> Then:
    return lambda d, h: d.set_enabled(handle=h, pick=pick, enable=enable)


def _delete(pick: int, days: int) -> Then:
    return lambda d, h: d.schedule_deletion(handle=h, pick=pick, days=days)


def _rotation(pick: int, enable: bool) -> Then:
    return lambda d, h: d.set_rotation(handle=h, pick=pick, enable=enable)


def _rotation_status(d: Driver, h: Handle) -> None:
    d.rotation_status_of_related_keys(handle=h)


def _encrypt(pick: int) -> Then:
    return lambda d, h: d.encrypt(handle=h, pick=pick, plaintext=b"kms-conformance", context={})


def _round_trip(pick: int, variant: str = "same") -> Then:
    return lambda d, h: d.encrypt_then_decrypt_everywhere(
        handle=h, pick=pick, plaintext=b"kms-conformance", context={"purpose": "directed"}, variant=variant
    )


def _invalid(bad: BadInput) -> Then:
    return lambda d, h: d.replicate_key_invalid(handle=h, bads=[bad], region_pick=0)


def _independence(d: Driver, h: Handle) -> None:
    d.update_description(handle=h, pick=1, text="changed on the replica")
    d.tag_key(handle=h, pick=1, tags=[{"TagKey": "only-here", "TagValue": "1"}])
    d.put_key_policy(handle=h, pick=1, policy=SAFE_POLICY.replace("directed", "replica-only"))
    _observe_all(d, h)


def _old_ciphertext_in_new_replica(d: Driver, h: Handle) -> None:
    ciphertext = d.encrypt(handle=h, pick=0, plaintext=b"before the new replica", context={"k": "v"})
    d.replicate_key(handle=h, region_pick=2, key_form="id", extras={})
    if ciphertext is not None:
        for pick, variant in ((2, "same"), (1, "same"), (1, "other-context"), (1, "primary-arn")):
            d.decrypt_elsewhere(ct=ciphertext, pick=pick, variant=variant)


def _mac_or_sign(pick: int) -> Then:
    return lambda d, h: d.mac_or_sign_everywhere(handle=h, pick=pick, message=b"kms-conformance")


def _public_keys(d: Driver, h: Handle) -> None:
    d.public_keys_of_related_keys(handle=h)


def _single_region(d: Driver) -> None:
    single = d.create_single_region_key()
    if isinstance(single, Handle):
        d.replicate_single_region_key(handle=single, region_pick=0)


V, R, L, C = ("validation",), ("replicate",), ("lifecycle",), ("crypto",)
# ReplicateKey with its parameters is a step of every focus, so its scenarios run in every focus: what
# they find is then muted there too, instead of costing each focus's exploration one pass per rule.
EVERY = V + R + L + C

SCENARIOS: tuple[Scenario, ...] = (
    # validation: one invalid value per scenario (a crash taints the test case)
    *(_scenario(f"invalid-{bad.rule_id}-{bad.why}", V, SYMMETRIC, _invalid(bad), replica=False)
      for bad in INVALID_INPUTS),
    _scenario(
        "replicate-a-replica", V + L, SYMMETRIC, lambda d, h: d.replicate_a_replica(handle=h, pick=1, region_pick=2)
    ),
    _scenario("replicate-a-replica-into-an-occupied-region", V, SYMMETRIC,
              lambda d, h: d.replicate_a_replica(handle=h, pick=1, region_pick=0)),
    _scenario("alias", V, SYMMETRIC, lambda d, h: d.alias_in_one_region(handle=h, pick=0)),
    Scenario("single-region-key", V, _single_region),
    # replicate: each optional parameter, both key forms, an occupied Region
    *(_scenario(f"replicate-with-parameters-{i}", EVERY, SYMMETRIC, _replicate(2, "id", **extras),
                _observe_all)
      for i, extras in enumerate(VALID_EXTRAS)),
    _scenario("replicate-by-arn", EVERY, SYMMETRIC, _replicate(2, "arn"), _describe),
    _scenario("replicate-into-an-occupied-region", EVERY, SYMMETRIC, _replicate(1)),
    _scenario("replicate-into-its-own-region", EVERY, SYMMETRIC, _replicate(0)),
    _scenario("primary-description-not-copied", EVERY, {**SYMMETRIC, "Description": "the primary's"}, _describe),
    _scenario("replica-creation-date", R, SYMMETRIC, _pause(1.6), _replicate(2), replica=False),
    _scenario("independent-properties", R, SYMMETRIC, _independence),
    _scenario("shared-properties-hmac", R, HMAC, _replicate(2), _observe_all),
    _scenario("shared-properties-rsa", R, RSA_SIGN, _replicate(2), _observe_all),
    _scenario("shared-properties-external", EVERY, EXTERNAL, _observe_all),
    # lifecycle
    _scenario("replicas-created-later", L + R, SYMMETRIC, _replicate(2), _replicate(3), _describe),
    _scenario("disabled-primary", L + C, SYMMETRIC, _enable(0, False), _replicate(2), _describe),
    _scenario("disabled-primary-occupied-region", L, SYMMETRIC, _enable(0, False), _replicate(1)),
    _scenario("disable-a-replica", L, SYMMETRIC, _enable(1, False), _describe, _enable(1, True), _describe),
    _scenario("deletion-window", L, SYMMETRIC, _delete(1, 6), _delete(1, 31), _delete(1, 7), _describe),
    _scenario("replica-pending-deletion", L, SYMMETRIC, _delete(1, 7), _replicate(1), _describe),
    _scenario("enable-a-key-pending-deletion", L, SYMMETRIC, _delete(1, 7), _enable(1, True), _enable(1, False)),
    _scenario(
        "cancel-one-of-two-deletions",
        L,
        SYMMETRIC,
        _replicate(2),
        _delete(1, 7),
        _delete(2, 7),
        lambda d, h: d.cancel_deletion(handle=h, pick=1),
        _describe,
    ),
    _scenario("primary-pending-replica-deletion", L, SYMMETRIC, _delete(0, 30), _describe, _replicate(2)),
    _scenario("primary-without-replicas-deleted", L, SYMMETRIC, _delete(0, 7), _describe, replica=False),
    _scenario("rotation-on-the-primary", L, SYMMETRIC, _rotation(0, True), _rotation_status, _replicate(2),
              _rotation_status, _rotation(0, False), _rotation_status),
    _scenario("enable-rotation-on-a-replica", L + C, SYMMETRIC, _rotation(1, True)),
    _scenario("disable-rotation-on-a-replica", L + C, SYMMETRIC, _rotation(0, True), _rotation(1, False)),
    _scenario(
        "update-primary-region",
        L,
        SYMMETRIC,
        _replicate(2),
        lambda d, h: d.update_primary_region(handle=h, pick=0, region_pick=1),
        _describe,
        _replicate(3),
    ),
    _scenario("external-key-material", L + C, EXTERNAL, _replicate(2),
              lambda d, h: d.import_key_material(handle=h, pick=0, wrong=False), _describe),
    # crypto
    _scenario("decrypt-everywhere", C, SYMMETRIC, _round_trip(0), _round_trip(1), _round_trip(1, "other-context")),
    _scenario("decrypt-with-the-primary-arn", C, SYMMETRIC, _round_trip(0, "primary-arn")),
    _scenario("old-ciphertext-in-a-new-replica", C, SYMMETRIC, _old_ciphertext_in_new_replica),
    _scenario("data-keys", C, SYMMETRIC, lambda d, h: d.data_key_everywhere(handle=h, pick=1)),
    _scenario("disabled-key-crypto", C, SYMMETRIC, _enable(1, False), _encrypt(1)),
    _scenario("pending-deletion-crypto", C, SYMMETRIC, _delete(1, 7), _encrypt(1)),
    _scenario("hmac", C, HMAC, _mac_or_sign(0), _mac_or_sign(1), _rotation(0, True)),
    _scenario("rsa-signing", C, RSA_SIGN, _mac_or_sign(1), _public_keys, _rotation(0, True)),
    _scenario("ecc-signing", C, ECC_SIGN, _mac_or_sign(0), _public_keys),
    _scenario("rsa-encryption", C, RSA_ENCRYPT, _round_trip(1), _public_keys),
)


def scenarios_for(focus: str) -> Iterator[Scenario]:
    return (s for s in SCENARIOS if focus == "all" or focus in s.foci)


def run_scenarios(machine_class: type[ReplicateKeyMachine], focus: str) -> set[str]:
    """Run the focus's scenarios, each on a fresh machine; return the rules found failing."""
    failing: set[str] = set()
    for scenario in scenarios_for(focus):
        machine = machine_class()
        driver = Driver(machine, scenario.name)
        try:
            scenario.script(driver)
        finally:
            machine.record_counterexamples(driver.program_until)
        failing |= {event.rule_id for event, _, _ in machine.fail_points}
    return failing
