"""Neutral audit shapes: what a client sends to start one, and the summary the engine gives."""

from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from atrium.params import Id

STATUSES = ("pending", "processing", "completed", "failed")


class AuditCreate(BaseModel):
    """Exactly one source: a git URL or a local path in `repository` (or `path`), or the id of
    an uploaded zip/tar.gz archive in `file_id`."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    repository: str | None = Field(default=None, max_length=2048)
    branch: str | None = Field(default=None, max_length=200)
    path: str | None = Field(default=None, max_length=2048)
    file_id: Id | Annotated[str, Field(max_length=20)] | None = Field(
        default=None, validation_alias=AliasChoices("file_id", "fileId")
    )

    @model_validator(mode="after")
    def one_source(self) -> "AuditCreate":
        given = [v for v in (self.repository, self.path, self.file_id) if v not in (None, "")]
        if len(given) != 1:
            raise ValueError("Give exactly one of repository, path or file_id")
        return self


def summary_of(result: dict) -> dict:
    """The few figures kept on the audit row (the full result lives in the reports)."""
    summary = result["summary"]
    return {
        "files": summary["files"],
        "lines_of_code": summary["lines_of_code"],
        "languages": {k: v["lines"] for k, v in list(summary["languages"].items())[:10]},
        "license_categories": summary["license_categories"],
        "project_license": result["project_license"]["expression"],
        "findings": summary["findings"],
        "risk_score": result["risk"]["score"],
        "risk_level": result["risk"]["level"],
        "secrets": len(result["secrets"]),
        "dependencies": len(result["dependencies"]),
        "contributors": len(result["history"].get("contributors") or []),
    }
