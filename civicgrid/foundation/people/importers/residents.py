"""Residents (实有人口) as an importable/exportable table.

Written for a whole district in one file (over a million rows): `parse` does only what the checks need (the ID
number's blind index, for duplicates within the file), and the encryption that makes a row storable happens in
`resolve`, and only while the file is still clean.
"""

from __future__ import annotations

from collections import Counter

from django.db import connection

from ...core import keys, pii
from ...imports.registry import Column, ImportContext, record_changes
from .. import personal
from ..models import Household, Residency, Resident
from .base import GRID, BaseDataTable, _label, choice, fetch

_FOREIGN = Residency.FOREIGN.value
_LIMITS = {"name": 64, "relation": 16, "ethnicity": 16, "work_place": 100}
_RESIDENCY = {str(label): value for value, label in Residency.choices} | {v: v for v in Residency.values}


class ResidentTable(BaseDataTable):
    """Residents with their ID number and phone (encrypted, indexed and masked on the way in)."""

    key, label, model = "resident", "实有人口", Resident
    unique_code = False
    columns = (
        Column("姓名", "name", required=True),
        Column("身份证号", "id_number", hint="18 位；境外人员可空", aliases=("公民身份号码", "身份证号码"),
               mask=pii.mask_id_number),
        Column("联系电话", "phone", aliases=("手机号", "手机号码", "电话"), mask=pii.mask_phone),
        Column(GRID.header, GRID.key, hint="有户编号时可空", aliases=GRID.aliases),
        Column("户编号", "household_code", aliases=("户号",)),
        Column("与户主关系", "relation"),
        Column("人口类型", "residency", hint="、".join(str(label) for _, label in Residency.choices)),
        Column("民族", "ethnicity"),
        Column("工作单位", "work_place"),
    )
    db_columns = (
        "name", "sex", "birth_date", "id_number_enc", "id_number_index", "id_number_masked", "phone_enc",
        "phone_index", "phone_masked", "household", "relation", "residency", "ethnicity", "work_place", "grid",
        "region_code",
    )
    select = ("household",)
    batch_size = 10_000
    _residency = staticmethod(choice(Residency))

    def begin(self, ctx: ImportContext) -> None:
        super().begin(ctx)
        ctx.cache.update(ids={}, household_added=Counter(), encryptor=keys.encryptor())

    def parse(self, ctx: ImportContext, number: int, row: dict[str, str]) -> dict | None:
        # The hot loop of a district-sized import: plain local lookups, no helper calls for the common case.
        get = row.get
        name, relation, ethnicity, work_place = get("name", ""), get("relation", ""), get("ethnicity", ""), get("work_place", "")
        ok = bool(name)
        if not name:
            ctx.error(number, "姓名", "必填 / required")
        if len(name) > 64 or len(relation) > 16 or len(ethnicity) > 16 or len(work_place) > 100:
            for key, value in (("name", name), ("relation", relation), ("ethnicity", ethnicity), ("work_place", work_place)):
                if len(value) > _LIMITS[key]:
                    ctx.error(number, self._header(key), f"不能超过 {_LIMITS[key]} 个字 / at most {_LIMITS[key]} characters")
            ok = False
        residency = _RESIDENCY.get(get("residency") or "户籍人口")
        if residency is None:
            try:
                self._residency(get("residency"))
            except ValueError as exc:
                ctx.error(number, "人口类型", str(exc))
            ok = False
        values = {"name": name, "relation": relation, "ethnicity": ethnicity, "work_place": work_place,
                  "residency": residency}
        raw_id = get("id_number")
        if raw_id:
            try:
                values["id_number"], values["birth_date"], values["sex"] = personal.clean_id_number(raw_id)
            except ValueError as exc:
                ctx.error(number, "身份证号", str(exc))
                ok = False
        elif residency != _FOREIGN:
            ctx.error(number, "身份证号", "必填（境外人员可空） / required except for foreign residents")
            ok = False
        raw_phone = get("phone")
        if raw_phone:
            try:
                values["phone"] = personal.clean_phone(raw_phone)
            except ValueError as exc:
                ctx.error(number, "联系电话", str(exc))
                ok = False
        grid_code, household_code = get("grid_code", ""), get("household_code", "")
        values["grid_code"], values["household_code"] = grid_code, household_code
        if grid_code:
            values["grid_id"] = grid_id = self.grid(ctx, number, grid_code)
            ok = ok and grid_id is not None
        elif not household_code:
            ctx.error(number, GRID.header, "所属网格代码与户编号至少填一项 / grid code or household code required")
            ok = False
        if not ok:
            if "id_number" not in values:
                return None
            values["failed"] = True  # still checked for duplicates: a later row repeating its number is reported
        return values

    # The expensive part of a row (two AES-GCM tokens, two blind indexes, masks) runs per batch, possibly in a
    # worker process (see `imports.services`): `offload` says what to compute, `absorb` takes the result back.
    def offload(self, ctx: ImportContext, batch, prepare: bool):
        if prepare:
            numbers = [(v.get("id_number", ""), "" if "failed" in v else v.get("phone", "")) for _, v in batch]
        else:  # the file already failed: only the ID indexes are needed (for duplicates), nothing is stored
            numbers = [(v.get("id_number", ""), "") for _, v in batch]
        return personal.derive_resident_columns, (numbers, not prepare)

    def worker_init(self):
        """Initializer and its arguments for a worker process: the key ring, passed explicitly."""
        return personal.worker_init, personal.worker_config(keys.encryptor())

    def absorb(self, ctx: ImportContext, batch, derived) -> list:
        """Attach the derived columns; report numbers repeated within the file; drop rows that failed."""
        ids = ctx.cache["ids"]
        kept = []
        for item, cols in zip(batch, derived, strict=True):
            number, values = item
            index = cols[1]
            if index is not None:
                first = ids.setdefault(int(index, 16), number)  # an int key: half the memory of the text
                if first != number:
                    ctx.error(number, "身份证号", f"与第 {first} 行的身份证号重复 / duplicates row {first}")
                    continue
            if "failed" not in values:
                values["cols"] = cols
                kept.append(item)
        return kept

    def _header(self, key: str) -> str:
        return next(c.header for c in self.columns if c.key == key)

    def resolve(self, ctx, batch, prepare):
        indexes = [index for _, values in batch if (index := values["cols"][1]) is not None]
        taken = {row[0] for row in fetch(Resident, "id_number_index", (), indexes)}
        households = self.parents(ctx, batch, "household_code", Household, "户编号")
        rows = []
        append = rows.append
        added = ctx.cache["household_added"]
        for number, v in batch:
            cols = v["cols"]
            if cols[1] in taken:
                ctx.error(number, "身份证号", "该身份证号已登记 / this ID number is already registered")
                continue
            household_id, grid_code = None, v["grid_code"]
            code = v["household_code"]
            if code:
                household = households.get(code)
                if household is None:
                    continue  # reported by `parents`
                if grid_code and household[1] != grid_code:
                    ctx.error(number, GRID.header, "与户所在网格不一致 / differs from the household's grid")
                    continue
                household_id, grid_code, grid_id = household
                added[household_id] += 1
            else:
                grid_id = v["grid_id"]
            if not prepare:
                continue
            if "id_number" in v:
                sex, born = v["sex"], v["birth_date"].isoformat()
            else:
                sex, born = "", None
            append((v["name"], sex, born, *cols, household_id, v["relation"], v["residency"], v["ethnicity"],
                    v["work_place"], grid_id, grid_code))
        if not prepare or ctx.failed:
            return []
        return rows

    def after_apply(self, ctx: ImportContext) -> None:
        """Add the imported members to their households' sizes, in one statement on PostgreSQL, and record each
        household's 人数 before and after as a change made by the job (its history shows it)."""
        added = ctx.cache["household_added"]
        if not added:
            return
        table = connection.ops.quote_name(Household._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} AS h SET size = h.size + c.n "
                    "FROM unnest(%s::bigint[], %s::int[]) AS c(id, n) WHERE h.id = c.id RETURNING h.id, h.size",
                    [list(added), list(added.values())],
                )
                changes = [(pk, size - added[pk], size) for pk, size in cursor.fetchall()]
            else:  # one writer at a time: the sizes read here are the ones updated
                changes = [(pk, size, size + added[pk]) for pk, size in fetch(Household, "id", ("size",), added)]
                cursor.executemany(f"UPDATE {table} SET size = size + %s WHERE id = %s", [(n, i) for i, n in added.items()])
        record_changes(ctx, Household, "size", changes)

    def export_values(self, obj, clear):
        if clear:
            id_number = keys.decrypt(obj.id_number_enc, personal.ID_CONTEXT)
            phone = keys.decrypt(obj.phone_enc, personal.PHONE_CONTEXT)
        else:
            id_number, phone = obj.id_number_masked, obj.phone_masked
        return {
            "name": obj.name, "id_number": id_number, "phone": phone, "grid_code": obj.region_code,
            "household_code": obj.household.code if obj.household_id else "", "relation": obj.relation,
            "residency": _label(Residency, obj.residency), "ethnicity": obj.ethnicity, "work_place": obj.work_place,
        }
