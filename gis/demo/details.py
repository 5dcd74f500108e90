"""The demo enterprises' details for their pages: products (with the standard and the licence
a Hejian maker of that industry works under), staff (with the certificates their posts need),
key equipment (special equipment with its registration and next periodic inspection; measuring
instruments with their next verification) and a grade history in which some enterprises were
regraded during the year. Synthetic, like every record below county level (build.py).

Drawn from its own random stream, so the records build.py draws after it do not change.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import random

from sqlalchemy import text
from sqlalchemy.orm import Session

# industry -> [(product, standard, licence kind, always made)]. Licence kind "XK": the
# industrial production licence (工业产品生产许可证), "SC": the food production licence, None:
# neither. The products always made are the ones build.py's one-line summary names; the others
# a maker adds now and then (Hejian's glass-fibre reinforced plastic, 玻璃钢, beside its
# insulation makers).
PRODUCTS = {
    "电线电缆": [("额定电压1kV到35kV挤包绝缘电力电缆", "GB/T 12706.1-2020", "XK", True),
             ("塑料绝缘控制电缆", "GB/T 9330-2020", "XK", True),
             ("额定电压10kV架空绝缘电缆", "GB/T 14049-2008", "XK", False),
             ("聚氯乙烯绝缘电线（BV）", "GB/T 5023.3-2008", None, False)],
    "汽车零部件": [("汽车用制动器衬片（刹车片）", "GB 5763-2018", None, True),
              ("机油滤清器", "QC/T 923-2013", None, True),
              ("空气滤清器", "QC/T 32-2006", None, False)],
    "汽车零部件再制造": [("再制造发动机", "GB/T 28672-2012", None, True),
                 ("再制造起动机", "GB/T 28673-2012", None, True),
                 ("再制造发电机", "GB/T 28674-2012", None, False)],
    "保温建材": [("岩棉板", "GB/T 25975-2018", None, True),
             ("挤塑聚苯乙烯泡沫塑料板（XPS）", "GB/T 10801.2-2018", None, True),
             ("玻璃钢夹砂管道", "GB/T 21238-2016", None, False),
             ("玻璃钢化粪池", "CJ/T 409-2012", None, False)],
    "玻璃制品": [("玻璃器皿", "GB 4806.5-2016", None, True),
             ("工艺玻璃", "QB/T 4870-2015", None, True),
             ("钢化玻璃", "GB 15763.2-2005", None, False)],
    "工艺品": [("草编工艺品", None, None, True), ("毛笔", "QB/T 1574-2012", None, True)],
    "服装纺织": [("职业工装", "GB/T 2662-2017", None, True),
             ("床上用品", "FZ/T 62011.1-2016", None, True)],
    "食品加工": [("挂面", "GB/T 40636-2021", "SC", True), ("糕点", "GB 7099-2015", "SC", True),
             ("酱卤肉制品", "GB 2726-2016", "SC", True)],
    "锅炉压力容器使用": [("生产用蒸汽（自用）", None, None, True)],
    "加油站": [("车用汽油（92号、95号）", "GB 17930-2016", None, True),
            ("车用柴油", "GB 19147-2016", None, True)],
    "集贸市场": [("农副产品", None, None, True)],
}
# industry -> [(equipment, model, quantity range, kind)]: "boiler", "vessel", "crane" and
# "forklift" are special equipment (registered, inspected periodically: 定期检验), "meter" a
# measuring instrument (verified periodically: 周期检定), None neither.
EQUIPMENT = {
    "电线电缆": [("交联生产线", "CCV-35", (1, 2), None), ("塑料挤出机", "SJ-90", (2, 6), None),
             ("火花试验机", "ZC-15", (2, 4), None), ("导体直流电阻测试仪", "QJ57", (1, 2), "meter"),
             ("电动单梁桥式起重机", "LD10t-16.5m", (1, 3), "crane")],
    "汽车零部件": [("开式固定台压力机", "JH21-160", (2, 8), None),
              ("热压成型机", "YH-200", (2, 6), None),
              ("制动衬片摩擦性能试验机", "D-MS", (1, 1), "meter"),
              ("平衡重式叉车", "CPCD30", (1, 3), "forklift"),
              ("储气罐", "C-1.0/0.8", (1, 2), "vessel")],
    "汽车零部件再制造": [("超声波清洗线", "QX-3000", (1, 2), None),
                 ("发动机性能试验台", "CW260", (1, 1), "meter"),
                 ("平衡重式叉车", "CPCD30", (1, 2), "forklift")],
    "保温建材": [("岩棉固化炉", "GH-3600", (1, 1), None), ("挤塑机组", "SJ-150/200", (1, 2), None),
             ("玻璃钢管道缠绕机", "CRJ-3000", (1, 3), None),
             ("导热系数测定仪", "DRCD-3030", (1, 1), "meter")],
    "玻璃制品": [("玻璃熔窑", "12 m²", (1, 1), None), ("退火炉", "TH-2500", (1, 2), None),
             ("天然气储罐", "3 m³/1.6 MPa", (1, 1), "vessel")],
    "工艺品": [("烘干箱", "CT-C", (1, 2), None)],
    "服装纺织": [("平缝机", "GC6-1", (20, 80), None), ("裁床", "CB-1800", (1, 2), None)],
    "食品加工": [("立式杀菌釜", "LS-1.2", (1, 2), "vessel"), ("真空和面机", "ZHM-100", (1, 3), None),
             ("电子天平", "JA2003", (1, 2), "meter")],
    "锅炉压力容器使用": [("燃气蒸汽锅炉", "WNS2-1.25-Q", (1, 2), "boiler"),
                 ("储气罐", "C-2.0/0.8", (1, 2), "vessel"),
                 ("锅炉安全阀", "A48Y-16C", (2, 4), "meter")],
    "加油站": [("燃油加油机", "CS46 双枪", (2, 6), "meter"), ("液位仪", "SS-LM", (1, 1), "meter")],
    "集贸市场": [("电子计价秤", "ACS-15", (20, 60), "meter"), ("台秤", "TGT-100", (2, 6), "meter")],
}
# Registration numbers as Hebei's Cangzhou (冀J) issues them: kind code, year, serial.
REGISTRATION = {"boiler": "锅11", "vessel": "容15", "crane": "起17", "forklift": "车11"}
# How often each kind must be re-inspected or re-verified, in days.
PERIOD_DAYS = {"boiler": 365, "vessel": 365 * 3, "crane": 365 * 2, "forklift": 365,
               "meter": 365}
# Post, its certificate kind (None: none needed), who holds one: "all" or an industry set.
POSTS = [
    ("法定代表人", None, "all"),
    ("质量负责人", "质量管理人员培训合格证", "all"),
    ("检验员", "产品质量检验员证", {"电线电缆", "汽车零部件", "汽车零部件再制造", "保温建材",
                         "玻璃制品", "食品加工"}),
    ("食品安全管理员", "食品安全管理员培训合格证", {"食品加工"}),
    ("特种设备安全管理员", "特种设备安全管理和作业人员证（A）",
     {"电线电缆", "汽车零部件", "食品加工", "锅炉压力容器使用", "玻璃制品"}),
    ("司炉工", "特种设备安全管理和作业人员证（G1）", {"锅炉压力容器使用"}),
    ("叉车司机", "特种设备安全管理和作业人员证（N1）", {"汽车零部件", "汽车零部件再制造"}),
    ("计量管理员", "计量管理人员培训合格证", {"加油站", "集贸市场"}),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕田"
GIVEN = ["建国", "志强", "海涛", "丽娟", "文军", "秀英", "明华", "玉兰", "永刚", "春梅", "红霞",
         "立新", "国庆", "卫东", "淑珍", "振华", "晓燕", "子豪", "雨欣", "俊峰", "桂芝", "凤英",
         "德胜", "宝山", "金凤", "振", "磊", "静", "勇", "伟", "敏", "洋", "杰", "娜", "超", "鹏"]
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "156", "157", "158", "159", "177", "180", "181", "186", "187",
                   "188", "189", "199")
# A regrade during the year: (the grade's direction, why).
REGRADES = [
    ("worse", "监督抽查不合格，调高风险等级"),
    ("worse", "巡查发现问题逾期未整改，调高风险等级"),
    ("worse", "12365投诉查实，调高风险等级"),
    ("better", "连续巡查未发现问题，调低风险等级"),
    ("better", "整改到位并复查合格，恢复原等级"),
]
FIRST_GRADING = "年度风险分级评定"
GRADES = "ABCD"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _phone(rng: random.Random, office: bool) -> str:
    """A county landline (0317 and seven digits; Hejian's start with 3) or a mobile number.
    Synthetic; real-looking on purpose, as the people who try the demo asked."""
    if office:
        return f"0317-3{rng.randrange(10 ** 6):06d}"
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"


def _licence(kind: str | None, rng: random.Random) -> str | None:
    if kind == "XK":
        return f"（冀）XK06-001-{rng.randrange(1, 99999):05d}"
    if kind == "SC":
        # SC, food category (3), province 13, city 09, county 84, serial (4), check digit.
        return f"SC{rng.choice(('101', '124', '104'))}130984{rng.randrange(10000):04d}" \
               f"{rng.randrange(10)}"
    return None


def _copy(cursor, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """COPY rows in (CSV: an empty unquoted field is NULL): the map bench's 100,000
    enterprises have about a million such rows."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)",
                       buffer)


def add_enterprise_details(session: Session, *, seed: int, today: dt.date,
                           start: dt.datetime, management_prefix: str = "") -> dict[str, int]:
    """Products, staff, key equipment and a regraded history for every demo enterprise whose
    management code starts with ``management_prefix`` (one city's, when the demo holds
    several; already loaded, with their first grade period from ``start``). Bulk-inserted:
    the map bench loads 100,000 enterprises."""
    from psycopg2.extras import execute_values

    rng = random.Random(seed + 17)
    enterprises = session.execute(text("""
        SELECT id, industry, grade, contact_name, contact_phone FROM enterprise
        WHERE starts_with(management_code, :prefix)
        ORDER BY management_code"""), {"prefix": management_prefix}).all()
    products, staff, equipment, regrades = [], [], [], []
    for e in enterprises:
        industry = e.industry or ""
        # One licence covers all of a maker's products of its kind.
        licences = {"XK": _licence("XK", rng), "SC": _licence("SC", rng)}
        for name, standard, licence, always in PRODUCTS.get(industry, []):
            if always or rng.random() < 0.35:
                products.append((e.id, name, standard, licences.get(licence)))
        for post, certificate, who in POSTS:
            if who != "all" and industry not in who:
                continue
            if post == "质量负责人" and e.contact_name:
                # The contact the bureau already has is the quality manager.
                staff.append((e.id, e.contact_name, post, e.contact_phone,
                              f"{certificate} 冀质培{rng.randrange(10 ** 6):06d}"))
                continue
            number = None
            if certificate and "特种设备" in certificate:
                number = f"{certificate} 1309{rng.randrange(10 ** 14):014d}"
            elif certificate:
                number = f"{certificate} 冀{rng.randrange(10 ** 6):06d}"
            staff.append((e.id, _name(rng), post, _phone(rng, office=rng.random() < 0.35),
                          number))
        for name, model, (low, high), kind in EQUIPMENT.get(industry, []):
            if kind is None and rng.random() < 0.3:
                continue
            registration = next_due = None
            if kind in REGISTRATION:
                year = rng.randint(12, 24)
                registration = f"{REGISTRATION[kind]}冀J{rng.randrange(1, 10 ** 5):05d}({year})"
            if kind is not None:
                # Most are due within the period; a few have lapsed, which inspectors look for.
                next_due = today + dt.timedelta(days=rng.randint(-40, PERIOD_DAYS[kind]))
            equipment.append((e.id, name, model, rng.randint(low, high), registration, next_due))
        if rng.random() < 0.18:
            direction, reason = rng.choice(REGRADES)
            step = 1 if direction == "worse" else -1
            # The grade now came from a regrade; the one before it was one step the other way.
            before = GRADES.index(e.grade) - step
            if 0 <= before < len(GRADES):
                on = start + dt.timedelta(days=rng.randint(45, (today - start.date()).days - 20))
                regrades.append({"e": e.id, "g": GRADES[before], "on": on, "why": reason})
    cursor = session.connection().connection.cursor()
    _copy(cursor, "enterprise_product", ("enterprise_id", "name", "standard", "licence"),
          products)
    _copy(cursor, "enterprise_staff", ("enterprise_id", "name", "position", "phone",
                                       "certificate"), staff)
    _copy(cursor, "enterprise_equipment", ("enterprise_id", "name", "model", "quantity",
                                           "registration", "next_due"), equipment)
    session.execute(text("""
        UPDATE enterprise_grade SET reason = :r
        WHERE valid_to IS NULL AND enterprise_id = ANY(:ids)"""),
        {"r": FIRST_GRADING, "ids": [e.id for e in enterprises]})
    if regrades:
        # The period that began at ``start`` now ends at the regrade, with the old grade; the
        # current grade begins there. Set-based, as above.
        execute_values(cursor, """
            UPDATE enterprise_grade g SET valid_from = v.on_, reason = v.why
            FROM (VALUES %s) AS v(e, on_, why)
            WHERE g.enterprise_id = v.e AND g.valid_to IS NULL""",
            [(r["e"], r["on"], r["why"]) for r in regrades], page_size=5000)
        execute_values(cursor, """
            INSERT INTO enterprise_grade (enterprise_id, grade, valid_from, valid_to, reason)
            SELECT v.e, v.old, e.valid_from, v.on_, v.why
            FROM (VALUES %s) AS v(e, old, on_, why) JOIN enterprise e ON e.id = v.e""",
            [(r["e"], r["g"], r["on"], FIRST_GRADING) for r in regrades], page_size=5000)
    return {"products": len(products), "staff": len(staff), "equipment": len(equipment),
            "regraded": len(regrades)}
