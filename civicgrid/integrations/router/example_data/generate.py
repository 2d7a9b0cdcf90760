"""Generate the router's example data set (``messages.csv``): invented citizen messages, labelled by department.

Written for the civicgrid demo and tests; nothing here is taken from any real complaint data set. Messages are
built from templates with varied places of Pingcheng district (平城区; street and community names from the
project's own administrative-division table), times, wording, titles, punctuation, and a few written with
full-width characters, traditional characters or a phone number, so that the demo shows what the router
handles. Deterministic: the same script always writes the same file.

    python civicgrid/integrations/router/example_data/generate.py            # rewrites messages.csv
    python civicgrid/integrations/router/example_data/generate.py --check    # exit 1 if the file differs
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "messages.csv"
SEED = 20261129
PER_TOPIC = 9

STREETS = [
    "永泰街道",
    "古城街道",
    "新旺街道",
    "迎宾街道",
    "振华街道",
    "清远街道",
    "武定街道",
    "御河街道",
    "开源街道",
    "大庆路街道",
    "马军营街道",
    "卧虎湾街道",
    "新华街道",
    "鹿苑街道",
    "白登山街道",
    "文瀛湖街道",
    "水泊寺街道",
]
COMMUNITIES = [
    "康吉社区",
    "御馨花都社区",
    "泰安社区",
    "大十字社区",
    "鼓楼社区",
    "和信社区",
    "文博苑社区",
    "万城社区",
    "方圆社区",
    "和泰社区",
    "迎春里社区",
    "学府社区",
    "铁牛里社区",
    "青年路北社区",
    "民康社区",
    "枫林逸景社区",
    "庆安社区",
    "鸿浩嘉园社区",
    "岳秀园社区",
    "崇仁社区",
    "永固社区",
    "文瀛社区",
    "永安社区",
]
ESTATES = [
    "阳光小区",
    "御河湾小区",
    "锦绣花园",
    "幸福里小区",
    "和平苑",
    "新城家园",
    "东方花园",
    "盛世华庭",
    "馨园小区",
]
ROADS = [
    "魏都大道",
    "御河东路",
    "永泰南路",
    "迎宾街",
    "新建北路",
    "大西街",
    "柳航里",
    "平城街",
    "操场城街",
    "云中路",
]
SPOTS = [
    "北门口",
    "东门外",
    "3号楼下",
    "小区广场",
    "菜市场旁边",
    "公交站附近",
    "学校门口",
    "十字路口",
    "2单元门口",
    "停车场",
]
TIMES = [
    "这几天",
    "最近一周",
    "从上个月开始",
    "昨天晚上",
    "今天早上",
    "连续好几天",
    "每天晚上",
    "已经半个多月",
    "周末",
]
ASKS = [
    "请尽快处理。",
    "希望有关部门管一管！",
    "麻烦派人来看看。",
    "请相关部门尽快解决，谢谢！",
    "盼回复。",
    "多次反映没有结果，请重视。",
    "影响居民正常生活，请尽快处理",
    "谢谢！",
    "请核实处理。",
    "",
]
OPENERS = ["", "", "", "您好，", "你好，", "我是附近居民，", "我要反映一个问题：", "领导好，", "投诉："]
TITLE_TAGS = ["", "", "", "【投诉】", "【求助】", "【建议】", "【咨询】"]

# label -> list of topics; each topic: (title variants, problem sentence variants)
TOPICS: dict[str, list[tuple[list[str], list[str]]]] = {
    "区城管局": [
        (
            ["垃圾满溢", "垃圾桶满了没人清"],
            [
                "垃圾桶都满了溢到地上，{time}没人清运，臭味很大",
                "垃圾堆在路边{time}没人收，苍蝇蚊子很多",
                "垃圾箱旁边堆满了生活垃圾，环卫车{time}都没来",
            ],
        ),
        (
            ["占道经营", "商贩占道摆摊"],
            [
                "有商贩在人行道上摆摊卖水果，行人只能走机动车道",
                "早市占道经营把路口堵死了，车过不去",
                "烧烤摊占用人行道，桌椅摆到马路上",
            ],
        ),
        (
            ["违章搭建", "私搭乱建"],
            [
                "有住户在楼顶私自加盖彩钢房",
                "一楼业主违规扩建院子，占了公共绿地",
                "有人在绿化带里私搭乱建棚子",
            ],
        ),
        (
            ["路灯不亮", "路灯坏了"],
            [
                "路灯坏了好几盏，晚上黑漆漆的很不安全",
                "路灯{time}一到晚上就不亮",
                "路灯整晚一闪一闪的，也没人修",
            ],
        ),
        (
            ["井盖缺失", "井盖破损"],
            [
                "路边的井盖丢了，留下一个大坑，很危险",
                "井盖破了一个洞，有小孩差点掉进去",
                "井盖松动，车一压就哐哐响",
            ],
        ),
        (
            ["小广告", "乱贴乱画"],
            ["墙上和电线杆上贴满了小广告", "楼道里被人乱喷办证电话", "有人往车上塞小卡片，到处乱贴广告"],
        ),
    ],
    "区住建局": [
        (
            ["电梯故障", "电梯经常停运"],
            [
                "电梯{time}经常停运，老人上下楼很困难",
                "电梯困人了，物业半小时才来",
                "电梯运行时有很大的异响，担心出事",
            ],
        ),
        (
            ["房屋漏水", "楼顶漏水"],
            [
                "楼顶防水层坏了，一下雨家里就漏水",
                "外墙渗水，屋里墙皮都发霉脱落了",
                "顶楼漏水报修多次一直没人修",
            ],
        ),
        (
            ["外墙脱落", "外墙瓷砖掉落"],
            ["外墙瓷砖脱落，砸坏了楼下的车", "楼体外墙保温层大面积脱落，很危险", "阳台外墙有裂缝还在掉渣"],
        ),
        (
            ["老旧小区改造", "改造工程拖延"],
            [
                "老旧小区改造工程拖了半年还没完工，路面挖得乱七八糟",
                "小区改造施工质量差，新铺的路就裂了",
                "改造工程停工{time}，楼下的沟一直没填",
            ],
        ),
        (
            ["物业不作为", "物业乱收费"],
            [
                "物业公司不作为，卫生没人打扫，还要涨物业费",
                "物业乱收停车费，也不公示收费标准",
                "原物业撤走以后小区没人管，业主想成立业委会",
            ],
        ),
        (
            ["房产证办不下来", "延期交房"],
            [
                "交房三年了房产证还办不下来",
                "开发商延期交房一年多，也不给说法",
                "新房交付后发现墙体空鼓开裂，开发商不管",
            ],
        ),
    ],
    "区水务局": [
        (
            ["下水道堵塞", "污水冒出"],
            [
                "下水道堵了，污水从井口冒到路面上",
                "楼下排水管堵塞，一楼卫生间往上返水",
                "化粪池满溢，污水流得到处都是",
            ],
        ),
        (
            ["积水内涝", "路面积水"],
            [
                "一下雨路口就积水，车都过不去",
                "下雨后地下通道积水很深，行人没法走",
                "暴雨过后小区里积水{time}都排不出去",
            ],
        ),
        (
            ["停水", "突然停水"],
            [
                "小区突然停水，事先没有任何通知",
                "{time}白天经常停水，做饭都成问题",
                "停水一天了还没恢复，也没人解释",
            ],
        ),
        (
            ["水压低", "高层没水"],
            [
                "水压太低，高层住户根本用不上水",
                "每天早晚用水高峰期水龙头只滴水",
                "二次供水泵房坏了，六楼以上没水",
            ],
        ),
        (
            ["自来水发黄", "水质有问题"],
            ["自来水发黄有铁锈味，不敢喝", "水龙头放出来的水浑浊还有沉淀", "自来水有一股很重的漂白粉味"],
        ),
        (
            ["水管爆裂", "供水管道漏水"],
            ["路边的供水管爆了，水流了一地", "地下供水管道漏水，路面一直湿的", "小区主水管漏水{time}没人修"],
        ),
    ],
    "区应急局": [
        (
            ["燃气泄漏味", "闻到煤气味"],
            [
                "楼道里有很浓的燃气味，担心泄漏",
                "单元门口一直闻到煤气味，怕出危险",
                "厨房外面燃气管道附近有刺鼻的味道",
            ],
        ),
        (
            ["消防通道堵塞", "消防通道被占"],
            [
                "消防通道被私家车堵死了，消防车根本进不来",
                "消防通道上堆满了杂物和废品",
                "楼道里的消防栓被锁住，灭火器也过期了",
            ],
        ),
        (
            ["电动车楼道充电", "飞线充电"],
            [
                "有人把电动车推进楼道里充电，很容易起火",
                "有住户从窗户拉电线给电动车飞线充电",
                "地下室里停满电动车还私接电源充电",
            ],
        ),
        (
            ["私存液化气罐", "危险品存放"],
            ["附近有人私自储存很多液化气罐", "小作坊里堆放油漆稀料等易燃品", "居民楼下的门市囤积烟花爆竹"],
        ),
        (
            ["火灾隐患", "电线老化"],
            [
                "楼道里的电线老化裸露，经常冒火花",
                "出租屋里住了很多人，到处是大功率电器，火灾隐患大",
                "废品站堆积如山，旁边就是住户，怕着火",
            ],
        ),
        (
            ["边坡裂缝", "挡土墙开裂"],
            ["下雨以后挡土墙出现了很大的裂缝", "小区后面的土坡有滑坡的迹象", "危房墙体倾斜，还有人住在里面"],
        ),
    ],
    "区生态环境局": [
        (
            ["噪音扰民", "夜间施工噪音"],
            [
                "工地夜里施工噪音很大，吵得睡不着",
                "工地每天晚上十一点以后还在打桩",
                "附近工厂机器整夜轰鸣，噪音扰民",
            ],
        ),
        (
            ["油烟扰民", "饭店油烟直排"],
            [
                "饭店油烟直排，熏得窗户都不能开",
                "楼下烧烤店油烟很大，没有安装净化设备",
                "餐馆排烟管道直接对着居民窗户",
            ],
        ),
        (
            ["污水直排", "河道发黑发臭"],
            ["有工厂往河里偷排污水，河水发黑发臭", "洗车店的污水直接排进雨水管", "河道里漂着油污，死鱼很多"],
        ),
        (
            ["焚烧垃圾", "露天焚烧"],
            [
                "有人在空地上焚烧垃圾，烟很呛",
                "晚上有人露天烧塑料和电线，气味刺鼻",
                "附近农田焚烧秸秆，烟雾很大",
            ],
        ),
        (
            ["粉尘污染", "工地扬尘"],
            [
                "搅拌站粉尘很大，车上窗台都是灰",
                "工地裸土没有覆盖，一刮风尘土飞扬",
                "渣土车不盖篷布，扬尘严重",
            ],
        ),
        (
            ["刺鼻异味", "工厂排放异味"],
            [
                "附近化工厂排放刺鼻的气味，晚上更严重",
                "喷漆作坊气味很大，闻了头晕",
                "养殖场臭味很大，影响周边居民",
            ],
        ),
    ],
    "区市场监管局": [
        (
            ["过期食品", "超市卖过期商品"],
            ["超市货架上卖过期的牛奶", "在小卖部买的面包已经过期发霉了", "商店把过期食品改了生产日期继续卖"],
        ),
        (
            ["缺斤短两", "短斤少两"],
            [
                "菜市场商贩缺斤短两，一斤少了二两",
                "水果摊的秤有问题，回家一称少了很多",
                "肉铺用的电子秤做了手脚",
            ],
        ),
        (
            ["价格欺诈", "乱涨价"],
            [
                "药店哄抬价格，一盒药比别处贵一倍",
                "商家标的是打折价，结账却按原价收",
                "饭店菜单不标价，结账时乱收费",
            ],
        ),
        (
            ["无证经营", "小作坊卫生差"],
            [
                "无证小作坊生产食品，卫生条件很差",
                "路边的早餐店没有营业执照和健康证",
                "黑作坊加工豆腐，环境脏乱差",
            ],
        ),
        (
            ["预付卡跑路", "办卡后关门"],
            [
                "健身房办完卡没多久就关门跑路了",
                "理发店让充值办卡，现在人去楼空",
                "培训机构收了一年学费后突然停业",
            ],
        ),
        (
            ["假冒伪劣", "买到假货"],
            ["在商场买到假冒名牌的鞋", "商店卖的酒是假的，包装粗糙", "网店虚假宣传，收到的东西和描述不符"],
        ),
    ],
    "社区居委会": [
        (
            ["邻里纠纷", "邻居矛盾"],
            [
                "楼上楼下因为漏水吵起来了，希望社区帮忙调解",
                "和邻居因为占用公共楼道的事协商不成",
                "邻居装修把共用墙打坏了，双方谈不拢",
            ],
        ),
        (
            ["宠物扰民", "狗叫扰民"],
            [
                "邻居养的狗每天半夜叫，吵得没法休息",
                "有人遛狗不拴绳，还随地大小便",
                "楼上养了好几只猫，楼道里味道很大",
            ],
        ),
        (
            ["楼道堆物", "楼道杂物"],
            [
                "楼道里堆满了纸箱和旧家具，进出不方便",
                "有住户在楼梯间放鞋柜和杂物",
                "单元门口被人堆了一堆建筑垃圾",
            ],
        ),
        (
            ["高空抛物", "楼上扔东西"],
            ["有人从楼上往下扔垃圾，差点砸到人", "楼上经常往下泼水扔烟头", "高空抛物砸坏了晾衣架"],
        ),
        (
            ["独居老人求助", "老人需要照顾"],
            [
                "隔壁独居老人好几天没出门了，麻烦社区去看看",
                "家里老人行动不便，想申请上门服务",
                "楼下的孤寡老人生病了，没人照顾",
            ],
        ),
        (
            ["广场舞音响", "广场舞太吵"],
            [
                "小区广场跳舞的音响开得太大，孩子没法写作业",
                "每天早上六点就有人在楼下放音乐晨练",
                "广场舞一直跳到晚上十点",
            ],
        ),
        (
            ["开具证明", "办事咨询"],
            [
                "想开居住证明，不知道找谁办理",
                "请问低保申请需要带什么材料",
                "孩子上学要开社区证明，工作时间找不到人",
            ],
        ),
    ],
}


def _s2t_table() -> dict[str, str]:
    sys.path.insert(0, str(HERE.parents[3]))
    from civicgrid.integrations.router.textnorm import _T2S_MAP

    candidates: dict[str, list[str]] = {}
    for trad, simp in sorted(_T2S_MAP.items()):
        candidates.setdefault(simp, []).append(trad)
    # only unambiguous characters (发→發/髮, 面→麵/麪 … stay as they are), and not characters that are
    # usually written the same in traditional text (御, 家, 岳, 才 …)
    same = set("修出占只周哄噪回困家岳峰布幸彩御才折松私杆核熏")
    return {simp: trads[0] for simp, trads in candidates.items() if len(trads) == 1 and simp not in same}


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _place(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        return f"{rng.choice(STREETS)}{rng.choice(COMMUNITIES)}{rng.choice(ESTATES)}{rng.randint(1, 24)}号楼"
    if kind < 0.75:
        return f"{rng.choice(ROADS)}{rng.choice(SPOTS)}"
    if kind < 0.9:
        return f"{rng.choice(ESTATES)}{rng.choice(SPOTS)}"
    return f"平城区{rng.choice(STREETS)}{rng.choice(ROADS)}"


def _message(rng: random.Random, titles: list[str], problems: list[str], s2t: dict[str, str]) -> str:
    place = _place(rng)
    problem = rng.choice(problems).format(time=rng.choice(TIMES))
    ask = rng.choice(ASKS)
    opener = rng.choice(OPENERS)
    style = rng.random()
    if style < 0.25:
        body = f"{opener}{place}{problem}。{ask}"
    elif style < 0.5:
        body = f"{opener}{rng.choice(TIMES)}，{place}{problem}，{ask}"
    elif style < 0.7:
        body = f"{place}：{problem}！{ask}"
    elif style < 0.85:
        body = f"{opener}在{place}，{problem}。{ask}"
    else:
        body = f"{problem}。地点：{place}。{ask}"
    title = rng.choice(titles)
    layout = rng.random()
    if layout < 0.35:
        text = f"{rng.choice(TITLE_TAGS)}{title}\n{body}"
    elif layout < 0.5:
        text = f"{title}　　{body}"
    else:
        text = body
    extra = rng.random()
    if extra < 0.08:
        text += f" 联系电话：1{rng.randint(3, 9)}{rng.randint(0, 999999999):09d}"
    elif extra < 0.13:
        text = _fullwidth(text)
    elif extra < 0.2:
        text = "".join(s2t.get(c, c) for c in text)
    elif extra < 0.24:
        text = text.replace("，", ",").replace("。", ". ").replace("！", "!")
    return text.strip()


def build() -> list[tuple[str, str, str]]:
    rng = random.Random(SEED)
    s2t = _s2t_table()
    rows: list[tuple[str, str]] = []
    for label, topics in TOPICS.items():
        for titles, problems in topics:
            for _ in range(PER_TOPIC):
                rows.append((_message(rng, titles, problems, s2t), label))
    rng.shuffle(rows)
    return [(f"ex{i + 1:04d}", text, label) for i, (text, label) in enumerate(rows)]


def render(rows: list[tuple[str, str, str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "text", "label"])
    w.writerows(rows)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the router example data set.")
    ap.add_argument("--check", action="store_true", help="only check that messages.csv is up to date")
    args = ap.parse_args(argv)
    rows = build()
    content = render(rows)
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == content
        print("up to date" if same else f"{OUT} differs from the generator's output")
        return 0 if same else 1
    OUT.write_text(content, encoding="utf-8")
    print(f"wrote {OUT} ({len(rows)} messages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
