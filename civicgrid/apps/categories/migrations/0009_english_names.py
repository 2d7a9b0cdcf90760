"""English names for the categories already loaded: the social-governance types and subtypes and the GB/T
47678.5-2026 classes, as `data/social_types.csv` and `data/gbt47678_class_names_en.csv` give them (the loaders
give them to categories created from now on). As the loaders would: only categories no administrator has edited
(`edited_at` empty), still carrying the Chinese name translated, and without an English name; each with a system
change in its history. Going back leaves the names as they are."""

from django.db import migrations
from django.utils import timezone

REASON = "补充分类的英文名称（英文界面显示） / the category's English name added (shown in the English interface)"

# (taxonomy, kind, code, Chinese name) → English name, as the data files give them at this migration.
NAMES_EN = {
    ("gbt47678_5_2026", "component", "01", "市政公用设施"): "Municipal public facilities",
    ("gbt47678_5_2026", "component", "02", "交通设施"): "Traffic facilities",
    ("gbt47678_5_2026", "component", "03", "市容环卫设施"): "City appearance and sanitation facilities",
    ("gbt47678_5_2026", "component", "04", "园林绿化设施"): "Landscaping and greening facilities",
    ("gbt47678_5_2026", "component", "05", "其他管理部件"): "Other managed components",
    ("gbt47678_5_2026", "matter", "01", "市政公用设施类"): "Municipal public facility issues",
    ("gbt47678_5_2026", "matter", "02", "交通设施类"): "Traffic facility issues",
    ("gbt47678_5_2026", "matter", "03", "市容环卫设施类"): "City appearance and sanitation facility issues",
    ("gbt47678_5_2026", "matter", "04", "园林绿化设施类"): "Landscaping and greening facility issues",
    ("gbt47678_5_2026", "matter", "05", "其他管理部件类"): "Other managed component issues",
    ("gbt47678_5_2026", "matter", "06", "市容环境类"): "City appearance and environment",
    ("gbt47678_5_2026", "matter", "07", "宣传广告类"): "Publicity and advertising",
    ("gbt47678_5_2026", "matter", "08", "施工管理类"): "Construction management",
    ("gbt47678_5_2026", "matter", "09", "街面秩序类"): "Street order",
    ("gbt47678_5_2026", "matter", "10", "其他事项类"): "Other matters",
    ("social", "event", "01", "矛盾纠纷"): "Disputes",
    ("social", "event", "0101", "邻里纠纷"): "Neighbour disputes",
    ("social", "event", "0102", "婚姻家庭纠纷"): "Marriage and family disputes",
    ("social", "event", "0103", "物业纠纷"): "Property management disputes",
    ("social", "event", "0104", "房屋宅基地纠纷"): "Housing and homestead disputes",
    ("social", "event", "0105", "劳动争议（含拖欠农民工工资）"): "Labour disputes (including unpaid migrant workers' wages)",
    ("social", "event", "0106", "消费纠纷"): "Consumer disputes",
    ("social", "event", "0107", "道路交通事故纠纷"): "Road traffic accident disputes",
    ("social", "event", "0108", "征地拆迁纠纷"): "Land acquisition and demolition disputes",
    ("social", "event", "0109", "其他纠纷"): "Other disputes",
    ("social", "event", "02", "治安隐患"): "Public security hazards",
    ("social", "event", "0201", "可疑人员或物品"): "Suspicious persons or objects",
    ("social", "event", "0202", "黄赌毒线索"): "Leads on pornography, gambling or drugs",
    ("social", "event", "0203", "出租房屋治安隐患"): "Public security hazards in rented housing",
    ("social", "event", "0204", "寄递物流安全隐患"): "Security hazards in postal and logistics services",
    ("social", "event", "0205", "校园周边治安隐患"): "Public security hazards around schools",
    ("social", "event", "0206", "其他治安隐患"): "Other public security hazards",
    ("social", "event", "03", "安全隐患"): "Safety hazards",
    ("social", "event", "0301", "消防安全隐患"): "Fire safety hazards",
    ("social", "event", "0302", "安全生产隐患"): "Work safety hazards",
    ("social", "event", "0303", "燃气安全隐患"): "Gas safety hazards",
    ("social", "event", "0304", "危险化学品隐患"): "Hazardous chemical risks",
    ("social", "event", "0305", "房屋安全隐患"): "Building safety hazards",
    ("social", "event", "0306", "特种设备隐患"): "Special equipment hazards",
    ("social", "event", "0307", "食品安全隐患"): "Food safety hazards",
    ("social", "event", "0308", "其他安全隐患"): "Other safety hazards",
    ("social", "event", "04", "民生服务"): "Livelihood services",
    ("social", "event", "0401", "供水供电供暖"): "Water, power and heating supply",
    ("social", "event", "0402", "养老服务"): "Elderly care services",
    ("social", "event", "0403", "社会救助"): "Social assistance",
    ("social", "event", "0404", "就业社保"): "Employment and social insurance",
    ("social", "event", "0405", "教育服务"): "Education services",
    ("social", "event", "0406", "其他民生诉求"): "Other livelihood requests",
    ("social", "event", "05", "特殊人群"): "Special groups",
    ("social", "event", "0501", "社区矫正对象"): "People under community correction",
    ("social", "event", "0502", "刑满释放人员"): "People released from prison",
    ("social", "event", "0503", "严重精神障碍患者"): "People with severe mental disorders",
    ("social", "event", "0504", "吸毒人员"): "Drug users",
    ("social", "event", "0505", "重点青少年"): "At-risk youth",
    ("social", "event", "0506", "其他需关爱人员"): "Other people needing care",
    ("social", "event", "06", "公共卫生"): "Public health",
    ("social", "event", "0601", "传染病疫情线索"): "Leads on infectious disease outbreaks",
    ("social", "event", "0602", "病媒生物"): "Disease vectors",
    ("social", "event", "0603", "爱国卫生与环境卫生"): "Patriotic health campaign and environmental sanitation",
    ("social", "event", "0604", "饮用水卫生"): "Drinking water hygiene",
    ("social", "event", "0605", "其他公共卫生问题"): "Other public health problems",
    ("social", "event", "07", "防汛应急"): "Flood control and emergencies",
    ("social", "event", "0701", "积水内涝"): "Waterlogging",
    ("social", "event", "0702", "排水不畅"): "Poor drainage",
    ("social", "event", "0703", "下凹式立交桥或涵洞积水"): "Water in sunken underpasses or culverts",
    ("social", "event", "0704", "地下空间进水"): "Water entering underground spaces",
    ("social", "event", "0705", "危旧房屋险情"): "Danger in old and dilapidated buildings",
    ("social", "event", "0706", "山洪及地质灾害隐患"): "Flash flood and geological hazard risks",
    ("social", "event", "0707", "河道堤防险情"): "River and embankment dangers",
    ("social", "event", "0708", "在建工地深基坑险情"): "Deep foundation pit dangers at construction sites",
    ("social", "event", "0709", "屋顶漏雨"): "Leaking roofs",
    ("social", "event", "0710", "其他防汛问题"): "Other flood control problems",
    ("social", "event", "08", "其他"): "Other",
    ("social", "event", "0801", "其他事件"): "Other events",
}


def add_names(apps, schema_editor):
    Category = apps.get_model("categories", "Category")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    now = timezone.now()
    entries = []
    candidates = Category.objects.filter(
        taxonomy__code__in={key[0] for key in NAMES_EN}, edited_at__isnull=True, name_en="").select_related("taxonomy")
    for c in candidates:
        english = NAMES_EN.get((c.taxonomy.code, c.kind, c.code, c.name))
        if not english:
            continue
        Category.objects.filter(pk=c.pk).update(name_en=english, updated_at=now)
        entries.append(AuditEntry(
            at=now, actor_name="system", action="data.changed", target_type="categories.category",
            target_id=str(c.pk), target_repr=f"{c.code} {c.name}"[:200], before={"name_en": ""},
            after={"name_en": english}, data={"reason": REASON}, result="ok"))
    AuditEntry.objects.bulk_create(entries)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_mask_stored_snapshots"),
        ("categories", "0008_category_name_en"),
    ]

    operations = [migrations.RunPython(add_names, migrations.RunPython.noop)]
