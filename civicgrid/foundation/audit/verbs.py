"""The audit catalogue: named actions, grouped by domain. Apps add theirs as `<app>.<verb>` strings.

Every code recorded has a Chinese name in `labels` (the foundation's below, each app's from the app).
"""


class Auth:
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGOUT = "auth.logout"
    LOCKED = "auth.locked"
    PASSWORD_CHANGED = "auth.password_changed"
    TOKEN_ISSUED = "auth.token_issued"
    TOKEN_REVOKED = "auth.token_revoked"
    TOTP_ENROLLED = "auth.totp_enrolled"
    TOTP_RESET = "auth.totp_reset"  # the security administrator cleared a lost second factor


class Access:
    GRANT_ADDED = "access.grant_added"
    GRANT_REMOVED = "access.grant_removed"
    GRANT_BACKDATED = "access.grant_backdated"  # the demo's grants, valid from before its case history
    USER_CREATED = "access.user_created"
    USER_CHANGED = "access.user_changed"


class Data:
    CREATED = "data.created"
    CHANGED = "data.changed"
    DELETED = "data.deleted"
    IMPORTED = "data.imported"
    EXPORTED = "data.exported"
    REVEALED = "data.revealed"  # a sensitive field shown in clear
    ANONYMISED = "data.anonymised"  # personal data past its retention period blanked (core.retention)
    CONFIDENTIAL_READ = "data.confidential_read"


class Config:
    CHANGED = "config.changed"


class Ops:
    EVENTS_RETRIED = "ops.events_retried"  # outbox events that gave up, given fresh attempts (运行监控)
    MESSAGES_RETRIED = "ops.messages_retried"  # email and SMS that gave up, given fresh attempts
    TASK_RERUN = "ops.task_rerun"  # a failed background task that redoes derived work, queued again


class System:
    BACKUP = "system.backup"
    RESTORE = "system.restore"


class AuditLog:
    EXPORTED = "audit.exported"
    PURGED = "audit.purged"
    REMASKED = "audit.remasked"  # records written before the snapshot policy, masked in storage (remask)
