"""``lambda:InvokeFunction`` on exactly the ARN a caller invokes, memoised like CDK's.

aws-cdk-lib's ``Function.grant_invoke`` grants ``[arn, arn:*]`` (every version and alias), which
cdk-nag reports as ``AwsSolutions-IAM5`` (``<function>.Arn:*``), and
``grant_invoke_latest_version`` adds ``arn:$LATEST``. IoT Core invokes one ARN: the function's
(unqualified) or its alias's. :class:`InvokeGrants` grants that one, through the same
``iam.Grant.add_to_principal_or_resource`` CDK uses, so a principal of another account or a
service principal gets a resource-based ``AWS::Lambda::Permission`` on that ARN instead.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct, Node

_ACTION = "lambda:InvokeFunction"


@jsii.implements(iam.IResourceWithPolicy)
class _InvokePermissions:
    """The resource side of a grant: an ``AWS::Lambda::Permission`` on ``function`` (its
    ``function_arn``: the alias ARN for an alias) for the statement's principal."""

    def __init__(self, function: lambda_.IFunction, permission_id: str) -> None:
        self._function = function
        self._permission_id = permission_id

    @property
    def env(self) -> Any:  # ResourceEnvironment (its module differs between CDK versions)
        return self._function.env

    @property
    def stack(self) -> cdk.Stack:
        return self._function.stack

    @property
    def node(self) -> Node:
        return self._function.node

    def apply_removal_policy(self, policy: cdk.RemovalPolicy) -> None:  # pragma: no cover
        self._function.apply_removal_policy(policy)

    def add_to_resource_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToResourcePolicyResult:
        (principal,) = statement.principals
        self._function.add_permission(self._permission_id, principal=principal, action=_ACTION)
        permission: IConstruct | None = self._function.node.try_find_child(self._permission_id)
        return iam.AddToResourcePolicyResult(statement_added=True, policy_dependable=permission)


class InvokeGrants:
    """The invoke grants on one function (or alias), one per principal (a repeat call returns
    the first grant and adds nothing, as CDK's ``grant_invoke`` does)."""

    def __init__(self, function: lambda_.IFunction) -> None:
        self._function = function
        self._grants: dict[str, iam.Grant] = {}

    def grant(self, grantee: iam.IGrantable) -> iam.Grant:
        """``lambda:InvokeFunction`` on the function's ARN only, for ``grantee``."""
        principal = grantee.grant_principal
        # CDK keys its memo on the principal's toString() (a construct path, or e.g.
        # "ServicePrincipal(events.amazonaws.com)") and its conditions.
        to_string = getattr(principal, "to_string", None)
        key = hashlib.sha256(
            json.dumps(
                {
                    "principal": to_string() if callable(to_string) else repr(principal),
                    "conditions": principal.policy_fragment.conditions,
                },
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()[:16]
        grant = self._grants.get(key)
        if grant is None:
            grant = iam.Grant.add_to_principal_or_resource(
                grantee=grantee,
                actions=[_ACTION],
                resource_arns=[self._function.function_arn],
                # Newer aws-cdk-lib types this IResourceWithPolicyV2 (env and
                # add_to_resource_policy, both of which the adapter has).
                resource=cast(
                    "iam.IResourceWithPolicyV2", _InvokePermissions(self._function, f"Invoke{key}")
                ),
            )
            self._grants[key] = grant
        return grant
