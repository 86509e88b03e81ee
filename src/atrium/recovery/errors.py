from atrium.errors import BadRequest


class InvalidResetToken(BadRequest):
    code = "invalid_reset_token"
    detail = "This password reset link is invalid, expired or already used; ask for a new one"
