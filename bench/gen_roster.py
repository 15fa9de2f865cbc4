#!/usr/bin/env python3
"""Generate a synthetic group's HR files: a company list and a full roster (form 1's columns plus
机要岗, 状态, 离职日期). Deterministic for a given seed. No real people: names are drawn from
common characters, ID numbers are made up with a valid GB 11643 check character.

    bench/gen_roster.py --people 100000 --out /tmp/hr            # month 1
    bench/gen_roster.py --people 100000 --out /tmp/hr2 --change 0.01   # month 2: 1% changed

--change applies joiners, leavers, in-company moves, promotions and cross-company moves (new
employee number, same ID number) to the same base population.
"""
import argparse
import csv
import datetime
import os
import random

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
COMPOUND = ["欧阳", "司马", "诸葛", "上官", "东方", "皇甫"]
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强文军海燕晓东红梅春梅玉兰建平丹宇浩然子涵欣怡梓萱雨桐思远嘉怡一鸣晨曦"
DEPARTMENTS = ["综合部", "财务部/一科", "财务部/二科", "人力资源部", "信息技术部", "市场部", "销售部/华东区", "销售部/华南区",
               "采购部", "法务部", "审计部", "运营部/客服中心"]
TITLES = ["专员", "主管", "经理", "高级经理", "总监", "副总经理", "总经理", "工程师", "高级工程师", "会计", "出纳", "助理"]
REGIONS = ["110105", "310104", "320106", "330106", "440304", "510107", "420106", "370202"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def id_number(rng, seq):
    # Unique per seq (for up to ~400,000 people): each block of 1,000 people has its own 37 birth
    # days, and the sequence part is seq mod 1000.
    birth = datetime.date(1960, 1, 1) + datetime.timedelta(days=(seq // 1000) * 37 + rng.randrange(0, 37))
    body = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{seq % 1000:03d}"
    s = sum(int(c) * w for c, w in zip(body, WEIGHTS))
    return body + CHECK[s % 11]


def companies(n_people):
    """HQ, tier 1-4 subsidiaries and one unrated newcomer; about one company per 400 people."""
    n = max(12, n_people // 400)
    out = [("G000", "示例控股集团", "", "集团", "集团统一运营")]
    tiers = ["1", "2", "3", "4"]
    for i in range(1, n):
        tier = tiers[min(3, (i - 1) * 4 // n)]
        parents = [c for c in out if c[3] == ("集团" if tier == "1" else str(int(tier) - 1))] or out[:1]
        parent = parents[i % len(parents)][0]
        mode = "独立运营" if i % 5 == 0 else "集团统一运营"
        out.append((f"C{i:03d}", f"示例{('一二三四')[int(tier) - 1]}级子公司{i:03d}", parent, tier, mode))
    out.append(("N001", "新加入示例科技有限公司", "G000", "未定级", "集团统一运营"))
    return out


def person(rng, seq, company_codes):
    surname = rng.choice(COMPOUND) if rng.random() < 0.02 else rng.choice(SURNAMES)
    name = surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))
    company = rng.choice(company_codes)
    level = min(16, max(1, int(rng.gauss(8, 3))))
    track = "M" if rng.random() < 0.3 else "P"
    hire = datetime.date(2005, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 20))
    return {
        "seq": seq,
        "公司名称": company,
        "部门": rng.choice(DEPARTMENTS),
        "入职日期": hire.isoformat(),
        "工号": f"{company}{seq:07d}",
        "姓名": name,
        "性别": rng.choice("男女"),
        "身份证号码": id_number(rng, seq),
        "职务": rng.choice(TITLES),
        "职级": f"{track}{level}",
        "手机号": f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}",
        "公司邮箱": f"u{seq:07d}@{company.lower()}.example.com",
        "机要岗": "是" if rng.random() < 0.004 else "否",
        "状态": "在职",
        "离职日期": "",
    }


def mutate(rng, people, company_codes, share, today):
    """Month 2: about `share` of the people change, in the usual proportions."""
    k = max(1, int(len(people) * share))
    picked = rng.sample(range(len(people)), k)
    next_seq = max(p["seq"] for p in people) + 1
    for n, i in enumerate(picked):
        p = people[i]
        kind = n % 5
        if kind == 0:  # leaver
            p["状态"] = "离职"
            p["离职日期"] = (today - datetime.timedelta(days=rng.randrange(1, 20))).isoformat()
        elif kind == 1:  # in-company move
            p["部门"] = rng.choice([d for d in DEPARTMENTS if d != p["部门"]])
            p["职务"] = rng.choice(TITLES)
        elif kind == 2:  # promotion
            track, level = p["职级"][0], int(p["职级"][1:])
            p["职级"] = f"{track}{min(16, level + 2)}"
        elif kind == 3:  # cross-company move: new company, new employee number, same ID number
            company = rng.choice([c for c in company_codes if c != p["公司名称"]])
            p["公司名称"] = company
            p["工号"] = f"{company}{p['seq']:07d}"
            p["公司邮箱"] = f"u{p['seq']:07d}@{company.lower()}.example.com"
        else:  # joiner
            people.append(person(rng, next_seq, company_codes))
            next_seq += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--change", type=float, default=0.0, help="share of people changed (month 2)")
    ap.add_argument("--today", default="2026-11-22")
    ap.add_argument("--encoding", default="utf-8", choices=["utf-8", "utf-8-sig", "gbk"])
    args = ap.parse_args()

    rng = random.Random(args.seed)
    comps = companies(args.people)
    codes = [c[0] for c in comps]
    people = [person(rng, seq, codes) for seq in range(1, args.people + 1)]
    # A few people left already in month 1.
    for p in people[:: 97]:
        p["状态"] = "离职"
        p["离职日期"] = "2026-10-31"
    if args.change:
        mutate(random.Random(args.seed + 1), people, codes, args.change, datetime.date.fromisoformat(args.today))

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "companies.csv"), "w", newline="", encoding=args.encoding) as f:
        w = csv.writer(f)
        w.writerow(["公司编码", "公司名称", "上级公司编码", "企业级别", "运营模式"])
        w.writerows(comps)
    cols = ["公司名称", "部门", "入职日期", "工号", "姓名", "性别", "身份证号码", "职务", "职级", "手机号", "公司邮箱", "机要岗", "状态", "离职日期"]
    with open(os.path.join(args.out, "roster.csv"), "w", newline="", encoding=args.encoding) as f:
        w = csv.writer(f)
        w.writerow(cols)
        for p in people:
            w.writerow([p[c] for c in cols])
    print(f"{args.out}: {len(comps)} companies, {len(people)} people")


if __name__ == "__main__":
    main()
