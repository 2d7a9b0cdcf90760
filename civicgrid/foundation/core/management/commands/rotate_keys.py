"""`civicgrid rotate_keys`: add a new current data key and re-encrypt every encrypted column with it."""

from django.core.management.base import BaseCommand

from civicgrid.foundation.audit import service as audit
from civicgrid.foundation.audit import verbs
from civicgrid.foundation.core import context, keys
from civicgrid.foundation.core.crypto import KeyRing


class Command(BaseCommand):
    help = "Rotate the field-encryption key (old keys stay in the file for reading) and re-encrypt all columns."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reencrypt-only",
            action="store_true",
            help="do not add a key; move remaining tokens to the current key/cipher (after a switch of "
            "CIVICGRID_CIPHER, or to finish an interrupted rotation)",
        )
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, reencrypt_only=False, batch_size=2000, **options):
        # Import the apps' models so that their encrypted columns are registered.
        from django.apps import apps

        apps.get_models()
        path = keys.key_file()
        keys.encryptor()  # creates the key file on a fresh installation
        if not reencrypt_only:
            ring = KeyRing.rotate(path)
            self.stdout.write(f"新密钥 {ring.current} 已启用 / new current key {ring.current}")
        keys.reset()

        def progress(label, changed, last_pk):
            self.stderr.write(f"\r{label}: 已重新加密 {changed} 条 / re-encrypted {changed}", ending="")

        with context.acting(channel="command"):
            counts = keys.reencrypt_all(batch_size=batch_size, progress=progress)
            audit.record(
                actor=None,
                action=verbs.Config.CHANGED,
                target_type="core.keyring",
                target_repr="字段加密密钥轮换 / field key rotation",
                data={"current_key": keys.encryptor().keyring.current, "reencrypted": counts},
            )
        self.stderr.write("")
        for label, n in counts.items():
            self.stdout.write(f"{label}: {n}")
        self.stdout.write(
            "完成。请重启 Web 与后台进程以便它们立即使用新密钥（它们也会在数秒内自动加载）。/ done. Running "
            "processes pick up the new key file within seconds."
        )
