"""Password rules of SECURITY.md: complexity and history (length is Django's MinimumLengthValidator)."""

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import translation

from ..core.errors import ValidationFailed


def _sentences(password, user, language: str) -> list[str]:
    """The messages of the rules the password breaks, in one language (Django's validators translate when they
    raise, so each language is a run of its own; ours say "中文 / English" and give the wanted half)."""
    with translation.override(language):
        try:
            validate_password(password, user)
        except ValidationError as exc:
            messages = exc.messages
        else:
            return []
    english = language.startswith("en")
    halves = [m.partition(" / ") for m in messages]
    return [(en if english else zh) if sep else zh for zh, sep, en in halves]


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".;")
    return text[:1].upper() + text[1:] + "."


def check_policy(password: str, user=None) -> None:
    """Django's `validate_password` under the policy, refused as one "中文 / English" message that names every
    rule broken: the Chinese sentences joined by ；, the English ones as sentences (Django's end in 。 or ".",
    ours in nothing)."""
    zh = _sentences(password, user, settings.LANGUAGE_CODE)
    if not zh:
        return
    en = _sentences(password, user, "en")  # only when refused: the validators run again, in English
    zh_text = "；".join(z.strip().rstrip("。；") for z in zh) + "。"
    en_text = " ".join(_sentence(e) for e in en)
    raise ValidationFailed(f"{zh_text} / {en_text}", field="password")


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
