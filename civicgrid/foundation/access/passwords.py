"""Password rules of SECURITY.md: complexity and history (length is Django's MinimumLengthValidator)."""

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError


class ComplexityValidator:
    """At least three of: lower case, upper case, digits, other characters."""

    def validate(self, password, user=None):
        classes = [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
        if sum(classes) < 3:
            raise ValidationError(
                "密码须包含大写字母、小写字母、数字、符号中的至少三类 / use at least three of: upper case, "
                "lower case, digits, symbols",
                code="password_too_simple",
            )

    def get_help_text(self):
        return "密码须包含大写字母、小写字母、数字、符号中的至少三类"


class HistoryValidator:
    """A new password may not repeat one of the last N."""

    def validate(self, password, user=None):
        if user is None or not getattr(user, "pk", None):
            return
        keep = getattr(settings, "CIVICGRID_PASSWORD_HISTORY", 5)
        recent = user.password_history.order_by("-created_at")[:keep]
        if any(check_password(password, h.password) for h in recent):
            raise ValidationError(
                f"不能与最近 {keep} 次使用过的密码相同 / must differ from the last {keep} passwords",
                code="password_reused",
            )

    def get_help_text(self):
        return "不能与最近使用过的密码相同"
