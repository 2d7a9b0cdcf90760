"""`civicgrid rotate_keys --yes`: add a new current data key and re-encrypt every encrypted column with it.

Every copy of the key file saved before the rotation lacks the new key, so it cannot read what is encrypted
after it: the command asks for confirmation (or `--yes`) and ends by telling the operator to back the key file
up again.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

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
        parser.add_argument("--yes", action="store_true",
                            help="confirm without asking (copies of the key file saved before cannot read the "
                            "data afterwards: back it up again)")

    def handle(self, *args, reencrypt_only=False, batch_size=2000, yes=False, **options):
        # Import the apps' models so that their encrypted columns are registered.
        from django.apps import apps

        apps.get_models()
        path = keys.key_file()
        try:
            keys.encryptor()  # creates the key file on a fresh installation
        except keys.KeyFileMissing as exc:
            raise CommandError(str(exc)) from None
        if not reencrypt_only and not yes:
            self._confirm(path, sys.stdin.isatty())
        if not reencrypt_only:
            ring = KeyRing.rotate(path, keys.new_key_id(KeyRing.load(path)))
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
        if not reencrypt_only:
            self.stdout.write(self.style.WARNING(
                f"请立即重新备份密钥文件 {path}：轮换前保存的副本无法解密轮换后写入的数据。 / Back up the key file "
                f"{path} again now (civicgrid backup --keys-out PATH): copies saved before the rotation cannot "
                "read what is encrypted from now on."))

    def _confirm(self, path, interactive: bool) -> None:
        question = (
            f"轮换加密密钥：{path} 将增加一个新密钥，所有加密字段将用它重新加密；此前备份的密钥文件无法读取之后写入的数据，"
            "完成后须重新备份密钥文件。 / Rotate the encryption key: a new key is added to "
            f"{path} and every encrypted column is re-encrypted with it; key file copies saved before cannot read "
            "what is written afterwards, so back the key file up again when done."
        )
        if not interactive:
            raise CommandError(f"{question} Run again with --yes to confirm.")
        self.stdout.write(question)
        answer = input("继续？/ Continue? [y/N] ").strip().lower()
        if answer not in ("y", "yes", "是"):
            raise CommandError("未轮换 / not rotated: nothing was changed")
