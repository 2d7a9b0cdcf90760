"""Personal data: validating Chinese resident ID numbers and phone numbers, and masking for display.

Error messages are Chinese first, then English, and never repeat the value itself (they end up in import
error reports and logs, which must not carry personal data).
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date, timedelta

# GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"


def _compact(s: str) -> str:
    """NFKC (full-width digits and letters become ASCII) and remove all whitespace."""
    return "".join(unicodedata.normalize("NFKC", s).split())


def id_number_check_char(first17: str) -> str:
    """The check character (0-9 or X) for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def validate_id_number(s: str | None, *, today: date | None = None) -> str:
    """Return the normalised 18-character ID number (upper-case X) or raise ``ValueError`` saying what is wrong."""
    value = _compact(s or "").upper()
    if not value:
        raise ValueError("身份证号为空 / ID number is empty")
    if len(value) == 15 and value.isdigit():
        raise ValueError(
            "不接受 15 位旧身份证号，请填写 18 位身份证号 / "
            "legacy 15-digit ID numbers are not accepted; enter the 18-digit number"
        )
    if len(value) != 18:
        raise ValueError(
            f"身份证号应为 18 位，实际为 {len(value)} 位 / ID number must have 18 characters, got {len(value)}"
        )
    body, check = value[:17], value[17]
    if not (body.isascii() and body.isdigit()):
        raise ValueError(
            "身份证号前 17 位应全部为数字 / the first 17 characters of an ID number must be digits"
        )
    if check not in "0123456789X":
        raise ValueError(
            "身份证号最后一位应为数字或 X / the last character of an ID number must be a digit or X"
        )
    if body[0] == "0":
        raise ValueError(
            "身份证号前 6 位地区码无效 / the region code (first 6 digits) of the ID number is invalid"
        )
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        raise ValueError(
            "身份证号第 7–14 位出生日期无效 / the birth date (digits 7–14) of the ID number is not a valid date"
        ) from None
    if born.year < 1900:
        raise ValueError("身份证号中的出生日期早于 1900 年 / the birth date in the ID number is before 1900")
    if born > (today or date.today()):
        raise ValueError("身份证号中的出生日期晚于今天 / the birth date in the ID number is in the future")
    expected = id_number_check_char(body)
    if check != expected:
        raise ValueError(
            f"身份证号校验位错误，应为 {expected} / the ID number check character is wrong; expected {expected}"
        )
    return value


def id_number_birth_date(s: str) -> date:
    """Birth date encoded in a (valid) ID number."""
    value = validate_id_number(s)
    return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def id_number_sex(s: str) -> str:
    """``"male"`` or ``"female"`` from the 17th digit of a (valid) ID number (odd = male)."""
    return "male" if int(validate_id_number(s)[16]) % 2 else "female"


def generate_id_number(
    rng: random.Random,
    region: str = "140213",
    birth_range: tuple[date, date] = (date(1940, 1, 1), date(2010, 12, 31)),
    sex: str | None = None,
) -> str:
    """A synthetic ID number with a correct check character (tests, demo data, benchmarks).

    ``region`` defaults to Pingcheng district (平城区, 140213); ``sex`` is "male", "female" or None (random).
    """
    if not (len(region) == 6 and region.isdigit() and region[0] != "0"):
        raise ValueError("region must be 6 digits not starting with 0")
    start, end = birth_range
    born = start + timedelta(days=rng.randrange((end - start).days + 1))
    order = rng.randrange(1, 100)  # digits 15-16: sequence within the registration office
    parity = {"male": 1, "female": 0, None: rng.randrange(2)}[sex]
    sex_digit = rng.randrange(parity, 10, 2)
    body = f"{region}{born:%Y%m%d}{order:02d}{sex_digit}"
    return body + id_number_check_char(body)


# ---------------------------------------------------------------------------------------------- phones

_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
# Area codes starting 01 or 02 have 3 digits (010, 020-029); all others have 4 (e.g. 0352 for Datong).
_LANDLINE_RE = re.compile(r"(0[12]\d|0[3-9]\d{2})([1-9]\d{6,7})")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）.·]")


def validate_mobile(s: str | None, *, allow_landline: bool = True) -> str:
    """Return a normalised phone number or raise ``ValueError``.

    Mobiles (11 digits, 1[3-9]…) come back as ``"13812345678"``; spaces, dashes and a leading ``+86``/``86``/
    ``0086`` are tolerated. With ``allow_landline`` a landline with its area code is accepted and comes back
    as ``"0352-1234567"``.
    """
    raw = unicodedata.normalize("NFKC", s or "").strip()
    if not raw:
        raise ValueError("电话号码为空 / phone number is empty")
    international = raw.startswith("+")
    digits = _PHONE_SEPARATORS.sub("", raw.lstrip("+"))
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(
            "电话号码只能包含数字、空格和“-” / a phone number may contain only digits, spaces and '-'"
        )
    if digits.startswith("0086"):
        digits, international = digits[4:], True
    elif international and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 13 and digits.startswith("86") and _MOBILE_RE.fullmatch(digits[2:]):
        digits = digits[2:]
    elif international:
        raise ValueError("只接受中国大陆电话号码（+86） / only mainland China numbers (+86) are accepted")
    if international and allow_landline and not digits.startswith(("0", "1")):
        digits = "0" + digits  # +86 352 1234567 is dialled 0352-1234567 at home
    if _MOBILE_RE.fullmatch(digits):
        return digits
    if allow_landline and (m := _LANDLINE_RE.fullmatch(digits)):
        return f"{m.group(1)}-{m.group(2)}"
    if digits.startswith("1"):
        landline = ("；固定电话请带区号，如 0352-1234567", "; a landline needs its area code, e.g. 0352-1234567")
        zh, en = landline if allow_landline else ("", "")
        raise ValueError(f"手机号应为 11 位数字，以 13–19 开头{zh} / a mobile number must have 11 digits and start with "
                         f"13–19{en}")
    if allow_landline:
        raise ValueError(
            "电话号码无效：手机号为 11 位；固定电话请带区号，如 0352-1234567 / invalid phone number: "
            "mobiles have 11 digits; landlines need the area code, e.g. 0352-1234567"
        )
    raise ValueError(
        "请填写手机号（11 位，以 13–19 开头） / enter a mobile number (11 digits starting 13–19)"
    )


# ---------------------------------------------------------------------------------------------- masking


def _mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[len(value) - keep_end :]


def mask_id_number(value: str | None) -> str:
    """``"140213199001011234"`` → ``"1402**********1234"``; short or odd values are masked more, never less."""
    if not value:
        return ""
    compact = _compact(value).upper()
    if len(compact) >= 12:
        return _mask_middle(compact, 4, 4)
    return _mask_middle(compact, 1, 1)


def mask_phone(value: str | None) -> str:
    """Mobile ``"13812345678"`` → ``"138****5678"``; landline ``"0352-1234567"`` → ``"0352-****567"``."""
    if not value:
        return ""
    try:
        phone = validate_mobile(value)
    except ValueError:
        compact = _compact(value)
        return _mask_middle(compact, 3, 2) if len(compact) > 7 else "*" * len(compact)
    if "-" in phone:
        area, local = phone.split("-")
        return f"{area}-" + _mask_middle(local, 0, len(local) - 4)
    return _mask_middle(phone, 3, 4)


def mask_name(value: str | None) -> str:
    """Keep the first character: ``"张三丰"`` → ``"张**"``, ``"李四"`` → ``"李*"``; separators (space, ·) stay."""
    if not value:
        return ""
    name = value.strip()
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "".join(c if c in " ·•-" else "*" for c in name[1:])


# Building markers end the part of an address that is kept; failing those, a road/community/village marker.
_BUILDING_RE = re.compile(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ一二三四五六七八九十甲乙丙丁]+\s*(?:号楼|栋|幢|座)")
_PLACE_RE = re.compile(r"(?:大街|街道|胡同|小区|社区|花园|家园|公寓|大厦|广场|路|街|巷|道|弄|里|村|组|苑|院)")
_ADMIN_RE = re.compile(r"(?:省|自治区|市|区|县|旗|镇|乡)")
_SECRET_RUN_RE = re.compile(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ一二三四五六七八九十零〇两甲乙丙丁#＃\-－—/]+")


def mask_address(value: str | None) -> str:
    """Keep the address up to the building (or road/community when there is no building); mask the rest.

    ``"平城区新建北路12号院3号楼2单元501室"`` → ``"平城区新建北路12号院3号楼**单元**室"``. Each run of
    numbers/letters after the kept part becomes ``**`` regardless of length, so the mask does not reveal
    how many digits a room number has.
    """
    if not value:
        return ""
    address = value.strip()
    keep = 0
    if buildings := list(_BUILDING_RE.finditer(address)):
        keep = buildings[-1].end()
    elif places := list(_PLACE_RE.finditer(address)):
        keep = places[-1].end()
    elif admins := list(_ADMIN_RE.finditer(address)):
        keep = admins[-1].end()
    rest = address[keep:]
    if not rest:
        return address
    masked = _SECRET_RUN_RE.sub("**", rest)
    if masked == rest:  # nothing numeric to hide: hide the free text instead
        masked = "****"
    return address[:keep] + masked


# ---------------------------------------------------------------------------------------------- free text
# Personal data inside text people wrote (a case's description, a staff note) that is about to be published
# (Open311's public feed): each finding is replaced by its masked form, the rest of the text is kept as written.
# The patterns err on the side of masking: any 15- to 19-digit run is an ID or a bank card here. Case numbers
# (13 digits), 12345 ticket numbers, dates, times, amounts and house numbers are shorter and stay.
#
# Between the digits people put spaces and dashes of every width (the phone keyboard's, a word processor's en and
# em dashes, the full-width ones of a Chinese input method), anywhere: any grouping of those is read. Dots and
# underscores also separate the digits of dates, amounts, versions, addresses and file names, so they count only
# in the groupings of a phone number or an ID number (138.1111.2222, 0352.1234567, 140213.19880505.2317), the
# same mark throughout, and not inside a longer dotted number (10.138.1111.2222, an address of a network).
_NOT_DIGIT_BEFORE = r"(?<![0-9０-９])"
_NOT_DIGIT_AFTER = r"(?![0-9０-９])"
_D = "[0-9０-９]"
# Spaces: ASCII, no-break, the typographic ones, ideographic (full width). Dashes: hyphen-minus, the Unicode
# hyphens and dashes (‐ ‑ ‒ – — ―), minus, the small and full-width hyphen-minus (﹣ －) and small em dash (﹘).
_SPACES = "\u0020\u00a0\u2000-\u200a\u202f\u205f\u3000"
_DASHES = "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
# Between groups of digits, in any grouping: one dash with up to three spaces on either side ("138 - 1234 - 5678",
# "0352 – 1234567"), or up to three spaces ("138  1234  5678").
_SEP = f"(?:[{_SPACES}]{{0,3}}[{_DASHES}][{_SPACES}]{{0,3}}|[{_SPACES}]{{1,3}})"
# Dots (ASCII, full width, middle dots) and underscores (ASCII, full width): only as a number's groups say.
_MARKS = (".", "．", "·", "・", "_", "＿")
_MARK = "[" + "".join(re.escape(m) for m in _MARKS) + "]"
# Not a piece of a longer dotted number: no digit, nor a mark with a digit beyond it, on either side.
_NOT_IN_DOTTED_BEFORE = rf"(?<![0-9０-９])(?<![0-9０-９]{_MARK})"
_NOT_IN_DOTTED_AFTER = rf"(?![0-9０-９])(?!{_MARK}[0-9０-９])"


def _grouped(*sizes: int, last: str = "") -> str:
    """Groups of digits of these sizes joined by one mark, the same one throughout (`last`: a pattern for the
    final character instead of a digit, as an ID number's check character)."""

    def groups(mark: str) -> str:
        parts = [f"{_D}{{{n}}}" for n in sizes]
        if last:
            parts[-1] = f"{_D}{{{sizes[-1] - 1}}}{last}"
        return re.escape(mark).join(parts)
    return "(?:" + "|".join(groups(mark) for mark in _MARKS) + ")"


_CHECK_CHAR = "[0-9０-９XxＸｘ]"
# Words after which a local number (without its area code) is a phone number.
_PHONE_CUES = ("电话", "座机", "固话", "手机", "联系方式", "tel", "Tel", "TEL")
_TEXT_PATTERNS = (
    # an email address (ASCII local part, so that the Chinese before it stays)
    ("email", r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
    # an 18-character ID number, written whole or as 6-8-4 (with spaces or dashes, or dots or underscores)
    ("id", rf"{_NOT_DIGIT_BEFORE}{_D}{{6}}{_SEP}?{_D}{{8}}{_SEP}?{_D}{{3}}{_CHECK_CHAR}(?![0-9０-９A-Za-z])"),
    ("id", rf"{_NOT_IN_DOTTED_BEFORE}{_grouped(6, 8, 4, last=_CHECK_CHAR)}(?![0-9０-９A-Za-z])(?!{_MARK}[0-9０-９])"),
    # a bank card written in groups of four (16–19 digits)
    ("card", rf"{_NOT_DIGIT_BEFORE}{_D}{{4}}(?:{_SEP}{_D}{{4}}){{3}}(?:{_SEP}?{_D}{{1,3}})?{_NOT_DIGIT_AFTER}"),
    # a mobile, with +86/0086 or not, its digits in any grouping of spaces or dashes
    ("phone", rf"(?:(?:[+＋]|{_NOT_DIGIT_BEFORE}(?:00)?)86{_SEP}?|{_NOT_DIGIT_BEFORE})[1１]{_SEP}?[3-9３-９]"
              rf"(?:{_SEP}?{_D}){{9}}{_NOT_DIGIT_AFTER}"),
    # a mobile as 3-4-4 with dots or underscores (138.1111.2222, 138_1111_2222), with +86 or not
    ("phone", rf"{_NOT_IN_DOTTED_BEFORE}(?:(?:[+＋]|00)?86(?:{_SEP}|{_MARK})?)?(?=[1１][3-9３-９]){_grouped(3, 4, 4)}"
              rf"{_NOT_IN_DOTTED_AFTER}"),
    # a landline with its area code: 0352-1234567, (0352)1234567, 010 12345678
    ("phone", rf"{_NOT_DIGIT_BEFORE}[(（]?0[1-9１-９]{_D}{{1,2}}[)）]?{_SEP}?[1-9１-９]{_D}{{6,7}}{_NOT_DIGIT_AFTER}"),
    # a landline with its area code after a dot or an underscore: 0352.1234567
    ("phone", rf"{_NOT_IN_DOTTED_BEFORE}[0０][1-9１-９]{_D}{{1,2}}{_MARK}[1-9１-９]{_D}{{6,7}}{_NOT_IN_DOTTED_AFTER}"),
    # a 15-digit (pre-1999) ID number, and any other run of 15–19 digits (a bank card written whole)
    ("id", rf"{_NOT_DIGIT_BEFORE}{_D}{{15}}{_NOT_DIGIT_AFTER}"),
    ("card", rf"{_NOT_DIGIT_BEFORE}{_D}{{16,19}}{_NOT_DIGIT_AFTER}"),
    # a local number without its area code, where the text says it is a phone number
    ("local", rf"(?:{'|'.join(_PHONE_CUES)})[:：\s]*(?:号码|号)?[:：\s]*{_NOT_DIGIT_BEFORE}[1-9１-９]{_D}{{6,7}}"
              rf"{_NOT_DIGIT_AFTER}"),
)
# Every finding starts with one of these: a digit, what may stand before a number (+, a bracket), a character of an
# email address (which holds the letters of 'tel' too), the first character of a phone cue word. The scan tries
# the patterns only where one stands (a lookahead that fails at once elsewhere): on texts of a few hundred
# characters, mostly Chinese, that made it about six times faster than trying all of them at every character.
_STARTS = "0-9０-９+＋(（A-Za-z._%\\-" + "".join(sorted({cue[0] for cue in _PHONE_CUES}))
_TEXT_RE = re.compile(f"(?=[{_STARTS}])(?:"
                      + "|".join(f"(?P<{kind}{i}>{pattern})" for i, (kind, pattern) in enumerate(_TEXT_PATTERNS))
                      + ")")


def mask_email(value: str | None) -> str:
    """``"zhangwei@example.com"`` → ``"z*******@example.com"``: the first character and the domain stay."""
    if not value:
        return ""
    local, _, domain = value.strip().rpartition("@")
    if not local:
        return "*" * len(domain)
    return _mask_middle(local, 1, 0) + "@" + domain


def mask_card(value: str | None) -> str:
    """A bank card (or any long number) keeps its last four digits: ``"6222021234567890"`` → ``"************7890"``."""
    if not value:
        return ""
    digits = "".join(c for c in _compact(value) if c.isdigit())
    return _mask_middle(digits, 0, 4)


def _mask_found(match: re.Match[str]) -> str:
    kind = match.lastgroup.rstrip("0123456789")
    text = match.group()
    if kind == "email":
        return mask_email(text)
    if kind == "id":
        return mask_id_number("".join(c for c in _compact(text) if c.isalnum()))
    if kind == "card":
        return mask_card(text)
    if kind == "local":
        number = re.search(f"{_D}+$", text)
        return text[: number.start()] + _mask_middle(_compact(number.group()), 0, 4)
    # The digits alone (and a leading +): whatever separated them is not part of the number.
    compact = "".join(c for c in _compact(text) if c.isdigit() or c == "+")
    if compact.startswith("+86"):
        compact = compact[3:]
    elif compact.startswith("0086"):
        compact = compact[4:]
    elif len(compact) == 13 and compact.startswith("86"):
        compact = compact[2:]
    return mask_phone(compact)


# ---------------------------------------------------------------------------------------------- names in text
# A person's name in free text is recognised only where the text itself introduces one: after a cue word
# (我是王小明, 联系人：李四, 本人张三丰，电话…) or before 先生/女士 (王小明先生). Conservative by design: a
# candidate is a common surname and one or two more characters, and it must be followed by the end of the
# text, a character that is not Chinese (punctuation, a digit, a space) or a word that usually follows a
# name (电话, 家住, 反映 …); a candidate with a character no given name carries (places, organisations,
# function words: 王府井小区, 王村, 张家口人) or a title instead of a given name (王老师, 孙大爷) is left alone.
# Names written without such a cue are not found: what is published must not need them to be safe.
#
# The surnames: a short list written for this module (about 130 single-character surnames, the most frequent
# ones of the published national rankings plus some frequent in Shanxi, and the commoner compound ones). A
# name with a surname outside it is not recognised; a rarer surname is no loss of safety against the cue
# words, whose point is not to mask an ordinary word that happens to follow one.
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "公孙", "慕容", "令狐", "夏侯", "司徒", "端木",
                      "尉迟", "长孙", "宇文", "南宫", "呼延", "独孤")
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任"
             "卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付傅方邹熊白孟秦邱侯江尹薛闫阎段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严"
             "欧莫孔向常汤康易乔赖文施洪樊牛庞葛温殷关季包柳霍申靳卫裴祁岳翟聂耿尚安齐焦辛车邢")
# Surnames that are also prepositions or adverbs (本人向物业反映, 本人曾多次投诉, 本人于…): after a cue they are read as
# a surname only when what follows the name is not a word (the end, punctuation, a digit).
_WORD_SURNAMES = "向于曾"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"  # CJK extension A and the unified ideographs
_COMPOUND = "(?:" + "|".join(_COMPOUND_SURNAMES) + ")"
_SURNAME = f"(?:{_COMPOUND}|[{_SURNAMES}])"
# Characters no given name is taken to carry: function words, dates, and what ends a place or an organisation.
_NOT_GIVEN = ("的了在是有和与及或从向往对把被给让等这那们个某年月日号楼室栋层户区路街巷道村镇乡县市省所局站厂店司部处"
              "科队组会委院校场馆园苑厅社庄屯井桥坊营寨沟弄港湾")
_GIVEN = f"(?:(?![{_NOT_GIVEN}])[{_HAN}])"
# What follows a surname when the text names a title or a kinship word instead of a given name.
_TITLES = ("(?:老师|师傅|经理|主任|书记|队长|科长|局长|所长|站长|组长|社长|院长|校长|处长|部长|村长|镇长|区长|市长|县长|厂长|"
           "主席|委员|医生|大夫|护士|警官|律师|会计|同志|阿姨|大爷|大妈|大娘|大叔|大姐|大哥|奶奶|爷爷|叔叔|婶婶|伯伯|"
           "姐姐|哥哥|先生|女士|小姐|老板|[老总工姐哥叔姨伯婶嫂爷奶])")
_GIVEN_NAME = f"(?!{_TITLES}){_GIVEN}{{1,2}}?"  # one or two characters, the fewest that reach what may follow
_END_OF_WORD = f"(?=$|[^{_HAN}])"
# What may follow a name the text introduces: the end, a character that is not Chinese, or one of these words,
# among them what a 12345 operator writes after the caller's name (来电人欧阳娜娜称…, 投诉人张伟表示…, …的孩子).
_AFTER_NAME = (f"(?=$|[^{_HAN}]|电话|手机|联系|身份证|证件|家住|住在|现住|住址|户籍|今年|年龄|反映|反应|投诉|举报|来电|"
               "求助|诉称|称|说|表示|咨询|询问|要求|希望|在|于|的|先生|女士|我|想|要)")
# The words that introduce a name (a 12345 work order's 来电人/来电者, 反映人, 投诉人, 举报人, 诉求人 among them), then a
# separator, 是/为/叫, and a resident's role (我是居民王小明). 本人 is not one inside 日本人, 户主 inside 客户主…, 业主
# inside 物业主任. Each cue starts with its own characters (the look back comes after them), so that the engine
# skips ahead to the next cue instead of trying every position.
_CUES = ("(?:我是|我叫|名叫|名字叫|名字是|本人(?<![日根基原样文书版剧]本人)|联系人|报告人|反映人|反映者|投诉人|投诉者|"
         "举报人|举报者|来电人|来电者|来访人|诉求人|求助人|当事人|姓名|户主(?<![客用账商住]户主)|住户|业主(?<!物业主))")
_CUED_RE = re.compile(f"{_CUES}[\\s:：]*(?:[是为叫][\\s:：]*)?(?:居民|住户|业主|村民|市民|租户|网格员|志愿者)?"
                      f"(?P<name>(?![{_WORD_SURNAMES}]){_SURNAME}{_GIVEN_NAME}{_AFTER_NAME}"
                      f"|[{_WORD_SURNAMES}]{_GIVEN_NAME}{_END_OF_WORD})")
# 王小明先生, 李秀英女士; not 向王先生 or 向李四先生 (to Mr Wang, to Mr Li Si) nor 欧阳先生, which name a surname. Tried
# only on a text that holds 先生 or 女士 (`_HONORIFICS`): the pattern has no characters of its own to start from.
_HONORIFICS = ("先生", "女士")
_TITLED_RE = re.compile(f"(?![{_WORD_SURNAMES}]{_SURNAME}{_GIVEN}?(?:先生|女士))(?!{_COMPOUND}(?:先生|女士))"
                        f"(?P<name>{_SURNAME}{_GIVEN_NAME})(?=先生|女士)")


def _mask_named(match: re.Match[str]) -> str:
    start, end = match.span("name")
    return match.string[match.start():start] + mask_name(match.group("name")) + match.string[end:match.end()]


def _names_masked(text: str) -> str:
    text = _CUED_RE.sub(_mask_named, text)
    return _TITLED_RE.sub(_mask_named, text) if any(h in text for h in _HONORIFICS) else text


def scrub(text: str | None) -> str:
    """The text with the personal data it carries masked: ID numbers (18 characters, or the old 15 digits),
    mobiles (with +86; spaces or dashes of any width anywhere, a dash with spaces round it, dots or underscores between the 3-4-4 groups; ASCII
    or full-width digits), landlines with their area code (and a local number the text calls a phone number), email addresses, bank-card-like runs of 16–19 digits, and a person's name where the text
    introduces one (`_CUED_RE`, `_TITLED_RE`: 我是王小明, 联系人：李四, 王小明先生). Everything else stays as
    written.

    ``"住户张伟（身份证140213198805052317，电话13811112222）"`` → ``"住户张*（身份证1402**********2317，电话138****2222）"``.
    Addresses, and names the text does not introduce, are not recognised: what is published must not need them
    to be safe.
    """
    if not text:
        return ""
    return _names_masked(_TEXT_RE.sub(_mask_found, text))


def has_personal_data(text: str | None) -> bool:
    """Whether `scrub` would mask anything in `text`."""
    if not text:
        return False
    if _TEXT_RE.search(text) is not None or _CUED_RE.search(text) is not None:
        return True
    return any(h in text for h in _HONORIFICS) and _TITLED_RE.search(text) is not None


# ---------------------------------------------------------------------------------------------- published addresses
# An address as the public reads it (Open311's feed): the place down to the building, never below. People type
# the whole of it ("东风园小区3号楼2单元501 张伟家 电话138…"): the unit, the room and what follows them name a
# household (and who lives there), which a public map has no need of; the building is what a neighbour, a
# FixMyStreet user or the press need to find the problem. A door number (新建北路12号) is a building's address.
_NUM = "[0-9A-Za-z０-９Ａ-Ｚａ-ｚ一二三四五六七八九十零〇两甲乙丙丁]"
_DOOR_RE = re.compile(r"[0-9０-９一二三四五六七八九十零〇两]+\s*号(?:大院|院|门)?(?!线)")  # 地铁2号线 is no door
_BELOW_BUILDING_RE = re.compile(rf"{_NUM}+\s*(?:单元|室|户|层|楼)|[#＃]\s*{_NUM}")
_TRAILING = " \u3000,，、;；:：-－—/（(【[|"


def public_address(value: str | None) -> str:
    """The address as published: personal data written into it masked (`scrub`), then cut after the building
    (the first 号楼/栋/幢/座; failing one, the first door number such as 12号 or 12号院), or failing both just before
    a unit, floor or room (单元, 层, 室, 户); what is left of an address without any of these stays, scrubbed.

    ``"东风园小区3号楼2单元501 张伟家 电话13811112222"`` → ``"东风园小区3号楼"``;
    ``"永泰街道新建北路12号3单元门口"`` → ``"永泰街道新建北路12号"``. A name is masked only where the text introduces one (as
    `scrub` does): an address without a building or door number keeps the other words written there."""
    text = scrub((value or "").strip())
    if not text:
        return ""
    if building := _BUILDING_RE.search(text):
        text = text[: building.end()]
    elif door := _DOOR_RE.search(text):
        text = text[: door.end()]
    elif below := _BELOW_BUILDING_RE.search(text):
        text = text[: below.start()]
    return text.rstrip(_TRAILING)
