#!/usr/bin/env python3
"""Writes the demo's synthetic HR files (no real people; ID numbers are made up with a valid
check character). Each person shows one rule: see the comments."""
import csv, os
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
def idn(body17):
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, W)) % 11]
here = os.path.dirname(os.path.abspath(__file__))
companies = [
    ("G000", "示例控股集团", "", "集团", "集团统一运营"),
    ("C010", "示例商业一级公司", "G000", "1", "集团统一运营"),
    ("C020", "示例物流二级公司", "C010", "2", "集团统一运营"),
    ("C021", "示例科技二级公司", "C010", "2", "独立运营"),
    ("C030", "示例置业三级公司", "C020", "3", "集团统一运营"),
    ("C040", "示例服务四级公司", "C030", "4", "集团统一运营"),
    ("N001", "新加入示例医疗有限公司", "G000", "未定级", "集团统一运营"),
]
P = [  # company, department, hire, emp, name, gender, id17, title, grade, mobile, email, confidential, status, leave
    ("G000", "总裁办", "2010-03-01", "G0001", "张伟", "男", "11010519750301001", "总裁", "M16", "13800000001", "zhangwei@example.com", "否", "在职", ""),  # ELIG-5
    ("G000", "信息管理中心", "2016-07-11", "G0002", "李娜", "女", "31010419880711002", "工程师", "P6", "13800000002", "lina@example.com", "否", "在职", ""),  # ELIG-5 any grade
    ("C010", "财务部/一科", "2012-05-20", "A0101", "王芳", "女", "32010619820520003", "财务经理", "M12", "13800000003", "wangfang@c010.example.com", "否", "在职", ""),  # ELIG-1 at threshold
    ("C010", "财务部/二科", "2019-09-02", "A0102", "刘强", "男", "32010619900902004", "会计", "P11", "13800000004", "liuqiang@c010.example.com", "否", "在职", ""),  # below ELIG-1
    ("C010", "办公室", "2015-01-05", "A0103", "陈静", "女", "33010619870105005", "机要员", "P5", "13800000005", "chenjing@c010.example.com", "是", "在职", ""),  # ELIG-3
    ("C010", "市场部", "2011-04-18", "A0104", "欧阳明", "男", "44030419790418006", "市场总监", "M14", "13800000006", "ouyangming@c010.example.com", "否", "在职", ""),  # compound surname
    ("C020", "运营部/客服中心", "2017-06-30", "B0201", "杨洋", "男", "51010719850630007", "运营经理", "M11", "13800000007", "yangyang@c020.example.com", "否", "在职", ""),  # ELIG-2
    ("C020", "运营部", "2020-02-14", "B0202", "赵敏", "女", "42010619920214008", "专员", "P8", "13800000008", "zhaomin@c020.example.com", "否", "在职", ""),  # below ELIG-2
    ("C020", "仓储部", "2008-08-08", "B0203", "张伟", "男", "37020219800808009", "仓储经理", "M12", "13800000009", "zhangwei2@c020.example.com", "否", "在职", ""),  # same name → zhangwei2
    ("C021", "研发部", "2018-03-15", "B2101", "周杰", "男", "11010519860315010", "技术总监", "P13", "13800000010", "zhoujie@c021.example.com", "否", "在职", ""),  # independent company
    ("C030", "工程部", "2013-11-11", "C3001", "吴刚", "男", "31010419781111011", "项目经理", "M11", "13800000011", "wugang@c030.example.com", "否", "在职", ""),
    ("C040", "综合部", "2014-12-01", "D4001", "郑丽", "女", "32010619811201012", "总经理", "M13", "13800000012", "zhengli@c040.example.com", "否", "离职", "2026-10-31"),  # leaver
    ("N001", "院办", "2025-10-01", "N0001", "孙浩", "男", "33010619760101013", "院长", "M15", "13800000013", "sunhao@n001.example.com", "否", "在职", ""),  # ELIG-4 pending
    ("N001", "护理部", "2025-10-01", "N0002", "马丽", "女", "44030419900505014", "护士长", "P9", "13800000014", "mali@n001.example.com", "否", "在职", ""),  # unrated, below threshold
    ("C010", "人力资源部", "2021-13-01", "A0105", "黄蕾", "女", "51010719930909015", "专员", "P7", "13800000015", "huanglei@c010.example.com", "否", "在职", ""),  # bad date → rejected row
    ("C099", "综合部", "2021-01-01", "X0001", "林峰", "男", "42010619890101016", "经理", "M12", "13800000016", "linfeng@example.com", "否", "在职", ""),  # unknown company → rejected row
]
H = ["公司名称", "部门", "入职日期", "工号", "姓名", "性别", "身份证号码", "职务", "职级", "手机号", "公司邮箱", "机要岗", "状态", "离职日期"]
with open(os.path.join(here, "companies.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f); w.writerow(["公司编码", "公司名称", "上级公司编码", "企业级别", "运营模式"]); w.writerows(companies)
with open(os.path.join(here, "roster.csv"), "w", newline="", encoding="utf-8-sig") as f:
    w = csv.writer(f); w.writerow(H)
    for p in P:
        w.writerow(list(p[:6]) + [idn(p[6])] + list(p[7:]))
# Form 1 (opening request), GBK as many HR tools export it.
with open(os.path.join(here, "form1-opening.csv"), "w", newline="", encoding="gbk") as f:
    w = csv.writer(f); w.writerow(H[:11])
    w.writerow(["C020", "财务部", "2026-11-16", "B0299", "何晓东", "男", idn("11010519840620017"), "财务总监", "M13", "13800000017", "hexiaodong@c020.example.com"])
# Form 2 (adjustment): 杨洋 moves from C020 to C010 with a new employee number, still eligible (M12).
with open(os.path.join(here, "form2-adjustment.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["异动前公司", "异动前部门", "入职日期", "异动前工号", "姓名", "性别", "身份证号码", "异动前职务", "异动前职级", "手机号", "异动前公司邮箱",
                "异动后公司", "异动后部门", "异动日期", "异动后工号", "异动后职务", "异动后职级", "异动后公司邮箱"])
    w.writerow(["C020", "运营部/客服中心", "2017-06-30", "B0201", "杨洋", "男", idn("51010719850630007"), "运营经理", "M11", "13800000007", "yangyang@c020.example.com",
                "C010", "运营部", "2026-11-20", "A0199", "运营总监", "M12", "yangyang@c010.example.com"])
