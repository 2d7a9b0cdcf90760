"""ID numbers, phone numbers and masking."""

import random
import re
from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from civicgrid.foundation.core import pii
from civicgrid.foundation.core.pii import (
    generate_id_number,
    has_personal_data,
    id_number_birth_date,
    id_number_check_char,
    id_number_sex,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    scrub,
    validate_id_number,
    validate_mobile,
)

# Published example from GB 11643-1999 (check character X).
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid():
    assert validate_id_number(STANDARD_EXAMPLE) == STANDARD_EXAMPLE
    assert validate_id_number(STANDARD_EXAMPLE.lower()) == STANDARD_EXAMPLE
    assert validate_id_number(" １１０１０５１９４９１２３１００２ｘ ") == STANDARD_EXAMPLE
    assert id_number_birth_date(STANDARD_EXAMPLE) == date(1949, 12, 31)
    assert id_number_sex(STANDARD_EXAMPLE) == "female"


@given(seed=st.integers(0, 2**32), sex=st.sampled_from(["male", "female", None]))
def test_generated_numbers_validate(seed, sex):
    number = generate_id_number(random.Random(seed), sex=sex)
    assert validate_id_number(number) == number
    assert number.startswith("140213")
    assert date(1940, 1, 1) <= id_number_birth_date(number) <= date(2010, 12, 31)
    if sex:
        assert id_number_sex(number) == sex


@given(seed=st.integers(0, 2**32), position=st.integers(0, 16), delta=st.integers(1, 9))
def test_changing_one_digit_is_caught(seed, position, delta):
    """MOD 11-2 detects every single-digit substitution."""
    number = generate_id_number(random.Random(seed))
    digits = list(number)
    digits[position] = str((int(digits[position]) + delta) % 10)
    with pytest.raises(ValueError):
        validate_id_number("".join(digits))


@given(seed=st.integers(0, 2**32))
def test_wrong_check_character_names_the_right_one(seed):
    number = generate_id_number(random.Random(seed))
    wrong = "0" if number[-1] != "0" else "1"
    with pytest.raises(ValueError, match=f"^身份证号校验位错误，应为 {number[-1]}"):
        validate_id_number(number[:-1] + wrong)


def test_generate_respects_region_and_range():
    rng = random.Random(7)
    number = generate_id_number(rng, region="110105", birth_range=(date(2000, 5, 6), date(2000, 5, 6)))
    assert number.startswith("11010520000506")
    with pytest.raises(ValueError):
        generate_id_number(rng, region="012345")


def _with_check(body17: str) -> str:
    return body17 + id_number_check_char(body17)


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "身份证号为空"),
        ("", "身份证号为空"),
        ("140213900101123", "不接受 15 位旧身份证号，请填写 18 位"),
        ("14021319900101123", "身份证号应为 18 位，实际为 17 位"),
        ("1402131990010112A4", "前 17 位应全部为数字"),
        ("14021319900101123Y", "最后一位应为数字或 X"),
        (_with_check("04021319900101123"), "地区码无效"),
        (_with_check("14021319900230123"), "出生日期无效"),
        (_with_check("14021318991231123"), "早于 1900 年"),
        (_with_check("14021321000101123"), "晚于今天"),
    ],
)
def test_id_number_errors(value, message):
    with pytest.raises(ValueError, match=message):
        validate_id_number(value)


def test_id_number_error_does_not_echo_the_number():
    with pytest.raises(ValueError) as info:
        validate_id_number("140213199001011230")
    assert "1402131990" not in str(info.value)


def test_future_birth_date_uses_today():
    number = _with_check("14021320240601123")
    assert validate_id_number(number, today=date(2024, 6, 1)) == number
    with pytest.raises(ValueError, match="晚于今天"):
        validate_id_number(number, today=date(2024, 5, 31))


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("１９９１２３４５６７８", "19912345678"),
        ("0352-1234567", "0352-1234567"),
        ("03522345678", "0352-2345678"),
        ("(0352) 2345678", "0352-2345678"),
        ("010-12345678", "010-12345678"),
        ("+86 352 2345678", "0352-2345678"),
    ],
)
def test_phone_numbers(raw, expected):
    assert validate_mobile(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("", "电话号码为空"),
        (None, "电话号码为空"),
        ("12812345678", "手机号应为 11 位数字，以 13–19 开头"),
        ("1381234567", "手机号应为 11 位"),
        ("138123456789", "手机号应为 11 位"),
        ("2345678", "固定电话请带区号"),
        ("0352-12345", "固定电话请带区号"),
        ("138abc45678", "只能包含数字"),
        ("+1 415 555 0100", "只接受中国大陆电话号码"),
    ],
)
def test_phone_errors(raw, message):
    with pytest.raises(ValueError, match=message):
        validate_mobile(raw)


def test_mobile_only():
    assert validate_mobile("13812345678", allow_landline=False) == "13812345678"
    with pytest.raises(ValueError, match="请填写手机号"):
        validate_mobile("0352-1234567", allow_landline=False)


@pytest.mark.parametrize(
    "func, raw, expected",
    [
        (mask_id_number, "140213199001011234", "1402**********1234"),
        (mask_id_number, "11010519491231002x", "1101**********002X"),
        (mask_id_number, "12345", "1***5"),
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "+86 138-1234-5678", "138****5678"),
        (mask_phone, "0352-1234567", "0352-****567"),
        (mask_phone, "010-12345678", "010-****5678"),
        (mask_phone, "12345", "*****"),
        (mask_phone, "not-a-phone-number", "not*************er"),
        (mask_name, "张三丰", "张**"),
        (mask_name, "李四", "李*"),
        (mask_name, "王", "*"),
        (mask_name, "阿卜杜·热合曼", "阿**·***"),
        (
            mask_address,
            "山西省大同市平城区新建北路12号院3号楼2单元501室",
            "山西省大同市平城区新建北路12号院3号楼**单元**室",
        ),
        (mask_address, "平城区新建北路12号", "平城区新建北路**号"),
        (mask_address, "御东小区5栋1单元302", "御东小区5栋**单元**"),
        (mask_address, "平城区北关村3组45号", "平城区北关村3组**号"),
        (mask_address, "万达广场B座1203", "万达广场B座**"),
        (mask_address, "大同市平城区", "大同市平城区"),
        (mask_address, "向阳里3-2-501", "向阳里**"),
    ],
)
def test_masking(func, raw, expected):
    assert func(raw) == expected


@pytest.mark.parametrize("func", [mask_id_number, mask_phone, mask_name, mask_address])
@pytest.mark.parametrize("empty", [None, ""])
def test_masking_empty(func, empty):
    assert func(empty) == ""


# ---------------------------------------------------------------------------------------------- free text


@pytest.mark.parametrize(("raw", "expected"), [
    # what the assessor published through Open311
    ("住户张伟（身份证140213198805052317，电话13811112222）…", "住户张*（身份证1402**********2317，电话138****2222）…"),
    ("已联系当事人王小明（13700001111）清理完毕", "已联系当事人王**（137****1111）清理完毕"),
    # ID numbers: check character X either case, written 6-8-4, the old 15 digits, full width
    ("身份证号11010519491231002x。", "身份证号1101**********002X。"),
    ("证件 140213 19880505 2317", "证件 1402**********2317"),
    ("老证件140213880505231", "老证件1402*******5231"),
    ("１４０２１３１９８８０５０５２３１７", "1402**********2317"),
    # mobiles: spaces, dashes, +86, 0086, full width, two in a row
    ("电话 138 1111 2222", "电话 138****2222"),
    ("电话138-1111-2222。", "电话138****2222。"),
    ("+86 138 1111 2222", "138****2222"),
    ("0086-13811112222", "138****2222"),
    ("手机：１３８１１１１２２２２", "手机：138****2222"),
    ("13911112222和13811112222", "139****2222和138****2222"),
    # landlines with area codes, and a local number the text calls a phone number
    ("座机0352-1234567转8", "座机0352-****567转8"),
    ("（0352）1234567", "0352-****567"),
    ("010 12345678", "010-****5678"),
    ("电话：5123456", "电话：***3456"),
    ("固话 51234567。", "固话 ****4567。"),
    # emails and bank cards
    ("邮箱zhangwei@qq.com，", "邮箱z*******@qq.com，"),
    ("卡号6222 0212 3456 7890 123", "卡号***************0123"),
    ("卡号6222021234567890", "卡号************7890"),
])
def test_scrub_masks_personal_data_in_text(raw, expected):
    assert has_personal_data(raw)
    assert scrub(raw) == expected


@pytest.mark.parametrize("text", [
    "老人行动不便，子女在外地。",
    "案卷 2026111200005 并入 2026111200004",  # case numbers: 13 digits
    "12345 工单 202611120001",
    "2026-11-12 14:30 至 15:00，共 3 袋，12 号楼 2 单元 501 室",
    "金额 12345.67 元，面积 1200 平方米",
    "编号1381111222244",  # 13 digits: a mobile inside a longer number is not one
    "",
])
def test_scrub_leaves_everything_else_as_written(text):
    assert scrub(text) == text and not has_personal_data(text)


@pytest.mark.parametrize(("raw", "expected"), [
    # the tester's mobiles: dots, em and en dashes, underscores, full-width spaces, full-width digits
    ("138.1111.2222", "138****2222"),
    ("138—1111—2222", "138****2222"),
    ("138–1111–2222", "138****2222"),
    ("138_1111_2222", "138****2222"),
    ("138\u30001111\u30002222", "138****2222"),
    ("１３８１１１１２２２２", "138****2222"),
    # the same in a sentence, in full width, with +86, at the end of a sentence
    ("电话138.1111.2222，请回电", "电话138****2222，请回电"),
    ("手机：１３８．１１１１．２２２２。", "手机：138****2222。"),
    ("手机１３８＿１１１１＿２２２２", "手机138****2222"),
    ("电话138·1111·2222", "电话138****2222"),
    ("联系电话：138.1111.2222.", "联系电话：138****2222."),
    ("+86.138.1111.2222", "138****2222"),
    ("+86 138.1111.2222", "138****2222"),
    ("0086_138_1111_2222", "138****2222"),
    ("电话 +86—138—1111—2222", "电话 138****2222"),
    # other dashes and spaces: hyphen, non-breaking hyphen, figure dash, horizontal bar, minus, full-width
    # hyphen-minus, small hyphen-minus, no-break and thin spaces, and any grouping of them
    ("138\u20101111\u20112222", "138****2222"),
    ("138\u20121111\u20152222", "138****2222"),
    ("138\u22121111\ufe632222", "138****2222"),
    ("138－1111－2222", "138****2222"),
    ("138\u00a01111\u20092222", "138****2222"),
    ("1381—111—2222", "138****2222"),
    # landlines with their area code
    ("座机0352—1234567", "座机0352-****567"),
    ("座机0352.1234567", "座机0352-****567"),
    ("座机０３５２＿１２３４５６７", "座机0352-****567"),
    # ID numbers: 6-8-4 with dots, dashes of every width, underscores, full-width spaces; full-width digits
    ("身份证140213.19880505.2317", "身份证1402**********2317"),
    ("身份证140213—19880505—2317", "身份证1402**********2317"),
    ("身份证140213–19880505–2317", "身份证1402**********2317"),
    ("身份证140213_19880505_2317", "身份证1402**********2317"),
    ("身份证140213\u300019880505\u30002317", "身份证1402**********2317"),
    ("身份证１４０２１３．１９８８０５０５．２３１７", "身份证1402**********2317"),
    ("证件号11010519491231002x。", "证件号1101**********002X。"),
    ("证件号110105.19491231.002X", "证件号1101**********002X"),
])
def test_scrub_masks_numbers_however_their_digits_are_separated(raw, expected):
    assert has_personal_data(raw)
    assert scrub(raw) == expected


@pytest.mark.parametrize("text", [
    # dates, times and ranges of them
    "2026.11.30",
    "2026.11.30 14:30 至 2026.12.31 18:00",
    "2026—11—30",
    "2026_11_30 巡查记录",
    "2026年11月30日",
    "13.11.2026",
    # money, areas, measurements, coordinates
    "1,380.50",
    "金额 1,380.50 元，另付 13,800,000.00 元",
    "单价 13.81 元，共 1111.22 平方米",
    "位置 113.2100,40.0100",
    "坐标 113.21, 40.01",
    # case numbers (13 digits starting 20), 12345 tickets, versions, network addresses, file names
    "案卷 2026113000005",
    "案卷号 2026113000005 已并入 2026113000004",
    "版本 v1.2.3，补丁 13.1.2",
    "固件 138.1111.2222.5",
    "地址 192.168.1.100",
    "网关 10.138.1111.2222",
    "照片 IMG_20261130_143000.jpg",
    "文件 DSC_1381_1111.JPG",
    # house and room numbers
    "3号楼2单元501",
    "13号楼1单元1102室",
    "13-1-1102",
    "振华南街176号院3号楼2单元501室",
    # a 10-digit run is no mobile (a digit short), however it is written
    "１３８１１１１２２２",
    "138.1111.222",
    # groupings no phone number is written in
    "1381111.2222",
    "13.811.112.222",
])
def test_scrub_leaves_dates_money_numbers_and_addresses_as_written(text):
    assert scrub(text) == text and not has_personal_data(text)


@pytest.mark.parametrize(("raw", "expected"), [
    # a dash with spaces round it, and runs of spaces, between the groups (copied from forms and spreadsheets)
    ("138 - 1234 - 5678", "138****5678"),
    ("电话 138 – 1234 – 5678，请回电", "电话 138****5678，请回电"),
    ("138  1234  5678", "138****5678"),
    ("+86 - 138 - 1234 - 5678", "138****5678"),
    ("+86 138 1234 5678", "138****5678"),
    ("0352 - 1234567", "0352-****567"),
    ("座机 0352 — 1234567 转 8", "座机 0352-****567 转 8"),
    ("010 - 12345678", "010-****5678"),
    ("身份证 140213 - 19880505 - 2317", "身份证 1402**********2317"),
    ("卡号 6222 - 0212 - 3456 - 7890", "卡号 ************7890"),
])
def test_scrub_masks_numbers_with_spaced_dashes(raw, expected):
    assert has_personal_data(raw)
    assert scrub(raw) == expected


@pytest.mark.parametrize("text", [
    "2026 - 11 - 30",
    "2026-11-30 - 2026-12-31",
    "13:00 - 15:00",
    "案卷 2026113000005 - 2026113000006",
    "编号 2026 - 1130 - 0005",
    "金额 1,380.50 - 2,000.00 元",
    "坐标 113.21 - 40.01",
    "12 - 13 号楼",
    "3号楼 - 2单元 - 501",
])
def test_scrub_leaves_ranges_with_spaced_dashes_as_written(text):
    assert scrub(text) == text and not has_personal_data(text)


LOOSE_SEPARATORS = [" ", "\u3000", "\u00a0", "-", "－", "–", "—", "‐", "−", " - ", " – ", "  "]
GROUP_MARKS = [".", "．", "_", "＿", "·"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def written_mobiles(draw):
    """A mobile as people write it: spaces or dashes of any width between any of its digits, or dots or
    underscores between its 3-4-4 groups; ASCII or full-width digits; between Chinese words."""
    number = draw(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
    if draw(st.booleans()):
        written = number[0]
        for digit in number[1:]:
            written += draw(st.sampled_from(["", "", *LOOSE_SEPARATORS])) + digit
    else:
        mark = draw(st.sampled_from(GROUP_MARKS))
        written = mark.join((number[:3], number[3:7], number[7:]))
    if draw(st.booleans()):
        written = written.translate(FULL_WIDTH)
    return number, written


@given(written_mobiles(), st.sampled_from(["电话", "手机：", "请拨打", ""]), st.sampled_from(["，谢谢", "。", ""]))
def test_a_mobile_is_masked_however_it_is_written(mobile, before, after):
    number, written = mobile
    assert scrub(f"{before}{written}{after}") == f"{before}{number[:3]}****{number[-4:]}{after}"


_EVERY_POSITION = re.compile("|".join(f"(?P<{kind}{i}>{pattern})"
                                     for i, (kind, pattern) in enumerate(pii._TEXT_PATTERNS)))


@given(st.text(alphabet="0123456789１３８０ .．_＿—-+＋(（）)@abcTtel电话座机固手联系方式：，号码身份证xX", max_size=80))
@example("联系方式 5123456，座机：5123456；固话5123456 手机号码 5123456 电话：5123456 tel 5123456 TEL:51234567")
@example("（0352）1234567 (010)12345678 ＋86 138 1111 2222 +86.138.1111.2222 0086-13811112222")
@example("邮箱 .a_b%c-d+e@qq.com，Zhang.Wei@example.com.cn")
def test_the_scan_skips_only_where_no_finding_can_start(text):
    """`_TEXT_RE` tries its patterns only where a finding's first character stands (`_STARTS`): it finds what
    trying them at every character finds."""
    assert ([(m.span(), m.lastgroup) for m in pii._TEXT_RE.finditer(text)]
            == [(m.span(), m.lastgroup) for m in _EVERY_POSITION.finditer(text)])


def test_scrub_empty():
    assert scrub(None) == "" and not has_personal_data(None)


@given(st.text(alphabet="0123456789 -，电话号码身份证（）xX@.abc", max_size=60))
def test_scrub_leaves_no_mobile_or_id_number_and_is_stable(text):
    out = scrub(text)
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", out)
    assert not re.search(r"(?<!\d)\d{17}[\dXx](?!\d)", out)
    assert scrub(out) == out


# ---------------------------------------------------------------------------------------------- names in text


@pytest.mark.parametrize(("raw", "expected"), [
    # the cue words
    ("我是王小明", "我是王**"),
    ("我叫李四，电话13800001111", "我叫李*，电话138****1111"),
    ("本人张三丰，电话13800001111，反映路灯不亮", "本人张**，电话138****1111，反映路灯不亮"),
    ("联系人：李四", "联系人：李*"),
    ("紧急联系人 王芳 13911112222", "紧急联系人 王* 139****2222"),
    ("联系人是李四", "联系人是李*"),
    ("报告人：欧阳娜娜。", "报告人：欧***。"),  # a compound surname
    ("姓名：张伟 身份证140213198805052317", "姓名：张* 身份证1402**********2317"),
    ("户主王建国家住平城区新建北路", "户主王**家住平城区新建北路"),  # a word that follows a name ends it
    ("我是居民王小明，楼上漏水", "我是居民王**，楼上漏水"),  # a resident's role between
    ("我是于小明，电话13800001111", "我是于**，电话138****1111"),  # 于 as a surname: the name ends at punctuation
    ("反映人：刘德华反映楼道堆物", "反映人：刘**反映楼道堆物"),
    ("我叫陈晓，我想问一下", "我叫陈*，我想问一下"),
    # 先生 / 女士 after a full name
    ("请联系王小明先生", "请联系王**先生"),
    ("李秀英女士反映楼道灯坏了", "李**女士反映楼道灯坏了"),
    ("我是王小明先生的家属", "我是王**先生的家属"),
    ("已向李四先生说明", "已向李*先生说明"),  # 向 is "to", not the surname
    # full-width colon, a space, a digit right after
    ("联系人　赵敏13700001111", "联系人　赵*137****1111"),
    # a 12345 operator's words: the caller, and what they said after the name (compound surnames too)
    ("来电人欧阳娜娜称小区停水", "来电人欧***称小区停水"),
    ("来电人欧阳娜娜反映楼道堆物", "来电人欧***反映楼道堆物"),
    ("来电者：欧阳娜娜，电话13600002222", "来电者：欧***，电话136****2222"),
    ("来电人王五称", "来电人王*称"),  # the word after the name stays
    ("投诉人诸葛亮表示不满", "投诉人诸**表示不满"),
    ("举报人司马相如说楼下有人占道", "举报人司***说楼下有人占道"),
    ("举报者：刘德华", "举报者：刘**"),
    ("反映者张伟在小区门口", "反映者张*在小区门口"),
    ("投诉者张伟于昨日来电", "投诉者张*于昨日来电"),
    ("诉求人李秀英要求尽快处理", "诉求人李**要求尽快处理"),
    ("来访人上官婉儿的孩子", "来访人上***的孩子"),
])
def test_scrub_masks_a_name_the_text_introduces(raw, expected):
    assert has_personal_data(raw)
    assert scrub(raw) == expected


@pytest.mark.parametrize("text", [
    # a cue word followed by no name: a role, a place, an organisation, a title
    "我是社区网格员，巡查发现井盖缺失",
    "王府井小区3号楼外墙脱落",
    "我是王府井小区的居民",
    "我是王村的村民，路灯坏了",
    "我是张家口人，在这里打工",
    "我是石家庄，",
    "我是高层住户，电梯坏了",
    "我是常住户，",
    "我是万科物业的，来处理",
    "联系人：物业公司",
    "我是附近居民，",
    "我是王老师，孩子的学校门口积水",
    "我叫赵大妈，住振华南街176号",
    "我是孙大爷，住振华南街9号楼",
    "本人姓王，住3号楼",
    # prepositions and adverbs that are surnames too
    "本人于昨天发现",
    "本人于2026年3月反映过",
    "本人向物业反映多次无果",
    "本人曾多次投诉",
    # a surname alone: nothing more than the mask would keep
    "王先生来电",
    "请李女士回电",
    "欧阳先生",
    "张老先生腿脚不便",
    "已向王先生说明情况",
    "请联系业主委员会张先生",
    # a cue inside a longer word
    "日本人开的店",
    "客户主任何时到",
    "物业主任李四，",
    # no cue at all: names written plainly are not recognised
    "王小明家门口有垃圾",
    # a caller's cue followed by what they said, not by a name
    "来电人称楼道堆物",
    "来电人反映楼道灯坏了",
    "投诉人要求尽快处理",
    "来电者表示感谢",
    "来访人员登记",
])
def test_scrub_leaves_places_organisations_and_titles_as_written(text):
    assert scrub(text) == text and not has_personal_data(text)


@given(st.text(alphabet="我是叫本人联系：，、 王李张欧阳小明四伟府井村先生女士老师向于物业0123", max_size=40))
def test_scrub_masks_names_stably(text):
    out = scrub(text)
    assert scrub(out) == out
    assert has_personal_data(text) == (out != text)


@given(st.text(alphabet="来电人者投诉举报称说表示的在于：，欧阳娜王五张伟司马相如先生0123", max_size=40))
def test_scrub_masks_callers_names_stably(text):
    out = scrub(text)
    assert scrub(out) == out
    assert has_personal_data(text) == (out != text)
