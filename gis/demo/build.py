"""Load the deterministic Hejian-like demo city into the database.

Real: the county outline, the 20 townships' and 639 villages' names and codes (see
``data/README.md``). Synthetic, and labelled so everywhere: every polygon below county level,
every person, enterprise, inspection, spot check, case and complaint. The shape follows the
pilot city's article: 10 stations over 20 townships, 3 professional grids, 53 level-3 cells,
1,203 enterprises, ~2,124 inspections, 1,870 spot-check batches at 86.3 %, 404 cases (12.6 %
fewer than the year before), 239 problems found, and 12365 complaints where enterprises are.

All writes go through the same paths as user imports (``upsert_cells``,
``upsert_enterprises``), so the demo also exercises the automatic assignment.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.credit_code import make_credit_code
from gis.demo.details import MOBILE_PREFIXES, add_enterprise_details
from gis.demo.synth import Area, Geography, build_geography
from gis.enterprises import EnterpriseRow, upsert_enterprises
from gis.cells import CellRecord, upsert_cells

CITY_CODE = "130984"
# The demo staff's person codes (人员编号): 130984-RY001, 130984-RY002, ...
STAFF_CODE_PREFIX = f"{CITY_CODE}-RY"


@dataclass(frozen=True)
class DemoCity:
    """A city of the demo: the Hejian-like city itself, or (``demo load --cities N``,
    docs/province.md) a copy of it under a neighbour's code and name, shifted so the cities lie
    side by side, with its own cell, station, township, village, person, enterprise, case and
    complaint codes. ``prefix`` starts its enterprises' management codes and cases' numbers."""

    code: str
    name: str
    prefix: str
    index: int = 0

    @property
    def staff_prefix(self) -> str:
        return f"{self.code}-RY"

    def shift(self, outline) -> tuple[float, float]:
        """(dx, dy) degrees from the demo city whose outline is ``outline``: four abreast,
        rows southwards, a hundredth of a degree (~1 km) apart."""
        minx, miny, maxx, maxy = outline.bounds
        width = math.ceil((maxx - minx + 0.01) * 100) / 100
        height = math.ceil((maxy - miny + 0.01) * 100) / 100
        return (self.index % 4) * width, -(self.index // 4) * height


# Hejian, then the county-level cities and counties of Cangzhou around it: their codes and
# names are real; every polygon, person and record inside a copy is as synthetic as Hejian's.
CITIES = tuple(DemoCity(code, name, prefix, i) for i, (code, name, prefix) in enumerate((
    ("130984", "河间市", "HJ"), ("130981", "泊头市", "BT"), ("130982", "任丘市", "RQ"),
    ("130983", "黄骅市", "HH"), ("130921", "沧县", "CX"), ("130922", "青县", "QX"),
    ("130923", "东光县", "DG"), ("130924", "海兴县", "HX"), ("130925", "盐山县", "YS"),
    ("130926", "肃宁县", "SN"), ("130927", "南皮县", "NP"), ("130928", "吴桥县", "WQ"),
    ("130929", "献县", "XX"), ("130930", "孟村回族自治县", "MC"))))
# The province above the cities when the demo holds more than one (level 0).
PROVINCE_CODE, PROVINCE_NAME = "130000", "河北省"


def city_geography(geo: Geography, city: DemoCity) -> Geography:
    """The demo city's geography for ``city``: shifted, its townships' and villages' codes
    under the city's code. Shared edges stay shared: every vertex moves by the same amount."""
    if city.index == 0:
        return geo
    dx, dy = city.shift(geo.outline)

    def moved(area: Area) -> Area:
        def code(c):
            return None if c is None else city.code + c[len(CITY_CODE):]
        return Area(code(area.code), area.name, code(area.parent_code),
                    shapely.transform(area.geometry, lambda xy: xy + (dx, dy)))

    return dataclasses.replace(
        geo, outline=shapely.transform(geo.outline, lambda xy: xy + (dx, dy)),
        townships=[moved(t) for t in geo.townships], villages=[moved(v) for v in geo.villages])


# Level-3 territorial cells per station: 4 stations get 5, 6 get 4 (44 in all); with the
# 3 professional grids' 3 cells each that makes the pilot city's 53.
TERRITORIAL_CELLS = [5, 5, 5, 5, 4, 4, 4, 4, 4, 4]
PROFESSIONAL = [  # specialty, code suffix, name
    ("food", "SP", "食品专业网格"),
    ("special_equipment", "TZ", "特种设备专业网格"),
    ("metrology", "JL", "民生计量专业网格"),
]
PROFESSIONAL_REGIONS = ["北片", "中片", "南片"]
GRADE_MIX = {"A": 0.15, "B": 0.45, "C": 0.30, "D": 0.10}
INTERVAL_DAYS = {"A": 365, "B": 180, "C": 120, "D": 90}
TARGET_INSPECTIONS = 2124
TARGET_PROBLEMS = 239
SPOT_BATCHES, SPOT_PASS_RATE = 1870, 0.863
# Periodic supervisory testing (定期监督检验) of the products that must be tested on a schedule;
# its own figure, never pooled with the spot checks above.
PERIODIC_BATCHES, PERIODIC_PASS_RATE = 312, 0.965
PERIODIC_INDUSTRIES = ("电线电缆", "保温建材", "食品加工", "汽车零部件")
CASES_THIS_YEAR, CASES_LAST_YEAR = 404, 462  # 404 is 12.6 % below 462
COMPLAINTS = 320

INDUSTRIES = [  # industry, specialty, products, key equipment, weight
    ("电线电缆", None, "电力电缆、控制电缆", "交联生产线、火花试验机", 0.22),
    ("汽车零部件", None, "刹车片、滤清器", "冲压机、热处理炉", 0.18),
    ("汽车零部件再制造", None, "再制造发动机、起动机", "清洗线、检测台", 0.06),
    ("保温建材", None, "岩棉板、挤塑板", "固化炉", 0.10),
    ("玻璃制品", None, "玻璃器皿、工艺玻璃", "窑炉", 0.08),
    ("工艺品", None, "草编、毛笔", None, 0.05),
    ("服装纺织", None, "工装、床品", "缝纫流水线", 0.06),
    ("食品加工", "food", "挂面、糕点、肉制品", "杀菌釜", 0.10),
    ("锅炉压力容器使用", "special_equipment", "蒸汽、压缩空气", "燃气锅炉、储气罐", 0.06),
    ("加油站", "metrology", "成品油零售", "燃油加油机", 0.05),
    ("集贸市场", "metrology", "农副产品零售", "电子计价秤", 0.04),
]
CHECKLIST = [
    "营业执照、生产许可证在有效期内", "生产条件与许可审查时一致", "原材料进货查验记录完整",
    "生产过程关键控制点记录", "出厂检验记录与报告", "检验设备配备并检定合格",
    "执行标准有效且已备案", "产品标识标签符合规定", "不合格品处置记录", "质量负责人到岗履职",
    "质量管理制度健全", "从业人员培训记录", "计量器具检定或校准", "特种设备登记使用",
    "特种设备作业人员持证上岗", "特种设备定期检验", "安全附件与保护装置有效",
    "产品召回与投诉处理制度", "委托加工合同及记录", "仓储条件符合要求", "运输交付记录",
    "明示牌公示信息准确", "质量承诺书签订", "上次巡查问题整改到位", "监督抽查不合格整改",
    "无使用国家明令淘汰设备", "无伪造冒用认证标志", "无掺杂掺假以次充好", "环境与卫生条件",
    "网格化信息系统数据更新", "企业协管员联系畅通",
]
# The checklist's groups as the pilot city's form prints them: (first item number, group).
CHECKLIST_GROUPS = [(1, "证照与许可"), (3, "生产过程控制"), (10, "质量管理"), (14, "特种设备"),
                    (18, "产品与流通"), (22, "公示与整改"), (26, "禁止行为与现场"),
                    (30, "网格化管理")]


def checklist_group(number: int) -> str:
    return [name for first, name in CHECKLIST_GROUPS if first <= number][-1]


SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
# Given names people in Hebei have, of one and of two characters. Each list has as many
# entries as the demo always drew from (38), so every name takes the random numbers it took
# before and the rest of the city stays as it was.
GIVEN_ONE = ["伟", "磊", "静", "勇", "敏", "洋", "杰", "娜", "超", "鹏", "军", "强", "丽", "艳", "涛",
             "明", "斌", "霞", "辉", "刚", "芳", "平", "燕", "娟", "波", "峰", "红", "英", "华", "亮",
             "颖", "飞", "琳", "雪", "健", "彬", "鑫", "凯"]
GIVEN_TWO = ["建国", "志强", "海涛", "丽娟", "文军", "秀英", "明华", "玉兰", "永刚", "春梅", "红霞",
             "立新", "国庆", "卫东", "淑珍", "振华", "晓燕", "子豪", "雨欣", "俊峰", "桂芝", "凤英",
             "德胜", "宝山", "金凤", "建华", "志刚", "海燕", "秀兰", "玉梅", "春生", "国强", "淑芬",
             "红梅", "立军", "文静", "晓东", "佳怡"]
BRANDS = "康利百吉华通瀛海恒信鑫源宏达金鼎天宇瑞丰诚信广和盛昌永泰嘉禾新华兴业"


def _person_name(rng: random.Random) -> str:
    """A surname and a given name of one or two characters ("王伟", "刘建华"); synthetic."""
    surname = rng.choice(SURNAMES)
    if rng.choice((1, 2)) == 1:
        return surname + rng.choice(GIVEN_ONE)
    given = rng.choice(GIVEN_TWO)
    rng.choice(GIVEN_TWO)  # the demo always drew twice here: the city after it stays the same
    return surname + given


def _phone(rng: random.Random, whose: str) -> str:
    """A mobile number as people in the county have (11 digits, a carrier's prefix);
    synthetic. Made from the one draw the demo always took here (so the city after it stays
    the same) and from ``whose`` it is, so two people rarely share one."""
    draw = random.Random(f"{whose}|{rng.randrange(10000)}")
    return draw.choice(MOBILE_PREFIXES) + f"{draw.randrange(10 ** 8):08d}"


def _short(name: str) -> str:
    for suffix in ("街道", "镇", "乡", "村民委员会", "社区居民委员会", "居委会", "村委会"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _kmeans_groups(points: np.ndarray, k: int, rng: np.random.Generator) -> list[list[int]]:
    """Split points into k compact groups (Lloyd's k-means, farthest-point start)."""
    centres = [points[int(rng.integers(len(points)))]]
    while len(centres) < k:
        d = np.min([((points - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(points[int(np.argmax(d))])
    centres = np.array(centres)
    for _ in range(50):
        labels = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(2), axis=1)
        new = np.array([points[labels == j].mean(0) if (labels == j).any() else centres[j]
                        for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    groups = [list(np.flatnonzero(labels == j)) for j in range(k)]
    return [g for g in groups if g]


def _contiguous_groups(areas: list[Area], k: int, rng: np.random.Generator) -> list[list[int]]:
    """k compact groups of areas whose unions are single polygons where k-means can find them:
    a cell in two pieces is legal but confuses people, so the demo avoids it."""
    centroids = np.array([a.geometry.centroid.coords[0] for a in areas])
    groups = []
    for _attempt in range(30):
        groups = _kmeans_groups(centroids, k, rng)
        if len(groups) == k and all(
                shapely.union_all([areas[i].geometry for i in g]).geom_type == "Polygon"
                for g in groups):
            break
    return groups


def _pair_neighbours(townships: list[Area]) -> list[list[Area]]:
    """Pair townships that share a border into stations' grids. Greedy from the township with
    the fewest unpaired neighbours, so the last ones are not left stranded apart."""
    left = sorted(townships, key=lambda t: t.code)

    def border(a, b):
        return a.geometry.boundary.intersection(b.geometry.boundary).length

    pairs = []
    while left:
        degree = {t.code: sum(1 for o in left if o is not t and border(t, o) > 0) for t in left}
        first = min(left, key=lambda t: (degree[t.code], t.code))
        left.remove(first)
        options = [(border(first, t), t) for t in left]
        best = max(options, key=lambda b: b[0], default=(0, None))[1]
        if best is None:
            pairs.append([first])
            continue
        left.remove(best)
        pairs.append(sorted([first, best], key=lambda t: t.code))
    return sorted(pairs, key=lambda p: p[0].code)


def _multi(geom):
    geom = shapely.set_precision(geom, 1e-7)
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return shapely.MultiPolygon([g for g in geom.geoms if g.geom_type == "Polygon"])


# FOR THE DEMO ONLY: published passwords. Never load the demo into a real deployment's
# database (demo load replaces all data anyway).
DEMO_USERS = [  # username, password, role, place (None: the city or placeless), display name
    ("admin", "demo-admin-2026", "admin", None, "演示管理员"),
    ("leader", "demo-leader-2026", "leader", CITY_CODE, "演示领导"),
    ("manager", "demo-manager-2026", "grid_manager", f"{CITY_CODE}-Z01", "演示网格管理员"),
    # At the city: redraws the stations' grids (gis/redraw_level2.py) and every cell.
    ("citymanager", "demo-citymanager-2026", "grid_manager", CITY_CODE, "演示市级网格管理员"),
    ("inspector", "demo-inspector-2026", "inspector", f"{CITY_CODE}-Z01-01", "演示巡查员"),
    # The 12365 hotline's operators: take complaints in (Open311, the hotline's file).
    ("hotline", "demo-hotline-2026", "hotline", CITY_CODE, "演示12365热线"),
]


def _wipe(session: Session) -> None:
    # Users and the audit log survive a reload (the log is append-only and says who loaded
    # the demo); everything they point at in the old city goes.
    session.execute(text("UPDATE app_user SET person_id = NULL"))
    session.execute(text("""
        TRUNCATE cell_piece, user_role, enterprise_cell, responsibility, photo, rectification_step,
                 case_step, complaint_step, urgent_step, urgent_alert, urgent_event,
                 rectification, inspection, complaint, spot_check, responsibility_letter,
                 enforcement_case, enterprise_grade, enterprise_product, enterprise_staff,
                 enterprise_equipment, enterprise, cell_version, cell, station, village,
                 township, checklist_item RESTART IDENTITY"""))
    session.execute(text("DELETE FROM person"))


# With a province (``--cities`` above 1): its leader, who compares the cities, and the leader of
# the second city, who reads that city alone. FOR THE DEMO ONLY, as above.
PROVINCE_USERS = [
    ("provinceleader", "demo-provinceleader-2026", "leader", PROVINCE_CODE, "演示省级领导"),
    ("leader2", "demo-leader2-2026", "leader", CITIES[1].code, "演示二市领导"),
]


def _demo_users(session: Session, province: bool = False) -> None:
    from gis.users import add_role, create_user, set_password

    for username, password, role, place, name in DEMO_USERS + (
            PROVINCE_USERS if province else []):
        exists = session.execute(text("SELECT 1 FROM app_user WHERE username = :u"),
                                 {"u": username}).scalar()
        if exists:
            set_password(session, username, password)
            add_role(session, username, role, place, granted_by="demo")
        else:
            create_user(session, username, password, role=role, place=place,
                        display_name=name, granted_by="demo")
        if role == "inspector":
            # The demo inspector is the person who owns that cell, so records carry their name.
            session.execute(text("""
                UPDATE app_user SET person_id = (
                    SELECT (gw_cell_owner(c.id, now())).person_id FROM cell c WHERE c.code = :p)
                WHERE username = :u"""), {"p": place, "u": username})
        elif role == "grid_manager" and place != CITY_CODE:
            # A station's grid manager is its chief. The others (admin, leader, the city's
            # manager) stay accounts without a person: a gap the roster pages show.
            session.execute(text("""
                UPDATE app_user SET person_id = (
                    SELECT r.person_id FROM responsibility r JOIN cell c ON c.id = r.cell_id
                    WHERE c.code = :p AND r.role = 'station_chief' AND r.valid @> now())
                WHERE username = :u"""), {"p": place, "u": username})


def load_demo(session: Session, *, seed: int = 2009, n_enterprises: int = 1203,
              today: dt.date | None = None, echo: Callable[[str], None] = lambda m: None,
              cities: int = 1) -> dict[str, int]:
    """Replace everything with the demo city. Runs in the caller's transaction.

    ``cities`` above 1: a province (level 0, ``PROVINCE_CODE``) holding that many cities side
    by side, the demo city first and then copies of it (``CITIES``), each with its own codes
    and its own random draws (so their figures differ), ``n_enterprises`` each; the demo
    users of the first city, and the province's and the second city's leaders
    (``PROVINCE_USERS``). The first city is the same as in a demo of one city."""
    if not 1 <= cities <= len(CITIES):
        raise ValueError(f"cities: 1 to {len(CITIES)}")
    today = today or dt.date.today()
    start_day = today - dt.timedelta(days=400)
    start = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.timezone.utc)
    geo = build_geography(seed)
    echo(f"demo: geography built ({len(geo.townships)} townships, {len(geo.villages)} villages)")
    _wipe(session)
    province = None
    if cities > 1:
        outline = shapely.union_all([city_geography(geo, c).outline for c in CITIES[:cities]])
        upsert_cells(session, [CellRecord(code=PROVINCE_CODE, name=PROVINCE_NAME, level=0,
                                          geom=_multi(outline), where="demo province")],
                     valid_from=start, comment="demo province", user="demo")
        province = PROVINCE_CODE
    totals: dict[str, int] = defaultdict(int)
    for city in CITIES[:cities]:
        # The first city draws from ``seed`` as a one-city demo does; each copy from its own.
        city_seed = seed + 7919 * city.index
        made = _load_city(session, city, city_geography(geo, city), province, city_seed,
                          n_enterprises, today, start, echo)
        for key, value in made.items():
            totals[key] += value
    _demo_users(session, province=province is not None)
    counts = {"cities": cities} if cities > 1 else {}
    counts.update(dict(session.execute(text("""
        SELECT 'townships', count(*) FROM township UNION ALL
        SELECT 'villages', count(*) FROM village UNION ALL
        SELECT 'stations', count(*) FROM station UNION ALL
        SELECT 'level-2 grids', count(*) FROM cell WHERE level = 2 UNION ALL
        SELECT 'level-3 cells', count(*) FROM cell WHERE level = 3 UNION ALL
        SELECT 'enterprises', count(*) FROM enterprise UNION ALL
        SELECT 'enterprises outside every cell', count(*) FROM enterprise_cell_current
            WHERE cell_id IS NULL""")).all()))
    counts.update(totals)
    return counts


def _load_city(session, city: DemoCity, geo: Geography, province: str | None, seed: int,
               n_enterprises: int, today: dt.date, start: dt.datetime, echo) -> dict[str, int]:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    _insert_areas(session, geo.townships, geo.villages)
    stations, cells, village_cell = _build_grid(session, geo, rng, nrng, start, city, province)
    echo(f"demo: {city.name}: {len(stations)} stations, {len(cells)} cells")
    people = _people(session, rng, geo.townships, stations, cells, start, today, city)
    if city.index == 0:
        _checklist(session)
    enterprises = _enterprises(session, geo.villages, rng, nrng, n_enterprises, start, city)
    echo(f"demo: {city.name}: {len(enterprises)} enterprises")
    add_enterprise_details(session, seed=seed, today=today, start=start,
                           management_prefix=city.prefix)
    n_inspections, n_problems = _inspections(session, enterprises, rng, today, people)
    _spot_checks(session, enterprises, rng, today)
    # Its own random stream: the records drawn after it stay what they were before it existed.
    _periodic_testing(session, enterprises, random.Random(seed + 14), today)
    _cases(session, enterprises, rng, today, city)
    n_complaints = _complaints(session, enterprises, rng, nrng, today, city)
    return {"inspections": n_inspections, "problems found": n_problems,
            "complaints": n_complaints}


def _insert_areas(session: Session, townships: list[Area], villages: list[Area]) -> None:
    session.execute(text("""
        INSERT INTO township (code, name, geom) VALUES (:code, :name, ST_GeomFromWKB(:wkb, 4326))
    """), [{"code": t.code, "name": t.name, "wkb": shapely.to_wkb(t.geometry)}
           for t in townships])
    session.execute(text("""
        INSERT INTO village (code, name, township_id, geom)
        SELECT :code, :name, t.id, ST_GeomFromWKB(:wkb, 4326) FROM township t
        WHERE t.code = :parent
    """), [{"code": v.code, "name": v.name, "parent": v.parent_code,
            "wkb": shapely.to_wkb(v.geometry)} for v in villages])


def _build_grid(session, geo, rng, nrng, start, city: DemoCity = CITIES[0],
                province: str | None = None):
    by_township = defaultdict(list)
    for v in geo.villages:
        by_township[v.parent_code].append(v)
    pairs = _pair_neighbours(geo.townships)
    stations = []
    for i, pair in enumerate(pairs, start=1):
        code = f"{city.code}-Z{i:02d}"
        name = f"{_short(pair[0].name)}质量监督所"
        session.execute(text(
            "INSERT INTO station (code, name, phone, address) VALUES (:c, :n, :p, :a)"),
            {"c": code, "n": name, "p": f"0317-36{i:02d}365", "a": f"{city.name}{pair[0].name}"})
        stations.append({"code": code, "name": name, "townships": pair})

    records = [CellRecord(code=city.code, name=city.name, level=1, geom=_multi(geo.outline),
                          parent_code=province)]
    village_cell: dict[str, str] = {}
    for n_cells, st in zip(TERRITORIAL_CELLS, stations):
        villages = [v for t in st["townships"] for v in by_township[t.code]]
        grid_geom = _multi(shapely.union_all([t.geometry for t in st["townships"]]))
        names = "、".join(_short(t.name) for t in st["townships"])
        records.append(CellRecord(code=st["code"], name=f"{names}综合网格", level=2,
                                  geom=grid_geom, parent_code=city.code,
                                  station_code=st["code"]))
        centroids = np.array([v.geometry.centroid.coords[0] for v in villages])
        groups = _contiguous_groups(villages, n_cells, nrng)
        groups.sort(key=lambda g: (-centroids[g][:, 1].mean(), centroids[g][:, 0].mean()))
        for j, group in enumerate(groups, start=1):
            code = f"{st['code']}-{j:02d}"
            members = [villages[k] for k in group]
            for v in members:
                village_cell[v.code] = code
            first = _short(sorted(members, key=lambda v: v.code)[0].name)
            records.append(CellRecord(
                code=code, name=f"{first}等{len(members)}村网格", level=3,
                geom=_multi(shapely.union_all([v.geometry for v in members])),
                parent_code=st["code"], station_code=st["code"]))
    # Professional grids cover the whole city; their cells split it north / middle / south.
    groups = _contiguous_groups(geo.townships, 3, nrng)
    groups.sort(key=lambda g: -np.mean([geo.townships[i].geometry.centroid.y for i in g]))
    thirds = [[geo.townships[i] for i in g] for g in groups]
    for specialty, suffix, name in PROFESSIONAL:
        code = f"{city.code}-{suffix}"
        records.append(CellRecord(code=code, name=name, level=2, geom=_multi(geo.outline),
                                  kind="professional", specialty=specialty,
                                  parent_code=city.code))
        for j, (region, part) in enumerate(zip(PROFESSIONAL_REGIONS, thirds), start=1):
            records.append(CellRecord(
                code=f"{code}-{j:02d}", name=f"{name}{region}", level=3,
                geom=_multi(shapely.union_all([t.geometry for t in part])),
                kind="professional", specialty=specialty, parent_code=code))
    for r in records:
        r.where = f"demo cell {r.code}"
    upsert_cells(session, records, valid_from=start, comment=f"demo city {city.code}",
                 user="demo")
    return stations, records, village_cell


def _add_responsibility(session, person_id, kind, role, start, end=None, **target):
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, enterprise_id, township_id,
                                    valid_from, valid_to)
        VALUES (:p, :k, :r,
                (SELECT id FROM cell WHERE code = :cell),
                (SELECT id FROM enterprise WHERE management_code = :enterprise),
                (SELECT id FROM township WHERE code = :township), :f, :t)
    """), {"p": person_id, "k": kind, "r": role, "f": start, "t": end,
           "cell": target.get("cell"), "enterprise": target.get("enterprise"),
           "township": target.get("township")})


def _new_staff(session, rng, unit, role, prefix: str = STAFF_CODE_PREFIX) -> int:
    """A member of the bureau's or a government's staff, numbered as a roster numbers them
    (人员编号 130984-RY001, …) in the order they are made; the number takes no random draw."""
    name = _person_name(rng)
    return session.execute(text("""
        INSERT INTO person (code, name, phone, unit, position)
        VALUES (:prefix || lpad((SELECT count(*) + 1 FROM person
                                 WHERE starts_with(code, :prefix))::text, 3, '0'),
                :n, :p, :u, :r)
        RETURNING id"""), {"prefix": prefix, "n": name,
                           "p": _phone(rng, f"{unit}{role}{name}"), "u": unit,
                           "r": role}).scalar()


def _people(session, rng, townships, stations, cells, start, today,
            city: DemoCity = CITIES[0]):
    people = {}

    mayor = _new_staff(session, rng, f"{city.name}人民政府", "市长", city.staff_prefix)
    _add_responsibility(session, mayor, "government", "owner", start, cell=city.code)
    for t in townships:
        pid = _new_staff(session, rng, f"{t.name}人民政府", "乡镇长", city.staff_prefix)
        _add_responsibility(session, pid, "government", "township_leader", start,
                            township=t.code)
    for st in stations:
        pid = _new_staff(session, rng, st["name"], "所长", city.staff_prefix)
        _add_responsibility(session, pid, "department", "station_chief", start, cell=st["code"])
        _add_responsibility(session, pid, "department", "owner", start, cell=st["code"])
    level3 = [c for c in cells if c.level == 3]
    for c in cells:
        if c.level == 2 and c.kind == "professional":
            pid = _new_staff(session, rng,
                             f"{city.name}质量技术监督局" + c.name.replace("网格", "科"), "科长",
                             city.staff_prefix)
            _add_responsibility(session, pid, "department", "owner", start, cell=c.code)
    # Two cells have no owner of their own: they fall to their station (属地兜底).
    unowned = {level3[7].code, level3[30].code}
    # A few owners changed mid-year, so "who was responsible on date D" has history to show.
    changed = {level3[3].code, level3[12].code, level3[25].code}
    handover = dt.datetime.combine(today - dt.timedelta(days=150), dt.time(),
                                   tzinfo=dt.timezone.utc)
    for c in level3:
        if c.code in unowned:
            continue
        unit = next((s["name"] for s in stations if c.code.startswith(s["code"])),
                    f"{city.name}质量技术监督局")
        pid = _new_staff(session, rng, unit, "网格责任人", city.staff_prefix)
        people[c.code] = pid
        if c.code in changed:
            _add_responsibility(session, pid, "department", "owner", start, handover,
                                cell=c.code)
            if len(people) % 2:
                # They left the bureau that day; the others moved to office work and answer
                # for nothing now (a gap the roster pages show). No random draw here.
                session.execute(text("UPDATE person SET active_to = :d WHERE id = :p"),
                                {"d": handover.date(), "p": pid})
            pid = _new_staff(session, rng, unit, "网格责任人", city.staff_prefix)
            people[c.code] = pid
            _add_responsibility(session, pid, "department", "owner", handover, cell=c.code)
        else:
            _add_responsibility(session, pid, "department", "owner", start, cell=c.code)
    return people


def _checklist(session):
    session.execute(text(
        "INSERT INTO checklist_item (code, title, sort_order, category) VALUES (:c, :t, :s, :g)"),
        [{"c": f"Q{i:02d}", "t": t, "s": i, "g": checklist_group(i)}
         for i, t in enumerate(CHECKLIST, start=1)])


def _enterprises(session, villages, rng, nrng, n, start, city: DemoCity = CITIES[0]):
    # Industry clusters: a fifth of the villages hold most enterprises, as in real counties.
    weights = nrng.pareto(1.5, len(villages)) + 0.2
    weights /= weights.sum()
    chosen = nrng.choice(len(villages), size=n, p=weights)
    industries = list(INDUSTRIES)
    ind_w = np.array([i[4] for i in industries])
    ind_pick = nrng.choice(len(industries), size=n, p=ind_w / ind_w.sum())
    grades = nrng.choice(list(GRADE_MIX), size=n, p=list(GRADE_MIX.values()))
    rows = []
    for k in range(n):
        village = villages[int(chosen[k])]
        poly = village.geometry
        minx, miny, maxx, maxy = poly.bounds
        while True:
            lon, lat = nrng.uniform(minx, maxx), nrng.uniform(miny, maxy)
            if poly.contains(shapely.Point(lon, lat)):
                break
        industry, specialty, products, equipment, _w = industries[int(ind_pick[k])]
        code = f"{city.prefix}{k + 1:05d}"
        name = f"{city.name}{rng.choice(BRANDS)}{rng.choice(BRANDS)}{industry}有限公司"
        rows.append(EnterpriseRow(code, {
            "name": name, "credit_code": make_credit_code(rng),
            "address": f"{city.name}{_short(village.name)}村", "industry": industry,
            "specialty": specialty, "grade": str(grades[k]),
            "contact_name": _person_name(rng), "contact_phone": _phone(rng, code),
            "products": products, "staff_count": int(nrng.integers(5, 400)),
            "key_equipment": equipment,
        }, round(float(lon), 7), round(float(lat), 7), {"synthetic": True}))
    upsert_enterprises(session, rows, valid_from=start)
    ids = dict(session.execute(text("SELECT management_code, id FROM enterprise")).all())
    # Each enterprise's own responsible person (its quality contact), dated like the rest.
    # Bulk-inserted with ids drawn up front: a demo of 100,000 enterprises (the map bench)
    # must not take 200,000 round trips.
    from psycopg2.extras import execute_values

    person_ids = session.execute(text(
        "SELECT nextval(pg_get_serial_sequence('person', 'id')) FROM generate_series(1, :n)"),
        {"n": len(rows)}).scalars().all()
    cursor = session.connection().connection.cursor()
    # An enterprise's principal is numbered after the enterprise (QY-HJ00001).
    execute_values(cursor, "INSERT INTO person (id, code, name, phone, unit, position) VALUES %s",
                   [(pid, f"QY-{r.management_code}", r.values["contact_name"],
                     r.values["contact_phone"], r.values["name"], "企业质量负责人")
                    for pid, r in zip(person_ids, rows)], page_size=5000)
    execute_values(cursor, """INSERT INTO responsibility (person_id, kind, role, enterprise_id,
                                                       valid_from) VALUES %s""", [
        (pid, "enterprise", "principal", ids[r.management_code], start)
        for pid, r in zip(person_ids, rows)], page_size=5000)
    return [{"id": ids[r.management_code], "grade": r.values["grade"], "lon": r.lon,
             "lat": r.lat, "industry": r.values["industry"]} for r in rows]


def _inspections(session, enterprises, rng, today, people):
    window = 365
    planned = []
    for e in enterprises:
        interval = INTERVAL_DAYS[e["grade"]]
        day = rng.uniform(0, interval)
        while day < window:
            planned.append((e["id"], today - dt.timedelta(days=int(day))))
            day += interval * rng.uniform(0.85, 1.5)
    # Real inspectors fall behind: drop visits at random down to the pilot city's count,
    # which is also what leaves some enterprises overdue.
    rng.shuffle(planned)
    planned = sorted(planned[:TARGET_INSPECTIONS], key=lambda p: (p[1], p[0]))
    with_problems = set(rng.sample(range(len(planned)), k=min(180, len(planned))))
    problems_left = TARGET_PROBLEMS
    rows = []
    for i, (eid, day) in enumerate(planned):
        found = 0
        if i in with_problems and problems_left > 0:
            found = min(problems_left, rng.choice((1, 1, 1, 2, 2, 3)))
            problems_left -= found
        failing = set(rng.sample(range(len(CHECKLIST)), k=found))
        results = {f"Q{j + 1:02d}": ("fail" if j in failing else "pass")
                   for j in range(len(CHECKLIST))}
        deadline = day + dt.timedelta(days=30) if found else None
        status = "none"
        rectified = None
        if found:
            status = "done" if deadline < today or rng.random() < 0.4 else "open"
            rectified = day + dt.timedelta(days=rng.randint(3, 29)) if status == "done" else None
        rows.append({"e": eid, "d": day, "r": json.dumps(results), "n": found,
                     "p": "；".join(CHECKLIST[j] + "不符合要求" for j in sorted(failing)) or None,
                     "dl": deadline, "st": status, "rd": rectified})
    # The steps below touch this city's records only (a province loads several): those
    # numbered from here on.
    first = session.execute(text("SELECT coalesce(max(id), 0) + 1 FROM inspection")).scalar()
    first_rectification = session.execute(text(
        "SELECT coalesce(max(id), 0) + 1 FROM rectification")).scalar()
    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on, results, problems_found, problems,
                                rectification_deadline, rectification_status, rectified_on,
                                inspector_id)
        SELECT :e, :d, CAST(:r AS jsonb), :n, :p, :dl, :st, :rd,
               (SELECT (gw_cell_owner(ec.cell_id, CAST(:d AS timestamptz))).person_id
                FROM enterprise_cell ec
                WHERE ec.enterprise_id = :e AND ec.valid @> CAST(:d AS timestamptz))
    """), rows)
    # Not every problem is corrected on time: about one in seven of the last quarter's is still
    # open past its deadline, so the lists of late rectifications have something to show.
    # (Chosen by id, not by the random generator: the rest of the city stays as it was.)
    session.execute(text("""
        UPDATE inspection SET rectification_status = 'open', rectified_on = NULL
        WHERE rectification_status = 'done' AND id % 7 = 0
          AND rectification_deadline BETWEEN CAST(:today AS date) - 90 AND CAST(:today AS date)
          AND id >= :first
    """), {"today": today, "first": first})
    # One rectification per failed item, as an inspection recorded in GridWatch makes them.
    session.execute(text("""
        INSERT INTO rectification (enterprise_id, inspection_id, item_code, problem, deadline,
                                   status, opened_at, rectified_at, verified_at)
        SELECT i.enterprise_id, i.id, r.key, ci.title || '不符合要求', i.rectification_deadline,
               CASE WHEN i.rectification_status = 'done' THEN 'verified' ELSE 'open' END,
               i.inspected_on::timestamptz,
               i.rectified_on::timestamptz, i.rectified_on::timestamptz
        FROM inspection i
        CROSS JOIN LATERAL jsonb_each_text(i.results) r
        JOIN checklist_item ci ON ci.code = r.key
        WHERE r.value = 'fail' AND i.id >= :first"""), {"first": first})
    session.execute(text("""
        INSERT INTO rectification_step (rectification_id, step, at)
        SELECT id, 'opened', opened_at FROM rectification WHERE id >= :first
        UNION ALL
        SELECT id, 'verified', verified_at FROM rectification
        WHERE status = 'verified' AND id >= :first"""), {"first": first_rectification})
    return len(rows), TARGET_PROBLEMS - problems_left


def _spot_checks(session, enterprises, rng, today):
    sizes = []
    while sum(sizes) < SPOT_BATCHES:
        sizes.append(min(SPOT_BATCHES - sum(sizes), rng.randint(1, 6)))
    # Fail exactly the pilot city's share of batches, spread at random over the visits.
    failed_units = set(rng.sample(range(SPOT_BATCHES), SPOT_BATCHES - round(
        SPOT_BATCHES * SPOT_PASS_RATE)))
    rows, unit = [], 0
    for size in sizes:
        failed = sum(1 for u in range(unit, unit + size) if u in failed_units)
        unit += size
        rows.append({"e": rng.choice(enterprises)["id"],
                     "d": today - dt.timedelta(days=rng.randrange(365)), "l": "city",
                     "b": size, "p": size - failed})
    # The national and provincial samplings: 13 batches at 13 enterprises, 12 passed (93 %).
    for k, e in enumerate(rng.sample(enterprises, 13)):
        rows.append({"e": e["id"], "d": today - dt.timedelta(days=rng.randrange(365)),
                     "l": "national" if k < 4 else "provincial", "b": 1, "p": 0 if k == 5 else 1})
    session.execute(text(f"""
        INSERT INTO spot_check (enterprise_id, checked_on, kind, level, batches, passed,
                                product)
        SELECT :e, :d, 'spot_check', :l, :b, :p, {SAMPLED_PRODUCT}"""), rows)


# What a test sampled: the first of the enterprise's own products.
SAMPLED_PRODUCT = ("(SELECT nullif(split_part(e.products, '、', 1), '') FROM enterprise e "
                   "WHERE e.id = :e)")


def _periodic_testing(session, enterprises, rng, today):
    """定期监督检验: a few batches a year at the enterprises whose products need it."""
    tested = [e for e in enterprises if e["industry"] in PERIODIC_INDUSTRIES]
    failed = PERIODIC_BATCHES - round(PERIODIC_BATCHES * PERIODIC_PASS_RATE)
    sizes = []
    while sum(sizes) < PERIODIC_BATCHES:
        sizes.append(min(PERIODIC_BATCHES - sum(sizes), rng.randint(1, 3)))
    failing = set(rng.sample(range(len(sizes)), failed))
    rows = [{"e": rng.choice(tested)["id"], "d": today - dt.timedelta(days=rng.randrange(365)),
             "b": size, "p": size - (1 if i in failing else 0)} for i, size in enumerate(sizes)]
    session.execute(text(f"""
        INSERT INTO spot_check (enterprise_id, checked_on, kind, level, batches, passed,
                                product)
        SELECT :e, :d, 'periodic', 'city', :b, :p, {SAMPLED_PRODUCT}"""), rows)


def _cases(session, enterprises, rng, today, city: DemoCity = CITIES[0]):
    causes = ["生产销售不合格产品", "无证生产", "伪造产品产地", "计量器具未经检定",
              "特种设备未经检验使用", "标识标注不规范"]
    rows = []
    for year_back, count in ((0, CASES_THIS_YEAR), (1, CASES_LAST_YEAR)):
        for i in range(count):
            opened = today - dt.timedelta(days=365 * year_back + rng.randrange(364) + 1)
            closed = opened + dt.timedelta(days=rng.randint(10, 90))
            rows.append({"n": f"{city.prefix}AJ{opened:%Y}{year_back}{i:04d}",
                         "e": rng.choice(enterprises)["id"], "o": opened,
                         "c": closed if closed < today else None, "cause": rng.choice(causes),
                         "s": "closed" if closed < today else "open"})
    session.execute(text("""
        INSERT INTO enforcement_case (number, enterprise_id, opened_on, closed_on, cause, status)
        VALUES (:n, :e, :o, :c, :cause, :s)"""), rows)


# What the demo's callers say, and the service (gis/complaints.py) each is filed under.
COMPLAINT_TEXTS = {"产品质量问题投诉：电缆绝缘层破损": "quality", "加油机计量不准": "metrology",
                   "食品标签无生产日期": "labelling", "锅炉冒烟疑似未检验": "special_equipment",
                   "电子秤缺斤短两": "metrology", "汽车配件以次充好": "counterfeit",
                   "保温材料燃烧性能不达标": "quality"}
CLOSING_NOTES = ("已现场核查，责令企业整改，已回复投诉人", "经核查投诉情况不属实，已向投诉人说明",
                 "已约谈企业负责人，问题已整改", "已移交执法部门立案处理")


def _complaints(session, enterprises, rng, nrng, today, city: DemoCity = CITIES[0]):
    from gis import complaints

    texts = list(COMPLAINT_TEXTS)
    # Complaints follow risky enterprises (grade D weighs 6 times grade A), and one industrial
    # cluster draws many more: the pattern the hotspot analysis is there to find.
    weight = {"A": 1, "B": 2, "C": 4, "D": 6}
    w = np.array([weight[e["grade"]] for e in enterprises], dtype=float)
    centre = enterprises[int(nrng.integers(len(enterprises)))]
    near = np.array([(e["lon"] - centre["lon"]) ** 2 + ((e["lat"] - centre["lat"]) * 1.27) ** 2
                     < 0.04 ** 2 for e in enterprises])
    w[near] *= 12
    picks = nrng.choice(len(enterprises), size=COMPLAINTS, p=w / w.sum())
    now = dt.datetime.now(dt.timezone.utc)
    # How each was handled comes from a stream of its own, so the complaints themselves (and
    # everything drawn after them) stay what they were before handling was recorded.
    handling = random.Random(COMPLAINTS * 12365)
    rows = []
    for i, k in enumerate(picks):
        e = enterprises[int(k)]
        received = dt.datetime.combine(today - dt.timedelta(days=rng.randrange(365)),
                                       dt.time(rng.randrange(8, 18), rng.randrange(60)),
                                       tzinfo=dt.timezone.utc)
        age = (dt.datetime.now(dt.timezone.utc) - received).days
        status = ("closed" if age > 20 or rng.random() < 0.5
                  else rng.choice(("received", "assigned")))
        # ~200 m scatter: callers give an address, not the factory gate.
        # A copy's numbers carry its prefix: numbers are unique in the deployment.
        number = (f"12365-{received:%Y%m%d}-{i:04d}" if city.index == 0
                  else f"12365-{city.prefix}-{received:%Y%m%d}-{i:04d}")
        row = {"n": number, "t": received,
               "x": e["lon"] + nrng.normal(0, 0.002), "y": e["lat"] + nrng.normal(0, 0.0016),
               "txt": rng.choice(texts), "s": status, "e": e["id"],
               "c": received + dt.timedelta(days=rng.randint(2, 15))
               if status == "closed" else None}
        row["svc"] = COMPLAINT_TEXTS[row["txt"]]
        row["chk"] = "".join(handling.choice(complaints.CHECK_ALPHABET)
                             for _ in range(complaints.CHECK_LENGTH))
        if status == "assigned" and handling.random() < 0.4:
            row["s"] = status = "handled"
        if row["c"] is not None:  # never closed in the future
            row["c"] = max(received + dt.timedelta(hours=2),
                           min(row["c"], now - dt.timedelta(hours=1)))
        # The steps: received; assigned within hours; handled and closed as they went.
        assigned = received + dt.timedelta(hours=handling.uniform(0.5, 8))
        steps = [("received", received, None)]
        if status != "received":
            steps.append(("assigned", min(assigned, now), None))
        if status in ("handled", "closed"):
            end = row["c"] or now
            steps.append(("handled", max(steps[-1][1], end - dt.timedelta(
                hours=handling.uniform(1, 24))), None))
        if status == "closed":
            steps.append(("closed", row["c"], handling.choice(CLOSING_NOTES)))
        row["steps"] = steps
        rows.append(row)
    ids = []
    for r in rows:
        ids.append(session.execute(text("""
            INSERT INTO complaint (number, received_at, geom, text, category, status,
                                   enterprise_id, closed_at, service_code, source, external_id,
                                   check_code, due_at, urgent, updated_at, status_notes)
            SELECT :n, :t, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :txt, s.name, :s, :e, :c,
                   s.code, 'hotline', :n, :chk, CAST(:t AS timestamptz)
                       + make_interval(hours => s.response_hours), s.urgent, coalesce(:c, :t),
                   :note
            FROM complaint_service s WHERE s.code = :svc
            RETURNING id"""), {**{k: v for k, v in r.items() if k != "steps"},
                               "note": r["steps"][-1][2]}).scalar())
    # Each goes to the cell, boundary version and owner answering for its spot when it came
    # in: the rule every complaint is routed by (gis/complaints.py).
    complaints.route(session, ids)
    session.execute(text("""
        INSERT INTO complaint_step (complaint_id, status, at, person_id, note)
        SELECT k.id, s.status, s.at, k.assignee_id, s.note
        FROM complaint k JOIN (
            SELECT unnest(CAST(:ids AS bigint[])) AS id, unnest(CAST(:st AS text[])) AS status,
                   unnest(CAST(:at AS timestamptz[])) AS at, unnest(CAST(:note AS text[])) AS note
        ) s ON s.id = k.id"""), {
        "ids": [i for i, r in zip(ids, rows) for _s in r["steps"]],
        "st": [s[0] for r in rows for s in r["steps"]],
        "at": [s[1] for r in rows for s in r["steps"]],
        "note": [s[2] for r in rows for s in r["steps"]]})
    if city.index == 0:
        _open_complaints_of_the_demo_inspector(session, now)
    return len(rows)


def _open_complaints_of_the_demo_inspector(session, now: dt.datetime) -> None:
    """The demo inspector's cell shows both kinds of open complaint in My work: its latest
    complaint came in two hours ago; the one before came in six days ago, was assigned and is
    past its due time (逾期) whatever its matter. Each is routed again for its new time."""
    from gis import complaints

    latest = session.execute(text("""
        SELECT k.id FROM complaint k JOIN cell c ON c.id = k.cell_id
        WHERE c.code = :cell ORDER BY k.received_at DESC, k.id DESC LIMIT 2"""),
        {"cell": f"{CITY_CODE}-Z01-01"}).scalars().all()
    for complaint_id, (ago, status) in zip(latest, ((dt.timedelta(hours=2), "received"),
                                                    (dt.timedelta(days=6), "assigned"))):
        received = now - ago
        session.execute(text("DELETE FROM complaint_step WHERE complaint_id = :k"),
                        {"k": complaint_id})
        session.execute(text("""
            UPDATE complaint k SET received_at = :t, status = :s, closed_at = NULL,
                   status_notes = NULL, updated_at = :t,
                   number = regexp_replace(k.number, '^12365-[0-9]{8}', :prefix),
                   external_id = regexp_replace(k.number, '^12365-[0-9]{8}', :prefix),
                   due_at = CAST(:t AS timestamptz) + make_interval(hours => s.response_hours)
            FROM complaint_service s WHERE s.code = k.service_code AND k.id = :k"""),
            {"t": received, "s": status, "k": complaint_id,
             "prefix": f"12365-{received:%Y%m%d}"})
        complaints.route(session, [complaint_id])
        session.execute(text("""
            INSERT INTO complaint_step (complaint_id, status, at, person_id)
            SELECT id, 'received', received_at, assignee_id FROM complaint WHERE id = :k
            UNION ALL
            SELECT id, 'assigned', received_at + interval '3 hours', assignee_id
            FROM complaint WHERE id = :k AND status = 'assigned'"""), {"k": complaint_id})
