"""Bearer-token authentication for the API (tokens are stored hashed; expired or revoked ones fail)."""

from django.utils import timezone
from ninja.security import HttpBearer

from .models import ApiToken, hash_token


class BearerAuth(HttpBearer):
    def authenticate(self, request, token: str):
        if not token or len(token) > 200:
            return None
        try:
            row = ApiToken.objects.select_related("user").get(key_hash=hash_token(token))
        except ApiToken.DoesNotExist:
            return None
        if not row.is_valid or not row.user.is_active:
            return None
        now = timezone.now()
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.user = row.user
        request.api_token = row
        return row.user
