"""The CloudFormation template a client deploys: a role only Atrium's principal may assume,
and only with the account's External ID; read-only rights for discovery, and the four
remediation actions only when the client opts in."""

from typing import Any

import yaml

READ_ACTIONS = (
    "ec2:DescribeRegions",
    "ec2:DescribeInstances",
    "ec2:DescribeVolumes",
    "ec2:DescribeAddresses",
    "ec2:DescribeSnapshots",
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "ce:GetCostAndUsage",
    "eks:ListClusters",
    "eks:DescribeCluster",
    "eks:ListNodegroups",
    "eks:DescribeNodegroup",
)
REMEDIATION_ACTIONS = (
    "ec2:StopInstances",
    "ec2:DeleteVolume",
    "ec2:ReleaseAddress",
    "ec2:DeleteSnapshot",
)
ROLE = "AtriumAccessRole"


def cloudformation(principal_arn: str, external_id: str) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Read-only access for Atrium's cost discovery, assumable only by "
        "Atrium's principal with this account's External ID.",
        "Parameters": {
            "AllowRemediation": {
                "Type": "String",
                "AllowedValues": ["false", "true"],
                "Default": "false",
                "Description": "Also allow stopping instances and deleting unattached volumes, "
                "unused addresses and orphaned snapshots once approved in Atrium.",
            }
        },
        "Conditions": {"Remediate": {"Fn::Equals": [{"Ref": "AllowRemediation"}, "true"]}},
        "Resources": {
            ROLE: {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": principal_arn},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "AtriumReadOnly",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": list(READ_ACTIONS),
                                        "Resource": "*",
                                    }
                                ],
                            },
                        },
                        {
                            "Fn::If": [
                                "Remediate",
                                {
                                    "PolicyName": "AtriumApprovedRemediation",
                                    "PolicyDocument": {
                                        "Version": "2012-10-17",
                                        "Statement": [
                                            {
                                                "Effect": "Allow",
                                                "Action": list(REMEDIATION_ACTIONS),
                                                "Resource": "*",
                                            }
                                        ],
                                    },
                                },
                                {"Ref": "AWS::NoValue"},
                            ]
                        },
                    ],
                },
            }
        },
        "Outputs": {
            "RoleArn": {
                "Description": "Paste this into Atrium to finish the connection.",
                "Value": {"Fn::GetAtt": [ROLE, "Arn"]},
            }
        },
    }


def as_yaml(template: dict[str, Any]) -> str:
    return yaml.safe_dump(template, sort_keys=False)


def instructions() -> dict[str, str]:
    return {
        "step_1": "Open the AWS CloudFormation console in the account to connect.",
        "step_2": "Create a stack with this template (JSON, or ?format=yaml for YAML).",
        "step_3": "Keep AllowRemediation at false for read-only access, or set it to true to "
        "let approved remediations run.",
        "step_4": "Acknowledge that the stack creates an IAM role, then create the stack.",
        "step_5": "Copy the RoleArn output and submit it to verify the connection.",
    }
