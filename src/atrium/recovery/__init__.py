"""Account recovery: password reset by email or by an administrator-issued link."""
