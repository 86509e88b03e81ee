"""The AWS credentials of a connected account: its stored keys, or its assumed role."""

from cryptography.fernet import InvalidToken, MultiFernet

from atrium.cloud import aws
from atrium.cloud.tables import CloudAccount


def credentials_of(account: CloudAccount, fernet: MultiFernet) -> aws.AwsCredentials:
    """Blocking (AssumeRole for role connections): call from a worker thread."""
    if account.connection_method == "iam_role" and account.role_arn:
        return aws.assume_role(account.role_arn, account.external_id)
    if account.access_key_id and account.secret_encrypted:
        try:
            secret = fernet.decrypt(account.secret_encrypted).decode()
        except InvalidToken:
            raise aws.AwsCallFailed(
                "decrypt_credentials",
                "KeyUnavailable",
                "the stored secret key cannot be decrypted with the configured encryption keys",
            ) from None
        return aws.AwsCredentials(account.access_key_id, secret)
    raise aws.AwsCallFailed("credentials", "NotConnected", "the account is not connected")
