"""Seed 003's onboarding paths, at `/onboarding` and the original frontend's
`/api/v1/onboarding`: create a request, its CloudFormation template, verify a role, connect
access keys, discovery status and rediscovery."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import AliasChoices, BaseModel, Field, field_validator

from atrium.cloud import service as cloud_service
from atrium.cloud import views as cloud_views
from atrium.cloud.auth import CloudExecute, CloudRead, CloudWrite
from atrium.cloud.template import as_yaml
from atrium.db import SessionDep
from atrium.surfaces.cloud003.shapes import Open, shaped

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
NOT_FOUND = {404: {"description": "Account not found or does not belong to you"}}
REFUSED = {
    400: {"description": "AWS refused: `{status: 'failed', error, error_code, detail, code}`"},
    409: {"description": "The AWS account is connected to a different user"},
}


class CreateRequest(BaseModel):
    account_name: str | None = Field(
        default=None, max_length=200, validation_alias=AliasChoices("account_name", "accountName")
    )


class CreateRead(BaseModel):
    id: str
    external_id: str
    status: str
    created_at: str


class TemplateRead(BaseModel):
    template: dict[str, Any]
    external_id: str
    instructions: dict[str, str]


class VerifyRequest(BaseModel):
    role_arn: str = Field(validation_alias=AliasChoices("role_arn", "roleArn"))

    @field_validator("role_arn")
    @classmethod
    def arn_shape(cls, value: str) -> str:
        if not ROLE_ARN.match(value.strip()):
            raise ValueError("must be an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
        return value.strip()


def _region(value: str) -> str:
    if not REGION.match(value):
        raise ValueError(f"'{value}' is not an AWS region name")
    return value


class CredentialsRequest(BaseModel):
    access_key: str = Field(
        min_length=16,
        max_length=128,
        validation_alias=AliasChoices("access_key", "access_key_id", "accessKey", "accessKeyId"),
    )
    secret_key: str = Field(
        min_length=1,
        max_length=256,
        validation_alias=AliasChoices(
            "secret_key", "secret_access_key", "secretKey", "secretAccessKey"
        ),
    )
    region: str = "us-east-1"
    regions: list[str] | None = Field(default=None, max_length=40)
    account_name: str | None = Field(
        default=None, max_length=200, validation_alias=AliasChoices("account_name", "accountName")
    )

    @field_validator("region")
    @classmethod
    def region_shape(cls, value: str) -> str:
        return _region(value)

    @field_validator("regions")
    @classmethod
    def regions_shape(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_region(item) for item in value]


class ConnectedRead(Open):
    status: str
    aws_account_id: str
    account_id: str
    verified_at: str
    message: str
    discovery_status: str


class DiscoveryRead(Open):
    status: str
    message: str


class TriggeredRead(BaseModel):
    status: str
    message: str
    account_id: str
    timestamp: str


def _connected(account: Any, **extra: Any) -> dict[str, Any]:
    return shaped(
        {
            "status": "connected",
            "connection_method": account.connection_method,
            "aws_account_id": account.aws_account_id,
            "account_id": str(account.id),
            "region": account.region,
            "verified_at": account.verified_at,
            "message": "AWS account connected; discovery started",
            "discovery_status": "in_progress",
            **extra,
        }
    )


def build(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["cloud platform"])

    @router.post("/create", response_model=CreateRead, status_code=201)
    async def create_onboarding_request(
        principal: CloudWrite, session: SessionDep, body: CreateRequest | None = None
    ) -> dict:
        account = await cloud_service.create_request(
            session, principal, body.account_name if body else None
        )
        return shaped(
            {
                "id": str(account.id),
                "external_id": account.external_id,
                "status": account.status,
                "created_at": account.created_at,
            }
        )

    @router.get(
        "/template/{account_id}",
        response_model=TemplateRead,
        responses={**NOT_FOUND, 200: {"content": {"text/yaml": {}}}},
        description="The CloudFormation template as JSON, or as a YAML document with "
        "`?format=yaml`.",
    )
    async def get_cloudformation_template(
        account_id: int,
        request: Request,
        principal: CloudRead,
        session: SessionDep,
        format: Annotated[str, Query(pattern="^(json|yaml)$")] = "json",
    ) -> Any:
        answer = await cloud_service.template(
            session, principal, account_id, request.app.state.settings
        )
        if format == "yaml":
            return PlainTextResponse(as_yaml(answer["template"]), media_type="text/yaml")
        return answer

    @router.post(
        "/{account_id}/verify", response_model=ConnectedRead, responses={**NOT_FOUND, **REFUSED}
    )
    async def verify_connection(
        account_id: int,
        body: VerifyRequest,
        request: Request,
        principal: CloudWrite,
        session: SessionDep,
    ) -> dict:
        account = await cloud_service.verify_role(session, principal, account_id, body.role_arn)
        return _connected(account, role_arn=account.role_arn)

    @router.post("/connect/credentials", response_model=ConnectedRead, responses=REFUSED)
    async def connect_with_credentials(
        body: CredentialsRequest, request: Request, principal: CloudWrite, session: SessionDep
    ) -> dict:
        account = await cloud_service.connect_credentials(
            session,
            principal,
            access_key=body.access_key,
            secret_key=body.secret_key,
            region=body.region,
            regions=body.regions,
            account_name=body.account_name,
            fernet=request.app.state.secrets.fernet,
        )
        return _connected(account)

    @router.get("/{account_id}/discovery", response_model=DiscoveryRead, responses=NOT_FOUND)
    async def get_discovery_status(
        account_id: int, principal: CloudRead, session: SessionDep
    ) -> dict:
        account = await cloud_service.get_owned(session, principal, account_id)
        answer = await cloud_views.discovery_status(session, principal, account_id, account)
        return shaped({**answer, "account_id": str(account.id)})

    @router.post(
        "/{account_id}/rediscover",
        response_model=TriggeredRead,
        status_code=202,
        responses={
            **NOT_FOUND,
            400: {"description": "Not active"},
            409: {"description": "Running"},
        },
    )
    async def rediscover(
        account_id: int,
        request: Request,
        response: Response,
        principal: CloudExecute,
        session: SessionDep,
    ) -> dict:
        run = await cloud_service.rediscover(session, principal, account_id)
        response.headers["Location"] = f"{prefix}/{account_id}/discovery"
        return shaped(
            {
                "status": "triggered",
                "message": "Discovery started",
                "account_id": str(account_id),
                "timestamp": run.started_at,
            }
        )

    return router


routers = [build("/onboarding"), build("/api/v1/onboarding")]
